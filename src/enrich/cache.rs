//! A bounded map that forgets what was not used lately: two generations,
//! the current one and the previous one. When the current generation is
//! full it becomes the previous one and the old previous one is dropped;
//! an entry found in the previous generation moves to the current one.
//! Every operation is O(1) and memory never exceeds the capacity, with no
//! timer and no per-entry bookkeeping.

use std::borrow::Borrow;
use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hash, Hasher};

/// A hasher for keys that already are well-mixed 64-bit hashes: it passes
/// them through instead of hashing them again.
#[derive(Default, Clone, Copy)]
pub struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // Not used for u64 keys; fold anything else in simply.
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Build hasher for maps keyed by pre-computed hashes.
pub type PassThroughState = BuildHasherDefault<PassThrough>;

pub struct Generations<K, V, S = RandomState> {
    current: HashMap<K, V, S>,
    previous: HashMap<K, V, S>,
    half: usize,
}

impl<K: Hash + Eq, V, S: BuildHasher + Default> Generations<K, V, S> {
    /// Holds at most `capacity` entries (at least 2).
    pub fn new(capacity: usize) -> Self {
        Self {
            current: HashMap::default(),
            previous: HashMap::default(),
            half: (capacity / 2).max(1),
        }
    }

    pub fn get_mut<Q>(&mut self, key: &Q) -> Option<&mut V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if !self.current.contains_key(key) {
            let (k, v) = self.previous.remove_entry(key)?;
            self.insert(k, v);
        }
        self.current.get_mut(key)
    }

    pub fn insert(&mut self, key: K, value: V) {
        if self.current.len() >= self.half && !self.current.contains_key(&key) {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(key, value);
    }

    pub fn remove<Q>(&mut self, key: &Q)
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.current.remove(key);
        self.previous.remove(key);
    }

    pub fn len(&self) -> usize {
        self.current.len() + self.previous.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stays_within_capacity_and_keeps_recently_used_entries() {
        let mut g: Generations<i32, i32> = Generations::new(4);
        for i in 0..100 {
            g.insert(i, i);
            assert!(g.len() <= 4);
            // Key 0 is used all the time, so it survives every rotation.
            if g.get_mut(&0).is_none() {
                g.insert(0, 0);
            }
        }
        assert!(g.get_mut(&0).is_some());
        assert!(g.get_mut(&1).is_none(), "idle entries are forgotten");
        assert!(g.get_mut(&99).is_some());
    }

    #[test]
    fn remove_forgets_in_both_generations() {
        let mut g: Generations<String, u8> = Generations::new(2);
        g.insert("a".into(), 1);
        g.insert("b".into(), 2);
        g.remove("a");
        assert!(g.get_mut("a").is_none());
        assert_eq!(g.get_mut("b"), Some(&mut 2));
    }
}
