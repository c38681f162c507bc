//! `tessera:plugin/log`: plugin log records in the kernel's `tracing` log,
//! tagged with the plugin id and the request id.

use tessera_host_api::bindings::tessera::plugin::log::{self, Level};
use wasmtime::component::{HasSelf, Linker};

use crate::runtime::HostState;

/// Longest message kept, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 8 * 1024;

fn truncate(message: &str) -> &str {
    if message.len() <= MAX_MESSAGE_BYTES {
        return message;
    }
    let mut end = MAX_MESSAGE_BYTES;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    message.get(..end).unwrap_or_default()
}

impl log::Host for HostState {
    async fn log(&mut self, level: Level, message: String) {
        let plugin = self.plugin.id();
        let request_id = self.context.request_id.as_str();
        let message = truncate(&message);
        match level {
            Level::Trace => tracing::trace!(target: "plugin", plugin, request_id, "{message}"),
            Level::Debug => tracing::debug!(target: "plugin", plugin, request_id, "{message}"),
            Level::Info => tracing::info!(target: "plugin", plugin, request_id, "{message}"),
            Level::Warn => tracing::warn!(target: "plugin", plugin, request_id, "{message}"),
            Level::Error => tracing::error!(target: "plugin", plugin, request_id, "{message}"),
        }
    }
}

pub(super) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    log::add_to_linker::<HostState, HasSelf<HostState>>(linker, |state| state)
}
