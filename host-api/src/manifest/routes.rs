//! `[[routes]]`: permissions the kernel checks before a request reaches
//! the plugin.
//!
//! ```toml
//! [[routes]]
//! path = "/entries/*/publish"   # `*` is one segment, a final `**` the rest
//! methods = ["POST"]            # every method when absent
//! permission = "cms.entry.publish"
//! ```
//!
//! The first rule that matches a request applies; a caller without the
//! permission gets 401 (anonymous) or 403 and the plugin never runs.

use serde::Deserialize;

/// One route rule.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct RouteRule {
    /// Path pattern below the mount, starting with `/`.
    pub path: String,
    /// HTTP methods (upper case) it applies to; all when empty.
    #[serde(default)]
    pub methods: Vec<String>,
    /// The permission a caller must hold.
    pub permission: String,
}

impl RouteRule {
    /// Whether the rule applies to `method` and `path` (below the mount).
    pub fn matches(&self, method: &str, path: &str) -> bool {
        let method_ok = self.methods.is_empty()
            || self
                .methods
                .iter()
                .any(|allowed| allowed.eq_ignore_ascii_case(method));
        method_ok && path_matches(&self.path, path)
    }
}

/// Whether `pattern` matches `path`: segments compare literally, `*`
/// matches one segment, and a final `**` matches any rest (including
/// none).
pub fn path_matches(pattern: &str, path: &str) -> bool {
    let mut pattern_segments = pattern.split('/').filter(|s| !s.is_empty());
    let mut path_segments = path
        .split('?')
        .next()
        .unwrap_or_default()
        .split('/')
        .filter(|s| !s.is_empty());
    loop {
        match (pattern_segments.next(), path_segments.next()) {
            (Some("**"), _) => return true,
            (None, None) => return true,
            (Some("*"), Some(_)) => {}
            (Some(expected), Some(actual)) if expected == actual => {}
            _ => return false,
        }
    }
}

/// Whether `pattern` is a well-formed route path pattern.
pub fn is_path_pattern(pattern: &str) -> bool {
    let segments: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
    pattern.starts_with('/')
        && segments
            .iter()
            .enumerate()
            .all(|(index, segment)| *segment != "**" || index + 1 == segments.len())
        && !pattern.contains(['?', '#', ' '])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_stars_and_rests() {
        assert!(path_matches("/entries/*/publish", "/entries/42/publish"));
        assert!(!path_matches("/entries/*/publish", "/entries/42"));
        assert!(!path_matches("/entries/*/publish", "/entries/42/publish/x"));
        assert!(path_matches("/admin/**", "/admin"));
        assert!(path_matches("/admin/**", "/admin/a/b"));
        assert!(path_matches("/", "/"));
        assert!(path_matches("/**", "/anything"));
        assert!(path_matches("/orders", "/orders/?page=2"));
    }

    #[test]
    fn methods_filter() {
        let rule = RouteRule {
            path: "/entries/**".into(),
            methods: vec!["POST".into(), "PUT".into()],
            permission: "cms.entry.write".into(),
        };
        assert!(rule.matches("post", "/entries/1"));
        assert!(!rule.matches("GET", "/entries/1"));
    }

    #[test]
    fn patterns_are_checked() {
        assert!(is_path_pattern("/entries/*/publish"));
        assert!(is_path_pattern("/admin/**"));
        assert!(!is_path_pattern("entries"));
        assert!(!is_path_pattern("/a/**/b"));
    }
}
