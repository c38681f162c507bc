//! Host interfaces of the `tessera:plugin` world, one module each. Every
//! module owns its WIT implementation and its checks; adding an interface is
//! one new file and one line in [`linker`].
//!
//! Those modules implement the current contract. Each earlier released
//! contract version has one module (`v0_1`) that adapts its calls to them,
//! so one linker serves plugins built against every served version.

use wasmtime::Engine;
use wasmtime::component::Linker;

use crate::runtime::HostState;

mod config;
mod denied;
mod events;
mod http_types;
mod identity;
mod invoke;
mod jobs;
mod log;
mod outbound;
mod storage;
mod v0_1;

/// A linker with WASI (deny-by-default context) and every Tessera host
/// interface, in every served contract version.
pub fn linker(engine: &Engine) -> anyhow::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    // Guests built for wasm32-wasip2 import WASI even when their world does
    // not name it; the per-call WasiCtx grants nothing.
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    http_types::add_to_linker(&mut linker)?;
    storage::add_to_linker(&mut linker)?;
    identity::add_to_linker(&mut linker)?;
    events::add_to_linker(&mut linker)?;
    jobs::add_to_linker(&mut linker)?;
    outbound::add_to_linker(&mut linker)?;
    config::add_to_linker(&mut linker)?;
    log::add_to_linker(&mut linker)?;
    invoke::add_to_linker(&mut linker)?;
    v0_1::add_to_linker(&mut linker)?;
    Ok(linker)
}
