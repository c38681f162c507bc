//! A token bucket: the rate limit behind the per-second and per-minute
//! quotas.

use std::time::{Duration, Instant};

/// Holds up to `capacity` tokens (one period's worth: the burst) and refills
/// continuously at `capacity` per period. Time is passed in, so tests need
/// no sleeping.
#[derive(Debug, Clone)]
pub(super) struct TokenBucket {
    capacity: f64,
    refill_per_second: f64,
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket allowing `limit` tokens per `period`. A limit of 0
    /// refuses everything.
    pub(super) fn new(limit: u32, period: Duration, now: Instant) -> Self {
        let capacity = f64::from(limit);
        let seconds = period.as_secs_f64();
        let refill_per_second = if seconds > 0.0 {
            capacity / seconds
        } else {
            capacity
        };
        Self {
            capacity,
            refill_per_second,
            tokens: capacity,
            updated: now,
        }
    }

    /// Take `count` tokens if there are that many; otherwise take none.
    pub(super) fn try_take(&mut self, count: u32, now: Instant) -> bool {
        self.refill(now);
        let wanted = f64::from(count);
        if self.tokens >= wanted {
            self.tokens -= wanted;
            true
        } else {
            false
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.updated);
        if elapsed.is_zero() {
            return;
        }
        self.tokens =
            (self.tokens + elapsed.as_secs_f64() * self.refill_per_second).min(self.capacity);
        self.updated = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: Duration = Duration::from_secs(1);

    #[test]
    fn a_full_bucket_allows_one_period_of_burst_then_refuses() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(3, SECOND, start);
        assert!(bucket.try_take(1, start));
        assert!(bucket.try_take(2, start));
        assert!(!bucket.try_take(1, start));
    }

    #[test]
    fn tokens_come_back_at_the_rate() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(10, SECOND, start);
        assert!(bucket.try_take(10, start));
        assert!(!bucket.try_take(1, start + Duration::from_millis(50)));
        // 10 per second: one token every 100 ms.
        assert!(bucket.try_take(1, start + Duration::from_millis(110)));
        assert!(!bucket.try_take(1, start + Duration::from_millis(120)));
        // Refilling stops at the capacity, however long the pause.
        let later = start + Duration::from_secs(3600);
        assert!(bucket.try_take(10, later));
        assert!(!bucket.try_take(1, later));
    }

    #[test]
    fn a_refused_take_takes_nothing() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(5, SECOND, start);
        assert!(!bucket.try_take(6, start));
        assert!(bucket.try_take(5, start));
    }

    #[test]
    fn per_minute_refills_slowly() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(60, Duration::from_secs(60), start);
        assert!(bucket.try_take(60, start));
        assert!(!bucket.try_take(1, start + Duration::from_millis(500)));
        assert!(bucket.try_take(1, start + Duration::from_millis(1010)));
    }

    #[test]
    fn zero_refuses_everything() {
        let start = Instant::now();
        let mut bucket = TokenBucket::new(0, SECOND, start);
        assert!(!bucket.try_take(1, start));
        assert!(!bucket.try_take(1, start + Duration::from_secs(10)));
    }

    #[test]
    fn time_going_backwards_is_ignored() {
        let start = Instant::now() + SECOND;
        let mut bucket = TokenBucket::new(1, SECOND, start);
        assert!(bucket.try_take(1, start));
        assert!(!bucket.try_take(1, start - Duration::from_millis(500)));
    }
}
