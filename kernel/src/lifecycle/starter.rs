//! The starter profile: on the first start of an empty data directory, the
//! first-party plugins of this repository are packed, signed with a
//! development key that only this data directory trusts, and installed
//! through the same path as any package.

use std::path::Path;

use tessera_host_api::Manifest;

use super::{InstallOptions, Lifecycle, LifecycleError};
use crate::package::{Payload, SigningKey, TrustStore};

/// Name of the development key in the trust store.
pub const DEVELOPMENT_KEY_NAME: &str = "development";

/// One plugin of the starter profile.
pub struct StarterPlugin {
    /// Its manifest.
    pub manifest: Manifest,
    /// The text of its `plugin.toml`.
    pub manifest_text: String,
    /// Its component.
    pub component: Vec<u8>,
}

/// Install `plugins` (dependencies first) if this data directory never had
/// its starter profile. Returns what was installed, or why each failed.
pub async fn install_starter_profile(
    lifecycle: &Lifecycle,
    data: &Path,
    mut plugins: Vec<StarterPlugin>,
) -> Result<Vec<(String, Result<(), LifecycleError>)>, LifecycleError> {
    if lifecycle.state().starter_installed()? {
        return Ok(Vec::new());
    }
    let key = development_key(data)?;
    plugins.sort_by(|a, b| a.manifest.plugin.id.cmp(&b.manifest.plugin.id));
    let mut outcomes = Vec::new();
    let mut pending = plugins;
    // Install in rounds: a plugin whose dependencies are not installed yet
    // waits for the next round.
    loop {
        let mut waiting = Vec::new();
        let before = pending.len();
        for plugin in pending {
            let unmet = plugin.manifest.dependencies.keys().any(|dependency| {
                !outcomes
                    .iter()
                    .any(|(id, outcome): &(String, Result<(), LifecycleError>)| {
                        id == dependency && outcome.is_ok()
                    })
            });
            if unmet {
                waiting.push(plugin);
                continue;
            }
            let id = plugin.manifest.plugin.id.clone();
            let outcome = install_signed(lifecycle, &key, &plugin).await;
            outcomes.push((id, outcome));
        }
        if waiting.is_empty() || waiting.len() == before {
            // Whatever still waits has a dependency that is not coming:
            // install it anyway to get the precise error.
            for plugin in waiting {
                let id = plugin.manifest.plugin.id.clone();
                let outcome = install_signed(lifecycle, &key, &plugin).await;
                outcomes.push((id, outcome));
            }
            break;
        }
        pending = waiting;
    }
    lifecycle.state().mark_starter_installed().await?;
    Ok(outcomes)
}

/// Pack `plugin`, sign it with `key` and install it, consenting to its
/// capabilities (they are this repository's own plugins).
async fn install_signed(
    lifecycle: &Lifecycle,
    key: &SigningKey,
    plugin: &StarterPlugin,
) -> Result<(), LifecycleError> {
    let bytes = crate::package::build(
        &plugin.manifest_text,
        Payload::Wasm(&plugin.component),
        Some(key),
    )?;
    let options = InstallOptions {
        allow_untrusted: false,
        consent: true,
    };
    lifecycle.install(&bytes, options).await.map(|_| ())
}

/// The data directory's development key, created and trusted on first use.
fn development_key(data: &Path) -> Result<SigningKey, LifecycleError> {
    let io = |what: &str, error: &dyn std::fmt::Display| LifecycleError::Io {
        what: what.to_owned(),
        source: std::io::Error::other(error.to_string()),
    };
    let path = data.join("keys").join("development.key");
    let key = if path.exists() {
        SigningKey::read_file(&path).map_err(|error| io("reading the development key", &error))?
    } else {
        std::fs::create_dir_all(data.join("keys"))
            .map_err(|error| io("creating the keys directory", &error))?;
        let key = SigningKey::generate().map_err(|error| io("generating a key", &error))?;
        key.write_file(&path)
            .map_err(|error| io("writing the development key", &error))?;
        key
    };
    let mut trust =
        TrustStore::open(data).map_err(|error| io("opening the trust store", &error))?;
    if !trust.is_trusted(&key.public_key()) {
        trust
            .add(DEVELOPMENT_KEY_NAME, key.public_key())
            .map_err(|error| io("trusting the development key", &error))?;
    }
    Ok(key)
}
