//! HTTP range requests (RFC 9110, section 14) over a body of known size.
//! Pure: no kernel calls.
//!
//! One range is served as a 206; a header this module cannot honour (an
//! unknown unit, several ranges, bad syntax) is ignored and the whole body
//! is served, as the RFC allows. A well-formed range that starts at or past
//! the end is unsatisfiable (416).

/// What to send for a `Range` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// The whole body (200).
    Full,
    /// Bytes `start..=end` (206); `end` is within the body.
    Part {
        /// The first byte.
        start: u64,
        /// The last byte, inclusive.
        end: u64,
    },
    /// Nothing can be served (416 with `Content-Range: bytes */size`).
    Unsatisfiable,
}

/// The plan for `header` (the value of `Range`, if any) over `size` bytes.
pub fn plan(header: Option<&str>, size: u64) -> Plan {
    let Some(spec) = header.and_then(|header| header.trim().strip_prefix("bytes=")) else {
        return Plan::Full;
    };
    if spec.contains(',') {
        return Plan::Full;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return Plan::Full;
    };
    let number = |text: &str| -> Option<u64> {
        if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        // A number too long for u64 is past any end.
        Some(text.parse().unwrap_or(u64::MAX))
    };
    let (first, last) = (first.trim(), last.trim());
    if first.is_empty() {
        // `bytes=-n`: the last n bytes.
        return match number(last) {
            None => Plan::Full,
            Some(0) => Plan::Unsatisfiable,
            Some(_) if size == 0 => Plan::Unsatisfiable,
            Some(suffix) => Plan::Part {
                start: size.saturating_sub(suffix),
                end: size.saturating_sub(1),
            },
        };
    }
    let Some(start) = number(first) else {
        return Plan::Full;
    };
    let end = if last.is_empty() {
        u64::MAX
    } else {
        match number(last) {
            Some(end) if end >= start => end,
            _ => return Plan::Full,
        }
    };
    if start >= size {
        return Plan::Unsatisfiable;
    }
    Plan::Part {
        start,
        end: end.min(size.saturating_sub(1)),
    }
}

/// The `Content-Range` value of a part.
pub fn content_range(start: u64, end: u64, size: u64) -> String {
    format!("bytes {start}-{end}/{size}")
}

/// Whether an `If-Range` header lets the range apply: absent, or naming the
/// current strong ETag `tag`. Dates are not supported and mean "send it all".
pub fn if_range_allows(if_range: Option<&str>, tag: &str) -> bool {
    if_range.is_none_or(|value| value.trim() == tag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_ranges() {
        assert_eq!(plan(Some("bytes=0-3"), 10), Plan::Part { start: 0, end: 3 });
        assert_eq!(plan(Some("bytes=4-"), 10), Plan::Part { start: 4, end: 9 });
        assert_eq!(plan(Some("bytes=-3"), 10), Plan::Part { start: 7, end: 9 });
        assert_eq!(plan(Some("bytes=-30"), 10), Plan::Part { start: 0, end: 9 });
        assert_eq!(
            plan(Some("bytes=8-100"), 10),
            Plan::Part { start: 8, end: 9 }
        );
        assert_eq!(
            plan(Some(" bytes= 2 - 2 "), 10),
            Plan::Part { start: 2, end: 2 }
        );
    }

    #[test]
    fn unsatisfiable_ranges() {
        assert_eq!(plan(Some("bytes=10-"), 10), Plan::Unsatisfiable);
        assert_eq!(plan(Some("bytes=10-20"), 10), Plan::Unsatisfiable);
        assert_eq!(plan(Some("bytes=-0"), 10), Plan::Unsatisfiable);
        assert_eq!(plan(Some("bytes=0-"), 0), Plan::Unsatisfiable);
        assert_eq!(
            plan(Some("bytes=99999999999999999999999-"), 10),
            Plan::Unsatisfiable
        );
    }

    #[test]
    fn what_cannot_be_honoured_is_ignored() {
        assert_eq!(plan(None, 10), Plan::Full);
        assert_eq!(plan(Some("items=0-3"), 10), Plan::Full);
        assert_eq!(plan(Some("bytes=0-1,4-5"), 10), Plan::Full);
        assert_eq!(plan(Some("bytes=5-2"), 10), Plan::Full);
        assert_eq!(plan(Some("bytes=a-b"), 10), Plan::Full);
        assert_eq!(plan(Some("bytes=-"), 10), Plan::Full);
        assert_eq!(plan(Some("bytes=3"), 10), Plan::Full);
    }

    #[test]
    fn if_range_needs_the_current_tag() {
        assert!(if_range_allows(None, "\"abc\""));
        assert!(if_range_allows(Some("\"abc\""), "\"abc\""));
        assert!(!if_range_allows(Some("\"old\""), "\"abc\""));
        assert!(!if_range_allows(
            Some("Tue, 01 Dec 2026 10:00:00 GMT"),
            "\"abc\""
        ));
    }
}
