//! `tessera:plugin/http-types`: types only, nothing to implement.

use tessera_host_api::bindings::tessera::plugin::http_types;
use wasmtime::component::{HasSelf, Linker};

use crate::runtime::HostState;

impl http_types::Host for HostState {}

/// The HTTP name of a WIT method.
pub(super) fn method_name(method: &http_types::Method) -> &str {
    use http_types::Method;
    match method {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Put => "PUT",
        Method::Patch => "PATCH",
        Method::Delete => "DELETE",
        Method::Options => "OPTIONS",
        Method::Other(other) => other,
    }
}

pub(super) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    http_types::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)
}
