//! One plugin's meter: its limits, rate buckets, usage counters and stored
//! bytes, behind one mutex that is held only for arithmetic.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{Duration, Instant};

use super::bucket::TokenBucket;
use super::{QuotaExceeded, QuotaKind, QuotaLimits, Usage};

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);

/// The quotas that limit a rate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rate {
    /// `storage-ops-per-second`.
    StorageOps,
    /// `events-per-second`.
    Events,
    /// `outbound-per-minute`.
    Outbound,
}

impl Rate {
    fn kind(self) -> QuotaKind {
        match self {
            Rate::StorageOps => QuotaKind::StorageOpsPerSecond,
            Rate::Events => QuotaKind::EventsPerSecond,
            Rate::Outbound => QuotaKind::OutboundPerMinute,
        }
    }
}

/// The meter of one plugin id.
pub(crate) struct PluginMeter {
    id: String,
    state: Mutex<MeterState>,
    /// Storage writes hold it shared; a batch, a namespace scan and the
    /// contended fallback of a single write hold it exclusively, so that
    /// reading old sizes and writing is atomic with respect to the
    /// plugin's other writes. Never held across an await.
    gate: RwLock<()>,
    /// Whether `state.usage.storage_bytes` has been measured.
    measured: AtomicBool,
}

struct MeterState {
    limits: QuotaLimits,
    storage_ops: Option<TokenBucket>,
    events: Option<TokenBucket>,
    outbound: Option<TokenBucket>,
    usage: Usage,
}

impl MeterState {
    fn used_bytes(&self) -> u64 {
        self.usage.storage_bytes.unwrap_or(0)
    }

    fn add_bytes(&mut self, delta: i64) {
        if let Some(bytes) = &mut self.usage.storage_bytes {
            *bytes = bytes.saturating_add_signed(delta);
        }
    }
}

fn bucket(limit: Option<u32>, period: Duration, now: Instant) -> Option<TokenBucket> {
    limit.map(|limit| TokenBucket::new(limit, period, now))
}

impl PluginMeter {
    pub(crate) fn new(id: &str) -> Self {
        Self {
            id: id.to_owned(),
            state: Mutex::new(MeterState {
                limits: QuotaLimits::default(),
                storage_ops: None,
                events: None,
                outbound: None,
                usage: Usage::default(),
            }),
            gate: RwLock::new(()),
            measured: AtomicBool::new(false),
        }
    }

    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    fn lock(&self) -> MutexGuard<'_, MeterState> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn shared_gate(&self) -> RwLockReadGuard<'_, ()> {
        self.gate
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn exclusive_gate(&self) -> RwLockWriteGuard<'_, ()> {
        self.gate
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Replace the limits. A rate whose limit changed starts again with a
    /// full bucket; the others keep their state.
    pub(crate) fn set_limits(&self, limits: QuotaLimits) {
        let now = Instant::now();
        let mut state = self.lock();
        let old = state.limits;
        if old.storage_ops_per_second != limits.storage_ops_per_second {
            state.storage_ops = bucket(limits.storage_ops_per_second, SECOND, now);
        }
        if old.events_per_second != limits.events_per_second {
            state.events = bucket(limits.events_per_second, SECOND, now);
        }
        if old.outbound_per_minute != limits.outbound_per_minute {
            state.outbound = bucket(limits.outbound_per_minute, MINUTE, now);
        }
        state.limits = limits;
    }

    pub(crate) fn limits(&self) -> QuotaLimits {
        self.lock().limits
    }

    pub(crate) fn usage(&self) -> Usage {
        self.lock().usage.clone()
    }

    /// Admit `count` operations under a rate quota and count them, or
    /// refuse and count the refusal.
    pub(crate) fn admit(&self, rate: Rate, count: u32) -> Result<(), QuotaExceeded> {
        let now = Instant::now();
        let kind = rate.kind();
        let refused = {
            let mut state = self.lock();
            let state = &mut *state;
            let (bucket, limit, admitted) = match rate {
                Rate::StorageOps => (
                    &mut state.storage_ops,
                    state.limits.storage_ops_per_second,
                    &mut state.usage.storage_operations,
                ),
                Rate::Events => (
                    &mut state.events,
                    state.limits.events_per_second,
                    &mut state.usage.events_published,
                ),
                Rate::Outbound => (
                    &mut state.outbound,
                    state.limits.outbound_per_minute,
                    &mut state.usage.outbound_calls,
                ),
            };
            let allowed = bucket
                .as_mut()
                .is_none_or(|bucket| bucket.try_take(count, now));
            if allowed {
                *admitted = admitted.saturating_add(u64::from(count));
                None
            } else {
                state.usage.refusals.count(kind);
                // A bucket exists only for a limit that is set.
                Some(limit.unwrap_or(0))
            }
        };
        match refused {
            None => Ok(()),
            Some(limit) => Err(self.refused(QuotaExceeded::Rate {
                plugin: self.id.clone(),
                kind,
                limit,
                requested: count,
            })),
        }
    }

    /// Whether `delta` more bytes fit under `storage-bytes`, changing
    /// nothing.
    pub(crate) fn check_growth(&self, delta: i64) -> Result<(), QuotaExceeded> {
        let state = self.lock();
        match growth_refusal(&self.id, &state, delta) {
            None => Ok(()),
            Some(error) => {
                drop(state);
                Err(self.count_refusal(error))
            }
        }
    }

    /// Check `delta` against `storage-bytes` and, when it grows the
    /// namespace, count it as used at once so that concurrent writers
    /// cannot together pass the limit. Dropping the reservation without
    /// [`Reservation::commit`] gives the bytes back.
    pub(crate) fn reserve(self: &Arc<Self>, delta: i64) -> Result<Reservation, QuotaExceeded> {
        let mut state = self.lock();
        if let Some(error) = growth_refusal(&self.id, &state, delta) {
            drop(state);
            return Err(self.count_refusal(error));
        }
        let applied = delta > 0 && state.usage.storage_bytes.is_some();
        if applied {
            state.add_bytes(delta);
        }
        Ok(Reservation {
            meter: self.clone(),
            delta,
            applied,
            committed: false,
        })
    }

    /// Add `delta` (negative: freed) to the stored bytes, if measured.
    pub(crate) fn record_bytes(&self, delta: i64) {
        self.lock().add_bytes(delta);
    }

    pub(crate) fn is_measured(&self) -> bool {
        self.measured.load(Ordering::Acquire)
    }

    /// Set the stored bytes from a scan. The caller holds the exclusive
    /// gate.
    pub(crate) fn set_measured(&self, bytes: u64) {
        self.lock().usage.storage_bytes = Some(bytes);
        self.measured.store(true, Ordering::Release);
    }

    fn count_refusal(&self, error: QuotaExceeded) -> QuotaExceeded {
        self.lock().usage.refusals.count(error.kind());
        self.refused(error)
    }

    /// Log a refusal already counted.
    fn refused(&self, error: QuotaExceeded) -> QuotaExceeded {
        tracing::warn!(
            plugin = %self.id,
            kind = error.kind().as_str(),
            limit = error.limit(),
            "quota refusal: {error}"
        );
        error
    }
}

fn growth_refusal(id: &str, state: &MeterState, delta: i64) -> Option<QuotaExceeded> {
    let limit = state.limits.storage_bytes?;
    let requested = u64::try_from(delta).ok().filter(|grow| *grow > 0)?;
    let used = state.used_bytes();
    if used.saturating_add(requested) <= limit {
        return None;
    }
    Some(QuotaExceeded::StorageBytes {
        plugin: id.to_owned(),
        limit,
        used,
        requested,
    })
}

/// Bytes a write was allowed to add, counted before the write so that
/// concurrent writes cannot together pass `storage-bytes`.
///
/// [`commit`](Reservation::commit) once the write is done. Dropped
/// uncommitted (the write failed or conflicted), it gives back what it
/// reserved. A shrinking write reserves nothing and frees its bytes on
/// commit, so the count never dips below what is stored.
#[must_use = "commit the reservation once the write succeeded"]
pub struct Reservation {
    meter: Arc<PluginMeter>,
    delta: i64,
    applied: bool,
    committed: bool,
}

impl Reservation {
    /// The write happened: keep the bytes (or free them, for a shrink).
    pub fn commit(mut self) {
        self.committed = true;
        if self.delta < 0 {
            self.meter.record_bytes(self.delta);
        }
    }

    /// The change in stored bytes this reservation is for.
    pub fn delta(&self) -> i64 {
        self.delta
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        if !self.committed && self.applied {
            self.meter.record_bytes(-self.delta);
        }
    }
}

impl std::fmt::Debug for Reservation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reservation")
            .field("plugin", &self.meter.id)
            .field("delta", &self.delta)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meter(limits: QuotaLimits) -> Arc<PluginMeter> {
        let meter = Arc::new(PluginMeter::new("acme.test"));
        meter.set_limits(limits);
        meter
    }

    #[test]
    fn unlimited_rates_admit_and_count() {
        let meter = meter(QuotaLimits::default());
        for _ in 0..1000 {
            meter.admit(Rate::StorageOps, 3).unwrap();
        }
        meter.admit(Rate::Events, 1).unwrap();
        meter.admit(Rate::Outbound, 1).unwrap();
        let usage = meter.usage();
        assert_eq!(usage.storage_operations, 3000);
        assert_eq!(usage.events_published, 1);
        assert_eq!(usage.outbound_calls, 1);
        assert_eq!(usage.refusals.total(), 0);
    }

    #[test]
    fn a_rate_refusal_is_typed_and_counted_apart() {
        let meter = meter(QuotaLimits {
            events_per_second: Some(2),
            ..QuotaLimits::default()
        });
        meter.admit(Rate::Events, 1).unwrap();
        meter.admit(Rate::Events, 1).unwrap();
        let error = meter.admit(Rate::Events, 1).unwrap_err();
        assert_eq!(
            error,
            QuotaExceeded::Rate {
                plugin: "acme.test".into(),
                kind: QuotaKind::EventsPerSecond,
                limit: 2,
                requested: 1,
            }
        );
        let usage = meter.usage();
        assert_eq!(usage.events_published, 2);
        assert_eq!(usage.refusals.events_per_second, 1);
        // Other kinds are not affected.
        meter.admit(Rate::Outbound, 1).unwrap();
    }

    #[test]
    fn changing_a_limit_refills_only_that_bucket() {
        let meter = meter(QuotaLimits {
            events_per_second: Some(1),
            outbound_per_minute: Some(1),
            ..QuotaLimits::default()
        });
        meter.admit(Rate::Events, 1).unwrap();
        meter.admit(Rate::Outbound, 1).unwrap();
        meter.set_limits(QuotaLimits {
            events_per_second: Some(5),
            outbound_per_minute: Some(1),
            ..QuotaLimits::default()
        });
        meter.admit(Rate::Events, 5).unwrap();
        meter.admit(Rate::Outbound, 1).unwrap_err();
        meter.set_limits(QuotaLimits::default());
        meter.admit(Rate::Outbound, 100).unwrap();
    }

    #[test]
    fn growth_past_the_limit_is_refused_and_shrinking_never_is() {
        let meter = meter(QuotaLimits {
            storage_bytes: Some(100),
            ..QuotaLimits::default()
        });
        meter.set_measured(90);
        meter.check_growth(10).unwrap();
        let error = meter.check_growth(11).unwrap_err();
        assert_eq!(
            error,
            QuotaExceeded::StorageBytes {
                plugin: "acme.test".into(),
                limit: 100,
                used: 90,
                requested: 11,
            }
        );
        meter.check_growth(0).unwrap();
        meter.check_growth(-50).unwrap();
        assert_eq!(meter.usage().refusals.storage_bytes, 1);
        // Over the limit (lowered by an administrator): shrinking still works.
        meter.set_limits(QuotaLimits {
            storage_bytes: Some(10),
            ..QuotaLimits::default()
        });
        meter.reserve(-5).unwrap().commit();
        assert_eq!(meter.usage().storage_bytes, Some(85));
    }

    #[test]
    fn reservations_hold_bytes_until_dropped_or_committed() {
        let meter = meter(QuotaLimits {
            storage_bytes: Some(100),
            ..QuotaLimits::default()
        });
        meter.set_measured(0);
        let first = meter.reserve(60).unwrap();
        // A concurrent writer sees the reserved bytes.
        meter.reserve(60).unwrap_err();
        drop(first);
        assert_eq!(meter.usage().storage_bytes, Some(0));
        meter.reserve(60).unwrap().commit();
        assert_eq!(meter.usage().storage_bytes, Some(60));
        let shrink = meter.reserve(-20).unwrap();
        // Freed only on commit.
        assert_eq!(meter.usage().storage_bytes, Some(60));
        shrink.commit();
        assert_eq!(meter.usage().storage_bytes, Some(40));
    }

    #[test]
    fn nothing_is_recorded_before_the_namespace_is_measured() {
        let meter = meter(QuotaLimits::default());
        meter.record_bytes(10);
        assert_eq!(meter.usage().storage_bytes, None);
        meter.set_measured(5);
        meter.record_bytes(10);
        meter.record_bytes(-100);
        assert_eq!(meter.usage().storage_bytes, Some(0));
    }
}
