//! The kind of device a request comes from, from its `User-Agent`. Pure.

/// `bot`, `tablet`, `mobile` or `desktop`; `None` without a user agent.
pub fn classify(user_agent: Option<&str>) -> Option<&'static str> {
    let agent = user_agent?.to_ascii_lowercase();
    if agent.trim().is_empty() {
        return None;
    }
    let has = |words: &[&str]| words.iter().any(|word| agent.contains(word));
    Some(if has(&["bot", "crawler", "spider", "slurp", "headless"]) {
        "bot"
    } else if has(&["ipad", "tablet"]) || (agent.contains("android") && !agent.contains("mobile")) {
        "tablet"
    } else if has(&["mobile", "iphone", "ipod", "android"]) {
        "mobile"
    } else {
        "desktop"
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_agents_are_told_apart() {
        let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) Mobile/15E148";
        let ipad = "Mozilla/5.0 (iPad; CPU OS 17_0 like Mac OS X)";
        let android_tablet = "Mozilla/5.0 (Linux; Android 14; SM-X700)";
        let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
        assert_eq!(classify(Some(iphone)), Some("mobile"));
        assert_eq!(classify(Some(ipad)), Some("tablet"));
        assert_eq!(classify(Some(android_tablet)), Some("tablet"));
        assert_eq!(classify(Some(firefox)), Some("desktop"));
        assert_eq!(classify(Some("Googlebot/2.1")), Some("bot"));
        assert_eq!(classify(None), None);
    }
}
