//! Cursor pagination over an index prefix: reads index keys a page at a
//! time from the kernel and keeps those the caller accepts (indexes are
//! verified on read, so a stale entry is skipped, never shown).

use tessera_sdk::Error;
use tessera_sdk::bindings::tessera::plugin::storage::{self as wit, ScanRequest};

/// The most index entries one page may read before it stops and hands
/// back a cursor, so a page's cost stays bounded.
const READ_BUDGET: usize = 500;

/// A page of accepted items and the cursor of the next page.
pub struct Page<T> {
    /// What `accept` returned, in key order.
    pub items: Vec<T>,
    /// Where the next page starts (the last key suffix read), if there may
    /// be more.
    pub next: Option<String>,
}

/// 400 `invalid_limit` unless `1 <= limit <= 100`; 20 when absent.
pub fn limit(raw: Option<String>) -> Result<usize, Error> {
    match raw {
        None => Ok(20),
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|limit| (1..=100).contains(limit))
            .ok_or_else(|| {
                Error::new(
                    400,
                    "invalid_limit",
                    format!("`limit` must be 1 to 100, not `{raw}`"),
                )
            }),
    }
}

/// Up to `limit` items from the keys under `prefix` after `cursor` (a key
/// suffix from a previous page): `accept` gets each key's suffix and
/// returns the item to show, or `None` to skip it.
pub fn page<T>(
    prefix: &str,
    cursor: Option<&str>,
    limit: usize,
    mut accept: impl FnMut(&str) -> Result<Option<T>, Error>,
) -> Result<Page<T>, Error> {
    let mut items = Vec::new();
    let mut start_after = cursor.map(|cursor| format!("{prefix}{cursor}"));
    let mut read = 0;
    loop {
        let want = u32::try_from(limit.saturating_sub(items.len()).max(10)).unwrap_or(100);
        let result = wit::scan(&ScanRequest {
            prefix: prefix.to_owned(),
            start_after: start_after.clone(),
            limit: want.min(100),
        })?;
        for entry in &result.entries {
            let suffix = entry.key.strip_prefix(prefix).unwrap_or(&entry.key);
            read += 1;
            start_after = Some(entry.key.clone());
            if let Some(item) = accept(suffix)? {
                items.push(item);
            }
            if items.len() >= limit || read >= READ_BUDGET {
                let next = start_after
                    .as_deref()
                    .and_then(|key| key.strip_prefix(prefix))
                    .map(str::to_owned);
                return Ok(Page { items, next });
            }
        }
        if result.next.is_none() {
            return Ok(Page { items, next: None });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_bounded() {
        assert_eq!(limit(None).unwrap(), 20);
        assert_eq!(limit(Some("100".into())).unwrap(), 100);
        for bad in ["0", "101", "-1", "ten", ""] {
            assert_eq!(
                limit(Some(bad.into())).unwrap_err().code,
                "invalid_limit",
                "{bad}"
            );
        }
    }
}
