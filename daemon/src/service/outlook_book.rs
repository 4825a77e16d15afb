//! Connecting a list to Outlook contacts: a contact folder of one of the list owner's own linked
//! Microsoft 365 mailboxes, named by the owner and created when the mailbox has none of that
//! name. Owner only, and only with a mailbox the owner linked: the folder receives every accepted
//! contact of the list, through that mailbox's tokens.
//!
//! Connecting checks the mailbox's consent at once (listing its contact folders): a consent
//! given for mail only lacks `Contacts.ReadWrite`, Graph answers 403, and the opt-in is refused
//! with a field error that says to consent again for mail and contacts
//! ([`start_contacts_consent`]). The folder's first read and the write-back are the sync worker's,
//! poked at once, as for a CardDAV book.

use crate::books::outlook::OutlookSettings;
use crate::books::worker::Wake;
use crate::domain::address_book::BookKind;
use crate::domain::{AuditAction, AuditObject};
use crate::sources::graph::contacts::{MAX_FOLDER_NAME, contacts_api, find_or_create_folder};
use crate::sources::graph::{Consent, GraphConfig, GraphError, LinkOrigin};
use crate::store::{ListId, MailboxId, MailboxKind, NewBook, Role, Store};
use crate::vault::Vault;

use super::books::{BookState, view};
use super::validate::{Checker, FieldCode};
use super::{Actor, ServiceError, ServiceResult, audit, require_role};

/// The words of a refused opt-in whose mailbox was consented to for mail only.
pub const NEEDS_CONTACTS_CONSENT: &str = "this mailbox's consent does not include Outlook \
     contacts (Contacts.ReadWrite): consent again for mail and contacts, then connect again";

/// What the owner sends to connect Outlook contacts.
#[derive(Clone, Debug, Default)]
pub struct OutlookForm {
    /// One of the owner's linked Microsoft 365 mailboxes.
    pub mailbox: Option<i64>,
    /// The contact folder's display name.
    pub folder: Option<String>,
}

fn refusal(e: &GraphError) -> ServiceError {
    match e {
        GraphError::Status { status: 403, .. } => {
            ServiceError::field("mailbox", FieldCode::Choice, NEEDS_CONTACTS_CONSENT)
        }
        e if e.needs_reconsent() => ServiceError::field(
            "mailbox",
            FieldCode::Choice,
            "this mailbox needs a new consent at Microsoft: consent again for mail and contacts",
        ),
        e if e.is_transient() => {
            ServiceError::Unavailable("Microsoft 365 cannot be reached".into())
        }
        e => {
            tracing::warn!(class = %e.class(), "outlook contacts could not be connected");
            ServiceError::Unavailable("Microsoft 365 answered unexpectedly".into())
        }
    }
}

fn not_configured() -> ServiceError {
    ServiceError::Unavailable("Microsoft 365 is not configured".into())
}

/// `PUT /api/v1/lists/{id}/book/outlook` (owner, with a mailbox of their own): checks the
/// mailbox's consent, finds or creates the folder and connects the list (replacing a book it had).
pub async fn connect_outlook(
    store: &Store,
    vault: &Vault,
    graph: Option<&GraphConfig>,
    books: &Wake,
    actor: Actor,
    list: ListId,
    form: OutlookForm,
) -> ServiceResult<BookState> {
    require_role(store, actor, list, Role::Owner).await?;
    let mut c = Checker::new();
    let folder_name = c.text("folder", form.folder.as_deref(), MAX_FOLDER_NAME);
    if form.mailbox.is_none() {
        c.push("mailbox", FieldCode::Required, "is required");
    }
    c.finish()?;
    let (Some(folder_name), Some(mailbox)) = (folder_name, form.mailbox.map(MailboxId)) else {
        return Err(ServiceError::Internal(
            "checked outlook form incomplete".into(),
        ));
    };
    // The actor's own linked Microsoft 365 mailbox only: another's is not even named.
    let own = match store.get_mailbox(mailbox).await {
        Ok(m) => m.owner == actor.user() && m.kind == MailboxKind::Graph,
        Err(e) if e.is_not_found() => false,
        Err(e) => return Err(e.into()),
    };
    if !own {
        return Err(ServiceError::field(
            "mailbox",
            FieldCode::Choice,
            "choose one of your linked Microsoft 365 mailboxes",
        ));
    }
    let graph = graph.ok_or_else(not_configured)?;
    let api = contacts_api(store, vault, graph, mailbox)
        .await
        .map_err(|e| refusal(&e))?;
    let folder = find_or_create_folder(&api, &folder_name)
        .await
        .map_err(|e| refusal(&e))?;
    let settings = OutlookSettings {
        mailbox,
        folder_id: folder.id,
        folder_name,
    };
    let replaced = store
        .connect_book(&NewBook {
            list,
            kind: BookKind::Outlook,
            location: &settings.location(),
            settings: &settings.to_json(),
            secret: None,
            created_by: actor.user(),
        })
        .await?;
    if let Some(old) = replaced {
        store.delete_secret(old).await?;
    }
    audit(
        store,
        actor,
        AuditAction::BookConnect,
        AuditObject::List,
        Some(list.0),
        Some(BookKind::Outlook.as_str()),
    )
    .await?;
    books.poke();
    view(store, list).await
}

/// Starts a consent for mail and contacts for the owner of `list`, who wants to connect it to
/// Outlook contacts: the consent URL to open. Consenting with the same Microsoft account
/// replaces the tokens of the mailbox already linked, which then carry `Contacts.ReadWrite`.
pub async fn start_contacts_consent(
    store: &Store,
    vault: &Vault,
    graph: Option<&GraphConfig>,
    actor: Actor,
    list: ListId,
    origin: LinkOrigin,
) -> ServiceResult<url::Url> {
    require_role(store, actor, list, Role::Owner).await?;
    super::mailboxes::start_microsoft_link_for(
        store,
        vault,
        graph,
        actor,
        list,
        origin,
        Consent::MailAndContacts,
    )
    .await
}

/// The owner's linked Microsoft 365 mailboxes, to choose from: id and address.
pub async fn outlook_mailboxes(
    store: &Store,
    actor: Actor,
) -> ServiceResult<Vec<(MailboxId, String)>> {
    Ok(store
        .list_mailboxes(&crate::store::MailboxFilter {
            owner: Some(actor.user()),
            kind: Some(MailboxKind::Graph),
        })
        .await?
        .into_iter()
        .map(|m| (m.id, m.address))
        .collect())
}
