//! Where a plugin call's time goes, for the benchmarks: the wall time of
//! preparing the store, instantiating, running the export and tearing the
//! store down, summed over calls. Compiled in only with the
//! `phase-timing` feature (`cargo bench -p tessera-kernel --bench http
//! --features phase-timing`); without it every function here is an empty
//! inline function and the call path pays nothing.

use std::time::Duration;

/// The four phases of one call, in order.
#[derive(Debug, Clone, Copy, Default)]
pub struct CallPhases {
    /// `Store::new` with the host state, limiter and deadline.
    pub prepare: Duration,
    /// A fresh instance from the pre-instantiated component.
    pub instantiate: Duration,
    /// The export itself (guest code and its host calls).
    pub call: Duration,
    /// Dropping the store: resetting the instance's memory, returning its
    /// slots to the pool.
    pub teardown: Duration,
}

/// Mean phases over the calls recorded since the last [`take`], and how many
/// calls that was.
#[derive(Debug, Clone, Copy, Default)]
pub struct PhaseReport {
    /// Calls recorded.
    pub calls: u64,
    /// Mean of each phase.
    pub mean: CallPhases,
}

#[cfg(feature = "phase-timing")]
mod sums {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use super::{CallPhases, PhaseReport};

    static CALLS: AtomicU64 = AtomicU64::new(0);
    static NANOS: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];

    fn nanos(duration: Duration) -> u64 {
        u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
    }

    pub fn record(phases: CallPhases) {
        let values = [
            phases.prepare,
            phases.instantiate,
            phases.call,
            phases.teardown,
        ];
        for (sum, value) in NANOS.iter().zip(values) {
            sum.fetch_add(nanos(value), Ordering::Relaxed);
        }
        CALLS.fetch_add(1, Ordering::Relaxed);
    }

    pub fn take() -> PhaseReport {
        let calls = CALLS.swap(0, Ordering::Relaxed);
        let [prepare, instantiate, call, teardown] = NANOS
            .each_ref()
            .map(|sum| Duration::from_nanos(sum.swap(0, Ordering::Relaxed) / calls.max(1)));
        PhaseReport {
            calls,
            mean: CallPhases {
                prepare,
                instantiate,
                call,
                teardown,
            },
        }
    }
}

/// Whether the probe is compiled in.
pub const ENABLED: bool = cfg!(feature = "phase-timing");

/// Add one call's phases to the sums.
#[inline]
pub fn record(phases: CallPhases) {
    #[cfg(feature = "phase-timing")]
    sums::record(phases);
    #[cfg(not(feature = "phase-timing"))]
    let _ = phases;
}

/// The mean phases since the last call, and reset the sums. All zero
/// without the `phase-timing` feature.
pub fn take() -> PhaseReport {
    #[cfg(feature = "phase-timing")]
    return sums::take();
    #[cfg(not(feature = "phase-timing"))]
    PhaseReport::default()
}

/// A clock that reads the time only when the probe is compiled in.
#[derive(Debug, Clone, Copy)]
pub(super) struct PhaseClock {
    #[cfg(feature = "phase-timing")]
    last: std::time::Instant,
}

impl PhaseClock {
    /// Start timing.
    #[inline]
    pub(super) fn start() -> Self {
        Self {
            #[cfg(feature = "phase-timing")]
            last: std::time::Instant::now(),
        }
    }

    /// The time since the previous lap (or the start).
    #[inline]
    pub(super) fn lap(&mut self) -> Duration {
        #[cfg(feature = "phase-timing")]
        {
            let now = std::time::Instant::now();
            let elapsed = now - self.last;
            self.last = now;
            elapsed
        }
        #[cfg(not(feature = "phase-timing"))]
        Duration::ZERO
    }
}
