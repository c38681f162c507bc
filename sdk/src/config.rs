//! The plugin's configuration: the `[config]` table of `plugin.toml`,
//! overridden by the administrator.

use crate::bindings::tessera::plugin::config as wit;

/// The value of `key`, or `None` when unset.
///
/// ```no_run
/// if let Some(url) = tessera_sdk::config::get("feed-url") {
///     tessera_sdk::info!("feed at {url}");
/// }
/// ```
pub fn get(key: &str) -> Option<String> {
    wit::get(key)
}

/// The value of `key`, or `default` when unset.
///
/// ```no_run
/// let greeting = tessera_sdk::config::get_or("greeting", "Hello");
/// # let _ = greeting;
/// ```
pub fn get_or(key: &str, default: &str) -> String {
    get(key).unwrap_or_else(|| default.to_owned())
}

/// Every key and value, sorted by key.
///
/// ```no_run
/// for (key, value) in tessera_sdk::config::all() {
///     tessera_sdk::debug!("{key} = {value}");
/// }
/// ```
pub fn all() -> Vec<(String, String)> {
    wit::all()
}
