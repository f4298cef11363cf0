//! What one client may cost the server: connections per address, login attempts and the
//! password hashing they trigger, and messages per user. Every limit here has a default in
//! [`crate::ServerConfig`] and is listed in docs/security.md.

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

/// Rate limiter keyed by `K` (GCRA: a burst, then a steady rate).
pub(crate) type Keyed<K> = DefaultKeyedRateLimiter<K>;

/// A rate as "`burst` at once, then one every `period`".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    /// Requests allowed at once.
    pub burst: u32,
    /// After the burst, one more per this period.
    pub period: Duration,
}

impl Rate {
    /// `burst` at once, then one per `period`.
    pub const fn new(burst: u32, period: Duration) -> Self {
        Self { burst, period }
    }

    /// `per_second` steadily, after a burst of `burst_seconds` worth (at least one).
    pub fn per_second(per_second: f64, burst_seconds: f64) -> Self {
        let per_second = if per_second.is_finite() && per_second > 0.0 {
            per_second
        } else {
            1.0
        };
        Self {
            burst: (per_second * burst_seconds)
                .round()
                .clamp(1.0, f64::from(u32::MAX)) as u32,
            period: Duration::from_secs_f64(1.0 / per_second),
        }
    }

    /// The steady rate, per second.
    pub fn steady_per_second(&self) -> f64 {
        1.0 / self.period.as_secs_f64().max(1e-6)
    }

    pub(crate) fn limiter<K>(self) -> Keyed<K>
    where
        K: std::hash::Hash + Eq + Clone,
    {
        let burst = NonZeroU32::new(self.burst).unwrap_or(NonZeroU32::MIN);
        let quota = Quota::with_period(self.period.max(Duration::from_micros(1)))
            .unwrap_or_else(|| Quota::per_second(NonZeroU32::MIN))
            .allow_burst(burst);
        governor::RateLimiter::keyed(quota)
    }
}

/// Checks `key` against `limiter`: `Err(seconds to wait)` when over the limit.
pub(crate) fn check<K>(limiter: &Keyed<K>, key: &K) -> Result<(), u64>
where
    K: std::hash::Hash + Eq + Clone,
{
    limiter.check_key(key).map_err(|not_until| {
        not_until
            .wait_time_from(DefaultClock::default().now())
            .as_secs()
            + 1
    })
}

/// The address a limit counts: IPv6 clients by their /64 (one host usually has a whole /64,
/// so counting single addresses would let it pick a fresh one per request), IPv4-mapped
/// addresses as IPv4.
pub(crate) fn client_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
    }
}

/// Open connections per client address, capped.
pub(crate) struct PerAddress {
    open: Mutex<HashMap<IpAddr, usize>>,
    max: usize,
}

/// One counted connection; dropping it frees the place.
pub(crate) struct Slot {
    owner: Arc<PerAddress>,
    key: IpAddr,
}

impl PerAddress {
    pub(crate) fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            open: Mutex::new(HashMap::new()),
            max,
        })
    }

    /// A place for a connection from `ip`, or `None` when it has `max` open already.
    pub(crate) fn take(self: &Arc<Self>, ip: IpAddr) -> Option<Slot> {
        let key = client_key(ip);
        let mut open = self.open.lock().ok()?;
        let n = open.entry(key).or_insert(0);
        if *n >= self.max {
            return None;
        }
        *n += 1;
        Some(Slot {
            owner: self.clone(),
            key,
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.owner.open.lock()
            && let Some(n) = open.get_mut(&self.key)
        {
            *n -= 1;
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}

/// Login limits: attempts per address, attempts per (user name, address), and how many
/// password hashes (19 MiB of memory each) may run at once.
pub(crate) struct LoginLimits {
    per_address: Keyed<IpAddr>,
    per_user_address: Keyed<(String, IpAddr)>,
    pub(crate) hashing: HashPool,
}

/// Why a login attempt was not even tried.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum LoginRefusal {
    /// Too many attempts: retry after this many seconds.
    TooMany(u64),
}

impl LoginLimits {
    pub(crate) fn new(config: &crate::ServerConfig) -> Self {
        Self {
            per_address: config.login_rate_per_address.limiter(),
            per_user_address: config.login_rate_per_user.limiter(),
            hashing: HashPool::new(
                config.concurrent_password_hashes,
                config.concurrent_password_hashes * 8,
            ),
        }
    }

    /// Counts an attempt for `user` from `ip`. A user name is limited per address, so an
    /// attacker elsewhere cannot lock its owner out.
    pub(crate) fn attempt(&self, user: &str, ip: IpAddr) -> Result<(), LoginRefusal> {
        let ip = client_key(ip);
        check(&self.per_address, &ip).map_err(LoginRefusal::TooMany)?;
        let name: String = user.chars().take(64).collect();
        check(&self.per_user_address, &(name, ip)).map_err(LoginRefusal::TooMany)
    }

    /// Forgets keys whose limits are full again (keeps memory bounded under address churn).
    pub(crate) fn forget_idle(&self) {
        self.per_address.retain_recent();
        self.per_address.shrink_to_fit();
        self.per_user_address.retain_recent();
        self.per_user_address.shrink_to_fit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_keys_and_slots() {
        let limiter = Rate::new(2, Duration::from_secs(60)).limiter::<u8>();
        assert!(check(&limiter, &1).is_ok() && check(&limiter, &1).is_ok());
        let wait = check(&limiter, &1).unwrap_err();
        assert!((1..=61).contains(&wait), "{wait}");
        assert!(
            check(&limiter, &2).is_ok(),
            "another key has its own budget"
        );

        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        assert_eq!(client_key(a), client_key(b));
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        assert_eq!(client_key(mapped), "10.0.0.1".parse::<IpAddr>().unwrap());

        let per = PerAddress::new(1);
        let ip: IpAddr = "127.0.0.1".parse().unwrap();
        let slot = per.take(ip).unwrap();
        assert!(per.take(ip).is_none());
        drop(slot);
        assert!(per.take(ip).is_some());
    }
}

/// A fixed set of threads that check passwords. argon2 needs 19 MiB per hash; on the blocking
/// pool every thread that ever hashed keeps such a block in its malloc arena (glibc raises its
/// mmap threshold after the first free), so a flood grew the server by hundreds of MiB that
/// never came back. Here memory is bounded by the thread count, and a full queue refuses.
pub(crate) struct HashPool {
    jobs: crossbeam_channel::Sender<Box<dyn FnOnce() + Send>>,
}

/// The pool's queue is full: try again shortly.
#[derive(Debug)]
pub(crate) struct Busy;

impl HashPool {
    /// `threads` hashing threads with up to `queue` waiting checks. The threads end when the
    /// pool is dropped.
    pub(crate) fn new(threads: usize, queue: usize) -> Self {
        let (jobs, rx) = crossbeam_channel::bounded::<Box<dyn FnOnce() + Send>>(queue);
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("password-hash-{i}"))
                .spawn(move || {
                    while let Ok(job) = rx.recv() {
                        job();
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "Cannot start a password hashing thread.");
            }
        }
        Self { jobs }
    }

    /// Runs `f` on a hashing thread; `Busy` when the queue is full.
    pub(crate) async fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Busy> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        self.jobs
            .try_send(Box::new(move || {
                let _ = tx.send(f());
            }))
            .map_err(|_| Busy)?;
        rx.await.map_err(|_| Busy)
    }
}
