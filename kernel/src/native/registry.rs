//! The native plugins that serve requests, by id and by mount: the native
//! counterpart of the WebAssembly runtime's registry. The lifecycle fills
//! it; the router reads it for `/api/<mount>/...`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use tessera_host_api::Manifest;

use super::NativePlugin;
use super::worker::{NativeWorker, STOP_GRACE, WorkerServices};

/// A native plugin activated from a package: its manifest, its library,
/// the digest of the library's bytes and, once started, its background
/// worker (native ABI 2).
#[derive(Debug)]
pub struct LoadedNative {
    manifest: Manifest,
    plugin: NativePlugin,
    digest: String,
    worker: Mutex<Option<NativeWorker>>,
}

impl LoadedNative {
    /// `plugin`, loaded from a package with this `manifest`, whose library
    /// bytes have the SHA-256 `digest` (hex).
    pub fn new(manifest: Manifest, plugin: NativePlugin, digest: String) -> Self {
        Self {
            manifest,
            plugin,
            digest,
            worker: Mutex::new(None),
        }
    }

    /// Start the library's worker, if it has one and none runs yet, with
    /// `services` and the plugin's configuration `config` (a JSON object
    /// of strings). Whether a worker runs now.
    pub fn start_worker(&self, services: Arc<dyn WorkerServices>, config: Vec<u8>) -> bool {
        let mut worker = self.worker();
        if worker.is_none() {
            *worker = NativeWorker::start(self.id(), &self.plugin, services, config);
        }
        worker.is_some()
    }

    /// Stop its worker, if one runs, waiting up to [`STOP_GRACE`].
    pub fn stop_worker(&self) {
        let worker = self.worker().take();
        if let Some(worker) = worker {
            worker.stop(STOP_GRACE);
        }
    }

    fn worker(&self) -> std::sync::MutexGuard<'_, Option<NativeWorker>> {
        self.worker
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Its plugin id.
    pub fn id(&self) -> &str {
        &self.manifest.plugin.id
    }

    /// Its manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The loaded library.
    pub fn plugin(&self) -> &NativePlugin {
        &self.plugin
    }

    /// SHA-256 of the library's bytes, hex.
    pub fn digest(&self) -> &str {
        &self.digest
    }
}

#[derive(Default)]
struct Inner {
    by_id: HashMap<String, Arc<LoadedNative>>,
    mounts: HashMap<String, String>,
}

/// Active native plugins by id and by mount. Thread-safe; a request holds
/// an `Arc` of the plugin it started on, so replacing or removing one never
/// fails a request in flight.
#[derive(Default)]
pub struct NativeRegistry {
    inner: RwLock<Inner>,
}

impl std::fmt::Debug for NativeRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NativeRegistry")
            .field("plugins", &self.read().by_id.len())
            .finish()
    }
}

impl NativeRegistry {
    /// No plugins.
    pub fn new() -> Self {
        Self::default()
    }

    /// The native plugin serving `/api/<mount>/...`, if any.
    pub fn by_mount(&self, mount: &str) -> Option<Arc<LoadedNative>> {
        let inner = self.read();
        let id = inner.mounts.get(mount)?;
        inner.by_id.get(id).cloned()
    }

    /// The native plugin with this id, if active.
    pub fn by_id(&self, id: &str) -> Option<Arc<LoadedNative>> {
        self.read().by_id.get(id).cloned()
    }

    /// Every active native plugin, sorted by id.
    pub fn plugins(&self) -> Vec<Arc<LoadedNative>> {
        let mut plugins: Vec<_> = self.read().by_id.values().cloned().collect();
        plugins.sort_by(|a, b| a.id().cmp(b.id()));
        plugins
    }

    /// The id of the native plugin other than `id` that serves `mount`.
    pub fn mount_owner(&self, id: &str, mount: &str) -> Option<String> {
        self.read()
            .mounts
            .get(mount)
            .filter(|owner| owner.as_str() != id)
            .cloned()
    }

    /// Serve `plugin` from now on, replacing the one with the same id
    /// (whose worker is stopped before this returns, so that the caller
    /// may then start the new one's). Refused with the owner's id when
    /// another plugin holds its mount.
    pub fn activate(&self, plugin: Arc<LoadedNative>) -> Result<(), String> {
        let id = plugin.id().to_owned();
        let mount = plugin.manifest().plugin.mount.clone();
        let replaced = {
            let mut inner = self.write();
            if let Some(owner) = inner.mounts.get(&mount)
                && owner != &id
            {
                return Err(owner.clone());
            }
            let replaced = inner.by_id.insert(id.clone(), plugin);
            if let Some(old) = &replaced {
                inner.mounts.remove(&old.manifest().plugin.mount);
            }
            inner.mounts.insert(mount, id);
            replaced
        };
        if let Some(old) = replaced {
            old.stop_worker();
        }
        Ok(())
    }

    /// Stop serving `id` and stop its worker; requests in flight finish.
    /// Returns it.
    pub fn deactivate(&self, id: &str) -> Option<Arc<LoadedNative>> {
        let removed = {
            let mut inner = self.write();
            let removed = inner.by_id.remove(id)?;
            inner.mounts.remove(&removed.manifest().plugin.mount);
            removed
        };
        removed.stop_worker();
        Some(removed)
    }

    /// Stop every plugin's worker (at shutdown, before storage closes);
    /// the plugins keep serving.
    pub fn stop_workers(&self) {
        for plugin in self.plugins() {
            plugin.stop_worker();
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Inner> {
        self.inner
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Inner> {
        self.inner
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}
