//! Duplicate dropping: a `messageId` seen on this instance within a
//! bounded window (time and count) is dropped. Ids are remembered as
//! 64-bit hashes of source and id in sharded FIFO windows. Ids of a request
//! whose publish failed are forgotten again, so the client's retry lands.

use std::collections::hash_map::{Entry, RandomState};
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::cache::PassThroughState;

const SHARDS: usize = 32;

#[derive(Default)]
struct Window {
    /// id hash → when it was seen (ms).
    seen: HashMap<u64, i64, PassThroughState>,
    /// Insertion order, for expiry by time and by count.
    order: VecDeque<(u64, i64)>,
}

pub struct Dedupe {
    shards: Box<[Mutex<Window>]>,
    hasher: RandomState,
    window_ms: i64,
    per_shard: usize,
}

/// A remembered id, to forget if the request fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Seen(u64);

impl Dedupe {
    pub fn new(window: Duration, max_ids: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
            hasher: RandomState::new(),
            window_ms: i64::try_from(window.as_millis()).unwrap_or(i64::MAX),
            per_shard: (max_ids / SHARDS).max(1),
        }
    }

    /// `Some` the first time `message_id` of `source` is seen within the
    /// window (it is now remembered), `None` for a duplicate.
    pub fn first_time(&self, source: &str, message_id: &str, now_ms: i64) -> Option<Seen> {
        let mut h = self.hasher.build_hasher();
        source.hash(&mut h);
        message_id.hash(&mut h);
        let key = h.finish();
        let mut w = self.shard(key);
        // Expire by time and by count, oldest first.
        while let Some(&(k, at)) = w.order.front() {
            if now_ms.saturating_sub(at) < self.window_ms && w.order.len() < self.per_shard {
                break;
            }
            w.order.pop_front();
            // Only if not seen again since (after being forgotten).
            if let Entry::Occupied(e) = w.seen.entry(k) {
                if *e.get() == at {
                    e.remove();
                }
            }
        }
        match w.seen.entry(key) {
            Entry::Occupied(_) => None,
            Entry::Vacant(v) => {
                v.insert(now_ms);
                w.order.push_back((key, now_ms));
                Some(Seen(key))
            }
        }
    }

    /// Forgets ids whose events did not reach the sink.
    pub fn forget(&self, seen: &[Seen]) {
        for Seen(key) in seen {
            self.shard(*key).seen.remove(key);
        }
    }

    /// Remembers `message_id` like [`Dedupe::first_time`] and adds it to
    /// the request's claims; false for a duplicate.
    pub fn claim(&self, claims: &mut Claims, source: &str, message_id: &str, now_ms: i64) -> bool {
        match self.first_time(source, message_id, now_ms) {
            Some(seen) => {
                claims.seen.push(seen);
                true
            }
            None => false,
        }
    }

    fn shard(&self, key: u64) -> std::sync::MutexGuard<'_, Window> {
        self.shards[(key >> 32) as usize % SHARDS]
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }
}

/// The ids one request claimed as first seen. Until the delivery seam
/// confirms them (its records are stored as the delivery mode promises),
/// they are provisional: dropping the claims unconfirmed — a failed
/// publish, a timed-out or abandoned request — forgets them, so the
/// client's retry is not taken for a duplicate.
#[derive(Default)]
pub struct Claims {
    dedupe: Option<Arc<Dedupe>>,
    seen: Vec<Seen>,
}

impl Claims {
    pub fn new(dedupe: Option<Arc<Dedupe>>) -> Self {
        Self {
            dedupe,
            seen: Vec::new(),
        }
    }

    /// How many ids are claimed.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// The records are stored: the ids stay remembered.
    pub fn confirm(mut self) {
        self.seen.clear();
    }
}

impl Drop for Claims {
    fn drop(&mut self) {
        if let Some(d) = &self.dedupe {
            d.forget(&self.seen);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeats_within_the_window_are_duplicates() {
        let d = Dedupe::new(Duration::from_secs(60), 1000);
        assert!(d.first_time("web", "m1", 0).is_some());
        assert!(d.first_time("web", "m1", 59_000).is_none());
        assert!(d.first_time("app", "m1", 59_000).is_some(), "per source");
        assert!(d.first_time("web", "m1", 60_000).is_some(), "window over");
    }

    #[test]
    fn the_window_is_bounded_by_count() {
        let d = Dedupe::new(Duration::from_secs(3600), SHARDS * 4);
        for i in 0..10_000 {
            d.first_time("web", &format!("m{i}"), 0);
        }
        let held: usize = d
            .shards
            .iter()
            .map(|s| s.lock().expect("lock").seen.len())
            .sum();
        assert!(held <= SHARDS * 4, "{held}");
        assert!(d.first_time("web", "m0", 1).is_some(), "oldest forgotten");
    }

    #[test]
    fn forgotten_ids_are_accepted_again() {
        let d = Dedupe::new(Duration::from_secs(60), 1000);
        let seen = d.first_time("web", "m1", 0).expect("first");
        d.forget(&[seen]);
        assert!(d.first_time("web", "m1", 1).is_some());
        assert!(d.first_time("web", "m1", 2).is_none());
    }

    #[test]
    fn unconfirmed_claims_are_forgotten_and_confirmed_ones_kept() {
        let d = Arc::new(Dedupe::new(Duration::from_secs(60), 1000));
        let mut claims = Claims::new(Some(Arc::clone(&d)));
        assert!(d.claim(&mut claims, "web", "m1", 0));
        drop(claims);
        let mut claims = Claims::new(Some(Arc::clone(&d)));
        assert!(d.claim(&mut claims, "web", "m1", 1), "forgotten on drop");
        claims.confirm();
        let mut claims = Claims::new(Some(Arc::clone(&d)));
        assert!(!d.claim(&mut claims, "web", "m1", 2), "kept once confirmed");
        assert!(claims.is_empty());
    }
}
