//! Which subscriptions the daemon knows, with their clientState opened from the vault, so the
//! webhook can check a notification without decrypting anything on the hot path.
//!
//! A miss falls back to the store (a subscription created by another replica, or before a
//! restart) and is cached from then on. clientStates are held in zeroizing buffers.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::error::GraphError;
use crate::store::{MailboxId, Store};
use crate::vault::{SealedSecret, Vault};

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

/// Shared map from Graph subscription id to [`KnownSubscription`]. Cheap to clone.
#[derive(Clone)]
pub struct Registry {
    store: Store,
    vault: Vault,
    known: Arc<RwLock<HashMap<String, KnownSubscription>>>,
}

impl Registry {
    pub fn new(store: Store, vault: Vault) -> Registry {
        Registry {
            store,
            vault,
            known: Arc::default(),
        }
    }

    /// The subscription, from memory or (once) from the store.
    pub async fn lookup(&self, id: &str) -> Result<Option<KnownSubscription>, GraphError> {
        if let Some(known) = self.read().get(id) {
            return Ok(Some(known.clone()));
        }
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
        let opened = self.vault.open(&SealedSecret::from_bytes(sealed))?;
        let text = Zeroizing::new(
            String::from_utf8(opened.to_vec()).map_err(|_| crate::vault::VaultError)?,
        );
        let known = KnownSubscription::new(stored.mailbox, &stored.folder, text);
        self.insert(id, known.clone());
        Ok(Some(known))
    }

    pub fn insert(&self, id: &str, known: KnownSubscription) {
        self.write().insert(id.to_owned(), known);
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
