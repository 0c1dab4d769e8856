//! The delay schedule between readiness probe attempts.
//!
//! Most services become ready within milliseconds, so the first retries must come quickly to
//! keep readiness latency low; a slow service (a database replaying its WAL) must not be
//! hammered either. Doubling from 1 ms up to a 100 ms ceiling gives both: seven attempts in
//! the first 127 ms, then ten per second.

use std::time::Duration;

/// The first delay.
const INITIAL: Duration = Duration::from_millis(1);
/// The ceiling the delay doubles towards.
const MAX: Duration = Duration::from_millis(100);

/// An exponential delay: each [`next_delay`](Backoff::next_delay) doubles, up to a ceiling.
#[derive(Debug, Clone)]
pub struct Backoff {
    next: Duration,
    max: Duration,
}

impl Backoff {
    /// The probe schedule: 1 ms, doubling, capped at 100 ms.
    pub fn new() -> Self {
        Self::with_bounds(INITIAL, MAX)
    }

    /// A schedule starting at `initial` and capped at `max` (`initial` is capped too).
    pub fn with_bounds(initial: Duration, max: Duration) -> Self {
        Backoff {
            next: initial.min(max),
            max,
        }
    }

    /// Returns the delay to wait now and advances the schedule.
    pub fn next_delay(&mut self) -> Duration {
        let delay = self.next;
        self.next = self.next.saturating_mul(2).min(self.max);
        delay
    }
}

impl Default for Backoff {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_one_millisecond_up_to_the_ceiling() {
        let mut b = Backoff::new();
        let delays: Vec<u128> = (0..10).map(|_| b.next_delay().as_millis()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 32, 64, 100, 100, 100]);
    }

    #[test]
    fn initial_above_ceiling_is_capped() {
        let mut b = Backoff::with_bounds(Duration::from_secs(5), Duration::from_secs(1));
        assert_eq!(b.next_delay(), Duration::from_secs(1));
        assert_eq!(b.next_delay(), Duration::from_secs(1));
    }

    #[test]
    fn never_overflows() {
        let mut b = Backoff::with_bounds(Duration::from_secs(1), Duration::MAX);
        for _ in 0..200 {
            b.next_delay();
        }
        assert_eq!(b.next_delay(), Duration::MAX);
    }
}
