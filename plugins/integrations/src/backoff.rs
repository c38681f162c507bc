//! When a failed delivery is tried again: the base wait, then four times
//! longer after each further failure, capped at a day. Pure.

/// The longest wait between two attempts.
pub const MAX_WAIT_MS: u64 = 24 * 3_600_000;

/// The wait after the `failures`-th failed attempt (1 for the first).
pub fn wait_ms(base_ms: u64, failures: u32) -> u64 {
    let factor = 4_u64.saturating_pow(failures.saturating_sub(1));
    base_ms.saturating_mul(factor).min(MAX_WAIT_MS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_grow_fourfold_up_to_a_day() {
        assert_eq!(wait_ms(10_000, 1), 10_000);
        assert_eq!(wait_ms(10_000, 2), 40_000);
        assert_eq!(wait_ms(10_000, 3), 160_000);
        assert_eq!(wait_ms(10_000, 40), MAX_WAIT_MS);
    }
}
