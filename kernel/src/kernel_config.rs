//! `<data>/kernel.toml`: settings an administrator sets for the kernel
//! itself (as opposed to a plugin's `<data>/config/<id>.toml`).
//!
//! ```toml
//! # Load trusted native plugins (shared libraries) from packages signed by
//! # a key in the trust store. Off by default.
//! native-plugins = true
//!
//! [events]
//! # Keep events in the log this long (default 720 hours, 30 days). Older
//! # events are removed once every subscriber has handled them; events
//! # with a dead letter stay until the dead letter is replayed.
//! retention-hours = 720
//! # How often the log is compacted (default 600 seconds).
//! compact-every-seconds = 600
//! ```
//!
//! A missing file means every default. An unknown key is an error naming
//! it, so a typo cannot silently leave a setting at its default.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// The file in the data directory that [`KernelConfig::load`] reads.
pub const KERNEL_CONFIG_FILE: &str = "kernel.toml";

/// The kernel's own settings, from `<data>/kernel.toml`.
///
/// ```
/// use tessera_kernel::kernel_config::KernelConfig;
///
/// let config: KernelConfig = toml::from_str("native-plugins = true").unwrap();
/// assert!(config.native_plugins);
/// assert!(!KernelConfig::default().native_plugins);
/// assert_eq!(config.events.retention_hours, 720);
///
/// let config: KernelConfig = toml::from_str("[events]\nretention-hours = 24").unwrap();
/// assert_eq!(config.events.retention_hours, 24);
/// assert_eq!(config.events.compact_every_seconds, 600);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", default, deny_unknown_fields)]
pub struct KernelConfig {
    /// Whether native plugins may be installed and loaded at all (they must
    /// also be signed by a trusted key). Default `false`.
    pub native_plugins: bool,
    /// How long the event log keeps events (`[events]`).
    pub events: EventSettings,
}

/// `[events]` of `<data>/kernel.toml`: the event log's retention.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case", default, deny_unknown_fields)]
pub struct EventSettings {
    /// Events older than this many hours are removed from the log once
    /// every subscriber has handled them. Default 720 (30 days); 0 removes
    /// events as soon as every subscriber has handled them.
    pub retention_hours: u64,
    /// Seconds between two compactions of the log. Default 600.
    pub compact_every_seconds: u64,
}

impl Default for EventSettings {
    fn default() -> Self {
        Self {
            retention_hours: 720,
            compact_every_seconds: 600,
        }
    }
}

/// Why `<data>/kernel.toml` could not be used.
#[derive(Debug, thiserror::Error)]
pub enum KernelConfigError {
    /// The file exists but could not be read.
    #[error("cannot read the kernel configuration {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not valid TOML, has an unknown key or a wrong type.
    #[error(
        "invalid kernel configuration {path}: {message}; the settings are `native-plugins = true|false` and, under `[events]`, `retention-hours` and `compact-every-seconds`"
    )]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's account, naming the key.
        message: String,
    },
}

impl KernelConfig {
    /// Read `<data>/kernel.toml` ([`KERNEL_CONFIG_FILE`]); every default when
    /// it does not exist.
    pub fn load(data: &Path) -> Result<Self, KernelConfigError> {
        let path = data.join(KERNEL_CONFIG_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Self::default());
            }
            Err(source) => return Err(KernelConfigError::Read { path, source }),
        };
        toml::from_str(&text).map_err(|error| KernelConfigError::Parse {
            path,
            message: error.to_string().trim_end().to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_file_is_the_default_and_native_plugins_are_off() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            KernelConfig::load(dir.path()).unwrap(),
            KernelConfig::default()
        );
        assert!(!KernelConfig::default().native_plugins);
    }

    #[test]
    fn native_plugins_can_be_enabled() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join(KERNEL_CONFIG_FILE),
            "native-plugins = true\n",
        )
        .unwrap();
        assert!(KernelConfig::load(dir.path()).unwrap().native_plugins);
    }

    #[test]
    fn unknown_keys_and_wrong_types_name_the_file_and_the_key() {
        let dir = tempfile::tempdir().unwrap();
        for (text, expected) in [
            ("native-plugin = true\n", "native-plugin"),
            ("native-plugins = \"yes\"\n", "native-plugins"),
            ("[events]\nretention-days = 3\n", "retention-days"),
            ("[events]\nretention-hours = -1\n", "retention-hours"),
        ] {
            std::fs::write(dir.path().join(KERNEL_CONFIG_FILE), text).unwrap();
            let error = KernelConfig::load(dir.path()).unwrap_err().to_string();
            assert!(error.contains("kernel.toml"), "{error}");
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }
}
