//! Background jobs:
//!
//! - `expire`, every minute: re-evaluates the people whose time-window
//!   answers (a login growing old, a day leaving a window) are due, so that
//!   segment sizes and member lists follow time even for people nobody
//!   asks about (a read of `/me/segments` re-evaluates on its own); erases
//!   anonymous visitors past `visitor-retention-days`; forgets the
//!   server-side event marks of past days and the new-visitor budgets of
//!   past minutes.
//! - `reindex/{site}`, after a segment changed: re-evaluates every profile
//!   of the site, 100 per run, each run scheduling the next.

use tessera_sdk::bindings::tessera::plugin::storage as raw;
use tessera_sdk::prelude::*;

use crate::aggregate;
use crate::budget;
use crate::ids::day_of;
use crate::membership;
use crate::profile::Stored;
use crate::store;

/// The recurring expiry job.
pub const EXPIRE: &str = "expire";
/// Profiles re-evaluated per reindex run.
const REINDEX_BATCH: u32 = 100;
/// People re-evaluated per site and expiry run.
const EXPIRE_BATCH: usize = 500;

/// Schedules the recurring job (idempotent: scheduling replaces). A
/// kernel without a job scheduler (503) is logged, not refused: time
/// windows are then re-evaluated when read only.
pub fn schedule() -> Result<(), Error> {
    match jobs::every(EXPIRE, 60_000, b"") {
        Err(error) if error.status == 503 => {
            log::warn(&format!("no background expiry of time windows: {error}"));
            Ok(())
        }
        other => other,
    }
}

/// Runs job `name`.
pub fn run_job(name: &str, payload: &[u8]) -> Result<(), String> {
    let result = if name == EXPIRE {
        expire()
    } else if let Some(site) = name.strip_prefix("reindex/") {
        reindex(site, payload)
    } else {
        return Err(format!("the personalisation plugin has no job `{name}`"));
    };
    result.map_err(|error| error.to_string())
}

fn expire() -> Result<(), Error> {
    let now = jobs::now_ms();
    for site in store::sites()? {
        let done = membership::expire_due(&site, now, EXPIRE_BATCH)?;
        if done > 0 {
            log::debug(&format!(
                "re-evaluated {done} profiles of {site} whose windows moved"
            ));
        }
        aggregate::forget_old_marks(&site, day_of(now), 1000)?;
        budget::forget_old_budgets(&site, now)?;
    }
    Ok(())
}

fn reindex(site: &str, payload: &[u8]) -> Result<(), Error> {
    let now = jobs::now_ms();
    let prefix = store::profiles_prefix(site);
    let after = std::str::from_utf8(payload).unwrap_or_default();
    let page = raw::scan(&raw::ScanRequest {
        prefix: prefix.clone(),
        start_after: (!after.is_empty()).then(|| after.to_owned()),
        limit: REINDEX_BATCH,
    })?;
    for entry in &page.entries {
        if let Ok(Stored::Merged { .. }) = serde_json::from_slice::<Stored>(&entry.value) {
            continue;
        }
        let pid = entry.key.trim_start_matches(&prefix);
        match store::update(site, pid, now, false, |_| Ok(())) {
            Ok(_) => {}
            Err(error) if matches!(error.status, 404 | 409) => {}
            Err(error) => return Err(error),
        }
    }
    if let (Some(_), Some(last)) = (&page.next, page.entries.last()) {
        jobs::at(
            &format!("reindex/{site}"),
            jobs::now_ms(),
            last.key.as_bytes(),
        )?;
    }
    Ok(())
}
