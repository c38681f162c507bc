//! When a job runs: once at a time, every interval, or on a cron
//! expression (UTC, six fields with seconds), and how the next run is
//! computed, including after downtime.

use std::str::FromStr;

use chrono::{TimeZone, Utc};
use serde::{Deserialize, Serialize};

/// Shortest interval of an `every` job, in milliseconds.
pub const MIN_INTERVAL_MS: u64 = 1000;

/// A job's schedule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind", content = "value")]
pub enum Timing {
    /// Once, at this time (milliseconds since the Unix epoch).
    At(u64),
    /// Every this many milliseconds.
    Every(u64),
    /// On this cron expression, in UTC.
    Cron(String),
}

/// A schedule that cannot work; the text says why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidSchedule(pub String);

impl Timing {
    /// Refuse schedules that cannot run.
    pub fn validate(&self) -> Result<(), InvalidSchedule> {
        match self {
            Timing::At(_) => Ok(()),
            Timing::Every(interval) if *interval < MIN_INTERVAL_MS => Err(InvalidSchedule(
                format!("`every` needs at least {MIN_INTERVAL_MS} ms, got {interval}"),
            )),
            Timing::Every(_) => Ok(()),
            Timing::Cron(expression) => parse_cron(expression).map(|_| ()),
        }
    }

    /// Whether the job runs more than once.
    pub fn is_recurring(&self) -> bool {
        !matches!(self, Timing::At(_))
    }

    /// The first run of a job scheduled at `now_ms`.
    pub fn first_run(&self, now_ms: u64) -> Option<u64> {
        match self {
            Timing::At(at) => Some(*at),
            Timing::Every(interval) => now_ms.checked_add(*interval),
            Timing::Cron(expression) => next_cron(expression, now_ms),
        }
    }

    /// The run after one that was due at `due_ms` and is started at
    /// `now_ms`. Missed occurrences are not made up: the next run is the
    /// first occurrence strictly after `now_ms` (for `every`, on the
    /// original grid). `None` for a one-off.
    pub fn next_after(&self, due_ms: u64, now_ms: u64) -> Option<u64> {
        match self {
            Timing::At(_) => None,
            Timing::Every(interval) => {
                let interval = (*interval).max(MIN_INTERVAL_MS);
                let behind = now_ms.saturating_sub(due_ms) / interval + 1;
                due_ms.checked_add(behind.checked_mul(interval)?)
            }
            Timing::Cron(expression) => next_cron(expression, now_ms),
        }
    }
}

fn parse_cron(expression: &str) -> Result<cron::Schedule, InvalidSchedule> {
    cron::Schedule::from_str(expression).map_err(|error| {
        InvalidSchedule(format!(
            "`{expression}` is not a cron expression (six fields with seconds, UTC, e.g. `0 */5 * * * *`): {error}"
        ))
    })
}

/// The first occurrence of `expression` strictly after `after_ms`.
fn next_cron(expression: &str, after_ms: u64) -> Option<u64> {
    let schedule = parse_cron(expression).ok()?;
    let after = Utc
        .timestamp_millis_opt(i64::try_from(after_ms).ok()?)
        .single()?;
    let next = schedule.after(&after).next()?;
    u64::try_from(next.timestamp_millis()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_below_a_second_and_bad_cron_are_refused() {
        assert!(Timing::Every(999).validate().is_err());
        assert!(Timing::Every(1000).validate().is_ok());
        let error = Timing::Cron("every minute".into()).validate().unwrap_err();
        assert!(error.0.contains("six fields"), "{error}");
        assert!(Timing::Cron("0 */5 * * * *".into()).validate().is_ok());
    }

    #[test]
    fn every_keeps_its_grid_and_skips_missed_runs() {
        let every = Timing::Every(1000);
        assert_eq!(every.first_run(10_000), Some(11_000));
        // On time: the next slot.
        assert_eq!(every.next_after(11_000, 11_010), Some(12_000));
        // After five minutes of downtime: one run now, then back on the grid.
        assert_eq!(every.next_after(11_000, 311_500), Some(312_000));
    }

    #[test]
    fn cron_finds_the_next_occurrence() {
        let cron = Timing::Cron("0 0 * * * *".into()); // every hour, on the hour
        let before = 1_700_001_800_000; // 2023-11-14T22:43:20Z
        assert_eq!(cron.first_run(before), Some(1_700_002_800_000));
        assert_eq!(cron.next_after(0, before), Some(1_700_002_800_000));
    }

    #[test]
    fn one_offs_run_once() {
        let at = Timing::At(5);
        assert_eq!(at.first_run(100), Some(5));
        assert_eq!(at.next_after(5, 100), None);
        assert!(!at.is_recurring());
    }
}
