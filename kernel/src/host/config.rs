//! `tessera:plugin/config`: the plugin's effective configuration.

use tessera_host_api::bindings::tessera::plugin::config;
use wasmtime::component::{HasSelf, Linker};

use crate::runtime::HostState;

impl config::Host for HostState {
    async fn get(&mut self, key: String) -> Option<String> {
        self.plugin.config().get(&key).cloned()
    }

    async fn all(&mut self) -> Vec<(String, String)> {
        self.plugin
            .config()
            .iter()
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect()
    }
}

pub(super) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    config::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)
}
