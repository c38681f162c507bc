//! Login rate limiting: failed logins are counted per account and per
//! client address in a sliding window; past the limit, further attempts
//! are refused with the time to wait, before any password is checked.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Limits on failed logins.
#[derive(Debug, Clone, Copy)]
pub struct ThrottlePolicy {
    /// Failures allowed per account in `window`.
    pub per_account: usize,
    /// Failures allowed per client address in `window`.
    pub per_address: usize,
    /// The sliding window.
    pub window: Duration,
}

impl Default for ThrottlePolicy {
    fn default() -> Self {
        Self {
            per_account: 5,
            per_address: 20,
            window: Duration::from_secs(15 * 60),
        }
    }
}

/// Entries kept before expired ones are swept.
const SWEEP_AT: usize = 10_000;

/// Failure counters, in memory: a restart forgets them, which only
/// shortens a lockout.
#[derive(Debug, Default)]
pub struct Throttle {
    policy: ThrottlePolicy,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
}

impl Throttle {
    /// Counters with `policy`.
    pub fn new(policy: ThrottlePolicy) -> Self {
        Self {
            policy,
            failures: Mutex::default(),
        }
    }

    /// `Err(seconds to wait)` when `account` or `address` is over its
    /// limit.
    pub fn check(&self, account: &str, address: Option<&str>) -> Result<(), u64> {
        let now = Instant::now();
        let mut failures = self.lock();
        let mut wait = 0;
        for (key, limit) in self.keys(account, address) {
            if let Some(times) = failures.get_mut(&key) {
                prune(times, now, self.policy.window);
                if times.len() >= limit
                    && let Some(oldest) = times.front()
                {
                    let free_at = *oldest + self.policy.window;
                    wait = wait.max(free_at.saturating_duration_since(now).as_secs().max(1));
                }
            }
        }
        if wait > 0 { Err(wait) } else { Ok(()) }
    }

    /// Count a failed login.
    pub fn record_failure(&self, account: &str, address: Option<&str>) {
        let now = Instant::now();
        let mut failures = self.lock();
        if failures.len() > SWEEP_AT {
            let window = self.policy.window;
            failures.retain(|_, times| {
                prune(times, now, window);
                !times.is_empty()
            });
        }
        for (key, _) in self.keys(account, address) {
            failures.entry(key).or_default().push_back(now);
        }
    }

    /// Forget an account's failures after a successful login. The
    /// address keeps its count: one good password does not license
    /// guessing others from the same place.
    pub fn record_success(&self, account: &str) {
        self.lock().remove(&format!("account:{account}"));
    }

    fn keys(&self, account: &str, address: Option<&str>) -> Vec<(String, usize)> {
        let mut keys = vec![(format!("account:{account}"), self.policy.per_account)];
        if let Some(address) = address {
            keys.push((format!("address:{address}"), self.policy.per_address));
        }
        keys
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, VecDeque<Instant>>> {
        self.failures
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn prune(times: &mut VecDeque<Instant>, now: Instant, window: Duration) {
    while times
        .front()
        .is_some_and(|time| now.saturating_duration_since(*time) >= window)
    {
        times.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ThrottlePolicy {
        ThrottlePolicy {
            per_account: 3,
            per_address: 5,
            window: Duration::from_secs(60),
        }
    }

    #[test]
    fn an_account_is_refused_after_its_limit_and_says_how_long() {
        let throttle = Throttle::new(policy());
        for _ in 0..3 {
            assert!(throttle.check("default/alice", Some("10.0.0.1")).is_ok());
            throttle.record_failure("default/alice", Some("10.0.0.1"));
        }
        let wait = throttle
            .check("default/alice", Some("10.0.0.2"))
            .unwrap_err();
        assert!((1..=60).contains(&wait), "{wait}");
        // Another account from another address is unaffected.
        assert!(throttle.check("default/bob", Some("10.0.0.2")).is_ok());
    }

    #[test]
    fn an_address_is_refused_across_accounts() {
        let throttle = Throttle::new(policy());
        for n in 0..5 {
            throttle.record_failure(&format!("default/user{n}"), Some("10.0.0.9"));
        }
        assert!(throttle.check("default/fresh", Some("10.0.0.9")).is_err());
        assert!(throttle.check("default/fresh", Some("10.0.0.8")).is_ok());
    }

    #[test]
    fn success_clears_the_account_but_not_the_address() {
        let throttle = Throttle::new(policy());
        for _ in 0..2 {
            throttle.record_failure("default/alice", Some("10.0.0.1"));
        }
        throttle.record_success("default/alice");
        throttle.record_failure("default/alice", Some("10.0.0.1"));
        throttle.record_failure("default/alice", Some("10.0.0.1"));
        assert!(throttle.check("default/alice", None).is_ok());
    }

    #[test]
    fn failures_expire_with_the_window() {
        let throttle = Throttle::new(ThrottlePolicy {
            window: Duration::ZERO,
            ..policy()
        });
        for _ in 0..10 {
            throttle.record_failure("default/alice", None);
        }
        assert!(throttle.check("default/alice", None).is_ok());
    }
}
