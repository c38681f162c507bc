//! Checks that go beyond the shape of `plugin.toml`.

use super::{Limits, Manifest, ManifestError};

fn invalid(field: impl Into<String>, message: impl Into<String>) -> ManifestError {
    ManifestError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// Validate every field of a manifest whose shape already parsed.
pub(super) fn validate(manifest: &Manifest) -> Result<(), ManifestError> {
    let plugin = &manifest.plugin;
    check_plugin_id("plugin.id", &plugin.id)?;
    if !is_segment(&plugin.mount) {
        return Err(invalid(
            "plugin.mount",
            format!(
                "`{}` is not a mount; use lower-case letters, digits and `-`, e.g. \"cms\"",
                plugin.mount
            ),
        ));
    }
    if plugin.name.trim().is_empty() {
        return Err(invalid("plugin.name", "must not be empty"));
    }
    for id in manifest.dependencies.keys() {
        check_plugin_id(&format!("dependencies.\"{id}\""), id)?;
        if id == &plugin.id {
            return Err(invalid(
                format!("dependencies.\"{id}\""),
                "a plugin cannot depend on itself",
            ));
        }
    }
    for id in manifest.optional_dependencies.keys() {
        let field = format!("optional-dependencies.\"{id}\"");
        check_plugin_id(&field, id)?;
        if id == &plugin.id {
            return Err(invalid(field, "a plugin cannot depend on itself"));
        }
        if manifest.dependencies.contains_key(id) {
            return Err(invalid(
                field,
                "listed in [dependencies] too; keep it in one of the two",
            ));
        }
    }
    for (index, rule) in manifest.routes.iter().enumerate() {
        if !super::routes::is_path_pattern(&rule.path) {
            return Err(invalid(
                format!("routes[{index}].path"),
                format!(
                    "`{}` is not a path pattern; start with `/`, use `*` for one segment and a final `**` for the rest",
                    rule.path
                ),
            ));
        }
        let declared = manifest.capabilities.permissions.contains(&rule.permission)
            || rule.permission.starts_with("admin.");
        if !declared {
            return Err(invalid(
                format!("routes[{index}].permission"),
                format!(
                    "`{}` is not among capabilities.permissions; declare the permissions your routes require",
                    rule.permission
                ),
            ));
        }
        for method in &rule.methods {
            if method.is_empty() || !method.chars().all(|c| c.is_ascii_uppercase()) {
                return Err(invalid(
                    format!("routes[{index}].methods"),
                    format!("`{method}` is not an HTTP method in upper case, e.g. \"POST\""),
                ));
            }
        }
    }
    if manifest.console.len() > super::console::MAX_PAGES {
        return Err(invalid(
            "console",
            format!("at most {} console pages", super::console::MAX_PAGES),
        ));
    }
    for (index, page) in manifest.console.iter().enumerate() {
        if page.title.trim().is_empty() || page.title.len() > 60 {
            return Err(invalid(
                format!("console[{index}].title"),
                "1 to 60 characters",
            ));
        }
        if !page.path.starts_with('/') || page.path.contains("..") {
            return Err(invalid(
                format!("console[{index}].path"),
                format!(
                    "`{}` must start with `/` (relative to the mount)",
                    page.path
                ),
            ));
        }
    }
    for id in &manifest.capabilities.invoke {
        if !manifest.dependencies.contains_key(id)
            && !manifest.optional_dependencies.contains_key(id)
        {
            return Err(invalid(
                "capabilities.invoke",
                format!(
                    "`{id}` may only be invoked if it is also listed in [dependencies] or [optional-dependencies]"
                ),
            ));
        }
    }
    for (field, patterns) in [
        (
            "capabilities.events.publish",
            &manifest.capabilities.events.publish,
        ),
        (
            "capabilities.events.subscribe",
            &manifest.capabilities.events.subscribe,
        ),
    ] {
        for pattern in patterns {
            if !is_topic_pattern(pattern) {
                return Err(invalid(
                    field,
                    format!(
                        "`{pattern}` is not a topic pattern; use dotted lower-case segments, optionally ending in `.*`, e.g. \"cms.entry.*\""
                    ),
                ));
            }
        }
    }
    for permission in &manifest.capabilities.permissions {
        if !is_dotted(permission) {
            return Err(invalid(
                "capabilities.permissions",
                format!(
                    "`{permission}` is not a permission; use dotted lower-case segments, e.g. \"cms.entry.publish\""
                ),
            ));
        }
    }
    for origin in &manifest.capabilities.outbound {
        if let Some(key) = super::outbound_config_key(origin) {
            if !manifest.config.contains_key(key) {
                return Err(invalid(
                    "capabilities.outbound",
                    format!(
                        "`{origin}` names the configuration key `{key}`, which [config] does not declare; add it there (empty: no origin until an administrator sets one)"
                    ),
                ));
            }
            continue;
        }
        if !(origin.starts_with("https://") || origin.starts_with("http://"))
            || origin.trim_end_matches('/').matches('/').count() != 2
        {
            return Err(invalid(
                "capabilities.outbound",
                format!(
                    "`{origin}` is not an origin; write scheme and host, e.g. \"https://crm.example.com\""
                ),
            ));
        }
    }
    check_limits(&manifest.limits)
}

fn check_limits(limits: &Limits) -> Result<(), ManifestError> {
    if limits.memory < (1 << 20) || limits.memory > Limits::MAX_MEMORY {
        return Err(invalid(
            "limits.memory",
            format!("{} bytes is out of range; use 1MiB to 1GiB", limits.memory),
        ));
    }
    if limits.timeout_ms == 0 || limits.timeout_ms > Limits::MAX_TIMEOUT_MS {
        return Err(invalid(
            "limits.timeout-ms",
            format!(
                "{} is out of range; use 1 to {}",
                limits.timeout_ms,
                Limits::MAX_TIMEOUT_MS
            ),
        ));
    }
    Ok(())
}

fn check_plugin_id(field: &str, id: &str) -> Result<(), ManifestError> {
    if is_dotted(id) && id.contains('.') && id.len() <= 128 {
        Ok(())
    } else {
        Err(invalid(
            field,
            format!(
                "`{id}` is not a plugin id; use reverse-DNS lower-case segments, e.g. \"acme.loyalty\""
            ),
        ))
    }
}

fn is_segment(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= 64
        && text
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !text.starts_with('-')
}

fn is_dotted(text: &str) -> bool {
    text.split('.').all(is_segment)
}

fn is_topic_pattern(text: &str) -> bool {
    match text.strip_suffix(".*") {
        Some(prefix) => is_dotted(prefix),
        None => text == "*" || is_dotted(text),
    }
}

#[cfg(test)]
mod tests {
    use crate::manifest::{Manifest, ManifestError, topic_matches};

    const MINIMAL: &str = "[plugin]\nid = \"acme.hello\"\nversion = \"1.0.0\"\napi = \"^0.1\"\nname = \"Hello\"\nmount = \"hello\"\n";

    fn error_of(text: &str) -> String {
        match Manifest::parse(text) {
            Ok(_) => String::from("accepted"),
            Err(error) => error.to_string(),
        }
    }

    #[test]
    fn minimal_manifest_gets_default_limits_and_no_capabilities() {
        let manifest = Manifest::parse(MINIMAL).expect("minimal manifest parses");
        assert_eq!(manifest.limits.memory, 64 << 20);
        assert_eq!(manifest.limits.timeout_ms, 2_000);
        assert!(!manifest.capabilities.storage);
        assert!(!manifest.may_publish("acme.anything"));
    }

    #[test]
    fn unknown_key_is_named() {
        let error = error_of(&format!("{MINIMAL}colour = \"red\"\n"));
        assert!(error.contains("unknown field `colour`"), "{error}");
    }

    #[test]
    fn bad_version_is_refused() {
        let error = error_of(&MINIMAL.replace("1.0.0", "one"));
        assert!(error.contains("malformed"), "{error}");
        assert!(error.contains("version"), "{error}");
    }

    #[test]
    fn bad_id_names_the_field() {
        let error = error_of(&MINIMAL.replace("acme.hello", "Hello World"));
        assert!(error.contains("`plugin.id`"), "{error}");
    }

    #[test]
    fn invoke_needs_a_dependency() {
        let text = format!("{MINIMAL}[capabilities]\ninvoke = [\"acme.other\"]\n");
        assert!(matches!(
            Manifest::parse(&text),
            Err(ManifestError::Invalid { field, .. }) if field == "capabilities.invoke"
        ));
    }

    #[test]
    fn an_optional_dependency_may_be_invoked_and_is_listed_once() {
        let text = format!(
            "{MINIMAL}[optional-dependencies]\n\"acme.other\" = \"^1\"\n\n[capabilities]\ninvoke = [\"acme.other\"]\n"
        );
        let manifest = Manifest::parse(&text).expect("an optional dependency may be invoked");
        assert!(manifest.optional_dependencies.contains_key("acme.other"));
        let twice = format!(
            "{MINIMAL}[dependencies]\n\"acme.other\" = \"^1\"\n\n[optional-dependencies]\n\"acme.other\" = \"^1\"\n"
        );
        let error = error_of(&twice);
        assert!(error.contains("optional-dependencies"), "{error}");
    }

    #[test]
    fn outbound_origins_may_come_from_the_configuration() {
        let text = format!(
            "{MINIMAL}[capabilities]\noutbound = [\"{{{{ hooks }}}}\", \"https://erp.example.com\"]\n\n[config]\nhooks = \"\"\n"
        );
        let manifest = Manifest::parse(&text).expect("a configured outbound entry");
        assert_eq!(
            super::super::outbound_config_key(&manifest.capabilities.outbound[0]),
            Some("hooks")
        );
        let undeclared = format!("{MINIMAL}[capabilities]\noutbound = [\"{{{{ hooks }}}}\"]\n");
        assert!(error_of(&undeclared).contains("`hooks`"));
    }

    #[test]
    fn memory_limit_parses_units_and_refuses_nonsense() {
        let text = format!("{MINIMAL}[limits]\nmemory = \"16MiB\"\ntimeout-ms = 500\n");
        let manifest = Manifest::parse(&text).expect("limits parse");
        assert_eq!(manifest.limits.memory, 16 << 20);
        assert_eq!(manifest.limits.timeout_ms, 500);
        let error = error_of(&format!("{MINIMAL}[limits]\nmemory = \"16 parsecs\"\n"));
        assert!(error.contains("unknown unit"), "{error}");
        let error = error_of(&format!("{MINIMAL}[limits]\nmemory = \"8GiB\"\n"));
        assert!(error.contains("limits.memory"), "{error}");
    }

    #[test]
    fn topic_patterns_match_by_segment() {
        assert!(topic_matches("cms.*", "cms.entry.published"));
        assert!(!topic_matches("cms.*", "cmsx.entry"));
        assert!(!topic_matches("cms.*", "cms"));
        assert!(topic_matches("cms.entry.published", "cms.entry.published"));
    }
}
