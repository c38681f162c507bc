//! Permission names and patterns.
//!
//! A permission is a dotted name, `cms.entry.publish`. Roles grant names
//! or patterns: `cms.*` grants every permission under `cms.`, `*` grants
//! everything.

/// Manage plugins: install, upgrade, roll back, enable, disable, uninstall.
pub const PLUGINS_MANAGE: &str = "admin.plugins.manage";
/// Manage users: create, lock, unlock, grant and revoke roles.
pub const USERS_MANAGE: &str = "admin.users.manage";
/// Create, change and delete roles.
pub const ROLES_MANAGE: &str = "admin.roles.manage";
/// Read the audit log.
pub const AUDIT_READ: &str = "admin.audit.read";
/// Configure sites (hosts, registration, link URLs).
pub const SITES_MANAGE: &str = "admin.sites.manage";
/// Read the event log, subscriptions and dead letters.
pub const EVENTS_READ: &str = "admin.events.read";
/// Replay dead letters.
pub const EVENTS_MANAGE: &str = "admin.events.manage";

/// The permissions the kernel itself defines, with what each allows.
pub const KERNEL_PERMISSIONS: &[(&str, &str)] = &[
    (
        PLUGINS_MANAGE,
        "install, upgrade, roll back, enable, disable and uninstall plugins",
    ),
    (
        USERS_MANAGE,
        "create, lock and unlock users; grant and revoke their roles",
    ),
    (ROLES_MANAGE, "create, change and delete roles"),
    (AUDIT_READ, "read the audit log"),
    (SITES_MANAGE, "configure sites"),
    (
        EVENTS_READ,
        "read the event log, subscriptions and dead letters",
    ),
    (EVENTS_MANAGE, "replay dead letters"),
];

/// Whether `pattern` (a name, `prefix.*` or `*`) grants `permission`.
pub fn grants(pattern: &str, permission: &str) -> bool {
    if pattern == "*" || pattern == permission {
        return true;
    }
    match pattern.strip_suffix(".*") {
        Some(prefix) => permission
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('.')),
        None => false,
    }
}

/// Whether any of `patterns` grants `permission`.
pub fn any_grants<'a>(patterns: impl IntoIterator<Item = &'a String>, permission: &str) -> bool {
    patterns
        .into_iter()
        .any(|pattern| grants(pattern, permission))
}

/// Whether `text` is a well-formed permission name or pattern: dotted
/// segments of lower-case letters, digits, `-` and `_`, the last of which
/// may be `*`.
pub fn is_well_formed(text: &str) -> bool {
    if text == "*" {
        return true;
    }
    let body = text.strip_suffix(".*").unwrap_or(text);
    !body.is_empty()
        && body.split('.').all(|segment| {
            !segment.is_empty()
                && segment
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_')
        })
}

/// Whether `pattern` is covered by `held`: a token may only be scoped to
/// what its creator holds. A pattern is covered when one held pattern
/// grants everything it grants.
pub fn covered_by(pattern: &str, held: &[String]) -> bool {
    held.iter().any(|holder| {
        holder == "*"
            || holder == pattern
            || match pattern.strip_suffix(".*") {
                // `cms.*` is covered by `cms.*` (above), `*`, or `c.*`
                // where `cms` lies under `c`.
                Some(prefix) => grants(holder, prefix) && holder.ends_with(".*"),
                None => grants(holder, pattern),
            }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_grant_what_they_name() {
        assert!(grants("*", "cms.entry.publish"));
        assert!(grants("cms.*", "cms.entry.publish"));
        assert!(grants("cms.entry.*", "cms.entry.publish"));
        assert!(grants("cms.entry.publish", "cms.entry.publish"));
        assert!(!grants("cms.*", "cmsx.entry"));
        assert!(!grants("cms.*", "cms"));
        assert!(!grants("cms.entry.read", "cms.entry.publish"));
    }

    #[test]
    fn well_formed_names_and_patterns() {
        for good in [
            "*",
            "cms.*",
            "cms.entry.publish",
            "admin.users.manage",
            "a_b-c.d",
        ] {
            assert!(is_well_formed(good), "{good}");
        }
        for bad in [
            "",
            ".",
            "cms.",
            "CMS.entry",
            "cms..entry",
            "cms.*.publish",
            "cms*",
        ] {
            assert!(!is_well_formed(bad), "{bad}");
        }
    }

    #[test]
    fn scopes_must_be_covered_by_what_is_held() {
        let held = vec!["cms.*".to_owned(), "commerce.order.read".to_owned()];
        assert!(covered_by("cms.entry.read", &held));
        assert!(covered_by("cms.*", &held));
        assert!(covered_by("cms.entry.*", &held));
        assert!(covered_by("commerce.order.read", &held));
        assert!(!covered_by("commerce.order.write", &held));
        assert!(!covered_by("commerce.*", &held));
        assert!(!covered_by("*", &held));
        assert!(covered_by("*", &["*".to_owned()]));
    }
}
