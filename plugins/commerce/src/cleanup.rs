//! Expiry of abandoned anonymous carts. The first anonymous cart of a site
//! schedules the recurring job `carts/{site}` (every
//! `cart-cleanup-seconds`); each run reads up to 1 000 anonymous carts of
//! the site, from where the previous run stopped, and deletes those
//! untouched for `anonymous-cart-seconds`. Each deletion is a
//! compare-and-swap on the cart as read, so a cart changed meanwhile stays.
//!
//! | key (under `site/{site}/`) | value |
//! |---|---|
//! | `cleanup/scheduled` | present once the site's job is scheduled |
//! | `cleanup/cursor` | the last cart key a run read, until a run reaches the end |

use tessera_sdk::bindings::tessera::plugin::storage::{self as wit, ScanRequest};
use tessera_sdk::prelude::*;
use tessera_sdk::storage::CasOutcome;

use crate::cart::Cart;
use crate::context::{now, root, setting};

/// The prefix of this module's jobs.
const PREFIX: &str = "carts/";

/// The most carts one run reads.
const BUDGET: u32 = 1_000;

/// Whether `name` is one of this module's jobs.
pub fn owns(name: &str) -> bool {
    name.starts_with(PREFIX)
}

fn seconds(name: &str, default: u64) -> u64 {
    setting(name, &default.to_string())
        .parse()
        .unwrap_or(default)
}

/// Schedules the site's cleanup job unless it is scheduled already.
pub fn ensure_scheduled(site: &str) -> Result<(), Error> {
    let marker = format!("{}cleanup/scheduled", root(site));
    if storage::compare_and_swap(&marker, None, Some(b"1"))? != CasOutcome::Swapped {
        return Ok(());
    }
    let every = seconds("cart-cleanup-seconds", 3_600)
        .max(1)
        .saturating_mul(1_000);
    if let Err(error) = jobs::every(&format!("{PREFIX}{site}"), every, site.as_bytes()) {
        let _ = storage::delete(&marker);
        return Err(error);
    }
    Ok(())
}

/// One run: deletes the site's anonymous carts older than the limit.
pub fn run_job(name: &str, payload: &[u8]) -> Result<(), String> {
    let site = String::from_utf8_lossy(payload).into_owned();
    let prefix = format!("{}carts/anon/", root(&site));
    let cursor_key = format!("{}cleanup/cursor", root(&site));
    let start_after = storage::get(&cursor_key)
        .map_err(|e| e.to_string())?
        .map(|bytes| String::from_utf8_lossy(&bytes).into_owned());
    let page = wit::scan(&ScanRequest {
        prefix: prefix.clone(),
        start_after,
        limit: BUDGET,
    })
    .map_err(|e| format!("{name}: {e:?}"))?;
    let oldest =
        now().saturating_sub(seconds("anonymous-cart-seconds", 2_592_000).saturating_mul(1_000));
    let mut deleted = 0;
    for entry in &page.entries {
        let stale =
            serde_json::from_slice::<Cart>(&entry.value).is_ok_and(|cart| cart.updated_at < oldest);
        if stale
            && storage::compare_and_swap(&entry.key, Some(&entry.value), None)
                .map_err(|e| e.to_string())?
                == CasOutcome::Swapped
        {
            deleted += 1;
        }
    }
    match (&page.next, page.entries.last()) {
        (Some(_), Some(last)) => storage::set(&cursor_key, &last.key),
        _ => storage::delete(&cursor_key).map(|_| ()),
    }
    .map_err(|e| e.to_string())?;
    if deleted > 0 {
        log::info(&format!(
            "{name}: deleted {deleted} abandoned anonymous carts"
        ));
    }
    Ok(())
}
