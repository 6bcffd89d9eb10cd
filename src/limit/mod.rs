//! Rate limiters (per client IP, per source, hot visitors) built on
//! governor, their housekeeping timer, and the JSON shape limits.

pub mod budget;
pub mod config;
pub mod json;

use std::hash::{BuildHasher, Hash};

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Weak};
use std::time::Duration;

use dashmap::DashMap;
use governor::clock::{Clock as _, DefaultClock};
use governor::nanos::Nanos;
use governor::state::keyed::ShrinkableKeyedStateStore;
use governor::state::{InMemoryState, NotKeyed, StateStore};
use governor::{Quota, RateLimiter};

use crate::telemetry as names;
use config::{Rate, RateLimitSettings};

/// One token bucket shared by all of a source's clients (a lock-free
/// compare-and-swap on one atomic per check).
pub type DirectLimiter = RateLimiter<NotKeyed, InMemoryState, DefaultClock>;

type Keyed<K> = RateLimiter<K, SharedStore<K>, DefaultClock>;

/// governor's DashMap store behind an `Arc`, so the limiter can also be
/// emptied from outside (governor itself only drops idle keys).
pub struct SharedStore<K: Hash + Eq>(Arc<DashMap<K, InMemoryState>>);

impl<K: Hash + Eq + Clone> StateStore for SharedStore<K> {
    type Key = K;

    fn measure_and_replace<T, F, E>(&self, key: &K, f: F) -> Result<T, E>
    where
        F: Fn(Option<Nanos>) -> Result<(T, Nanos), E>,
    {
        StateStore::measure_and_replace(&*self.0, key, f)
    }
}

impl<K: Hash + Eq + Clone> ShrinkableKeyedStateStore<K> for SharedStore<K> {
    fn retain_recent(&self, drop_below: Nanos) {
        ShrinkableKeyedStateStore::retain_recent(&*self.0, drop_below);
    }
    fn shrink_to_fit(&self) {
        self.0.shrink_to_fit();
    }
    fn len(&self) -> usize {
        self.0.len()
    }
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Which limit refused a request: the `limit` in the 429 body and the
/// label of `clickgate_rate_limited_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LimitKind {
    Ip,
    Source,
}

impl LimitKind {
    pub fn as_str(self) -> &'static str {
        match self {
            LimitKind::Ip => "ip",
            LimitKind::Source => "source",
        }
    }

    /// The setting a client or operator can look up.
    pub fn setting(self) -> &'static str {
        match self {
            LimitKind::Ip => "rate_limits.per_ip",
            LimitKind::Source => "sources[].rate_limit",
        }
    }
}

/// A refused request: which limit, and when a retry can succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limited {
    pub limit: LimitKind,
    /// Whole seconds, at least 1 (the `Retry-After` value).
    pub retry_after_secs: u64,
}

pub fn quota(rate: Rate) -> Quota {
    let per_second = NonZeroU32::new(rate.per_second).unwrap_or(NonZeroU32::MIN);
    let burst = NonZeroU32::new(rate.burst).unwrap_or(NonZeroU32::MIN);
    Quota::per_second(per_second).allow_burst(burst)
}

/// A direct limiter for one source.
pub fn direct(rate: Rate) -> DirectLimiter {
    RateLimiter::direct(quota(rate))
}

/// Checks a source's own limiter.
pub fn check_direct(limiter: &DirectLimiter) -> Result<(), Limited> {
    limiter.check().map_err(|not_until| Limited {
        limit: LimitKind::Source,
        retry_after_secs: whole_seconds(not_until.wait_time_from(limiter.clock().now())),
    })
}

fn whole_seconds(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

/// A keyed limiter with a cap on the keys it tracks. Reads and updates go
/// through a sharded map (no lock shared by all requests); pruning runs on
/// a timer, never on the request path.
pub struct KeyedLimiter<K: Hash + Eq + Clone> {
    limiter: Keyed<K>,
    map: Arc<DashMap<K, InMemoryState>>,
    max_keys: usize,
    name: &'static str,
}

impl<K: Hash + Eq + Clone> KeyedLimiter<K> {
    pub fn new(rate: Rate, max_keys: usize, name: &'static str) -> Self {
        let map = Arc::new(DashMap::new());
        Self {
            limiter: RateLimiter::new(
                quota(rate),
                SharedStore(Arc::clone(&map)),
                DefaultClock::default(),
            ),
            map,
            max_keys,
            name,
        }
    }

    /// `Err(wait)` when `key` is over its rate.
    pub fn check(&self, key: &K) -> Result<(), Duration> {
        self.limiter
            .check_key(key)
            .map_err(|not_until| not_until.wait_time_from(self.limiter.clock().now()))
    }

    /// Keys currently tracked.
    pub fn len(&self) -> usize {
        self.limiter.len()
    }

    pub fn is_empty(&self) -> bool {
        self.limiter.is_empty()
    }

    /// Drops keys whose bucket is full again (indistinguishable from a new
    /// key). If more than `max_keys` remain, every key is dropped: limits
    /// restart (fail open) rather than memory growing without bound.
    pub fn prune(&self) {
        let before = self.limiter.len();
        self.limiter.retain_recent();
        let after = self.limiter.len();
        if after > self.max_keys {
            tracing::warn!(
                limiter = self.name,
                keys = after,
                max = self.max_keys,
                "rate limiter tracks more keys than rate_limits.max_tracked_keys; resetting it"
            );
            self.map.clear();
        }
        if before > after.saturating_mul(2) || after > self.max_keys {
            self.limiter.shrink_to_fit();
        }
    }

    /// Whether the key count is past the cap (checked by the timer often,
    /// so a flood is pruned before the next full interval).
    fn over_cap(&self) -> bool {
        self.limiter.len() > self.max_keys
    }
}

/// The limiters shared by handlers and the pipeline.
pub struct RateLimiters {
    pub per_ip: Option<KeyedLimiter<IpAddr>>,
    pub hot_visitor: Option<HotVisitors>,
    prune_interval: Duration,
}

impl RateLimiters {
    pub fn new(settings: &RateLimitSettings) -> Self {
        Self {
            per_ip: settings
                .per_ip
                .map(|r| KeyedLimiter::new(r, settings.max_tracked_keys, "per_ip")),
            hot_visitor: settings
                .hot_visitor
                .map(|r| HotVisitors::new(r, settings.max_tracked_keys)),
            prune_interval: settings.prune_interval,
        }
    }

    /// Counts one request from `ip`.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), Limited> {
        let Some(limiter) = &self.per_ip else {
            return Ok(());
        };
        limiter.check(&ip).map_err(|wait| Limited {
            limit: LimitKind::Ip,
            retry_after_secs: whole_seconds(wait),
        })
    }

    pub fn prune(&self) {
        if let Some(l) = &self.per_ip {
            l.prune();
        }
        if let Some(h) = &self.hot_visitor {
            h.limiter.prune();
        }
    }

    fn over_cap(&self) -> bool {
        self.per_ip.as_ref().is_some_and(KeyedLimiter::over_cap)
            || self
                .hot_visitor
                .as_ref()
                .is_some_and(|h| h.limiter.over_cap())
    }

    /// Prunes every `prune_interval`, and within a second whenever a
    /// limiter passes its key cap. Stops when the limiters are dropped.
    pub fn spawn_pruning(self: &Arc<Self>) {
        let weak: Weak<Self> = Arc::downgrade(self);
        let interval = self.prune_interval;
        let tick = interval.min(Duration::from_secs(1));
        tokio::spawn(async move {
            let mut timer = tokio::time::interval(tick);
            timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut since_prune = Duration::ZERO;
            loop {
                timer.tick().await;
                let Some(limiters) = weak.upgrade() else {
                    return;
                };
                since_prune += tick;
                if since_prune >= interval || limiters.over_cap() {
                    since_prune = Duration::ZERO;
                    // DashMap pruning takes each shard's write lock in turn;
                    // keep it off the async workers.
                    let _ = tokio::task::spawn_blocking(move || limiters.prune()).await;
                }
            }
        });
    }
}

/// Per-visitor event rates. A visitor over the rate keeps sending, but
/// their events lose their partition key so they spread over partitions.
pub struct HotVisitors {
    limiter: KeyedLimiter<u64>,
    hasher: std::hash::RandomState,
}

impl HotVisitors {
    pub fn new(rate: Rate, max_keys: usize) -> Self {
        Self {
            limiter: KeyedLimiter::new(rate, max_keys, "hot_visitor"),
            hasher: std::hash::RandomState::new(),
        }
    }

    /// Counts one event of `visitor` (under `write_key`); true when the
    /// visitor is over the rate and the event should be keyed at random.
    /// Keys are 64-bit hashes with a per-process seed, so the table's size
    /// does not depend on how long visitor ids are.
    pub fn is_hot(&self, write_key: &str, visitor: &str) -> bool {
        let key = self.hasher.hash_one((write_key, visitor));
        let hot = self.limiter.check(&key).is_err();
        if hot {
            metrics::counter!(names::HOT_VISITOR_REKEYED).increment(1);
        }
        hot
    }

    pub fn tracked(&self) -> usize {
        self.limiter.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rate(per_second: u32, burst: u32) -> Rate {
        Rate { per_second, burst }
    }

    #[test]
    fn per_ip_limit_refuses_after_the_burst_with_whole_seconds() {
        let limiters = RateLimiters::new(&RateLimitSettings {
            per_ip: Some(rate(1, 2)),
            ..RateLimitSettings::default()
        });
        let ip: IpAddr = "192.0.2.1".parse().expect("ip");
        assert!(limiters.check_ip(ip).is_ok());
        assert!(limiters.check_ip(ip).is_ok());
        let refused = limiters.check_ip(ip).expect_err("over the burst");
        assert_eq!(refused.limit, LimitKind::Ip);
        assert_eq!(refused.retry_after_secs, 1);
        let other: IpAddr = "192.0.2.2".parse().expect("ip");
        assert!(limiters.check_ip(other).is_ok(), "IPs are limited apart");
    }

    #[test]
    fn source_limit_names_itself() {
        let limiter = direct(rate(1, 1));
        assert!(check_direct(&limiter).is_ok());
        let refused = check_direct(&limiter).expect_err("over");
        assert_eq!(refused.limit, LimitKind::Source);
        assert!(refused.retry_after_secs >= 1);
    }

    #[test]
    fn wait_times_round_up_to_whole_seconds() {
        assert_eq!(whole_seconds(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds(Duration::from_millis(1_001)), 2);
        assert_eq!(whole_seconds(Duration::ZERO), 1);
        assert_eq!(whole_seconds(Duration::from_secs(3)), 3);
    }

    #[test]
    fn pruning_drops_idle_keys_and_enforces_the_cap() {
        // A fast quota: every bucket is full again almost at once.
        let limiter = KeyedLimiter::<u32>::new(rate(1_000_000, 1), 10, "test");
        for k in 0..100 {
            let _ = limiter.check(&k);
        }
        assert_eq!(limiter.len(), 100);
        std::thread::sleep(Duration::from_millis(5));
        limiter.prune();
        assert_eq!(limiter.len(), 0);

        // A slow quota: keys stay "recent", so the cap resets the table.
        let slow = KeyedLimiter::<u32>::new(rate(1, 1), 10, "test");
        for k in 0..100 {
            let _ = slow.check(&k);
        }
        assert!(slow.over_cap());
        slow.prune();
        assert_eq!(slow.len(), 0);
    }

    #[test]
    fn a_visitor_over_the_rate_is_hot_and_others_are_not() {
        let hot = HotVisitors::new(rate(1, 3), 1_000);
        let flags: Vec<bool> = (0..5).map(|_| hot.is_hot("k", "busy")).collect();
        assert_eq!(flags, [false, false, false, true, true]);
        assert!(!hot.is_hot("k", "calm"));
        assert!(!hot.is_hot("other-key", "busy"), "keys are per write key");
    }
}
