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
    /// Path of the compiled component (`.wasm`).
    pub component: PathBuf,
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
    cache_dir: PathBuf,
    registry: RwLock<Registry>,
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
        Ok(Self {
            engine,
            linker,
            storage,
            metrics,
            cache_dir,
            registry: RwLock::new(Registry::default()),
            _epoch: epoch,
        })
    }

    /// The storage engine plugins write to.
    pub fn storage(&self) -> &Arc<dyn Storage> {
        &self.storage
    }

    /// The kernel's metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
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
    /// activate a plugin.
    pub async fn load(
        self: &Arc<Self>,
        source: &PluginSource,
    ) -> Result<Arc<LoadedPlugin>, LoadError> {
        let id = source.manifest.plugin.id.clone();
        let mount = source.manifest.plugin.mount.clone();
        {
            let registry = self.read_registry();
            if registry.by_id.contains_key(&id) {
                return Err(LoadError::DuplicateId(id));
            }
            if let Some(owner) = registry.mounts.get(&mount) {
                return Err(LoadError::MountTaken {
                    mount,
                    owner: owner.clone(),
                });
            }
        }
        let plugin = Arc::new(plugin::prepare(self, source)?);
        plugin::migrate(self, &plugin).await?;
        let mut registry = self
            .registry
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(owner) = registry.mounts.get(&mount) {
            return Err(LoadError::MountTaken {
                mount,
                owner: owner.clone(),
            });
        }
        registry.mounts.insert(mount, id.clone());
        registry.by_id.insert(id, plugin.clone());
        Ok(plugin)
    }

    fn read_registry(&self) -> std::sync::RwLockReadGuard<'_, Registry> {
        self.registry
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
