/*!
Jittered exponential backoff, the one retry policy of fightwatch: camera reconnects, the Redis
bus, webhook and MQTT delivery all wait by it.

A delay doubles from `initial` up to `max`, and each is spread by up to ±`jitter` (a fraction)
so that many clients behind one failure (cameras behind a switch, nodes behind a Redis restart)
do not come back in lockstep. [`Backoff`] is the policy; [`Retry`] counts attempts for a loop
that waits, and starts over after a success.

```
use std::time::Duration;
use fightwatch_retry::{Backoff, Retry};

let policy = Backoff { initial: Duration::from_secs(1), max: Duration::from_secs(30), jitter: 0.2 };
let mut retry = Retry::new(policy);
let first = retry.next_delay();
assert!(first >= Duration::from_millis(800) && first <= Duration::from_millis(1200));
let second = retry.next_delay();
assert!(second >= Duration::from_millis(1600) && second <= Duration::from_millis(2400));
retry.reset(); // it worked: the next failure waits the first delay again
assert!(retry.next_delay() <= Duration::from_millis(1200));
```
*/

use std::time::Duration;

/// Delays exponential from `initial` to `max`, each with up to ±`jitter`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Backoff {
    /// First delay.
    pub initial: Duration,
    /// Largest delay (before jitter).
    pub max: Duration,
    /// Random spread, 0.0–1.0 of the delay, either way.
    pub jitter: f64,
}

impl Default for Backoff {
    /// 1 s doubling to 30 s, ±20 %: a camera's reconnects.
    fn default() -> Self {
        Self {
            initial: Duration::from_secs(1),
            max: Duration::from_secs(30),
            jitter: 0.2,
        }
    }
}

impl Backoff {
    /// The delay before attempt `attempt` (1-based) again.
    pub fn delay(&self, attempt: u32) -> Duration {
        let base = self.initial.as_secs_f64() * 2f64.powi(attempt.saturating_sub(1).min(30) as i32);
        let base = base.min(self.max.as_secs_f64());
        let spread = self.jitter.clamp(0.0, 1.0) * (fastrand::f64() * 2.0 - 1.0);
        Duration::from_secs_f64((base * (1.0 + spread)).max(0.0))
    }
}

/// A [`Backoff`] and the failures so far: each [`Retry::next_delay`] is the next, longer wait;
/// [`Retry::reset`] after a success starts over.
#[derive(Debug, Clone)]
pub struct Retry {
    policy: Backoff,
    failures: u32,
}

impl Retry {
    /// No failure yet.
    pub fn new(policy: Backoff) -> Self {
        Self {
            policy,
            failures: 0,
        }
    }

    /// The wait after one more failure.
    pub fn next_delay(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        self.policy.delay(self.failures)
    }

    /// The wait the next failure would get, without counting one (for logs).
    pub fn upcoming(&self) -> Duration {
        self.policy.delay(self.failures.saturating_add(1))
    }

    /// It worked: the next failure waits the first delay again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_with_bounded_jitter() {
        let b = Backoff::default();
        for _ in 0..100 {
            let d1 = b.delay(1).as_secs_f64();
            assert!((0.8..=1.2).contains(&d1), "{d1}");
            let d3 = b.delay(3).as_secs_f64();
            assert!((3.2..=4.8).contains(&d3), "{d3}");
            let d10 = b.delay(10).as_secs_f64();
            assert!((24.0..=36.0).contains(&d10), "{d10}");
        }
        let exact = Backoff { jitter: 0.0, ..b };
        assert_eq!(exact.delay(2), Duration::from_secs(2));
        assert_eq!(exact.delay(50), Duration::from_secs(30));
        assert_eq!(exact.delay(u32::MAX), Duration::from_secs(30));
    }

    #[test]
    fn a_retry_counts_failures_and_starts_over_after_a_success() {
        let mut r = Retry::new(Backoff {
            jitter: 0.0,
            ..Backoff::default()
        });
        assert_eq!(r.upcoming(), Duration::from_secs(1));
        let waits: Vec<u64> = (0..7).map(|_| r.next_delay().as_secs()).collect();
        assert_eq!(waits, [1, 2, 4, 8, 16, 30, 30]);
        r.reset();
        assert_eq!(r.next_delay(), Duration::from_secs(1));
    }
}
