//! The data of one store: everything a host function needs to know about
//! the call it serves.

use std::sync::Arc;

use wasmtime::component::ResourceTable;
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::call::CallContext;
use super::limiter::MemoryLimiter;
use super::{LoadedPlugin, Runtime};

/// How much of a plugin's stderr (panic messages) is kept for the log.
const STDERR_CAPACITY: usize = 16 * 1024;

/// Per-call state of a plugin instance.
pub struct HostState {
    /// The plugin being called.
    pub plugin: Arc<LoadedPlugin>,
    /// The runtime, for `invoke`.
    pub runtime: Arc<Runtime>,
    /// Who and what this call is for.
    pub context: CallContext,
    pub(super) limiter: MemoryLimiter,
    pub(super) stderr: MemoryOutputPipe,
    wasi: WasiCtx,
    table: ResourceTable,
}

impl HostState {
    /// State for one call of `plugin`. WASI is deny-by-default: no
    /// directories, no sockets, no environment, no arguments; stderr is
    /// captured for the log.
    pub(super) fn new(
        runtime: Arc<Runtime>,
        plugin: Arc<LoadedPlugin>,
        context: CallContext,
    ) -> Self {
        let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
        let wasi = WasiCtx::builder()
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let limiter = MemoryLimiter::new(plugin.manifest().limits.memory);
        Self {
            plugin,
            runtime,
            context,
            limiter,
            stderr,
            wasi,
            table: ResourceTable::new(),
        }
    }

    /// What the plugin wrote to stderr (a panic message, typically).
    pub fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.contents())
            .trim()
            .to_owned()
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}
