//! Native packages in the lifecycle: the checks that come before anything
//! else (enabled in `kernel.toml`, signed by a trusted key, built for this
//! target) and loading the library into the [`NativeRegistry`](crate::native::NativeRegistry).

use std::sync::Arc;

use super::{Lifecycle, LifecycleError};
use crate::native::{HOST_TARGET, KernelServices, LoadedNative, NativePlugin, NativePolicy};
use crate::package::{Package, Verification};
use crate::runtime::LoadError;

/// The directory of the data directory where native libraries are written
/// to be loaded: `<data>/native/<sha256>/<library>`.
const NATIVE_DIR: &str = "native";

impl Lifecycle {
    /// Refuse a native package unless native plugins are enabled, it is
    /// signed by a trusted key (the development flag does not apply) and it
    /// was built for this kernel's target, in that order.
    pub(super) fn check_native(
        &self,
        id: &str,
        version: &str,
        target: &str,
        verification: &Verification,
    ) -> Result<(), LifecycleError> {
        if !self.config.native_plugins {
            return Err(LifecycleError::NativeDisabled {
                id: id.to_owned(),
                version: version.to_owned(),
            });
        }
        let signer = match verification {
            Verification::Signed { trusted: true, .. } => None,
            Verification::Signed { signer, .. } => Some(format!(
                "signed by key {}, which this kernel does not trust",
                signer.fingerprint()
            )),
            Verification::Unsigned => Some("not signed".to_owned()),
        };
        if let Some(signer) = signer {
            return Err(LifecycleError::NativeUntrusted {
                id: id.to_owned(),
                version: version.to_owned(),
                signer,
            });
        }
        if target != HOST_TARGET {
            return Err(LifecycleError::NativeWrongTarget {
                id: id.to_owned(),
                version: version.to_owned(),
                target: target.to_owned(),
                host: HOST_TARGET.to_owned(),
            });
        }
        Ok(())
    }

    /// Load the library of a native package (judged again against the
    /// configuration and the trust store as they are now, since this also
    /// runs at start and on enable) and serve it from now on, replacing
    /// whatever version of the plugin served before.
    pub(super) async fn activate_native(&self, package: &Package) -> Result<(), LifecycleError> {
        let manifest = package.manifest().clone();
        let id = manifest.plugin.id.clone();
        let policy = NativePolicy {
            enabled: self.config.native_plugins,
            signed_by_trusted_key: package.verification(&self.trust()?).is_trusted(),
        };
        let library = package
            .payload_entry()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        let bytes = package.payload().to_vec();
        let scratch = self.data.join(NATIVE_DIR);
        let plugin = tokio::task::spawn_blocking(move || {
            NativePlugin::load_bytes(&bytes, &library, &policy, &scratch)
        })
        .await
        .map_err(|error| LifecycleError::Io {
            what: format!("loading the native library of `{id}`"),
            source: std::io::Error::other(error.to_string()),
        })??;
        let digest = package.payload_sha256().to_hex();
        let mount = manifest.plugin.mount.clone();
        let mut config = manifest.config.clone();
        config.extend(
            crate::serve::config_overrides(&self.data, &id).map_err(|error| {
                LifecycleError::Io {
                    what: format!("reading the configuration of `{id}`"),
                    source: std::io::Error::other(format!("{error:#}")),
                }
            })?,
        );
        let config = serde_json::to_vec(&config).map_err(|error| LifecycleError::Io {
            what: format!("encoding the configuration of `{id}`"),
            source: std::io::Error::other(error),
        })?;
        let services = Arc::new(KernelServices::new(
            manifest.clone(),
            self.runtime.clone(),
            tokio::runtime::Handle::current(),
        ));
        let loaded = Arc::new(LoadedNative::new(manifest, plugin, digest));
        self.native
            .activate(loaded.clone())
            .map_err(|owner| LoadError::MountTaken { mount, owner })?;
        // An upgrade or rollback from a WebAssembly version of the plugin.
        self.runtime.deactivate(&id);
        // ABI 2: its background worker, if it has one (the replaced
        // version's was stopped by `activate`).
        loaded.start_worker(services, config);
        tracing::info!(plugin = %id, "native plugin loaded");
        Ok(())
    }
}
