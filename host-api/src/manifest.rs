//! The plugin manifest, `plugin.toml`: who the plugin is, what it needs and
//! what it may do.
//!
//! ```
//! use tessera_host_api::Manifest;
//!
//! let manifest = Manifest::parse(r#"
//! [plugin]
//! id = "acme.hello"
//! version = "1.0.0"
//! api = "^0.1"
//! name = "Hello"
//! mount = "hello"
//!
//! [capabilities]
//! storage = true
//! "#).unwrap();
//! assert_eq!(manifest.plugin.mount, "hello");
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

mod console;
mod limits;
mod routes;
mod validate;

pub use console::ConsolePage;
pub use limits::{Limits, parse_byte_size};
pub use routes::{RouteRule, path_matches};

/// Why a manifest was refused. Each message names the field and what is
/// expected.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The file is not valid TOML or does not have the expected shape
    /// (unknown key, wrong type, missing field).
    #[error("plugin.toml is malformed: {0}")]
    Syntax(String),
    /// A field has a value that is not allowed.
    #[error("plugin.toml field `{field}` is invalid: {message}")]
    Invalid {
        /// Dotted path of the field, e.g. `plugin.id`.
        field: String,
        /// What is wrong and what is expected.
        message: String,
    },
}

/// A parsed and validated `plugin.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Manifest {
    /// Identity of the plugin.
    pub plugin: PluginInfo,
    /// Other plugins this one needs, by id, with semver version ranges.
    #[serde(default)]
    pub dependencies: BTreeMap<String, semver::VersionReq>,
    /// Plugins this one uses when they are installed, by id, with semver
    /// version ranges (`[optional-dependencies]`): not needed to install or
    /// start it, but when one is installed its version must be in range,
    /// and it may be invoked. A call to one that is absent fails with
    /// `not-found`, which the plugin must handle.
    #[serde(default)]
    pub optional_dependencies: BTreeMap<String, semver::VersionReq>,
    /// What the plugin may do. Anything not declared is denied.
    #[serde(default)]
    pub capabilities: Capabilities,
    /// Resource limits for each call into the plugin.
    #[serde(default)]
    pub limits: Limits,
    /// Default configuration values, readable through the WIT `config`
    /// interface and overridable by administrators.
    #[serde(default)]
    pub config: BTreeMap<String, String>,
    /// Permissions the kernel checks before a request reaches the plugin.
    #[serde(default)]
    pub routes: Vec<RouteRule>,
    /// Pages the plugin adds to the admin console (`[[console]]`).
    #[serde(default)]
    pub console: Vec<ConsolePage>,
}

/// The `[plugin]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct PluginInfo {
    /// Unique reverse-DNS id, e.g. `tessera.cms`.
    pub id: String,
    /// The plugin's own version.
    pub version: semver::Version,
    /// The range of `tessera:plugin` contract versions it was built against.
    pub api: semver::VersionReq,
    /// Human-readable name.
    pub name: String,
    /// One-paragraph description.
    #[serde(default)]
    pub description: String,
    /// Path segment it serves under: `/api/<mount>/...`.
    pub mount: String,
}

/// The `[capabilities]` table: everything a plugin may reach.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Capabilities {
    /// Access to its private key-value namespace.
    #[serde(default)]
    pub storage: bool,
    /// Topics it may publish and subscribe to.
    #[serde(default)]
    pub events: EventCapabilities,
    /// Origins (`https://crm.example.com`) it may call over HTTP, or
    /// `{{ key }}`: the origins an administrator lists (comma-separated) in
    /// the plugin's configuration under `key` (see [`outbound_config_key`]).
    #[serde(default)]
    pub outbound: Vec<String>,
    /// Permissions the plugin defines, e.g. `cms.entry.publish`.
    #[serde(default)]
    pub permissions: Vec<String>,
    /// Plugin ids whose handler it may call through `invoke`; each must be
    /// listed in `[dependencies]`.
    #[serde(default)]
    pub invoke: Vec<String>,
}

/// Topic patterns for the event bus. A pattern is a dotted topic whose last
/// segment may be `*` (any one or more segments).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct EventCapabilities {
    /// Topics it may publish.
    #[serde(default)]
    pub publish: Vec<String>,
    /// Topics it receives through its `subscriber` export.
    #[serde(default)]
    pub subscribe: Vec<String>,
}

impl Manifest {
    /// Parse and validate a manifest from TOML text.
    pub fn parse(text: &str) -> Result<Self, ManifestError> {
        let manifest: Manifest =
            toml::from_str(text).map_err(|error| ManifestError::Syntax(error.to_string()))?;
        validate::validate(&manifest)?;
        Ok(manifest)
    }

    /// The permission the first matching `[[routes]]` rule requires for
    /// `method` and `path` (below the mount), if any.
    pub fn route_permission(&self, method: &str, path: &str) -> Option<&str> {
        self.routes
            .iter()
            .find(|rule| rule.matches(method, path))
            .map(|rule| rule.permission.as_str())
    }

    /// Whether this manifest allows publishing `topic`.
    pub fn may_publish(&self, topic: &str) -> bool {
        self.capabilities
            .events
            .publish
            .iter()
            .any(|pattern| topic_matches(pattern, topic))
    }

    /// Whether this manifest allows invoking the plugin `id`.
    pub fn may_invoke(&self, id: &str) -> bool {
        self.capabilities.invoke.iter().any(|allowed| allowed == id)
    }
}

/// The configuration key of an outbound entry written `{{ key }}`, whose
/// origins the administrator sets; `None` for a literal origin.
pub fn outbound_config_key(entry: &str) -> Option<&str> {
    let key = entry.strip_prefix("{{")?.strip_suffix("}}")?.trim();
    (!key.is_empty()).then_some(key)
}

/// Whether a dotted `topic` matches `pattern`, where a final `*` segment
/// matches one or more segments: `cms.*` matches `cms.entry.published`.
pub fn topic_matches(pattern: &str, topic: &str) -> bool {
    match pattern.strip_suffix(".*") {
        Some(prefix) => topic
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('.') && rest.len() > 1),
        None => pattern == "*" || pattern == topic,
    }
}
