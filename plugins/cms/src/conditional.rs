//! Conditional requests (RFC 9110 §13): strong ETags matched against
//! `If-None-Match`, and `Last-Modified` compared with `If-Modified-Since`
//! when the client sent no `If-None-Match`. Pure.

use chrono::{DateTime, Utc};

/// A strong ETag: the FNV-1a 64-bit hash of the body, quoted.
pub fn etag(body: &[u8]) -> String {
    let hash = body.iter().fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("\"{hash:016x}\"")
}

/// `ms` (since the epoch) as an HTTP date: `Tue, 01 Dec 2026 13:00:00 GMT`.
pub fn http_date(ms: u64) -> Option<String> {
    let ms = i64::try_from(ms).ok()?;
    let time = DateTime::<Utc>::from_timestamp_millis(ms)?;
    Some(time.format("%a, %d %b %Y %H:%M:%S GMT").to_string())
}

/// What the client already holds, from its request headers.
#[derive(Debug, Default, Clone, Copy)]
pub struct Validators<'a> {
    /// The `If-None-Match` header.
    pub if_none_match: Option<&'a str>,
    /// The `If-Modified-Since` header.
    pub if_modified_since: Option<&'a str>,
}

impl Validators<'_> {
    /// Whether the client's copy is current: its `If-None-Match` lists
    /// `tag` (or `*`); or, without `If-None-Match`, the resource last
    /// changed (`last_modified`, ms) no later than its `If-Modified-Since`
    /// (HTTP dates have whole seconds). An unreadable date is ignored.
    pub fn not_modified(&self, tag: &str, last_modified: Option<u64>) -> bool {
        if let Some(header) = self.if_none_match {
            return header
                .split(',')
                .map(|item| item.trim().trim_start_matches("W/"))
                .any(|item| item == "*" || item == tag);
        }
        let (Some(since), Some(modified)) = (self.if_modified_since, last_modified) else {
            return false;
        };
        let Ok(since) = DateTime::parse_from_rfc2822(since.trim()) else {
            return false;
        };
        u64::try_from(since.timestamp()).is_ok_and(|since| modified / 1000 <= since)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matching(tag: &str) -> Validators<'_> {
        Validators {
            if_none_match: Some(tag),
            if_modified_since: None,
        }
    }

    #[test]
    fn etags_hash_the_body_and_match_if_none_match() {
        let tag = etag(b"{}");
        assert_eq!(tag, etag(b"{}"));
        assert_ne!(tag, etag(b"[]"));
        assert_eq!(etag(b""), "\"cbf29ce484222325\"");
        assert!(matching(&tag).not_modified(&tag, None));
        assert!(matching(&format!("\"x\", W/{tag}")).not_modified(&tag, None));
        assert!(matching("*").not_modified(&tag, None));
        assert!(!matching("\"x\"").not_modified(&tag, None));
        assert!(!Validators::default().not_modified(&tag, Some(1)));
    }

    #[test]
    fn dates_are_http_dates_compared_in_whole_seconds() {
        // 2026-12-24T09:00:00.250Z
        let modified = 1_798_102_800_250;
        let date = http_date(modified).unwrap();
        assert_eq!(date, "Thu, 24 Dec 2026 09:00:00 GMT");
        let since = |date| Validators {
            if_none_match: None,
            if_modified_since: Some(date),
        };
        assert!(since(&date).not_modified("\"t\"", Some(modified)));
        assert!(since("Thu, 24 Dec 2026 10:00:00 GMT").not_modified("\"t\"", Some(modified)));
        assert!(!since("Thu, 24 Dec 2026 08:59:59 GMT").not_modified("\"t\"", Some(modified)));
        assert!(!since("yesterday").not_modified("\"t\"", Some(modified)));
        assert!(!since(&date).not_modified("\"t\"", None));
        // If-None-Match wins over If-Modified-Since.
        let both = Validators {
            if_none_match: Some("\"other\""),
            if_modified_since: Some(&date),
        };
        assert!(!both.not_modified("\"t\"", Some(modified)));
    }
}
