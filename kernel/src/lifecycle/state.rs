//! What the kernel remembers about installed plugins, in its own storage
//! namespace `kernel/lifecycle`: one JSON record per plugin id.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use tessera_host_api::manifest::Capabilities;

use crate::storage::{Namespace, Storage, StorageError};

/// The kernel namespace holding lifecycle records.
pub const NAMESPACE: &str = "kernel/lifecycle";
/// Key prefix of plugin records.
const PLUGIN_PREFIX: &str = "plugin/";
/// Key set once the starter profile has been installed.
const STARTER_KEY: &[u8] = b"starter-installed";

/// One installed plugin.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct InstalledPlugin {
    /// Plugin id.
    pub id: String,
    /// The version that serves when the plugin is enabled.
    pub active: semver::Version,
    /// The version a rollback returns to.
    pub previous: Option<semver::Version>,
    /// Every version whose package the kernel keeps, oldest first.
    pub versions: Vec<semver::Version>,
    /// Whether it serves requests.
    pub enabled: bool,
    /// Capabilities an administrator consented to.
    pub granted: Grant,
    /// The active version's dependencies, for dependents checks.
    pub dependencies: BTreeMap<String, semver::VersionReq>,
    /// The active version's optional dependencies: checked like
    /// dependencies when installed, never required.
    #[serde(default)]
    pub optional_dependencies: BTreeMap<String, semver::VersionReq>,
    /// Mount of the active version.
    pub mount: String,
    /// How the active package was verified: `trusted:<key name>`, or
    /// `development` when installed with the development flag.
    pub verified: String,
    /// What the active package holds (records written before native
    /// plugins existed are `wasm`).
    #[serde(default)]
    pub kind: PluginKind,
}

/// What a plugin is made of.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PluginKind {
    /// A WebAssembly component, sandboxed.
    #[default]
    Wasm,
    /// A trusted native library, loaded into the kernel process.
    Native,
}

impl PluginKind {
    /// The kind of what `package` holds.
    pub fn of(package: &crate::package::Package) -> Self {
        match package.kind() {
            crate::package::PackageKind::Wasm => Self::Wasm,
            crate::package::PackageKind::Native { .. } => Self::Native,
        }
    }

    /// `wasm` or `native`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Wasm => "wasm",
            Self::Native => "native",
        }
    }
}

/// A set of capabilities, comparable so that an upgrade can tell what it
/// asks for beyond what was granted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Grant {
    /// Its private storage namespace.
    pub storage: bool,
    /// Topic patterns it may publish.
    pub publish: BTreeSet<String>,
    /// Topic patterns it may subscribe to.
    pub subscribe: BTreeSet<String>,
    /// Origins it may call.
    pub outbound: BTreeSet<String>,
    /// Plugins it may invoke.
    pub invoke: BTreeSet<String>,
    /// Permissions it defines.
    pub permissions: BTreeSet<String>,
    /// Native code: a library running inside the kernel process with all of
    /// its rights. Consented to like a capability.
    #[serde(default)]
    pub native: bool,
}

impl Grant {
    /// The capabilities a manifest asks for.
    pub fn of(capabilities: &Capabilities) -> Self {
        let set = |items: &[String]| items.iter().cloned().collect::<BTreeSet<_>>();
        Self {
            storage: capabilities.storage,
            publish: set(&capabilities.events.publish),
            subscribe: set(&capabilities.events.subscribe),
            outbound: set(&capabilities.outbound),
            invoke: set(&capabilities.invoke),
            permissions: set(&capabilities.permissions),
            native: false,
        }
    }

    /// What installing `package` asks for: its manifest's capabilities,
    /// plus running native code when it holds a native library.
    pub fn of_package(package: &crate::package::Package) -> Self {
        Self {
            native: PluginKind::of(package) == PluginKind::Native,
            ..Self::of(&package.manifest().capabilities)
        }
    }

    /// What `requested` asks for that this grant does not cover.
    pub fn missing(&self, requested: &Grant) -> Grant {
        let beyond = |granted: &BTreeSet<String>, wanted: &BTreeSet<String>| {
            wanted.difference(granted).cloned().collect()
        };
        Grant {
            storage: requested.storage && !self.storage,
            publish: beyond(&self.publish, &requested.publish),
            subscribe: beyond(&self.subscribe, &requested.subscribe),
            outbound: beyond(&self.outbound, &requested.outbound),
            invoke: beyond(&self.invoke, &requested.invoke),
            permissions: beyond(&self.permissions, &requested.permissions),
            native: requested.native && !self.native,
        }
    }

    /// Whether it grants nothing.
    pub fn is_empty(&self) -> bool {
        *self == Grant::default()
    }

    /// This grant plus `other`.
    pub fn union(&self, other: &Grant) -> Grant {
        let join = |a: &BTreeSet<String>, b: &BTreeSet<String>| a.union(b).cloned().collect();
        Grant {
            storage: self.storage || other.storage,
            publish: join(&self.publish, &other.publish),
            subscribe: join(&self.subscribe, &other.subscribe),
            outbound: join(&self.outbound, &other.outbound),
            invoke: join(&self.invoke, &other.invoke),
            permissions: join(&self.permissions, &other.permissions),
            native: self.native || other.native,
        }
    }

    /// One line per capability, for consent prompts and logs.
    pub fn describe(&self) -> Vec<String> {
        let mut lines = Vec::new();
        if self.native {
            lines.push(
                "native code: a library that runs inside the kernel process with all of its rights, outside the sandbox".to_owned(),
            );
        }
        if self.storage {
            lines.push("storage: a private key-value namespace".to_owned());
        }
        let mut list = |label: &str, items: &BTreeSet<String>| {
            for item in items {
                lines.push(format!("{label}: {item}"));
            }
        };
        list("publish events", &self.publish);
        list("subscribe to events", &self.subscribe);
        list("call outbound", &self.outbound);
        list("invoke plugin", &self.invoke);
        list("define permission", &self.permissions);
        lines
    }
}

/// Lifecycle records in the kernel's storage.
#[derive(Clone)]
pub struct StateStore {
    namespace: Arc<dyn Namespace>,
    storage: Arc<dyn Storage>,
}

impl StateStore {
    /// Open the records kept in `storage`.
    pub fn open(storage: Arc<dyn Storage>) -> Result<Self, StorageError> {
        Ok(Self {
            namespace: storage.namespace(NAMESPACE)?,
            storage,
        })
    }

    /// The record of plugin `id`.
    pub fn get(&self, id: &str) -> Result<Option<InstalledPlugin>, StorageError> {
        let Some(bytes) = self.namespace.get(key(id).as_bytes())? else {
            return Ok(None);
        };
        serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|error| StorageError::Backend(format!("lifecycle record of `{id}`: {error}")))
    }

    /// Every record, sorted by id.
    pub fn all(&self) -> Result<Vec<InstalledPlugin>, StorageError> {
        let mut records = Vec::new();
        let mut start_after: Option<Vec<u8>> = None;
        loop {
            let page =
                self.namespace
                    .scan(PLUGIN_PREFIX.as_bytes(), start_after.as_deref(), 500)?;
            let Some((last, _)) = page.last() else {
                break;
            };
            start_after = Some(last.clone());
            for (key, value) in &page {
                let record: InstalledPlugin = serde_json::from_slice(value).map_err(|error| {
                    StorageError::Backend(format!(
                        "lifecycle record {}: {error}",
                        String::from_utf8_lossy(key)
                    ))
                })?;
                records.push(record);
            }
            if page.len() < 500 {
                break;
            }
        }
        Ok(records)
    }

    /// Store `record` durably.
    pub async fn put(&self, record: &InstalledPlugin) -> Result<(), StorageError> {
        let bytes =
            serde_json::to_vec(record).map_err(|error| StorageError::Backend(error.to_string()))?;
        self.namespace.set(key(&record.id).as_bytes(), &bytes)?;
        self.storage.durable().await
    }

    /// Forget plugin `id`, durably.
    pub async fn delete(&self, id: &str) -> Result<(), StorageError> {
        self.namespace.delete(key(id).as_bytes())?;
        self.storage.durable().await
    }

    /// Whether the starter profile was installed in this data directory.
    pub fn starter_installed(&self) -> Result<bool, StorageError> {
        Ok(self.namespace.get(STARTER_KEY)?.is_some())
    }

    /// Remember that the starter profile was installed.
    pub async fn mark_starter_installed(&self) -> Result<(), StorageError> {
        self.namespace.set(STARTER_KEY, b"1")?;
        self.storage.durable().await
    }
}

fn key(id: &str) -> String {
    format!("{PLUGIN_PREFIX}{id}")
}
