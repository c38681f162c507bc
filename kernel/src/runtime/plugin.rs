//! A loaded plugin: its manifest, configuration, storage namespace and the
//! pre-instantiated component every call starts from.

use std::collections::BTreeMap;
use std::sync::Arc;

use tessera_host_api::Manifest;
use tessera_host_api::bindings::PluginPre;
use tessera_host_api::bindings::exports::tessera::plugin::{handler, lifecycle};

use super::call::{CallContext, CallError};
use super::{PluginSource, Runtime, compile_cache};
use crate::storage::{Namespace, StorageError};

/// Why a plugin could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Another plugin with the same id is loaded.
    #[error("a plugin with id `{0}` is already loaded")]
    DuplicateId(String),
    /// Another plugin serves the same mount.
    #[error(
        "mount `{mount}` is already served by plugin `{owner}`; give this plugin another `plugin.mount`"
    )]
    MountTaken {
        /// The contested mount.
        mount: String,
        /// Id of the plugin that has it.
        owner: String,
    },
    /// The plugin was built against a contract this kernel does not serve.
    #[error(
        "plugin `{id}` needs contract `tessera:plugin` {wanted}, this kernel serves {served}; rebuild it against a matching tessera-sdk"
    )]
    IncompatibleContract {
        /// Plugin id.
        id: String,
        /// The manifest's `api` range.
        wanted: String,
        /// The kernel's contract version.
        served: String,
    },
    /// The component is not valid, or does not fit the `tessera:plugin`
    /// world (missing exports, unknown imports).
    #[error("plugin `{id}`: the component does not fit the tessera:plugin world: {message}")]
    Link {
        /// Plugin id.
        id: String,
        /// wasmtime's explanation.
        message: String,
    },
    /// The plugin's storage namespace could not be opened.
    #[error("plugin `{id}`: cannot open its storage: {source}")]
    Storage {
        /// Plugin id.
        id: String,
        /// The storage error.
        source: StorageError,
    },
    /// The plugin's `migrate` export failed; it was not activated.
    #[error("plugin `{id}`: migrate failed, the plugin was not activated: {message}")]
    Migrate {
        /// Plugin id.
        id: String,
        /// What the plugin or the runtime reported.
        message: String,
    },
}

/// A plugin ready to serve.
pub struct LoadedPlugin {
    manifest: Manifest,
    pre: PluginPre<super::HostState>,
    /// Where the `handler` and `lifecycle` exports are, resolved once so
    /// that a call looks up only the export it uses.
    handler: handler::GuestIndices,
    lifecycle: lifecycle::GuestIndices,
    namespace: Option<Arc<dyn Namespace>>,
    config: BTreeMap<String, String>,
    digest: String,
}

impl LoadedPlugin {
    /// The plugin id.
    pub fn id(&self) -> &str {
        &self.manifest.plugin.id
    }

    /// The manifest it was loaded with.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Hex SHA-256 of its component.
    pub fn digest(&self) -> &str {
        &self.digest
    }

    /// Its storage namespace, if it declared the `storage` capability.
    pub fn namespace(&self) -> Option<&Arc<dyn Namespace>> {
        self.namespace.as_ref()
    }

    /// Its effective configuration.
    pub fn config(&self) -> &BTreeMap<String, String> {
        &self.config
    }

    pub(super) fn pre(&self) -> &PluginPre<super::HostState> {
        &self.pre
    }

    pub(super) fn handler_indices(&self) -> &handler::GuestIndices {
        &self.handler
    }

    pub(super) fn lifecycle_indices(&self) -> &lifecycle::GuestIndices {
        &self.lifecycle
    }
}

/// The kernel namespace recording which version of each plugin last
/// migrated its data.
pub const VERSIONS_NAMESPACE: &str = "kernel/plugin-versions";

/// The storage namespace of plugin `id`.
pub fn namespace_name(id: &str) -> String {
    format!("plugin/{id}")
}

/// Compile, link and pre-instantiate a plugin.
pub(super) fn prepare(runtime: &Runtime, source: &PluginSource) -> Result<LoadedPlugin, LoadError> {
    let manifest = source.manifest.clone();
    let id = manifest.plugin.id.clone();
    let served = tessera_host_api::contract_version();
    if !manifest.plugin.api.matches(&served) {
        return Err(LoadError::IncompatibleContract {
            id,
            wanted: manifest.plugin.api.to_string(),
            served: served.to_string(),
        });
    }
    let bytes = &source.component;
    let link_error = |error: &dyn std::fmt::Display| LoadError::Link {
        id: id.clone(),
        message: format!("{error:#}"),
    };
    let compiled = compile_cache::compile(&runtime.engine, bytes, &runtime.cache_dir)
        .map_err(|error| link_error(&error))?;
    tracing::info!(plugin = %id, from_cache = compiled.from_cache, "component ready");
    let instance_pre = runtime
        .linker
        .instantiate_pre(&compiled.component)
        .map_err(|error| link_error(&error))?;
    let handler = handler::GuestIndices::new(&instance_pre).map_err(|error| link_error(&error))?;
    let lifecycle =
        lifecycle::GuestIndices::new(&instance_pre).map_err(|error| link_error(&error))?;
    let pre = PluginPre::new(instance_pre).map_err(|error| link_error(&error))?;
    let namespace = if manifest.capabilities.storage {
        let namespace = runtime
            .storage
            .namespace(&namespace_name(&id))
            .map_err(|source| LoadError::Storage {
                id: id.clone(),
                source,
            })?;
        Some(namespace)
    } else {
        None
    };
    let mut config = manifest.config.clone();
    config.extend(source.config_overrides.clone());
    Ok(LoadedPlugin {
        manifest,
        pre,
        handler,
        lifecycle,
        namespace,
        config,
        digest: compiled.digest,
    })
}

/// Run the plugin's `migrate` export when its recorded version differs from
/// the one being loaded, then record the new version.
pub(super) async fn migrate(
    runtime: &Arc<Runtime>,
    plugin: &Arc<LoadedPlugin>,
) -> Result<(), LoadError> {
    let id = plugin.id().to_owned();
    let storage_error = |source| LoadError::Storage {
        id: id.clone(),
        source,
    };
    let versions = runtime
        .storage
        .namespace(VERSIONS_NAMESPACE)
        .map_err(storage_error)?;
    let current = plugin.manifest.plugin.version.to_string();
    let recorded = versions
        .get(id.as_bytes())
        .map_err(storage_error)?
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
    if recorded.as_deref() == Some(current.as_str()) {
        return Ok(());
    }
    let context = CallContext::background(format!("migrate-{id}"));
    let outcome = runtime
        .call_migrate(plugin.clone(), recorded.clone(), context)
        .await
        .map_err(|error: CallError| LoadError::Migrate {
            id: id.clone(),
            message: error.to_string(),
        })?;
    outcome.map_err(|message| LoadError::Migrate {
        id: id.clone(),
        message,
    })?;
    versions
        .set(id.as_bytes(), current.as_bytes())
        .map_err(storage_error)?;
    runtime.storage.durable().await.map_err(storage_error)?;
    tracing::info!(plugin = %id, from = ?recorded, to = %current, "plugin migrated");
    Ok(())
}
