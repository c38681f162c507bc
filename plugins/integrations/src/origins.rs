//! Which receivers webhooks may be delivered to: the origins an
//! administrator lists under `webhook-origins` in the plugin's
//! configuration (the kernel enforces the same list on every outbound
//! call; checking it here too refuses a bad subscription at once).

/// The origin (`scheme://host[:port]`) of an absolute http(s) URL.
pub fn origin_of(url: &str) -> Option<&str> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let authority = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    if authority == 0 {
        return None;
    }
    url.get(..url.len() - rest.len() + authority)
}

/// Whether `url`'s origin is among the comma- or space-separated `listed`.
pub fn allowed(url: &str, listed: &str) -> bool {
    let Some(origin) = origin_of(url) else {
        return false;
    };
    listed
        .split([',', ' ', '\n'])
        .map(|item| item.trim().trim_end_matches('/'))
        .any(|item| !item.is_empty() && item.eq_ignore_ascii_case(origin))
}

/// The configured origins.
pub fn configured() -> String {
    tessera_sdk::config::get_or("webhook-origins", "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_listed_origins_pass() {
        let listed = "https://hooks.example.com/, http://127.0.0.1:8081";
        assert!(allowed("https://hooks.example.com/in?x=1", listed));
        assert!(allowed("http://127.0.0.1:8081/hook", listed));
        assert!(!allowed("http://127.0.0.1:8082/hook", listed));
        assert!(!allowed("https://evil.example.com", listed));
        assert!(!allowed("ftp://hooks.example.com", listed));
        assert!(!allowed("https://hooks.example.com", ""));
    }
}
