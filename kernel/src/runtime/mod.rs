//! The plugin runtime: one wasmtime [`Engine`] with the pooling allocator,
//! each plugin compiled and pre-instantiated once, and a fresh, limited
//! instance for every call.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, RwLock};

use tessera_host_api::Manifest;
use wasmtime::Engine;
use wasmtime::component::Linker;

use crate::metrics::Metrics;
use crate::storage::Storage;

mod call;
mod compile_cache;
mod engine;
mod limiter;
pub mod phase_timing;
mod plugin;
mod state;

pub use call::{CallContext, CallError};
pub use engine::EngineSettings;
pub use plugin::{LoadError, LoadedPlugin};
pub use state::HostState;

/// How deep `invoke` calls may nest before the kernel refuses.
pub const MAX_INVOKE_DEPTH: u32 = 8;

/// What the kernel needs to load one plugin.
#[derive(Debug, Clone)]
pub struct PluginSource {
    /// The parsed manifest.
    pub manifest: Manifest,
    /// The component (`.wasm` bytes).
    pub component: Vec<u8>,
    /// Administrator overrides of the manifest's `[config]` defaults.
    pub config_overrides: std::collections::BTreeMap<String, String>,
}

/// Loaded plugins, by id and by mount.
#[derive(Default)]
struct Registry {
    by_id: HashMap<String, Arc<LoadedPlugin>>,
    mounts: HashMap<String, String>,
}

/// The plugin runtime shared by the HTTP server and host functions.
pub struct Runtime {
    engine: Engine,
    linker: Linker<HostState>,
    storage: Arc<dyn Storage>,
    metrics: Arc<Metrics>,
    quotas: Arc<crate::quota::Quotas>,
    cache_dir: PathBuf,
    registry: RwLock<Registry>,
    event_bus: std::sync::OnceLock<Arc<crate::events::EventBus>>,
    scheduler: std::sync::OnceLock<Arc<crate::jobs::Scheduler>>,
    outbound: crate::outbound::OutboundClient,
    _epoch: engine::EpochTicker,
}

impl Runtime {
    /// Create the engine, link the host interfaces and start the epoch
    /// ticker. Compiled components are cached under `cache_dir`.
    pub fn new(
        settings: &EngineSettings,
        storage: Arc<dyn Storage>,
        metrics: Arc<Metrics>,
        cache_dir: PathBuf,
    ) -> anyhow::Result<Self> {
        let engine = engine::build(settings)?;
        let linker = crate::host::linker(&engine)?;
        let epoch = engine::EpochTicker::start(engine.clone())?;
        let quotas = Arc::new(crate::quota::Quotas::new());
        metrics.export_quotas(quotas.clone());
        Ok(Self {
            engine,
            linker,
            storage,
            metrics,
            quotas,
            cache_dir,
            registry: RwLock::new(Registry::default()),
            event_bus: std::sync::OnceLock::new(),
            scheduler: std::sync::OnceLock::new(),
            outbound: crate::outbound::OutboundClient::new()?,
            _epoch: epoch,
        })
    }

    /// The HTTP client of plugins' outbound calls.
    pub fn outbound(&self) -> &crate::outbound::OutboundClient {
        &self.outbound
    }

    /// The storage engine plugins write to.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// Connect the event bus plugins publish to. Only the first call
    /// counts.
    pub fn set_event_bus(&self, bus: Arc<crate::events::EventBus>) {
        if self.event_bus.set(bus).is_err() {
            tracing::warn!("the runtime already has an event bus");
        }
    }

    /// The event bus, once connected.
    pub fn event_bus(&self) -> Option<&Arc<crate::events::EventBus>> {
        self.event_bus.get()
    }

    /// Connect the job scheduler plugins schedule with. Only the first
    /// call counts.
    pub fn set_scheduler(&self, scheduler: Arc<crate::jobs::Scheduler>) {
        if self.scheduler.set(scheduler).is_err() {
            tracing::warn!("the runtime already has a job scheduler");
        }
    }

    /// The job scheduler, once connected.
    pub fn scheduler(&self) -> Option<&Arc<crate::jobs::Scheduler>> {
        self.scheduler.get()
    }

    /// The kernel's metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Per-plugin quotas and usage, enforced by the host functions.
    pub fn quotas(&self) -> &Arc<crate::quota::Quotas> {
        &self.quotas
    }

    /// The plugin serving `/api/<mount>/...`, if any.
    pub fn by_mount(&self, mount: &str) -> Option<Arc<LoadedPlugin>> {
        let registry = self.read_registry();
        let id = registry.mounts.get(mount)?;
        registry.by_id.get(id).cloned()
    }

    /// The plugin with this id, if loaded.
    pub fn by_id(&self, id: &str) -> Option<Arc<LoadedPlugin>> {
        self.read_registry().by_id.get(id).cloned()
    }

    /// Every loaded plugin, sorted by id.
    pub fn plugins(&self) -> Vec<Arc<LoadedPlugin>> {
        let mut plugins: Vec<_> = self.read_registry().by_id.values().cloned().collect();
        plugins.sort_by(|a, b| a.id().cmp(b.id()));
        plugins
    }

    /// Compile (or load from the cache), pre-instantiate, migrate and
    /// activate a plugin that is not loaded yet.
    pub async fn load(
        self: &Arc<Self>,
        source: &PluginSource,
    ) -> Result<Arc<LoadedPlugin>, LoadError> {
        let id = source.manifest.plugin.id.clone();
        if self.by_id(&id).is_some() {
            return Err(LoadError::DuplicateId(id));
        }
        self.check_mount(&id, &source.manifest.plugin.mount)?;
        let plugin = self.prepare(source)?;
        self.migrate(&plugin).await?;
        self.activate(plugin.clone())?;
        Ok(plugin)
    }

    /// Compile (or load from the cache) and pre-instantiate a plugin
    /// without activating it. CPU-heavy on a cache miss: call it from a
    /// blocking thread.
    pub fn prepare(&self, source: &PluginSource) -> Result<Arc<LoadedPlugin>, LoadError> {
        Ok(Arc::new(plugin::prepare(self, source)?))
    }

    /// Run a prepared plugin's `migrate` export if its version differs from
    /// the one recorded for its id, then record its version.
    pub async fn migrate(self: &Arc<Self>, plugin: &Arc<LoadedPlugin>) -> Result<(), LoadError> {
        plugin::migrate(self, plugin).await
    }

    /// Serve `plugin` from now on, replacing the active plugin with the same
    /// id (an upgrade or a rollback). Requests already running keep the
    /// instance they started on. Returns the plugin it replaced.
    pub fn activate(
        &self,
        plugin: Arc<LoadedPlugin>,
    ) -> Result<Option<Arc<LoadedPlugin>>, LoadError> {
        let id = plugin.id().to_owned();
        let mount = plugin.manifest().plugin.mount.clone();
        let mut registry = self.write_registry();
        if let Some(owner) = registry.mounts.get(&mount)
            && owner != &id
        {
            return Err(LoadError::MountTaken {
                mount,
                owner: owner.clone(),
            });
        }
        let replaced = registry.by_id.insert(id.clone(), plugin);
        if let Some(old) = &replaced {
            registry.mounts.remove(&old.manifest().plugin.mount);
        }
        registry.mounts.insert(mount, id);
        Ok(replaced)
    }

    /// Stop serving plugin `id`; running requests finish. Returns it.
    pub fn deactivate(&self, id: &str) -> Option<Arc<LoadedPlugin>> {
        let mut registry = self.write_registry();
        let removed = registry.by_id.remove(id)?;
        registry.mounts.remove(&removed.manifest().plugin.mount);
        Some(removed)
    }

    /// Refuse `mount` if a plugin other than `id` serves it.
    pub fn check_mount(&self, id: &str, mount: &str) -> Result<(), LoadError> {
        match self.read_registry().mounts.get(mount) {
            Some(owner) if owner != id => Err(LoadError::MountTaken {
                mount: mount.to_owned(),
                owner: owner.clone(),
            }),
            _ => Ok(()),
        }
    }

    /// Delete every key of plugin `id`'s namespace and forget its recorded
    /// version (uninstall with purge). The plugin must not be active.
    pub async fn purge_data(&self, id: &str) -> Result<(), crate::storage::StorageError> {
        let namespace = self.storage.namespace(&plugin::namespace_name(id))?;
        loop {
            let page = namespace.scan(b"", None, 500)?;
            if page.is_empty() {
                break;
            }
            let deletes: Vec<_> = page
                .into_iter()
                .map(|(key, _)| crate::storage::BatchOp::Delete(key))
                .collect();
            namespace.batch(&deletes)?;
        }
        self.storage
            .namespace(plugin::VERSIONS_NAMESPACE)?
            .delete(id.as_bytes())?;
        // The keys were deleted behind the meter's back: count again.
        self.quotas.measure_storage(id, namespace.as_ref())?;
        self.storage.durable().await
    }

    fn write_registry(&self) -> std::sync::RwLockWriteGuard<'_, Registry> {
        self.registry
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn read_registry(&self) -> std::sync::RwLockReadGuard<'_, Registry> {
        self.registry
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
