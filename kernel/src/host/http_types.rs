//! `tessera:plugin/http-types`: types only, nothing to implement.

use tessera_host_api::bindings::tessera::plugin::http_types;
use wasmtime::component::{HasSelf, Linker};

use crate::runtime::HostState;

impl http_types::Host for HostState {}

pub(super) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    http_types::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)
}
