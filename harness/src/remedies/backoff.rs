//! Exponential backoff with a cap and **full jitter**.
//!
//! The playbook's client waits `interval * 2^(n-1)` with no jitter and no
//! cap: every client that lost the same server retries in lockstep, and the
//! waits grow without bound. Full jitter (a uniform draw in `[0, ceiling]`)
//! spreads the retries out; the cap keeps the worst wait short.
//!
//! Randomness comes only from the generator the caller passes in (seeded by
//! the drill), never from a global.
//!
//! ```
//! use std::time::Duration;
//! use firedrill::remedies::backoff::{Backoff, rng_from_seed};
//!
//! let backoff = Backoff { base: Duration::from_millis(100), max: Duration::from_secs(2) };
//! assert_eq!(backoff.ceiling(1), Duration::from_millis(100));
//! assert_eq!(backoff.ceiling(3), Duration::from_millis(400));
//! assert_eq!(backoff.ceiling(30), Duration::from_secs(2));
//!
//! let mut rng = rng_from_seed(7);
//! assert!(backoff.delay(3, &mut rng) <= Duration::from_millis(400));
//! ```

use std::time::Duration;

use rand::SeedableRng as _;
pub use rand::rngs::StdRng;

/// The jitter generator for a seed: the one place a seed becomes randomness,
/// so the same seed always yields the same delays.
pub fn rng_from_seed(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// Exponential backoff: the ceiling doubles per attempt from `base` up to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Ceiling of the first attempt's delay.
    pub base: Duration,
    /// No delay is ever longer than this.
    pub max: Duration,
}

impl Backoff {
    /// The longest delay before `attempt` (1-based; 0 is treated as 1):
    /// `min(max, base * 2^(attempt-1))`, saturating instead of overflowing.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let exponent = attempt.max(1) - 1;
        2u32.checked_pow(exponent)
            .and_then(|factor| self.base.checked_mul(factor))
            .map_or(self.max, |d| d.min(self.max))
    }

    /// A delay before `attempt`, drawn uniformly from `[0, ceiling(attempt)]`
    /// ("full jitter").
    pub fn delay(&self, attempt: u32, rng: &mut impl rand::Rng) -> Duration {
        let ceiling = u64::try_from(self.ceiling(attempt).as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rng.random_range(0..=ceiling))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn ceilings_double_then_cap() {
        let b = Backoff {
            base: 100 * MS,
            max: 1000 * MS,
        };
        let got: Vec<_> = (1..=6).map(|a| b.ceiling(a)).collect();
        assert_eq!(
            got,
            vec![100 * MS, 200 * MS, 400 * MS, 800 * MS, 1000 * MS, 1000 * MS]
        );
        assert_eq!(b.ceiling(0), 100 * MS, "attempt 0 is treated as the first");
    }

    #[test]
    fn ceiling_saturates_instead_of_overflowing() {
        let b = Backoff {
            base: Duration::from_secs(u64::MAX / 2),
            max: Duration::MAX,
        };
        assert_eq!(b.ceiling(3), Duration::MAX);
        assert_eq!(b.ceiling(u32::MAX), Duration::MAX);
        let mut rng = rng_from_seed(1);
        // A huge ceiling still yields a delay (clamped to u64 nanoseconds).
        let _ = b.delay(u32::MAX, &mut rng);
    }

    #[test]
    fn full_jitter_stays_within_ceiling_and_spreads() {
        let b = Backoff {
            base: 10 * MS,
            max: 80 * MS,
        };
        let mut rng = rng_from_seed(42);
        for attempt in 1..=8 {
            let ceiling = b.ceiling(attempt);
            let delays: Vec<_> = (0..200).map(|_| b.delay(attempt, &mut rng)).collect();
            assert!(delays.iter().all(|d| *d <= ceiling));
            // Full jitter reaches both halves of the range, not just the top.
            assert!(delays.iter().any(|d| *d < ceiling / 2));
            assert!(delays.iter().any(|d| *d > ceiling / 2));
        }
    }

    #[test]
    fn delays_are_reproducible_from_a_seed() {
        let b = Backoff {
            base: 50 * MS,
            max: 5000 * MS,
        };
        let run = |seed| {
            let mut rng = rng_from_seed(seed);
            (1..=10).map(|a| b.delay(a, &mut rng)).collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
    }

    #[test]
    fn zero_base_never_waits() {
        let b = Backoff {
            base: Duration::ZERO,
            max: Duration::from_secs(1),
        };
        let mut rng = rng_from_seed(0);
        assert_eq!(b.delay(5, &mut rng), Duration::ZERO);
    }
}
