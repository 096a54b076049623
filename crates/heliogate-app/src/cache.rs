//! A small in-process cache whose entries live at most `ttl`.
//!
//! It is what keeps token checks off the database on the hot path, and it stays correct
//! across nodes without any messaging between them: an entry read from the database is
//! trusted for at most `ttl` (one second), so a revocation made anywhere, by any node or by the
//! CLI, is seen everywhere within that time. The node that revokes evicts at once.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct TtlCache<K, V> {
    entries: Mutex<Entries<K, V>>,
    ttl: Duration,
    capacity: usize,
}

#[derive(Debug)]
struct Entries<K, V> {
    map: HashMap<K, (Arc<V>, Instant)>,
    /// Moves on at every `clear`: a value read from the database before a clear may be stale
    /// after it, and is not stored (`insert_unless_cleared`).
    generation: u64,
}

impl<K: Eq + Hash + Clone, V> TtlCache<K, V> {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            entries: Mutex::new(Entries {
                map: HashMap::new(),
                generation: 0,
            }),
            ttl,
            capacity,
        }
    }

    /// The value, if it was stored less than `ttl` ago: shared, so a hit copies nothing.
    pub fn get<Q>(&self, key: &Q) -> Option<Arc<V>>
    where
        K: std::borrow::Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let entries = self.entries.lock().ok()?;
        entries
            .map
            .get(key)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(v, _)| v.clone())
    }

    pub fn insert(&self, key: K, value: Arc<V>) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        Self::put(&mut entries.map, key, value, self.ttl, self.capacity);
    }

    /// Where the cache stands now: take it before reading the value to insert.
    pub fn generation(&self) -> u64 {
        self.entries.lock().map_or(u64::MAX, |e| e.generation)
    }

    /// Inserts a value read when the cache stood at `generation`, unless it was cleared
    /// since: the clear may have been for a change the value does not show yet.
    pub fn insert_unless_cleared(&self, key: K, value: Arc<V>, generation: u64) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.generation == generation {
            Self::put(&mut entries.map, key, value, self.ttl, self.capacity);
        }
    }

    fn put(
        map: &mut HashMap<K, (Arc<V>, Instant)>,
        key: K,
        value: Arc<V>,
        ttl: Duration,
        capacity: usize,
    ) {
        if map.len() >= capacity {
            // Bounded: drop what is stale, and everything if that was not enough.
            map.retain(|_, (_, at)| at.elapsed() < ttl);
            if map.len() >= capacity {
                map.clear();
            }
        }
        map.insert(key, (value, Instant::now()));
    }

    pub fn remove(&self, key: &K) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.map.remove(key);
        }
    }

    /// Forgets everything, and refuses any value read before now.
    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.map.clear();
            entries.generation = entries.generation.wrapping_add(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_stay_bounded() {
        let cache = TtlCache::new(Duration::from_millis(50), 2);
        cache.insert(1, Arc::new("a"));
        assert_eq!(cache.get(&1).as_deref(), Some(&"a"));
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.get(&1), None);
        cache.insert(2, Arc::new("b"));
        cache.insert(3, Arc::new("c"));
        cache.insert(4, Arc::new("d"));
        assert!(cache.get(&4).is_some());
        assert!(cache.entries.lock().map(|e| e.map.len()).unwrap_or(0) <= 2);
        cache.remove(&4);
        assert_eq!(cache.get(&4), None);
    }

    #[test]
    fn a_value_read_before_a_clear_is_not_stored_after_it() {
        let cache = TtlCache::new(Duration::from_secs(1), 10);
        let before = cache.generation();
        // A check read the token as live; then a revocation cleared the cache.
        cache.clear();
        cache.insert_unless_cleared(1, Arc::new("live"), before);
        assert_eq!(cache.get(&1), None);
        let now = cache.generation();
        cache.insert_unless_cleared(1, Arc::new("live"), now);
        assert_eq!(cache.get(&1).as_deref(), Some(&"live"));
    }
}
