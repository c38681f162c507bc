//! Types shared by the Tessera kernel, its command-line tool and native
//! plugins: the plugin manifest (`plugin.toml`) with its capabilities and
//! limits, the host-side bindings of the `tessera:plugin` WIT world (feature
//! `bindings`, on by default) and the [`native`] plugin C ABI.
//!
//! This crate holds types only; the behaviour lives in `tessera-kernel`.
//! Native plugins depend on it with `default-features = false`, which leaves
//! wasmtime out.

#![deny(missing_docs)]

#[cfg(feature = "bindings")]
pub mod bindings;
pub mod contract;
pub mod manifest;
pub mod native;

pub use manifest::{Capabilities, EventCapabilities, Limits, Manifest, ManifestError, PluginInfo};

/// The current version of the WIT contract (`tessera:plugin`, the files in
/// `wit/`): what `bindings` binds at its root and the SDK
/// builds against. The kernel also serves the earlier versions listed in
/// [`contract::Contract::ALL`].
pub const CONTRACT_VERSION: &str = "0.2.0";

/// The current contract version as a parsed semver value.
pub fn contract_version() -> semver::Version {
    contract::Contract::LATEST.version()
}
