//! The module lifecycle: install, upgrade, roll back, enable, disable and
//! uninstall signed plugin packages, safely.
//!
//! Every operation is checked in full before anything changes (package
//! integrity and signature, contract version, dependencies, dependents,
//! capability consent), then the plugin is compiled and pre-instantiated,
//! its `migrate` export runs against a snapshot-protected namespace, and
//! only then is it activated by swapping one pointer: requests already
//! running finish on the version they started on. A failure at any step
//! leaves the previous state exactly as it was.
//!
//! Native packages (a shared library, see `docs/native-plugins.md`) go
//! through the same operations, only when `<data>/kernel.toml` enables
//! native plugins and the package is signed by a trusted key; they are
//! loaded instead of compiled, have no `migrate`, and serve from the
//! [`NativeRegistry`] this lifecycle owns.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use tessera_host_api::Manifest;

use crate::kernel_config::KernelConfig;
use crate::native::NativeRegistry;
use crate::package::{Package, PackageKind, TrustStore, Verification};
use crate::runtime::{LoadError, LoadedPlugin, PluginSource, Runtime};

mod error;
mod native;
mod quota;
mod resolve;
mod snapshot;
mod starter;
mod state;

pub use error::LifecycleError;
pub use quota::PluginQuota;
pub use starter::{StarterPlugin, install_starter_profile};
pub use state::{Grant, InstalledPlugin, PluginKind, StateStore};

use snapshot::Snapshot;

/// How an install or upgrade may proceed.
#[derive(Debug, Clone, Copy, Default)]
pub struct InstallOptions {
    /// Development flag: accept unsigned packages and packages signed by
    /// keys the kernel does not trust. Tampered packages are refused anyway.
    pub allow_untrusted: bool,
    /// The administrator consents to the capabilities the package asks for.
    pub consent: bool,
}

/// What an operation did, as reported to the administrator.
#[derive(Debug, Clone, Serialize)]
pub struct PluginStatus {
    /// Plugin id.
    pub id: String,
    /// Human-readable name.
    pub name: String,
    /// The active version.
    pub version: String,
    /// The version a rollback returns to.
    pub previous: Option<String>,
    /// Versions whose packages are kept.
    pub versions: Vec<String>,
    /// Whether it serves requests.
    pub enabled: bool,
    /// Its mount: `/api/<mount>/`.
    pub mount: String,
    /// Capabilities granted, one line each.
    pub capabilities: Vec<String>,
    /// Its dependencies and their ranges.
    pub dependencies: BTreeMap<String, String>,
    /// Its optional dependencies and their ranges.
    pub optional_dependencies: BTreeMap<String, String>,
    /// How its package was verified.
    pub verified: String,
    /// `wasm` or `native`.
    pub kind: PluginKind,
    /// The console pages it adds while it is loaded (`[[console]]`).
    pub console: Vec<tessera_host_api::manifest::ConsolePage>,
    /// Its quota limits and usage.
    pub quota: PluginQuota,
}

/// The lifecycle manager: one per kernel.
pub struct Lifecycle {
    runtime: Arc<Runtime>,
    data: PathBuf,
    config: KernelConfig,
    native: NativeRegistry,
    state: StateStore,
    /// Operations run one at a time.
    lock: tokio::sync::Mutex<()>,
}

/// A package checked and ready to install.
struct Checked {
    package: Package,
    verified: String,
}

impl Lifecycle {
    /// Append a kernel event about a plugin to the event log; a failure
    /// is logged, not returned: the change it reports has happened.
    fn announce(&self, topic: &str, payload: serde_json::Value) {
        let Some(bus) = self.runtime.event_bus() else {
            return;
        };
        match bus.log().publish_json(topic, "kernel", &payload) {
            Ok(_) => self.runtime.metrics().record_event_published("kernel"),
            Err(error) => tracing::error!(%error, topic, "cannot append a kernel event"),
        }
    }

    /// The lifecycle of the kernel whose data directory is `data`, with the
    /// settings of `<data>/kernel.toml` (an invalid file is an error).
    pub fn new(runtime: Arc<Runtime>, data: &Path) -> Result<Self, LifecycleError> {
        let config = KernelConfig::load(data)?;
        Self::with_config(runtime, data, config)
    }

    /// The lifecycle of the kernel whose data directory is `data`, with
    /// `config` instead of reading `<data>/kernel.toml`.
    pub fn with_config(
        runtime: Arc<Runtime>,
        data: &Path,
        config: KernelConfig,
    ) -> Result<Self, LifecycleError> {
        let state = StateStore::open(runtime.storage().clone())?;
        if config.native_plugins {
            tracing::info!("native plugins are enabled (kernel.toml)");
        }
        Ok(Self {
            runtime,
            data: data.to_path_buf(),
            config,
            native: NativeRegistry::new(),
            state,
            lock: tokio::sync::Mutex::new(()),
        })
    }

    /// The active native plugins, for the router.
    pub fn native(&self) -> &NativeRegistry {
        &self.native
    }

    /// The kernel settings this lifecycle runs with.
    pub fn config(&self) -> &KernelConfig {
        &self.config
    }

    /// The persisted records.
    pub fn state(&self) -> &StateStore {
        &self.state
    }

    /// Every installed plugin.
    pub fn list(&self) -> Result<Vec<PluginStatus>, LifecycleError> {
        let records = self.state.all()?;
        Ok(records.iter().map(|record| self.status(record)).collect())
    }

    /// What the package `bytes` holds, what its plugin may do and who
    /// signed it (trusted or not by this kernel), for review before an
    /// install; and the installed version of the same plugin, if any.
    /// A damaged or tampered package is an error.
    pub fn inspect(&self, bytes: &[u8]) -> Result<serde_json::Value, LifecycleError> {
        let package = Package::from_bytes(bytes)?;
        let trust = self.trust()?;
        let verification = package.verification(&trust);
        let trusted_as = verification
            .signer()
            .and_then(|signer| trust.name_of(signer))
            .map(str::to_owned);
        let mut value = crate::package::describe(&package, &verification, trusted_as.as_deref());
        let installed = self
            .state
            .get(&package.manifest().plugin.id)?
            .map(|record| record.active.to_string());
        if let Some(object) = value.as_object_mut() {
            object.insert("installed_version".to_owned(), serde_json::json!(installed));
        }
        Ok(value)
    }

    /// One installed plugin.
    pub fn get(&self, id: &str) -> Result<PluginStatus, LifecycleError> {
        let record = self.record(id)?;
        Ok(self.status(&record))
    }

    /// Install a plugin that is not installed yet.
    pub async fn install(
        &self,
        bytes: &[u8],
        options: InstallOptions,
    ) -> Result<PluginStatus, LifecycleError> {
        let _guard = self.lock.lock().await;
        let checked = self.check_package(bytes, options)?;
        let manifest = checked.package.manifest().clone();
        let id = manifest.plugin.id.clone();
        if let Some(existing) = self.state.get(&id)? {
            return Err(LifecycleError::AlreadyInstalled {
                id,
                version: existing.active.to_string(),
            });
        }
        let records = self.state.all()?;
        resolve::check_dependencies(&manifest, &records)?;
        let requested = Grant::of_package(&checked.package);
        if !options.consent && !requested.is_empty() {
            return Err(LifecycleError::ConsentRequired {
                id,
                version: manifest.plugin.version.to_string(),
                capabilities: Box::new(requested),
            });
        }
        self.check_mount(&id, &manifest.plugin.mount)?;
        let package_path = self.keep_package(&checked.package, bytes)?;
        let activated = self.activate(&checked.package).await;
        if let Err(error) = activated {
            let _ = std::fs::remove_file(&package_path);
            return Err(error);
        }
        let kind = PluginKind::of(&checked.package);
        let record = InstalledPlugin {
            id: id.clone(),
            active: manifest.plugin.version.clone(),
            previous: None,
            versions: vec![manifest.plugin.version.clone()],
            enabled: true,
            granted: requested,
            dependencies: manifest.dependencies.clone(),
            optional_dependencies: manifest.optional_dependencies.clone(),
            mount: manifest.plugin.mount.clone(),
            verified: checked.verified,
            kind,
        };
        if let Err(error) = self.state.put(&record).await {
            self.deactivate(&id);
            let _ = std::fs::remove_file(&package_path);
            return Err(error.into());
        }
        tracing::info!(plugin = %id, version = %record.active, "plugin installed");
        self.announce(
            "kernel.plugin.installed",
            serde_json::json!({ "plugin": id, "version": record.active.to_string() }),
        );
        Ok(self.status(&record))
    }

    /// Replace an installed plugin's active version with a newer one,
    /// without a restart: requests in flight finish on the old version.
    pub async fn upgrade(
        &self,
        bytes: &[u8],
        options: InstallOptions,
    ) -> Result<PluginStatus, LifecycleError> {
        let _guard = self.lock.lock().await;
        let checked = self.check_package(bytes, options)?;
        let manifest = checked.package.manifest().clone();
        let id = manifest.plugin.id.clone();
        let mut record = self.record(&id)?;
        let offered = manifest.plugin.version.clone();
        if offered <= record.active {
            return Err(LifecycleError::NotAnUpgrade {
                id,
                active: record.active.to_string(),
                offered: offered.to_string(),
            });
        }
        let records = self.state.all()?;
        resolve::check_dependencies(&manifest, &records)?;
        resolve::check_dependents(&id, &offered, &records, &format!("upgrading to {offered}"))?;
        let requested = Grant::of_package(&checked.package);
        let missing = record.granted.missing(&requested);
        if !missing.is_empty() && !options.consent {
            return Err(LifecycleError::ConsentRequired {
                id,
                version: offered.to_string(),
                capabilities: Box::new(missing),
            });
        }
        self.check_mount(&id, &manifest.plugin.mount)?;
        let package_path = self.keep_package(&checked.package, bytes)?;
        if record.enabled
            && let Err(error) = self.activate(&checked.package).await
        {
            if !record.versions.contains(&offered) {
                let _ = std::fs::remove_file(&package_path);
            }
            return Err(error);
        }
        let before = record.clone();
        record.previous = Some(record.active.clone());
        record.active = offered.clone();
        if !record.versions.contains(&offered) {
            record.versions.push(offered.clone());
        }
        record.granted = record.granted.union(&requested);
        record.dependencies = manifest.dependencies.clone();
        record.optional_dependencies = manifest.optional_dependencies.clone();
        record.mount = manifest.plugin.mount.clone();
        record.verified = checked.verified;
        record.kind = PluginKind::of(&checked.package);
        if let Err(error) = self.state.put(&record).await {
            self.restore_active(&before).await;
            return Err(error.into());
        }
        tracing::info!(plugin = %id, from = %before.active, to = %offered, "plugin upgraded");
        self.announce("kernel.plugin.upgraded", serde_json::json!({ "plugin": id, "from": before.active.to_string(), "to": offered.to_string() }));
        Ok(self.status(&record))
    }

    /// Return to the previous version (its package is kept).
    pub async fn rollback(&self, id: &str) -> Result<PluginStatus, LifecycleError> {
        let _guard = self.lock.lock().await;
        let mut record = self.record(id)?;
        let Some(previous) = record.previous.clone() else {
            return Err(LifecycleError::NoPreviousVersion(id.to_owned()));
        };
        let package = self.open_kept(id, &previous)?;
        let records = self.state.all()?;
        resolve::check_dependencies(package.manifest(), &records)?;
        resolve::check_dependents(
            id,
            &previous,
            &records,
            &format!("rolling back to {previous}"),
        )?;
        if record.enabled {
            self.activate(&package).await?;
        }
        let before = record.clone();
        record.previous = Some(record.active.clone());
        record.active = previous.clone();
        record.dependencies = package.manifest().dependencies.clone();
        record.optional_dependencies = package.manifest().optional_dependencies.clone();
        record.mount = package.manifest().plugin.mount.clone();
        record.kind = PluginKind::of(&package);
        if let Err(error) = self.state.put(&record).await {
            self.restore_active(&before).await;
            return Err(error.into());
        }
        tracing::info!(plugin = %id, from = %before.active, to = %previous, "plugin rolled back");
        self.announce("kernel.plugin.rolled-back", serde_json::json!({ "plugin": id, "from": before.active.to_string(), "to": previous.to_string() }));
        Ok(self.status(&record))
    }

    /// Serve a disabled plugin again.
    pub async fn enable(&self, id: &str) -> Result<PluginStatus, LifecycleError> {
        let _guard = self.lock.lock().await;
        let mut record = self.record(id)?;
        if record.enabled {
            return Err(LifecycleError::AlreadyInState {
                id: id.to_owned(),
                state: "enabled",
            });
        }
        let package = self.open_kept(id, &record.active)?;
        let records = self.state.all()?;
        resolve::check_dependencies(package.manifest(), &records)?;
        self.activate(&package).await?;
        record.enabled = true;
        if let Err(error) = self.state.put(&record).await {
            self.deactivate(id);
            return Err(error.into());
        }
        tracing::info!(plugin = %id, "plugin enabled");
        self.announce("kernel.plugin.enabled", serde_json::json!({ "plugin": id }));
        Ok(self.status(&record))
    }

    /// Stop serving a plugin; its packages, grants and data are kept.
    pub async fn disable(&self, id: &str) -> Result<PluginStatus, LifecycleError> {
        let _guard = self.lock.lock().await;
        let mut record = self.record(id)?;
        if !record.enabled {
            return Err(LifecycleError::AlreadyInState {
                id: id.to_owned(),
                state: "disabled",
            });
        }
        resolve::refuse_if_needed(id, &self.state.all()?)?;
        record.enabled = false;
        self.state.put(&record).await?;
        self.deactivate(id);
        tracing::info!(plugin = %id, "plugin disabled");
        self.announce(
            "kernel.plugin.disabled",
            serde_json::json!({ "plugin": id }),
        );
        Ok(self.status(&record))
    }

    /// Remove a plugin and its packages. Its data stays unless `purge`.
    pub async fn uninstall(&self, id: &str, purge: bool) -> Result<(), LifecycleError> {
        let _guard = self.lock.lock().await;
        self.record(id)?;
        resolve::refuse_if_needed(id, &self.state.all()?)?;
        self.state.delete(id).await?;
        self.deactivate(id);
        let dir = self.package_dir(id);
        if let Err(error) = std::fs::remove_dir_all(&dir) {
            tracing::warn!(plugin = %id, dir = %dir.display(), %error, "could not delete kept packages");
        }
        if purge {
            self.runtime.purge_data(id).await?;
            if let Some(scheduler) = self.runtime.scheduler()
                && let Err(error) = scheduler.purge(id)
            {
                tracing::error!(plugin = %id, %error, "cannot delete the plugin's jobs");
            }
        }
        tracing::info!(plugin = %id, purge, "plugin uninstalled");
        self.announce(
            "kernel.plugin.uninstalled",
            serde_json::json!({ "plugin": id, "purged": purge }),
        );
        Ok(())
    }

    /// Activate every enabled installed plugin, dependencies first. Called
    /// at start; a plugin that fails is reported and skipped.
    pub async fn load_installed(&self) -> Vec<(String, Result<(), LifecycleError>)> {
        let records = match self.state.all() {
            Ok(records) => records,
            Err(error) => return vec![("(lifecycle records)".to_owned(), Err(error.into()))],
        };
        let mut outcomes = Vec::new();
        for record in resolve::dependency_order(records.into_iter().filter(|r| r.enabled).collect())
        {
            let outcome = async {
                let package = self.open_kept(&record.id, &record.active)?;
                self.activate(&package).await
            }
            .await;
            outcomes.push((record.id.clone(), outcome));
        }
        outcomes
    }

    fn record(&self, id: &str) -> Result<InstalledPlugin, LifecycleError> {
        self.state
            .get(id)?
            .ok_or_else(|| LifecycleError::NotInstalled(id.to_owned()))
    }

    fn status(&self, record: &InstalledPlugin) -> PluginStatus {
        let name = self
            .runtime
            .by_id(&record.id)
            .map(|plugin| plugin.manifest().plugin.name.clone())
            .or_else(|| {
                self.native
                    .by_id(&record.id)
                    .map(|plugin| plugin.manifest().plugin.name.clone())
            })
            .unwrap_or_else(|| record.id.clone());
        PluginStatus {
            id: record.id.clone(),
            name,
            version: record.active.to_string(),
            previous: record.previous.as_ref().map(ToString::to_string),
            versions: record.versions.iter().map(ToString::to_string).collect(),
            enabled: record.enabled,
            mount: record.mount.clone(),
            capabilities: record.granted.describe(),
            dependencies: record
                .dependencies
                .iter()
                .map(|(id, range)| (id.clone(), range.to_string()))
                .collect(),
            optional_dependencies: record
                .optional_dependencies
                .iter()
                .map(|(id, range)| (id.clone(), range.to_string()))
                .collect(),
            verified: record.verified.clone(),
            kind: record.kind,
            quota: self.quota_of(&record.id),
            console: self
                .runtime
                .by_id(&record.id)
                .map(|plugin| plugin.manifest().console.clone())
                .unwrap_or_default(),
        }
    }

    /// Integrity, signature, payload kind and contract version.
    fn check_package(
        &self,
        bytes: &[u8],
        options: InstallOptions,
    ) -> Result<Checked, LifecycleError> {
        let package = Package::from_bytes(bytes)?;
        let manifest = package.manifest();
        let id = manifest.plugin.id.clone();
        let version = manifest.plugin.version.to_string();
        let trust = self.trust()?;
        let verification = package.verification(&trust);
        if let PackageKind::Native { target } = package.kind() {
            self.check_native(&id, &version, target, &verification)?;
        }
        let verified = match verification {
            Verification::Signed {
                signer,
                trusted: true,
            } => format!(
                "trusted:{}",
                trust.name_of(&signer).unwrap_or("unnamed key")
            ),
            _ if options.allow_untrusted => "development".to_owned(),
            Verification::Signed { signer, .. } => {
                return Err(LifecycleError::Untrusted {
                    id,
                    version,
                    fingerprint: signer.fingerprint(),
                });
            }
            Verification::Unsigned => return Err(LifecycleError::Unsigned { id, version }),
        };
        // The component's own contract version is checked when it is
        // prepared (`runtime::prepare`), with the same served versions.
        if tessera_host_api::contract::Contract::satisfying(&manifest.plugin.api).is_none() {
            return Err(LifecycleError::IncompatibleApi {
                id,
                wanted: manifest.plugin.api.to_string(),
                served: tessera_host_api::contract::served_list(),
            });
        }
        Ok(Checked { package, verified })
    }

    /// Make `package` the active version of its plugin: a native package is
    /// loaded, a component compiled and migrated.
    async fn activate(&self, package: &Package) -> Result<(), LifecycleError> {
        let info = &package.manifest().plugin;
        self.check_mount(&info.id, &info.mount)?;
        match package.kind() {
            PackageKind::Native { .. } => self.activate_native(package).await,
            PackageKind::Wasm => self.activate_wasm(package).await,
        }
    }

    /// Compile, pre-instantiate, migrate under a snapshot, and swap in.
    async fn activate_wasm(&self, package: &Package) -> Result<(), LifecycleError> {
        let manifest = package.manifest().clone();
        let id = manifest.plugin.id.clone();
        let source = PluginSource {
            config_overrides: crate::serve::config_overrides(&self.data, &id).map_err(|error| {
                LifecycleError::Io {
                    what: format!("reading the configuration of `{id}`"),
                    source: std::io::Error::other(format!("{error:#}")),
                }
            })?,
            manifest,
            component: package.payload().to_vec(),
        };
        let runtime = self.runtime.clone();
        let plugin: Arc<LoadedPlugin> =
            tokio::task::spawn_blocking(move || runtime.prepare(&source))
                .await
                .map_err(|error| LifecycleError::Io {
                    what: format!("preparing `{id}`"),
                    source: std::io::Error::other(error.to_string()),
                })??;
        let snapshot = match plugin.namespace() {
            Some(namespace) => Some(Snapshot::take(namespace.clone())?),
            None => None,
        };
        if let Err(error) = self.runtime.migrate(&plugin).await {
            if let Some(snapshot) = snapshot {
                snapshot.restore()?;
                self.runtime.storage().durable().await?;
            }
            return Err(error.into());
        }
        self.runtime.activate(plugin)?;
        // An upgrade or rollback from a native version of the same plugin.
        self.native.deactivate(&id);
        Ok(())
    }

    /// Stop serving `id`, whatever its kind.
    fn deactivate(&self, id: &str) {
        self.runtime.deactivate(id);
        self.native.deactivate(id);
    }

    /// Refuse `mount` if a plugin other than `id`, of either kind, serves it.
    fn check_mount(&self, id: &str, mount: &str) -> Result<(), LifecycleError> {
        self.runtime.check_mount(id, mount)?;
        match self.native.mount_owner(id, mount) {
            Some(owner) => Err(LoadError::MountTaken {
                mount: mount.to_owned(),
                owner,
            }
            .into()),
            None => Ok(()),
        }
    }

    /// The data directory's trust store.
    fn trust(&self) -> Result<TrustStore, LifecycleError> {
        TrustStore::open(&self.data).map_err(|error| LifecycleError::Io {
            what: "reading the trust store".to_owned(),
            source: std::io::Error::other(error.to_string()),
        })
    }

    /// After a failed record write: serve what the record says again.
    async fn restore_active(&self, record: &InstalledPlugin) {
        if !record.enabled {
            return;
        }
        let restored = async {
            let package = self.open_kept(&record.id, &record.active)?;
            self.activate(&package).await
        }
        .await;
        if let Err(error) = restored {
            tracing::error!(plugin = %record.id, %error, "could not restore the previous version");
        }
    }

    fn package_dir(&self, id: &str) -> PathBuf {
        self.data.join("packages").join(id)
    }

    fn package_path(&self, id: &str, version: &semver::Version) -> PathBuf {
        self.package_dir(id).join(format!("{id}-{version}.tpkg"))
    }

    fn keep_package(&self, package: &Package, bytes: &[u8]) -> Result<PathBuf, LifecycleError> {
        let manifest = package.manifest();
        let path = self.package_path(&manifest.plugin.id, &manifest.plugin.version);
        let io = |source| LifecycleError::Io {
            what: format!("keeping the package in {}", path.display()),
            source,
        };
        std::fs::create_dir_all(self.package_dir(&manifest.plugin.id)).map_err(io)?;
        crate::package::fs::write_atomically(&path, bytes).map_err(io)?;
        Ok(path)
    }

    /// A kept package, checked again for tampering on disk.
    fn open_kept(&self, id: &str, version: &semver::Version) -> Result<Package, LifecycleError> {
        let package = Package::open(&self.package_path(id, version))?;
        if package.manifest().plugin.id != id || package.manifest().plugin.version != *version {
            return Err(LifecycleError::Unsupported(format!(
                "the kept package for {id} {version} holds {} {}",
                package.manifest().plugin.id,
                package.manifest().plugin.version
            )));
        }
        Ok(package)
    }
}

/// The capabilities a manifest asks for, one line each (for reports
/// before installing).
pub fn describe_capabilities(manifest: &Manifest) -> Vec<String> {
    Grant::of(&manifest.capabilities).describe()
}

/// What installing `package` asks consent for, one line each: its
/// capabilities, and running native code when it holds a native library.
pub fn describe_package(package: &Package) -> Vec<String> {
    Grant::of_package(package).describe()
}
