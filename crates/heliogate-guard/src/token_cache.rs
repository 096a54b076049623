//! The answers about tokens, kept for a while: bounded, by the token's SHA-256 (the cache
//! holds no token), with one call to heliogate for concurrent requests with one new token.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;

use crate::Caller;

/// What heliogate said about a token.
#[derive(Debug, Clone)]
pub(crate) struct Checked {
    /// `None`: not live (or not for this service).
    pub caller: Option<Arc<Caller>>,
    pub at: Instant,
    /// Unix seconds after which the answer no longer holds.
    pub expires_at: u64,
}

/// `None` in the cell: heliogate could not be asked (not kept: the next request asks again).
type Slot = Arc<OnceCell<Option<Checked>>>;

pub(crate) type Key = [u8; 32];

/// Shards, so that requests on several cores rarely wait for one lock.
const SHARDS: usize = 16;

pub(crate) struct TokenCache {
    shards: Box<[Mutex<HashMap<Key, Slot>>]>,
    per_shard: usize,
}

impl TokenCache {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            per_shard: capacity.div_ceil(SHARDS),
        }
    }

    fn shard(&self, key: &Key) -> MutexGuard<'_, HashMap<Key, Slot>> {
        let shard = &self.shards[usize::from(key[0]) % SHARDS];
        shard
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The answer about `key` no older than `ttl` and not past its expiry at `now` (Unix
    /// seconds), or the one `check` gets — shared with every request that asks meanwhile.
    /// The flag tells whether it came from the cache.
    pub(crate) async fn get_or_check<F, Fut>(
        &self,
        key: Key,
        ttl: Duration,
        now: u64,
        check: F,
    ) -> (Option<Checked>, bool)
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Option<Checked>>,
    {
        let fresh = |slot: &Slot| match slot.get() {
            None => true, // being checked: wait for it
            Some(Some(checked)) => checked.at.elapsed() < ttl && now < checked.expires_at,
            Some(None) => false,
        };
        let slot = {
            let mut shard = self.shard(&key);
            match shard.get(&key) {
                Some(slot) if fresh(slot) => Arc::clone(slot),
                _ => {
                    if shard.len() >= self.per_shard && !shard.contains_key(&key) {
                        shard.retain(|_, slot| fresh(slot));
                        if shard.len() >= self.per_shard {
                            if let Some(any) = shard.keys().next().copied() {
                                shard.remove(&any);
                            }
                        }
                    }
                    let slot = Slot::default();
                    shard.insert(key, Arc::clone(&slot));
                    slot
                }
            }
        };
        if let Some(answer) = slot.get() {
            return (answer.clone(), true);
        }
        let answer = slot.get_or_init(check).await.clone();
        if answer.is_none() {
            let mut shard = self.shard(&key);
            if shard.get(&key).is_some_and(|s| Arc::ptr_eq(s, &slot)) {
                shard.remove(&key);
            }
        }
        (answer, false)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    fn live(expires_at: u64) -> Option<Checked> {
        Some(Checked {
            caller: None,
            at: Instant::now(),
            expires_at,
        })
    }

    #[tokio::test]
    async fn concurrent_misses_for_one_key_make_one_check() {
        let cache = TokenCache::new(100);
        let calls = AtomicUsize::new(0);
        let check = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            live(u64::MAX)
        };
        let ttl = Duration::from_secs(5);
        let answers = futures_util::future::join_all(
            (0..50).map(|_| cache.get_or_check([1; 32], ttl, 0, check)),
        )
        .await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(answers.iter().all(|(a, _)| a.is_some()));
        let (_, hit) = cache.get_or_check([1; 32], ttl, 0, check).await;
        assert!(hit);
    }

    #[tokio::test]
    async fn an_answer_lives_until_its_ttl_or_its_token_s_expiry() {
        let cache = TokenCache::new(100);
        let calls = AtomicUsize::new(0);
        let check = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            live(1000)
        };
        let ttl = Duration::from_millis(50);
        cache.get_or_check([2; 32], ttl, 10, check).await;
        assert!(cache.get_or_check([2; 32], ttl, 10, check).await.1);
        // Past the token's expiry.
        assert!(!cache.get_or_check([2; 32], ttl, 1000, check).await.1);
        // Past the TTL.
        tokio::time::sleep(ttl).await;
        assert!(!cache.get_or_check([2; 32], ttl, 10, check).await.1);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn an_outage_is_shared_by_the_waiting_requests_and_not_kept() {
        let cache = TokenCache::new(100);
        let calls = AtomicUsize::new(0);
        let down = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            None
        };
        let ttl = Duration::from_secs(5);
        let answers = futures_util::future::join_all(
            (0..20).map(|_| cache.get_or_check([3; 32], ttl, 0, down)),
        )
        .await;
        assert!(answers.iter().all(|(a, _)| a.is_none()));
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        cache.get_or_check([3; 32], ttl, 0, down).await;
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn the_cache_never_holds_more_than_its_capacity() {
        let cache = TokenCache::new(32);
        for i in 0..=255u8 {
            let key = [i; 32];
            cache
                .get_or_check(key, Duration::from_secs(60), 0, || async { live(u64::MAX) })
                .await;
        }
        let held: usize = cache.shards.iter().map(|s| s.lock().unwrap().len()).sum();
        assert!(held <= 32, "{held}");
    }
}
