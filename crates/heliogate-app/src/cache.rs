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
    entries: Mutex<HashMap<K, (Arc<V>, Instant)>>,
    ttl: Duration,
    capacity: usize,
}

impl<K: Eq + Hash + Clone, V> TtlCache<K, V> {
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
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
            .get(key)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(v, _)| v.clone())
    }

    pub fn insert(&self, key: K, value: Arc<V>) {
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        if entries.len() >= self.capacity {
            // Bounded: drop what is stale, and everything if that was not enough.
            entries.retain(|_, (_, at)| at.elapsed() < self.ttl);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(key, (value, Instant::now()));
    }

    pub fn remove(&self, key: &K) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.remove(key);
        }
    }

    pub fn clear(&self) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.clear();
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
        assert!(cache.entries.lock().map(|e| e.len()).unwrap_or(0) <= 2);
        cache.remove(&4);
        assert_eq!(cache.get(&4), None);
    }
}
