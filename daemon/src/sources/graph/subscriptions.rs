//! Change-notification subscriptions of one mailbox: one per folder, changeType `created`, a
//! random clientState sealed in the vault, the notification and lifecycle URLs from the public
//! base URL, the configured lifetime asked for and Graph's returned expiry taken as the truth.
//!
//! Renewal is due at half the granted life (`renewed_at + (expires_at - renewed_at) / 2`), or at
//! once after `reauthorizationRequired`. A renewal answered 404 means Graph dropped it: it is
//! created again and the folder resynced. A create answered 409 reuses the existing one.
//!
//! Every subscription row write carries the task's fencing token: a replica that lost
//! the mailbox cannot replace, renew or mark the subscription the new owner keeps alive (a
//! subscription it created at Graph just before is left to expire; its clientState is wiped).

use zeroize::Zeroizing;

use super::client::{NewSubscription, RemoteSubscription};
use super::error::GraphError;
use super::oauth::random_token;
use super::registry::KnownSubscription;
use super::runtime::MailboxRuntime;
use super::stats::GraphStats;
use crate::store::{GraphSubscription, SecretKind, SubscriptionState};

/// Whether a stored subscription should be renewed at `now` (epoch ms).
pub fn renewal_due(sub: &GraphSubscription, now: i64) -> bool {
    sub.state != SubscriptionState::Active
        || now >= sub.renewed_at + (sub.expires_at - sub.renewed_at) / 2
}

impl MailboxRuntime {
    fn lifetime_ms(&self) -> i64 {
        i64::try_from(self.shared.config.subscription_lifetime.as_millis()).unwrap_or(i64::MAX)
    }

    /// Makes sure the folder has a live subscription: keeps a stored one (renewing it when
    /// due), or creates one.
    pub(crate) async fn ensure_subscription(&self, folder: &str) -> Result<(), GraphError> {
        let stored = self
            .shared
            .store
            .graph_subscriptions(self.mailbox.id)
            .await?;
        match stored.into_iter().find(|s| s.folder == folder) {
            Some(sub)
                if sub.state != SubscriptionState::Removed
                    && sub.expires_at > self.shared.store.now_ms() =>
            {
                if renewal_due(&sub, self.shared.store.now_ms()) {
                    self.renew(&sub).await?;
                }
                Ok(())
            }
            _ => self.create_subscription(folder).await,
        }
    }

    /// Renews every subscription of the mailbox that is due.
    pub(crate) async fn renew_due(&self) -> Result<(), GraphError> {
        let now = self.shared.store.now_ms();
        for sub in self
            .shared
            .store
            .graph_subscriptions(self.mailbox.id)
            .await?
        {
            if sub.state == SubscriptionState::Removed || sub.expires_at <= now {
                self.create_subscription(&sub.folder).await?;
                self.delta_round(&sub.folder).await?;
            } else if renewal_due(&sub, now) {
                self.renew(&sub).await?;
            }
        }
        Ok(())
    }

    /// Renews one subscription (`PATCH` with a new expiry; this also reauthorizes it).
    pub(crate) async fn renew(&self, sub: &GraphSubscription) -> Result<(), GraphError> {
        let now = self.shared.store.now_ms();
        match self
            .api
            .renew_subscription(&sub.id, now.saturating_add(self.lifetime_ms()))
            .await
        {
            Ok(remote) => {
                let expires_at = remote.expires_at_ms().ok_or(GraphError::Protocol {
                    op: "renew subscription",
                    reason: "no expirationDateTime".into(),
                })?;
                self.shared
                    .store
                    .renew_graph_subscription(&sub.id, now, expires_at, self.fencing)
                    .await?;
                GraphStats::bump(&self.shared.stats.subscriptions_renewed);
                tracing::info!(mailbox = %self.mailbox.id, "graph subscription renewed");
                Ok(())
            }
            Err(e) if e.is_not_found() => {
                tracing::info!(mailbox = %self.mailbox.id, "graph subscription gone at renewal; creating it again");
                self.create_subscription(&sub.folder).await?;
                self.delta_round(&sub.folder).await.map(|_| ())
            }
            Err(e) => Err(e),
        }
    }

    /// Renews the subscription `id` now (lifecycle `reauthorizationRequired`).
    pub(crate) async fn reauthorize(&self, id: &str) -> Result<(), GraphError> {
        let _control = self.lock_control().await?;
        let subs = self
            .shared
            .store
            .graph_subscriptions(self.mailbox.id)
            .await?;
        match subs.iter().find(|s| s.id == id) {
            Some(sub) => self.unless_lease_lost(self.renew(sub).await),
            // Already replaced by a newer subscription: nothing to do.
            None => Ok(()),
        }
    }

    /// Creates the subscription of `folder` again and resyncs it (lifecycle
    /// `subscriptionRemoved`).
    pub(crate) async fn recreate(&self, folder: &str, removed_id: &str) -> Result<(), GraphError> {
        let _control = self.lock_control().await?;
        self.unless_lease_lost(self.recreate_locked(folder, removed_id).await)
    }

    async fn recreate_locked(&self, folder: &str, removed_id: &str) -> Result<(), GraphError> {
        let subs = self
            .shared
            .store
            .graph_subscriptions(self.mailbox.id)
            .await?;
        let current = subs.iter().find(|s| s.folder == folder);
        // A removal notice for a subscription already replaced changes nothing.
        if current.is_some_and(|s| s.id != removed_id) {
            return Ok(());
        }
        self.shared
            .store
            .set_graph_subscription_state(removed_id, SubscriptionState::Removed, self.fencing)
            .await?;
        self.create_subscription(folder).await?;
        self.delta_round(folder).await.map(|_| ())
    }

    /// Creates a subscription with a fresh clientState; a 409 reuses the existing one.
    pub(crate) async fn create_subscription(&self, folder: &str) -> Result<(), GraphError> {
        let shared = &self.shared;
        let resource = self.api.folder_resource(folder);
        let notification_url = shared.config.notification_url();
        let lifecycle_url = shared.config.lifecycle_url();
        let client_state = Zeroizing::new(random_token()?);
        let now = shared.store.now_ms();
        let new = NewSubscription {
            resource: &resource,
            notification_url: &notification_url,
            lifecycle_url: &lifecycle_url,
            client_state: &client_state,
            expires_at_ms: now.saturating_add(self.lifetime_ms()),
        };
        let (remote, client_state) = match self.api.create_subscription(&new).await {
            Ok(remote) => (remote, client_state),
            Err(e) if e.is_conflict() => {
                match self.adopt_existing(&resource, &notification_url).await? {
                    Some(found) => found,
                    None => {
                        // Deleted the unusable duplicate; one more try.
                        (self.api.create_subscription(&new).await?, client_state)
                    }
                }
            }
            Err(e) => return Err(e),
        };
        let expires_at = remote.expires_at_ms().ok_or(GraphError::Protocol {
            op: "create subscription",
            reason: "no expirationDateTime".into(),
        })?;
        let key_version = self.key_version().await?;
        let secret = shared
            .store
            .put_secret_sealed_by(SecretKind::GraphClientState, key_version, |id| {
                let binding = crate::vault::Binding::secret(SecretKind::GraphClientState, id);
                Ok::<_, GraphError>(
                    shared
                        .vault
                        .seal(&binding, client_state.as_bytes())?
                        .into_bytes(),
                )
            })
            .await?;
        let stored = GraphSubscription {
            id: remote.id.clone(),
            mailbox: self.mailbox.id,
            folder: folder.to_owned(),
            resource,
            client_state: Some(secret),
            state: SubscriptionState::Active,
            renewed_at: now,
            expires_at,
        };
        if let Err(error) = shared
            .store
            .put_graph_subscription(&stored, self.fencing)
            .await
        {
            let _ = shared.store.delete_secret(secret).await;
            return Err(error.into());
        }
        shared.registry.insert(
            &remote.id,
            KnownSubscription::new(self.mailbox.id, folder, client_state),
        );
        GraphStats::bump(&shared.stats.subscriptions_created);
        tracing::info!(mailbox = %self.mailbox.id, "graph subscription created");
        Ok(())
    }

    /// After a 409: the existing subscription for the same resource and URL, with its
    /// clientState when Graph lists it; otherwise it is deleted and `None` returned.
    async fn adopt_existing(
        &self,
        resource: &str,
        notification_url: &str,
    ) -> Result<Option<(RemoteSubscription, Zeroizing<String>)>, GraphError> {
        let same = |r: &RemoteSubscription| {
            r.resource
                .as_deref()
                .is_some_and(|x| x.trim_start_matches('/').eq_ignore_ascii_case(resource))
                && r.notification_url
                    .as_deref()
                    .is_none_or(|u| u == notification_url)
        };
        let mut found = self
            .api
            .list_subscriptions()
            .await?
            .into_iter()
            .filter(same)
            .collect::<Vec<_>>();
        let Some(mut existing) = found.pop() else {
            return Ok(None);
        };
        // A clientState we already hold for it (the row survived) is the one to keep.
        if let Some(state) = self.stored_client_state(&existing.id).await? {
            return Ok(Some((existing, state)));
        }
        if let Some(state) = existing.take_client_state().filter(|s| !s.is_empty()) {
            tracing::info!(mailbox = %self.mailbox.id, "graph subscription already existed; reused");
            return Ok(Some((existing, state)));
        }
        tracing::info!(mailbox = %self.mailbox.id, "graph subscription existed without a known clientState; replaced");
        self.api.delete_subscription(&existing.id).await?;
        Ok(None)
    }

    async fn stored_client_state(&self, id: &str) -> Result<Option<Zeroizing<String>>, GraphError> {
        let Some(sub) = self.shared.store.graph_subscription(id).await? else {
            return Ok(None);
        };
        let Some(secret) = sub.client_state else {
            return Ok(None);
        };
        let sealed = self.shared.store.get_secret(secret).await?.sealed;
        let opened = self.shared.vault.open(
            &crate::vault::Binding::secret(SecretKind::GraphClientState, secret),
            &crate::vault::SealedSecret::from_bytes(sealed),
        )?;
        Ok(String::from_utf8(opened.to_vec()).ok().map(Zeroizing::new))
    }

    async fn key_version(&self) -> Result<i64, GraphError> {
        let secrets = self.shared.store.all_secrets().await?;
        Ok(secrets.iter().map(|s| s.key_version).max().unwrap_or(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::MailboxId;

    fn sub(renewed_at: i64, expires_at: i64, state: SubscriptionState) -> GraphSubscription {
        GraphSubscription {
            id: "s".into(),
            mailbox: MailboxId(1),
            folder: "inbox".into(),
            resource: "me/mailFolders('inbox')/messages".into(),
            client_state: None,
            state,
            renewed_at,
            expires_at,
        }
    }

    #[test]
    fn renewal_is_due_at_half_life_or_when_flagged() {
        let s = sub(1_000, 11_000, SubscriptionState::Active);
        assert!(!renewal_due(&s, 5_999));
        assert!(renewal_due(&s, 6_000));
        assert!(renewal_due(
            &sub(1_000, 11_000, SubscriptionState::Reauthorize),
            1_001
        ));
    }
}
