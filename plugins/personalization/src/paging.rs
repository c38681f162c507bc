//! One page of keys under a prefix, for the admin lists: `limit` (1 to
//! 200, default 50) and `after` (the last id of the previous page).

use tessera_sdk::bindings::tessera::plugin::storage as raw;
use tessera_sdk::prelude::*;

/// A page: `(id after the prefix, value)` pairs and the cursor of the
/// next page.
pub struct Page {
    /// The entries.
    pub entries: Vec<(String, Vec<u8>)>,
    /// Pass as `after` for the next page; `None` on the last page.
    pub next: Option<String>,
}

/// The page of `prefix` that `request`'s `limit` and `after` ask for.
pub fn page(request: &Request, prefix: &str) -> Result<Page, Error> {
    let limit = match request.query("limit") {
        None => 50,
        Some(text) => text
            .parse::<u32>()
            .ok()
            .filter(|n| (1..=200).contains(n))
            .ok_or_else(|| Error::new(400, "invalid_query", "`limit` is 1 to 200"))?,
    };
    let page = raw::scan(&raw::ScanRequest {
        prefix: prefix.to_owned(),
        start_after: request
            .query("after")
            .map(|after| format!("{prefix}{after}")),
        limit: limit.saturating_add(1),
    })?;
    let more = page.entries.len() > limit as usize;
    let entries: Vec<(String, Vec<u8>)> = page
        .entries
        .into_iter()
        .take(limit as usize)
        .map(|entry| (entry.key.trim_start_matches(prefix).to_owned(), entry.value))
        .collect();
    let next = if more {
        entries.last().map(|(id, _)| id.clone())
    } else {
        None
    };
    Ok(Page { entries, next })
}
