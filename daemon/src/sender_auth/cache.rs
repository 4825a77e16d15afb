//! The DNS cache of sender authentication: parsed TXT records (DKIM keys, DMARC policies) until
//! their TTL runs out, so a warm cache verifies a message without a DNS round trip. Bounded: when
//! full, expired entries go first, and if none expired the cache starts over (a burst of new
//! domains costs look-ups, never memory).

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::Instant;

use mail_auth::ResolverCache;

/// One record type's cache.
pub struct TtlCache<K, V> {
    entries: Mutex<HashMap<K, (V, Instant)>>,
    capacity: usize,
}

impl<K: Hash + Eq, V: Clone> TtlCache<K, V> {
    pub fn new(capacity: usize) -> TtlCache<K, V> {
        TtlCache {
            entries: Mutex::new(HashMap::new()),
            capacity: capacity.max(1),
        }
    }

    /// Entries held now (expired ones included until they are swept).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, (V, Instant)>> {
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl<K: Hash + Eq, V: Clone> ResolverCache<K, V> for TtlCache<K, V> {
    fn get<Q>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let entries = self.lock();
        let found = entries
            .get(name)
            .filter(|(_, until)| *until > Instant::now())
            .map(|(value, _)| value.clone());
        super::stats::record_cache(found.is_some());
        found
    }

    fn remove<Q>(&self, name: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.lock().remove(name).map(|(value, _)| value)
    }

    fn insert(&self, key: K, value: V, valid_until: Instant) {
        let mut entries = self.lock();
        if entries.len() >= self.capacity {
            let now = Instant::now();
            entries.retain(|_, (_, until)| *until > now);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(key, (value, valid_until));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn expired_entries_are_not_returned_and_size_is_bounded() {
        let cache: TtlCache<Box<str>, u32> = TtlCache::new(2);
        let later = Instant::now() + Duration::from_secs(60);
        cache.insert("a".into(), 1, later);
        cache.insert("gone".into(), 2, Instant::now());
        assert_eq!(cache.get("a"), Some(1));
        assert_eq!(cache.get("gone"), None);
        cache.insert("b".into(), 3, later);
        cache.insert("c".into(), 4, later);
        assert!(cache.len() <= 2);
        assert_eq!(cache.get("c"), Some(4));
    }
}
