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
    /// The guest's stderr, once it has a WASI context.
    stderr: Option<MemoryOutputPipe>,
    /// Built on the guest's first WASI call: most calls make none, and
    /// building one (clocks, seeded random generators) costs more than
    /// the rest of the store.
    wasi: Option<WasiCtx>,
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
        let limiter = MemoryLimiter::new(plugin.manifest().limits.memory);
        Self {
            plugin,
            runtime,
            context,
            limiter,
            stderr: None,
            wasi: None,
            table: ResourceTable::new(),
        }
    }

    /// What the plugin wrote to stderr (a panic message, typically).
    pub fn stderr_text(&self) -> String {
        match &self.stderr {
            Some(stderr) => String::from_utf8_lossy(&stderr.contents())
                .trim()
                .to_owned(),
            None => String::new(),
        }
    }
}

/// A deny-by-default WASI context whose stderr goes to `stderr`.
fn deny_by_default_wasi(stderr: MemoryOutputPipe) -> WasiCtx {
    WasiCtx::builder()
        .stderr(stderr)
        .allow_tcp(false)
        .allow_udp(false)
        .allow_ip_name_lookup(false)
        .build()
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        let stderr = &mut self.stderr;
        let ctx = self.wasi.get_or_insert_with(|| {
            let pipe = MemoryOutputPipe::new(STDERR_CAPACITY);
            *stderr = Some(pipe.clone());
            deny_by_default_wasi(pipe)
        });
        WasiCtxView {
            ctx,
            table: &mut self.table,
        }
    }
}
