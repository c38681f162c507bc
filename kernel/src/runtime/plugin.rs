//! A loaded plugin: its manifest, configuration, storage namespace and the
//! pre-instantiated component every call starts from.

use std::collections::BTreeMap;
use std::sync::Arc;

use tessera_host_api::Manifest;
use tessera_host_api::bindings::exports::tessera::plugin::{
    handler, job_runner, lifecycle, subscriber,
};
use tessera_host_api::bindings::{self, v0_1};
use tessera_host_api::contract::{self, Contract};
use wasmtime::component::{Component, InstancePre};

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
    /// The manifest's `api` range names no contract version this kernel
    /// serves.
    #[error(
        "plugin `{id}` needs contract `tessera:plugin` {wanted}, this kernel serves {served}; rebuild it against a matching tessera-sdk"
    )]
    IncompatibleContract {
        /// Plugin id.
        id: String,
        /// The manifest's `api` range.
        wanted: String,
        /// The contract versions the kernel serves, e.g. `0.1.0, 0.2.0`.
        served: String,
    },
    /// The component was built against a contract version this kernel does
    /// not serve (its `tessera:plugin/...@VERSION` import and export names
    /// say which).
    #[error(
        "plugin `{id}` was built against contract `tessera:plugin@{built}`, this kernel serves {served}; rebuild it against a matching tessera-sdk"
    )]
    UnsupportedContract {
        /// Plugin id.
        id: String,
        /// The version its component names.
        built: String,
        /// The contract versions the kernel serves, e.g. `0.1.0, 0.2.0`.
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

/// Where a plugin's `handler` and `lifecycle` exports are, in the bindings
/// of the contract version it was built against; resolved once so that a
/// call looks up only the export it uses.
pub(super) enum Exports {
    /// Built against the current contract.
    Latest {
        /// `handler`.
        handler: handler::GuestIndices,
        /// `lifecycle`.
        lifecycle: lifecycle::GuestIndices,
        /// `subscriber`.
        subscriber: subscriber::GuestIndices,
        /// `job-runner`.
        job_runner: job_runner::GuestIndices,
    },
    /// Built against `tessera:plugin@0.1.0`, served through adapters.
    V0_1 {
        /// `handler`.
        handler: v0_1::exports::tessera::plugin::handler::GuestIndices,
        /// `lifecycle`.
        lifecycle: v0_1::exports::tessera::plugin::lifecycle::GuestIndices,
        /// `subscriber`.
        subscriber: v0_1::exports::tessera::plugin::subscriber::GuestIndices,
        /// `job-runner`.
        job_runner: v0_1::exports::tessera::plugin::job_runner::GuestIndices,
    },
}

/// A plugin ready to serve.
pub struct LoadedPlugin {
    manifest: Manifest,
    contract: Contract,
    pre: InstancePre<super::HostState>,
    exports: Exports,
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

    /// The contract version its component was built against (served by
    /// this kernel, possibly through an adapter).
    pub fn contract(&self) -> Contract {
        self.contract
    }

    /// Its storage namespace, if it declared the `storage` capability.
    pub fn namespace(&self) -> Option<&Arc<dyn Namespace>> {
        self.namespace.as_ref()
    }

    /// Its effective configuration.
    pub fn config(&self) -> &BTreeMap<String, String> {
        &self.config
    }

    pub(super) fn pre(&self) -> &InstancePre<super::HostState> {
        &self.pre
    }

    pub(super) fn exports(&self) -> &Exports {
        &self.exports
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
    if Contract::satisfying(&manifest.plugin.api).is_none() {
        return Err(LoadError::IncompatibleContract {
            id,
            wanted: manifest.plugin.api.to_string(),
            served: contract::served_list(),
        });
    }
    let bytes = &source.component;
    let link_error = |error: &dyn std::fmt::Display| LoadError::Link {
        id: id.clone(),
        message: format!("{error:#}"),
    };
    let compiled = compile_cache::compile(&runtime.engine, bytes, &runtime.cache_dir)
        .map_err(|error| link_error(&error))?;
    let contract = component_contract(runtime, &id, &compiled.component)?;
    if !manifest.plugin.api.matches(&contract.version()) {
        tracing::warn!(
            plugin = %id,
            api = %manifest.plugin.api,
            built = %contract.version(),
            "the manifest's api range does not name the contract version the component was built against; serving the component's"
        );
    }
    tracing::info!(plugin = %id, from_cache = compiled.from_cache, contract = %contract.version(), "component ready");
    let pre = runtime
        .linker
        .instantiate_pre(&compiled.component)
        .map_err(|error| link_error(&error))?;
    // The world's bindings check that every export exists and fits; the
    // indices of the exports the kernel calls are kept.
    let exports = match contract {
        Contract::V0_2 => {
            bindings::PluginPre::new(pre.clone()).map_err(|error| link_error(&error))?;
            Exports::Latest {
                handler: handler::GuestIndices::new(&pre).map_err(|error| link_error(&error))?,
                lifecycle: lifecycle::GuestIndices::new(&pre)
                    .map_err(|error| link_error(&error))?,
                subscriber: subscriber::GuestIndices::new(&pre)
                    .map_err(|error| link_error(&error))?,
                job_runner: job_runner::GuestIndices::new(&pre)
                    .map_err(|error| link_error(&error))?,
            }
        }
        Contract::V0_1 => {
            v0_1::PluginPre::new(pre.clone()).map_err(|error| link_error(&error))?;
            Exports::V0_1 {
                handler: v0_1::exports::tessera::plugin::handler::GuestIndices::new(&pre)
                    .map_err(|error| link_error(&error))?,
                lifecycle: v0_1::exports::tessera::plugin::lifecycle::GuestIndices::new(&pre)
                    .map_err(|error| link_error(&error))?,
                subscriber: v0_1::exports::tessera::plugin::subscriber::GuestIndices::new(&pre)
                    .map_err(|error| link_error(&error))?,
                job_runner: v0_1::exports::tessera::plugin::job_runner::GuestIndices::new(&pre)
                    .map_err(|error| link_error(&error))?,
            }
        }
    };
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
        contract,
        pre,
        exports,
        namespace,
        config,
        digest: compiled.digest,
    })
}

/// The served contract version `component` was built against, read from
/// its `tessera:plugin/...@VERSION` import and export names. A component
/// that names no such interface cannot fit the world; one that names a
/// version this kernel does not serve is refused with both versions.
fn component_contract(
    runtime: &Runtime,
    id: &str,
    component: &Component,
) -> Result<Contract, LoadError> {
    let ty = component.component_type();
    let engine = &runtime.engine;
    let names = ty
        .imports(engine)
        .map(|(name, _)| name)
        .chain(ty.exports(engine).map(|(name, _)| name));
    let link_error = |message: String| LoadError::Link {
        id: id.to_owned(),
        message,
    };
    let built = contract::version_of(names)
        .map_err(|error| link_error(error.to_string()))?
        .ok_or_else(|| {
            link_error(format!(
                "it names no `{}` interface; build it against tessera-sdk",
                contract::PACKAGE
            ))
        })?;
    Contract::serving(&built).ok_or_else(|| LoadError::UnsupportedContract {
        id: id.to_owned(),
        built: built.to_string(),
        served: contract::served_list(),
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
