//! `[[console]]`: pages a plugin adds to the admin console. Each page is a
//! JSON list the plugin already serves; the console fetches it as the
//! signed-in administrator and shows it as a table, so a plugin grows the
//! console without shipping any front-end code:
//!
//! ```toml
//! [[console]]
//! title = "Content types"
//! path = "/types"            # GET, relative to the plugin's mount
//! items = "types"            # the answer's key holding the list (default "items")
//! permission = "cms.entry.read"
//! ```

use serde::{Deserialize, Serialize};

/// The most pages one plugin may add.
pub const MAX_PAGES: usize = 10;

/// One console page.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConsolePage {
    /// The menu entry and heading.
    pub title: String,
    /// The JSON list to show: `GET /api/<mount><path>`.
    pub path: String,
    /// The key of the answer that holds the list; `items` when absent.
    #[serde(default = "default_items")]
    pub items: String,
    /// A permission the administrator needs for the page to be listed (the
    /// plugin checks its own permissions anyway).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission: Option<String>,
}

fn default_items() -> String {
    "items".to_owned()
}
