//! Retention of the event log: events older than the retention period are
//! removed once every running subscriber has handled them, so the log does
//! not grow without bound.
//!
//! - The bound is the lowest cursor of the subscribing plugins that are
//!   loaded. A disabled or uninstalled plugin does not hold the log back:
//!   if it comes back after longer than the retention period, it misses
//!   the events that expired meanwhile.
//! - An event with a dead letter stays until the dead letter is replayed,
//!   so a replay always finds its event.
//! - Compaction runs every `compact-every-seconds` and on
//!   `POST /admin/events/compact`; the sequence numbering never restarts.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use tokio::task::JoinHandle;

use super::{EventBus, lock, now_ms};
use crate::kernel_config::EventSettings;
use crate::storage::StorageError;

/// Dead letters and cursors read per page while compacting.
const PAGE: usize = 1000;

/// How long events stay in the log, and how often it is compacted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetentionPolicy {
    /// Events at least this old may be removed.
    pub keep_for: Duration,
    /// Time between two compactions.
    pub compact_every: Duration,
}

impl From<EventSettings> for RetentionPolicy {
    fn from(settings: EventSettings) -> Self {
        Self {
            keep_for: Duration::from_secs(settings.retention_hours.saturating_mul(3600)),
            compact_every: Duration::from_secs(settings.compact_every_seconds.max(1)),
        }
    }
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        EventSettings::default().into()
    }
}

/// What one compaction did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Compaction {
    /// Events removed from the log.
    pub removed: u64,
    /// Every running subscriber had handled the events up to this one.
    pub handled_through: u64,
    /// Events published before this time (milliseconds since the epoch)
    /// were old enough to go.
    pub published_before: u64,
}

impl EventBus {
    /// The retention policy in force.
    pub fn retention(&self) -> RetentionPolicy {
        *lock(&self.retention)
    }

    /// Remove the events that have expired under the retention policy.
    /// Blocking storage work: call it off the async threads.
    pub fn compact(&self) -> Result<Compaction, StorageError> {
        let policy = self.retention();
        let handled_through = self.handled_by_every_subscriber()?;
        let dead_lettered = self.dead_lettered_seqs()?;
        let keep_for = u64::try_from(policy.keep_for.as_millis()).unwrap_or(u64::MAX);
        let published_before = now_ms().saturating_sub(keep_for);
        let removed = self
            .log
            .remove_expired(handled_through, published_before, &|seq| {
                dead_lettered.contains(&seq)
            })?;
        if removed > 0 {
            self.runtime.metrics().record_events_removed(removed);
            tracing::info!(removed, handled_through, "event log compacted");
        }
        Ok(Compaction {
            removed,
            handled_through,
            published_before,
        })
    }

    /// Compact the log now and then every `policy.compact_every`, with
    /// `policy` in force from now on. Call once, after [`EventBus::start`].
    pub fn start_compaction(self: &Arc<Self>, policy: RetentionPolicy) {
        *lock(&self.retention) = policy;
        let bus = self.clone();
        let handle: JoinHandle<()> = tokio::spawn(async move {
            let mut ticker = tokio::time::interval(policy.compact_every);
            ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticker.tick().await;
                let worker = bus.clone();
                match tokio::task::spawn_blocking(move || worker.compact()).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(error)) => tracing::error!(%error, "cannot compact the event log"),
                    Err(error) => tracing::error!(%error, "event log compaction stopped"),
                }
            }
        });
        if let Some(previous) = lock(&self.compactor).replace(handle) {
            previous.abort();
        }
    }

    /// The lowest cursor of the loaded subscribing plugins; the newest
    /// event when there are none.
    fn handled_by_every_subscriber(&self) -> Result<u64, StorageError> {
        let mut through = self.log.last_seq();
        for plugin in self.runtime.plugins() {
            if plugin.manifest().capabilities.events.subscribe.is_empty() {
                continue;
            }
            // A subscriber without a cursor yet starts at the end of the log.
            if let Some(cursor) = self.cursor(plugin.id())? {
                through = through.min(cursor);
            }
        }
        Ok(through)
    }

    /// The sequence numbers of every dead letter, of every plugin.
    fn dead_lettered_seqs(&self) -> Result<HashSet<u64>, StorageError> {
        let mut seqs = HashSet::new();
        let mut after: Option<Vec<u8>> = None;
        loop {
            let page = self.state.scan(b"dead/", after.as_deref(), PAGE)?;
            for (key, _) in &page {
                let seq = key
                    .rsplit(|byte| *byte == b'/')
                    .next()
                    .and_then(|digits| std::str::from_utf8(digits).ok())
                    .and_then(|digits| digits.parse().ok());
                if let Some(seq) = seq {
                    seqs.insert(seq);
                }
            }
            match page.last() {
                Some((key, _)) if page.len() == PAGE => after = Some(key.clone()),
                _ => return Ok(seqs),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_become_a_policy_and_a_zero_interval_is_one_second() {
        let policy = RetentionPolicy::from(EventSettings {
            retention_hours: 2,
            compact_every_seconds: 0,
        });
        assert_eq!(policy.keep_for, Duration::from_secs(7200));
        assert_eq!(policy.compact_every, Duration::from_secs(1));
        assert_eq!(
            RetentionPolicy::default().keep_for,
            Duration::from_secs(30 * 24 * 3600)
        );
    }
}
