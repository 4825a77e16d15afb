//! Outlook contacts as a connected address book: one contact folder of one of the list owner's
//! linked Microsoft 365 mailboxes, spoken to through the same Graph adapter as that mailbox's
//! mail ([`GraphApi`]: its tokens, its request limit, `Retry-After` and retries; the round opens
//! its own adapter, so its requests are limited apart from the mail task's).
//!
//! - `changes` is the folder's contacts delta (`/me/contactFolders/{id}/contacts/delta`): the
//!   `deltaLink` is the sync state, so a round reads only what changed, deletions included
//!   (`@removed`); without a state, or when Graph no longer knows it (410), the whole folder is
//!   listed and the index replaced.
//! - `create` posts a contact; `update` reads the contact, builds the `PATCH` from what Outlook
//!   has now (additive: `fields`) and sends it with `If-Match` of the version the caller merged
//!   against, so a change made in Outlook meanwhile is a 412, [`BookError::Conflict`], which the
//!   sync answers by reading and merging again; `delete` sends `If-Match` too.
//!
//! The book's stored row names the mailbox and the folder (`OutlookSettings`); there is no
//! password of its own: the mailbox's sealed tokens are used.

pub mod fields;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

use crate::domain::address_book::{
    AddressBook, BookChanges, BookContact, BookEntry, BookEntryId, BookError, ETag, SyncState,
};
use crate::sources::graph::GraphApi;
use crate::sources::graph::GraphError;
use crate::sources::graph::client::RemoteContact;
use crate::store::{ConnectedBook, MailboxId};

/// Pages one delta round may take before the answer is taken for a broken one.
const MAX_DELTA_PAGES: usize = 10_000;

/// What an Outlook book keeps (`address_books.settings`): which mailbox's contacts, which folder.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutlookSettings {
    /// The linked Microsoft 365 mailbox whose contacts these are (its owner owns the list).
    pub mailbox: MailboxId,
    /// The contact folder's Graph id.
    pub folder_id: String,
    /// The folder's display name, as chosen.
    pub folder_name: String,
}

impl OutlookSettings {
    /// The settings as stored.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_else(|_| "{}".to_owned())
    }

    /// The settings of a stored Outlook book; unreadable settings are a protocol error.
    pub fn of(book: &ConnectedBook) -> Result<OutlookSettings, BookError> {
        serde_json::from_str(&book.settings).map_err(|_| BookError::Protocol)
    }

    /// What the book's row keeps as its location: the folder, named for people and logs
    /// without the mailbox's address.
    pub fn location(&self) -> String {
        format!(
            "outlook:mailbox/{}/contactFolders/{}",
            self.mailbox.0, self.folder_id
        )
    }
}

/// The seam's kind of a Graph failure. A 403 is [`BookError::Auth`]: the mailbox's consent
/// lacks `Contacts.ReadWrite`, or was withdrawn.
pub fn book_error(e: &GraphError) -> BookError {
    match e {
        GraphError::Status { status, .. } => match *status {
            401 | 403 => BookError::Auth,
            404 => BookError::NotFound,
            412 => BookError::Conflict,
            408 | 429 => BookError::Unavailable,
            s if s >= 500 => BookError::Unavailable,
            _ => BookError::Protocol,
        },
        GraphError::Network { .. } => BookError::Unreachable,
        GraphError::Protocol { .. } => BookError::Protocol,
        GraphError::InvalidGrant { .. }
        | GraphError::NoTokens
        | GraphError::NoTenantGrant
        | GraphError::Vault(_) => BookError::Auth,
        GraphError::TokenEndpoint { status, .. } if *status == 429 || *status >= 500 => {
            BookError::Unavailable
        }
        GraphError::TokenEndpoint { .. } => BookError::Auth,
        GraphError::ClientSecret(_) | GraphError::Store(_) => BookError::Unavailable,
    }
}

fn logged(op: &'static str, e: GraphError) -> BookError {
    let kind = book_error(&e);
    // The class only: Graph's answer text stays out of the logs.
    tracing::debug!(op, class = %e.class(), reason = kind.as_str(), "outlook contacts call failed");
    kind
}

/// A contact folder of a linked mailbox, as an [`AddressBook`].
pub struct OutlookBook {
    api: GraphApi,
    folder: String,
}

impl OutlookBook {
    pub fn new(api: GraphApi, folder_id: &str) -> OutlookBook {
        OutlookBook {
            api,
            folder: folder_id.to_owned(),
        }
    }
}

fn entry_of(contact: &RemoteContact) -> Result<BookEntry, BookError> {
    let id = contact
        .get("id")
        .and_then(serde_json::Value::as_str)
        .ok_or(BookError::Protocol)?;
    let etag = contact
        .get("@odata.etag")
        .and_then(serde_json::Value::as_str)
        .or_else(|| contact.get("changeKey").and_then(serde_json::Value::as_str))
        .ok_or(BookError::Protocol)?;
    Ok(BookEntry {
        id: BookEntryId(id.to_owned()),
        etag: ETag(etag.to_owned()),
        contact: fields::contact_of(contact),
    })
}

impl OutlookBook {
    /// One delta round from `link` (`None`: the whole folder).
    async fn delta_round(&self, link: Option<&str>) -> Result<BookChanges, GraphError> {
        let complete = link.is_none();
        let mut changed: Vec<BookEntry> = Vec::new();
        let mut removed: Vec<BookEntryId> = Vec::new();
        let mut next = link.map(str::to_owned);
        for _ in 0..MAX_DELTA_PAGES {
            let page = self
                .api
                .contacts_delta_page(&self.folder, next.as_deref())
                .await?;
            for contact in &page.changed {
                let entry = entry_of(contact).map_err(|_| GraphError::Protocol {
                    op: "contacts delta",
                    reason: "contact without id or etag".into(),
                })?;
                // A contact changed while the round pages may come twice: the later one stands.
                changed.retain(|e| e.id != entry.id);
                removed.retain(|r| *r != entry.id);
                changed.push(entry);
            }
            for id in page.removed {
                let id = BookEntryId(id);
                changed.retain(|e| e.id != id);
                removed.push(id);
            }
            match (page.next_link, page.delta_link) {
                (Some(link), _) => next = Some(link),
                (None, Some(delta)) => {
                    return Ok(BookChanges {
                        changed,
                        // A full listing replaces the index: nothing is "removed" in it.
                        removed: if complete { Vec::new() } else { removed },
                        complete,
                        state: SyncState(Some(delta)),
                    });
                }
                (None, None) => break,
            }
        }
        Err(GraphError::Protocol {
            op: "contacts delta",
            reason: "the round did not end".into(),
        })
    }
}

#[async_trait]
impl AddressBook for OutlookBook {
    async fn changes(&self, since: &SyncState) -> Result<BookChanges, BookError> {
        match self.delta_round(since.0.as_deref()).await {
            Ok(changes) => Ok(changes),
            // Graph forgot the round (410 SyncStateNotFound): list the folder afresh.
            Err(GraphError::Status { status: 410, .. }) if since.0.is_some() => self
                .delta_round(None)
                .await
                .map_err(|e| logged("contacts delta", e)),
            Err(e) => Err(logged("contacts delta", e)),
        }
    }

    async fn read(&self, id: &BookEntryId) -> Result<Option<BookEntry>, BookError> {
        match self.api.contact(&self.folder, &id.0).await {
            Ok(contact) => entry_of(&contact).map(Some),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(logged("get contact", e)),
        }
    }

    async fn create(&self, contact: &BookContact) -> Result<BookEntry, BookError> {
        let created = self
            .api
            .create_contact(&self.folder, &fields::new_contact(contact))
            .await
            .map_err(|e| logged("create contact", e))?;
        entry_of(&created)
    }

    async fn update(
        &self,
        id: &BookEntryId,
        etag: &ETag,
        contact: &BookContact,
    ) -> Result<ETag, BookError> {
        let current = match self.api.contact(&self.folder, &id.0).await {
            Ok(current) => current,
            Err(e) => return Err(logged("get contact", e)),
        };
        let patch = fields::patch_of(&current, contact);
        if patch.as_object().is_some_and(serde_json::Map::is_empty) {
            // Nothing to add; still the caller's version or a conflict, as a PATCH would say.
            let now = entry_of(&current)?;
            return if now.etag == *etag {
                Ok(now.etag)
            } else {
                Err(BookError::Conflict)
            };
        }
        // If-Match the version the caller merged against: a change made since is refused by
        // Graph (412), never overwritten.
        let updated = self
            .api
            .update_contact(&self.folder, &id.0, &etag.0, &patch)
            .await
            .map_err(|e| logged("update contact", e))?;
        Ok(entry_of(&updated)?.etag)
    }

    async fn delete(&self, id: &BookEntryId, etag: &ETag) -> Result<(), BookError> {
        self.api
            .delete_contact(&self.folder, &id.0, &etag.0)
            .await
            .map_err(|e| logged("delete contact", e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(status: u16) -> GraphError {
        GraphError::Status {
            op: "x",
            status,
            code: None,
            retry_after: None,
        }
    }

    #[test]
    fn graph_failures_become_the_seams_kinds() {
        assert_eq!(book_error(&status(403)), BookError::Auth);
        assert_eq!(book_error(&status(412)), BookError::Conflict);
        assert_eq!(book_error(&status(404)), BookError::NotFound);
        assert_eq!(book_error(&status(429)), BookError::Unavailable);
        assert_eq!(book_error(&status(503)), BookError::Unavailable);
        assert_eq!(book_error(&GraphError::NoTokens), BookError::Auth);
    }

    #[test]
    fn settings_round_trip_and_name_the_folder() -> Result<(), serde_json::Error> {
        let settings = OutlookSettings {
            mailbox: MailboxId(7),
            folder_id: "AQMk1".into(),
            folder_name: "From mailsig".into(),
        };
        let back: OutlookSettings = serde_json::from_str(&settings.to_json())?;
        assert_eq!(back, settings);
        assert_eq!(
            settings.location(),
            "outlook:mailbox/7/contactFolders/AQMk1"
        );
        Ok(())
    }
}
