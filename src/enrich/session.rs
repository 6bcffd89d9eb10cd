//! Derived sessions for events that carry none (server-side calls,
//! pixels): per source and visitor, a new session after a period of
//! inactivity, numbered per visitor. State lives in sharded, bounded maps;
//! it is per instance (see docs/enrichment.md for several instances).

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::Mutex;

use serde::Serialize;

use super::cache::{Generations, PassThroughState};

/// `context.session` as clickgate derives it; the same shape the browser
/// snippet sends (`id` is the session's start in epoch milliseconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SessionFields {
    pub id: i64,
    pub index: u32,
    /// Whether this event started the session.
    pub start: bool,
    /// Always true: clickgate, not the client, made this session.
    pub derived: bool,
}

#[derive(Debug, Clone, Copy)]
struct Visit {
    start_ms: i64,
    last_ms: i64,
    index: u32,
}

const SHARDS: usize = 32;

pub struct Sessions {
    shards: Box<[Mutex<Generations<u64, Visit, PassThroughState>>]>,
    hasher: RandomState,
    timeout_ms: i64,
}

impl Sessions {
    pub fn new(timeout: std::time::Duration, max_visitors: usize) -> Self {
        let per_shard = (max_visitors / SHARDS).max(2);
        Self {
            shards: (0..SHARDS)
                .map(|_| Mutex::new(Generations::new(per_shard)))
                .collect(),
            hasher: RandomState::new(),
            timeout_ms: i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX),
        }
    }

    /// The session of an event by `visitor` of `source` at `at_ms`.
    /// Events that arrive late (older than the visitor's last one) join
    /// the current session when they are within the timeout of it.
    pub fn touch(&self, source: &str, visitor: &str, at_ms: i64) -> SessionFields {
        let mut h = self.hasher.build_hasher();
        source.hash(&mut h);
        visitor.hash(&mut h);
        let key = h.finish();
        let shard = &self.shards[(key >> 32) as usize % SHARDS];
        let mut map = shard.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(v) = map.get_mut(&key) {
            if at_ms.saturating_sub(v.last_ms) <= self.timeout_ms {
                v.last_ms = v.last_ms.max(at_ms);
                return SessionFields {
                    id: v.start_ms,
                    index: v.index,
                    start: false,
                    derived: true,
                };
            }
            *v = Visit {
                start_ms: at_ms,
                last_ms: at_ms,
                index: v.index.saturating_add(1),
            };
            return SessionFields {
                id: at_ms,
                index: v.index,
                start: true,
                derived: true,
            };
        }
        map.insert(
            key,
            Visit {
                start_ms: at_ms,
                last_ms: at_ms,
                index: 1,
            },
        );
        SessionFields {
            id: at_ms,
            index: 1,
            start: true,
            derived: true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const MIN: i64 = 60_000;

    #[test]
    fn inactivity_starts_a_new_numbered_session() {
        let s = Sessions::new(Duration::from_secs(1800), 1000);
        let t0 = 1_700_000_000_000;
        let a = s.touch("web", "v1", t0);
        assert_eq!((a.id, a.index, a.start), (t0, 1, true));
        let b = s.touch("web", "v1", t0 + 29 * MIN);
        assert_eq!((b.id, b.index, b.start), (t0, 1, false));
        // 30 minutes after the *last* event is still the same session.
        let c = s.touch("web", "v1", t0 + 58 * MIN);
        assert_eq!((c.id, c.start), (t0, false));
        let d = s.touch("web", "v1", t0 + 89 * MIN);
        assert_eq!((d.id, d.index, d.start), (t0 + 89 * MIN, 2, true));
    }

    #[test]
    fn visitors_and_sources_are_separate() {
        let s = Sessions::new(Duration::from_secs(1800), 1000);
        assert!(s.touch("web", "v1", 0).start);
        assert!(s.touch("web", "v2", 0).start);
        assert!(s.touch("app", "v1", 0).start);
        assert!(!s.touch("web", "v1", MIN).start);
    }

    #[test]
    fn late_events_join_the_current_session() {
        let s = Sessions::new(Duration::from_secs(1800), 1000);
        s.touch("web", "v", 10 * MIN);
        let late = s.touch("web", "v", 2 * MIN);
        assert_eq!((late.id, late.start), (10 * MIN, false));
    }

    #[test]
    fn memory_is_bounded() {
        let s = Sessions::new(Duration::from_secs(1800), 64);
        for i in 0..10_000 {
            s.touch("web", &format!("v{i}"), 0);
        }
        let held: usize = s.shards.iter().map(|m| m.lock().expect("lock").len()).sum();
        assert!(held <= 64 + 2 * SHARDS, "{held}");
    }
}
