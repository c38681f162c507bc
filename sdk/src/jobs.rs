//! Scheduled work: the kernel calls [`Plugin::run_job`](crate::Plugin::run_job)
//! when a job is due. Jobs are per plugin, named, persisted across restarts,
//! and never run twice at the same time; scheduling a name again replaces
//! the job.
//!
//! ```no_run
//! use tessera_sdk::jobs;
//!
//! // Once, in an hour.
//! let in_an_hour = jobs::now_ms() + 3_600_000;
//! jobs::at("remind/42", in_an_hour, b"42")?;
//! // Every five minutes, and on a cron schedule (UTC, with seconds).
//! jobs::every("sync", 5 * 60_000, b"")?;
//! jobs::cron("nightly-report", "0 0 2 * * *", b"")?;
//! jobs::cancel("remind/42")?;
//! # Ok::<(), tessera_sdk::Error>(())
//! ```

pub use crate::bindings::tessera::plugin::jobs::JobError;
use crate::bindings::tessera::plugin::jobs::{self as wit, Timing};
use crate::error::Error;

/// Run the job `name` once at `unix_ms` (milliseconds since the epoch).
pub fn at(name: &str, unix_ms: u64, payload: &[u8]) -> Result<(), Error> {
    Ok(wit::schedule(name, &Timing::At(unix_ms), payload)?)
}

/// Run the job `name` every `interval_ms` milliseconds (at least 1000).
pub fn every(name: &str, interval_ms: u64, payload: &[u8]) -> Result<(), Error> {
    Ok(wit::schedule(name, &Timing::Every(interval_ms), payload)?)
}

/// Run the job `name` on a cron `expression` in UTC: six fields with
/// seconds (`sec min hour day-of-month month day-of-week`), e.g.
/// `0 */5 * * * *` every five minutes.
pub fn cron(name: &str, expression: &str, payload: &[u8]) -> Result<(), Error> {
    Ok(wit::schedule(
        name,
        &Timing::Cron(expression.to_owned()),
        payload,
    )?)
}

/// Cancel the job `name`; returns whether it existed.
pub fn cancel(name: &str) -> Result<bool, Error> {
    Ok(wit::cancel(name)?)
}

/// The current time in milliseconds since the Unix epoch (WASI clock), to
/// compute `at` times.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|elapsed| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}
