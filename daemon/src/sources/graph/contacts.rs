//! Outlook contacts of a linked Microsoft 365 mailbox, for a list whose address book is a contact
//! folder: the Graph calls go through the same adapter as mail ([`GraphApi`], one token store
//! per mailbox, the same throttling and retry rules); this module opens that adapter for a
//! mailbox outside its running task and finds or creates the chosen folder.
//!
//! Writing needs the delegated scope `Contacts.ReadWrite`, which the consent asks for only when
//! the list opts in ([`super::Consent::MailAndContacts`]); without it Graph answers 403 and the
//! opt-in says that the user must consent again.

use std::sync::Arc;
use std::time::Duration;

use super::client::{GraphApi, RemoteContactFolder, RetryPolicy};
use super::config::GraphConfig;
use super::error::GraphError;
use super::oauth::{OAuthClient, load_client_secret};
use super::stats::GraphStats;
use super::tokens::MailboxTokens;
use crate::store::{MailboxId, Store};
use crate::vault::Vault;

/// Longest name of a contact folder mailsig creates or looks for.
pub const MAX_FOLDER_NAME: usize = 100;

/// The Graph adapter of `mailbox` for contact calls made outside the mailbox's task (opt-in,
/// write-back, read-back): few attempts and short waits, since a user or a queue waits on it.
pub async fn contacts_api(
    store: &Store,
    vault: &Vault,
    config: &GraphConfig,
    mailbox: MailboxId,
) -> Result<GraphApi, GraphError> {
    let secret = load_client_secret(config, store, vault).await?;
    let oauth = OAuthClient::new(Arc::new(config.clone()), secret)?;
    let tokens = MailboxTokens::new(store.clone(), vault.clone(), oauth, mailbox);
    let retry = RetryPolicy {
        attempts: 3,
        max_wait: Duration::from_secs(10),
        backoff: Duration::from_millis(500),
    };
    GraphApi::new(
        &config.graph_url,
        tokens,
        retry,
        Arc::new(GraphStats::default()),
    )
}

/// The contact folder named `name` (exact, as Outlook compares display names), created when the
/// user has none of that name.
pub async fn find_or_create_folder(
    api: &GraphApi,
    name: &str,
) -> Result<RemoteContactFolder, GraphError> {
    let existing = api.contact_folders().await?;
    if let Some(folder) = existing.into_iter().find(|f| f.display_name == name) {
        return Ok(folder);
    }
    match api.create_contact_folder(name).await {
        Ok(folder) => Ok(folder),
        // Created meanwhile (another replica, the user): take that one.
        Err(e) if e.is_conflict() => api
            .contact_folders()
            .await?
            .into_iter()
            .find(|f| f.display_name == name)
            .ok_or(e),
        Err(e) => Err(e),
    }
}
