//! Request ids: taken from a well-formed incoming `x-request-id` (so ids
//! flow through proxies) or generated.

use http::HeaderMap;

/// The header carrying the request id, both ways.
pub const HEADER: &str = "x-request-id";

/// The id of a request with these headers.
pub fn for_request(headers: &HeaderMap) -> String {
    headers
        .get(HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|value| is_acceptable(value))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string())
}

fn is_acceptable(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_a_sane_incoming_id_and_replaces_junk() {
        let mut headers = HeaderMap::new();
        headers.insert(HEADER, "abc-123".parse().unwrap());
        assert_eq!(for_request(&headers), "abc-123");
        headers.insert(HEADER, "not ok; drop table".parse().unwrap());
        let generated = for_request(&headers);
        assert_eq!(generated.len(), 32);
        assert!(generated.chars().all(|c| c.is_ascii_hexdigit()));
    }
}
