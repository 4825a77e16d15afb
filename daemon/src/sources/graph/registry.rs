//! Which subscriptions the daemon knows, with their clientState opened from the vault, so the
//! webhook can check a notification without decrypting anything on the hot path.
//!
//! A miss falls back to the store (a subscription created by another replica, or before a
//! restart) and is cached from then on. clientStates are held in zeroizing buffers.
//!
//! The webhook is open to the internet, so a miss must not be a way to make the daemon query
//! its database at will: an id the store does not know is remembered in a bounded negative
//! cache ([`NEGATIVE_CAPACITY`] ids, each for [`NEGATIVE_TTL`]), and store look-ups of ids
//! unknown in memory share one token bucket ([`MISS_LOOKUPS_PER_SECOND`], burst
//! [`MISS_LOOKUP_BURST`]); over it the look-up answers [`Lookup::Busy`] and the webhook asks
//! Graph to deliver again later.

use std::collections::HashMap;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::error::GraphError;
use crate::store::{MailboxId, SecretKind, Store};
use crate::vault::{Binding, SealedSecret, Vault};

/// What the webhook needs to know about one subscription.
#[derive(Clone)]
pub struct KnownSubscription {
    pub mailbox: MailboxId,
    pub folder: String,
    client_state: Arc<Zeroizing<String>>,
}

impl KnownSubscription {
    pub fn new(mailbox: MailboxId, folder: &str, client_state: Zeroizing<String>) -> Self {
        Self {
            mailbox,
            folder: folder.to_owned(),
            client_state: Arc::new(client_state),
        }
    }

    /// Compares a received clientState in constant time.
    pub fn client_state_matches(&self, received: &str) -> bool {
        self.client_state
            .as_bytes()
            .ct_eq(received.as_bytes())
            .into()
    }
}

/// Ids the store did not know, remembered at most this many at once.
pub const NEGATIVE_CAPACITY: usize = 10_000;
/// How long an id the store did not know is answered "unknown" without asking again.
pub const NEGATIVE_TTL: Duration = Duration::from_secs(60);
/// Store look-ups of ids not known in memory, per second, for the whole process.
pub const MISS_LOOKUPS_PER_SECOND: u32 = 20;
/// How many such look-ups may come at once before the per-second rate applies.
pub const MISS_LOOKUP_BURST: u32 = 40;

/// The answer of [`Registry::lookup`].
#[derive(Clone)]
pub enum Lookup {
    Known(KnownSubscription),
    /// Neither memory nor the store know the id (or it has no clientState).
    Unknown,
    /// The id is not in memory and the store look-ups' budget is spent: try again later.
    Busy,
}

/// Shared map from Graph subscription id to [`KnownSubscription`]. Cheap to clone.
#[derive(Clone)]
pub struct Registry {
    store: Store,
    vault: Vault,
    known: Arc<RwLock<HashMap<String, KnownSubscription>>>,
    /// Ids the store did not know, with when it said so.
    unknown: Arc<Mutex<HashMap<String, Instant>>>,
    /// The budget of store look-ups for ids not in memory.
    misses: Arc<DefaultDirectRateLimiter>,
}

impl Registry {
    pub fn new(store: Store, vault: Vault) -> Registry {
        let per_second = NonZeroU32::new(MISS_LOOKUPS_PER_SECOND).unwrap_or(NonZeroU32::MIN);
        let burst = NonZeroU32::new(MISS_LOOKUP_BURST).unwrap_or(NonZeroU32::MIN);
        Registry {
            store,
            vault,
            known: Arc::default(),
            unknown: Arc::default(),
            misses: Arc::new(RateLimiter::direct(
                Quota::per_second(per_second).allow_burst(burst),
            )),
        }
    }

    /// The subscription, from memory or (once, within the look-up budget) from the store.
    pub async fn lookup(&self, id: &str) -> Result<Lookup, GraphError> {
        if let Some(known) = self.read().get(id) {
            return Ok(Lookup::Known(known.clone()));
        }
        if self.recently_unknown(id) {
            return Ok(Lookup::Unknown);
        }
        if self.misses.check().is_err() {
            return Ok(Lookup::Busy);
        }
        match self.load(id).await? {
            Some(known) => Ok(Lookup::Known(known)),
            None => {
                self.remember_unknown(id);
                Ok(Lookup::Unknown)
            }
        }
    }

    /// Reads the subscription and opens its clientState; caches it when found.
    async fn load(&self, id: &str) -> Result<Option<KnownSubscription>, GraphError> {
        let Some(stored) = self.store.graph_subscription(id).await? else {
            return Ok(None);
        };
        let Some(secret_id) = stored.client_state else {
            return Ok(None);
        };
        let sealed = match self.store.get_secret(secret_id).await {
            Ok(secret) => secret.sealed,
            Err(e) if e.is_not_found() => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let opened = self.vault.open(
            &Binding::secret(SecretKind::GraphClientState, secret_id),
            &SealedSecret::from_bytes(sealed),
        )?;
        let text = Zeroizing::new(
            String::from_utf8(opened.to_vec()).map_err(|_| crate::vault::VaultError)?,
        );
        let known = KnownSubscription::new(stored.mailbox, &stored.folder, text);
        self.insert(id, known.clone());
        Ok(Some(known))
    }

    pub fn insert(&self, id: &str, known: KnownSubscription) {
        self.unknown_ids().remove(id);
        self.write().insert(id.to_owned(), known);
    }

    fn recently_unknown(&self, id: &str) -> bool {
        let mut unknown = self.unknown_ids();
        match unknown.get(id) {
            Some(at) if at.elapsed() < NEGATIVE_TTL => true,
            Some(_) => {
                unknown.remove(id);
                false
            }
            None => false,
        }
    }

    /// Remembers `id` as unknown; when the cache is full, expired ids go first, and if none
    /// has expired the cache starts over (it stays bounded either way).
    fn remember_unknown(&self, id: &str) {
        let mut unknown = self.unknown_ids();
        if unknown.len() >= NEGATIVE_CAPACITY {
            unknown.retain(|_, at| at.elapsed() < NEGATIVE_TTL);
            if unknown.len() >= NEGATIVE_CAPACITY {
                unknown.clear();
            }
        }
        unknown.insert(id.to_owned(), Instant::now());
    }

    fn unknown_ids(&self) -> std::sync::MutexGuard<'_, HashMap<String, Instant>> {
        self.unknown.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn remove(&self, id: &str) {
        self.write().remove(id);
    }

    /// Forgets every subscription of a mailbox (unlinked).
    pub fn remove_mailbox(&self, mailbox: MailboxId) {
        self.write().retain(|_, known| known.mailbox != mailbox);
    }

    /// Forgets every subscription of a mailbox not in `linked` (unlinked by another process).
    pub fn retain_mailboxes(&self, linked: &std::collections::HashSet<MailboxId>) {
        self.write()
            .retain(|_, known| linked.contains(&known.mailbox));
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, HashMap<String, KnownSubscription>> {
        self.known.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, HashMap<String, KnownSubscription>> {
        self.known.write().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_state_compare_is_exact() {
        let known =
            KnownSubscription::new(MailboxId(1), "inbox", Zeroizing::new("s3cret-state".into()));
        assert!(known.client_state_matches("s3cret-state"));
        assert!(!known.client_state_matches("s3cret-statf"));
        assert!(!known.client_state_matches("s3cret"));
        assert!(!known.client_state_matches(""));
    }
}
