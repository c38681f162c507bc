//! Types shared by the Tessera kernel, its command-line tool and native
//! plugins: the plugin manifest (`plugin.toml`) with its capabilities and
//! limits, and the host-side bindings of the `tessera:plugin` WIT world.
//!
//! This crate holds types only; the behaviour lives in `tessera-kernel`.

#![deny(missing_docs)]

pub mod bindings;
pub mod manifest;

pub use manifest::{Capabilities, EventCapabilities, Limits, Manifest, ManifestError, PluginInfo};

/// The version of the WIT contract (`tessera:plugin`) this crate binds.
pub const CONTRACT_VERSION: &str = "0.1.0";

/// The contract version as a parsed semver value.
pub fn contract_version() -> semver::Version {
    semver::Version::new(0, 1, 0)
}
