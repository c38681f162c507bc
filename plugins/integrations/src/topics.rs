//! Topic patterns of webhook subscriptions, as in manifests: `cms.*`
//! matches every topic under `cms.`, `*` matches every topic, anything else
//! matches itself. Pure.

/// Kernel topics whose payloads carry a one-time credential (an invitation
/// or password-reset link): delivered only to webhooks that list them by
/// name (docs/events.md).
pub const CREDENTIAL_TOPICS: [&str; 2] =
    ["identity.user.invited", "identity.password.reset-requested"];

/// Whether `pattern` is a topic or a topic pattern.
pub fn is_pattern(pattern: &str) -> bool {
    let dotted = |text: &str| {
        !text.is_empty()
            && text.split('.').all(|segment| {
                !segment.is_empty()
                    && segment
                        .chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            })
    };
    match pattern.strip_suffix(".*") {
        Some(prefix) => dotted(prefix),
        None => pattern == "*" || dotted(pattern),
    }
}

/// Whether `topic` matches `pattern`.
pub fn matches(pattern: &str, topic: &str) -> bool {
    match pattern.strip_suffix(".*") {
        Some(prefix) => topic
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('.') && rest.len() > 1),
        None => pattern == "*" || pattern == topic,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_match_by_segment() {
        assert!(matches("cms.*", "cms.entry.published"));
        assert!(!matches("cms.*", "cmsx.entry"));
        assert!(matches("*", "anything.at.all"));
        assert!(matches("commerce.order.placed", "commerce.order.placed"));
        assert!(is_pattern("cms.*") && is_pattern("*") && is_pattern("a.b-c"));
        assert!(!is_pattern("CMS.*") && !is_pattern("a..b") && !is_pattern(""));
    }
}
