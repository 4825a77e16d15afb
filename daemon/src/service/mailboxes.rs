//! Mailboxes: linking an IMAP mailbox (the login is tested before anything is saved), unlinking
//! (the stored password is wiped at once), exclusions, the target list, and the status view.
//!
//! A mailbox belongs to one user; nobody else sees it (another user's mailbox is "not found").
//! Nothing here ever returns a password or a reference to the secret holding it.

use crate::domain::{AuditAction, AuditObject, MailProtocol, TlsMode};
use std::collections::BTreeMap;

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use std::net::SocketAddr;

use crate::sources::changed::MailboxesChanged;
use crate::sources::graph::GraphUnlinker;
use crate::sources::imap::{ImapError, ImapOptions, ImapSettings, test_login_at, test_login_with};
use crate::store::{
    ListId, Mailbox, MailboxFilter, MailboxId, MailboxKind, MailboxStatus, NewMailbox, Role,
    SecretKind, Store,
};
use crate::vault::Vault;

use super::host_guard::resolve_checked;
use super::validate::{Checker, FieldCode};
use super::{Actor, ServiceError, ServiceResult, audit, require_role};

/// Most excluded domains one mailbox keeps.
pub const MAX_EXCLUSIONS: usize = 500;

/// A mailbox as its owner sees it: settings and health, never credentials.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MailboxView {
    pub id: MailboxId,
    pub kind: MailboxKind,
    pub address: String,
    pub display_name: Option<String>,
    pub list: ListId,
    pub excluded_domains: Vec<String>,
    pub status: MailboxStatus,
    pub status_reason: Option<String>,
    pub needs_attention: bool,
    /// While the source keeps failing to stay connected: since when (ms since the epoch)...
    pub reconnecting_since: Option<i64>,
    /// ...and why, as a fixed sentence (never the server's text).
    pub reconnecting_reason: Option<String>,
    /// Provider settings (host, port, security, username, folders); never a password.
    pub settings: serde_json::Value,
    /// Whether credentials are stored (they can be replaced, never read).
    pub has_credentials: bool,
    pub created_at: i64,
}

impl From<Mailbox> for MailboxView {
    fn from(m: Mailbox) -> Self {
        let (status, status_reason) = m.shown_status();
        let status_reason = status_reason.map(str::to_owned);
        MailboxView {
            id: m.id,
            kind: m.kind,
            address: m.address,
            display_name: m.display_name,
            list: m.target_list,
            excluded_domains: m.excluded_domains,
            needs_attention: !matches!(status, MailboxStatus::Ok | MailboxStatus::Paused),
            status,
            status_reason,
            reconnecting_since: m.reconnecting.as_ref().map(|r| r.since),
            reconnecting_reason: m.reconnecting.map(|r| r.reason),
            settings: m.settings,
            has_credentials: m.secret.is_some(),
            created_at: m.created_at,
        }
    }
}

/// The status view: health, counters, skip reasons and the last activity.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MailboxStatusView {
    pub id: MailboxId,
    pub status: MailboxStatus,
    pub status_reason: Option<String>,
    pub needs_attention: bool,
    /// See [`MailboxView::reconnecting_since`].
    pub reconnecting_since: Option<i64>,
    pub reconnecting_reason: Option<String>,
    pub counters: BTreeMap<String, i64>,
    pub skipped: BTreeMap<String, i64>,
    pub last_activity: Option<i64>,
}

/// What a user submits to link an IMAP mailbox (fields as typed; checked here).
#[derive(Default)]
pub struct LinkImap {
    pub list: Option<i64>,
    pub host: Option<String>,
    pub port: Option<i64>,
    /// `tls` (default), `starttls` or `plaintext` (loopback only, when the operator allows it).
    pub security: Option<String>,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    /// The mailbox's own address; default: the username when it is an address.
    pub address: Option<String>,
    pub name: Option<String>,
    pub folders: Vec<String>,
    pub backfill: Option<i64>,
    pub excluded_domains: Vec<String>,
    /// The certificate(s) of a private CA to trust instead of any other (PEM text); stored with
    /// the mailbox and used on every connection (see `sources::imap::trust`).
    pub ca_pem: Option<String>,
}

/// The mailbox of `id` if the actor owns it.
async fn owned(store: &Store, actor: Actor, id: MailboxId) -> ServiceResult<Mailbox> {
    let mailbox = store.get_mailbox(id).await?;
    if mailbox.owner != actor.user() {
        return Err(ServiceError::NotFound { what: "mailbox" });
    }
    Ok(mailbox)
}

pub async fn my_mailboxes(store: &Store, actor: Actor) -> ServiceResult<Vec<MailboxView>> {
    let filter = MailboxFilter {
        owner: Some(actor.user()),
        kind: None,
    };
    Ok(store
        .list_mailboxes(&filter)
        .await?
        .into_iter()
        .map(MailboxView::from)
        .collect())
}

pub async fn get_mailbox(store: &Store, actor: Actor, id: MailboxId) -> ServiceResult<MailboxView> {
    Ok(owned(store, actor, id).await?.into())
}

/// Checks the form, checks the server's addresses against the SSRF guard
/// ([`super::host_guard`]), tests the login against exactly those addresses, then stores the
/// mailbox with its password sealed by the vault. Nothing is stored when any step fails.
pub async fn link_imap(
    store: &Store,
    vault: &Vault,
    options: &ImapOptions,
    actor: Actor,
    form: LinkImap,
) -> ServiceResult<MailboxView> {
    // The list is checked first: a list the actor cannot see is "not found" whatever else
    // the form says.
    if let Some(list) = form.list.filter(|l| *l > 0) {
        require_role(store, actor, ListId(list), Role::Editor).await?;
    }
    let (settings, address, list) = check_link(&form, options)?;
    refuse_linked_twice(store, actor, &settings).await?;
    let Some(password) = form.password.filter(|p| !p.expose_secret().is_empty()) else {
        return Err(ServiceError::field(
            "password",
            FieldCode::Required,
            "is required",
        ));
    };
    let name = form
        .name
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_owned);
    let addrs = resolve_checked(&settings.host, settings.port, options).await?;
    let mailbox = test_seal_and_store(
        store,
        vault,
        options,
        Some(&addrs),
        actor.user(),
        LinkChecked {
            settings,
            address,
            name,
            list,
            excluded_domains: form.excluded_domains,
            password,
        },
    )
    .await?;
    audit(
        store,
        actor,
        AuditAction::MailboxAdd,
        AuditObject::Mailbox,
        Some(mailbox.id.0),
        Some("imap"),
    )
    .await?;
    Ok(mailbox.into())
}

/// Refuses an account the actor has already linked (same server and login, compared without
/// case): two watchers would read the same mail twice.
pub(super) async fn refuse_linked_twice(
    store: &Store,
    actor: Actor,
    settings: &ImapSettings,
) -> ServiceResult<()> {
    let filter = MailboxFilter {
        owner: Some(actor.user()),
        kind: Some(MailboxKind::Imap),
    };
    let linked = store.list_mailboxes(&filter).await?.into_iter().find(|m| {
        serde_json::from_value::<ImapSettings>(m.settings.clone()).is_ok_and(|s| {
            s.host.eq_ignore_ascii_case(&settings.host)
                && s.username.eq_ignore_ascii_case(&settings.username)
        })
    });
    match linked {
        Some(mailbox) => Err(ServiceError::field(
            "username",
            FieldCode::Text,
            format!(
                "account is already linked as the mailbox {}: open it from the dashboard to change it",
                mailbox.address
            ),
        )),
        None => Ok(()),
    }
}

/// A link request whose fields are valid.
pub struct LinkChecked {
    pub settings: ImapSettings,
    pub address: String,
    pub name: Option<String>,
    pub list: ListId,
    pub excluded_domains: Vec<String>,
    pub password: SecretString,
}

/// The operator links a mailbox for the user it acts as, from the host's command line. The
/// operator is trusted to point at internal hosts, so there is no SSRF guard and the mailbox is
/// stored as `operator_trusted` (see `sources::host_guard`); everything else is as for a user:
/// the list must be editable by the owner, the excluded domains are checked, the login is
/// tested, and the link is audited (as the operator's).
pub async fn link_imap_trusted(
    store: &Store,
    vault: &Vault,
    options: &ImapOptions,
    actor: Actor,
    mut link: LinkChecked,
) -> ServiceResult<MailboxView> {
    if !actor.is_operator() {
        return Err(ServiceError::Forbidden {
            action: "link a mailbox without the host check (operator only)",
        });
    }
    require_role(store, actor, link.list, Role::Editor).await?;
    let mut c = Checker::new();
    check_domains(&mut c, &link.excluded_domains);
    c.finish()?;
    link.settings.operator_trusted = true;
    let mailbox = test_seal_and_store(store, vault, options, None, actor.user(), link).await?;
    audit(
        store,
        actor,
        AuditAction::MailboxAdd,
        AuditObject::Mailbox,
        Some(mailbox.id.0),
        Some("imap"),
    )
    .await?;
    Ok(mailbox.into())
}

/// The one code path that stores an IMAP mailbox, under both ways of linking: test the login
/// (against `addrs` when the caller resolved and checked them, see
/// [`super::host_guard::resolve_checked`]), seal the password, store secret and mailbox, and
/// remove the secret again when the mailbox cannot be stored.
async fn test_seal_and_store(
    store: &Store,
    vault: &Vault,
    options: &ImapOptions,
    addrs: Option<&[SocketAddr]>,
    owner: crate::store::UserId,
    link: LinkChecked,
) -> ServiceResult<Mailbox> {
    link.settings.validate(options).map_err(link_error)?;
    match addrs {
        Some(addrs) => test_login_at(&link.settings, &link.password, options, addrs).await,
        None => test_login_with(&link.settings, &link.password, options).await,
    }
    .map_err(link_error)?;
    let key_version = current_key_version(store).await?;
    let secret = put_password(store, vault, key_version, &link.password).await?;
    let settings = serde_json::to_value(&link.settings)
        .map_err(|e| ServiceError::Internal(format!("serialise mailbox settings: {e}")))?;
    create_with_secret(
        store,
        NewMailbox {
            owner,
            kind: MailboxKind::Imap,
            address: link.address,
            display_name: link.name,
            target_list: link.list,
            excluded_domains: link.excluded_domains,
            settings,
            secret: None,
        },
        secret,
    )
    .await
}

/// Stores `mailbox` with its stored credential `secret`; when the mailbox cannot be stored,
/// removes the credential again, so no orphaned secret is left behind.
pub(super) async fn create_with_secret(
    store: &Store,
    mailbox: NewMailbox,
    secret: crate::store::SecretId,
) -> ServiceResult<Mailbox> {
    match store
        .create_mailbox(NewMailbox {
            secret: Some(secret),
            ..mailbox
        })
        .await
    {
        Ok(mailbox) => Ok(mailbox),
        Err(e) => {
            if let Err(cleanup) = store.delete_secret(secret).await {
                tracing::error!(error = %cleanup, "could not remove the credential of a mailbox that failed to link");
            }
            Err(e.into())
        }
    }
}

/// Seals an IMAP password for a new secret row and stores it.
async fn put_password(
    store: &Store,
    vault: &Vault,
    key_version: i64,
    password: &SecretString,
) -> ServiceResult<crate::store::SecretId> {
    store
        .put_secret_sealed_by(SecretKind::ImapPassword, key_version, |id| {
            vault
                .seal(
                    &crate::vault::Binding::secret(SecretKind::ImapPassword, id),
                    password.expose_secret().as_bytes(),
                )
                .map(crate::vault::SealedSecret::into_bytes)
                .map_err(|e| ServiceError::Internal(format!("seal the password: {e}")))
        })
        .await
}

/// The master-key generation that new records are sealed under (the highest in the store).
pub async fn current_key_version(store: &Store) -> ServiceResult<i64> {
    let secrets = store.all_secrets().await?;
    Ok(secrets.iter().map(|s| s.key_version).max().unwrap_or(1))
}

/// A refused login, a folder that cannot be opened or impossible settings are the user's to
/// fix (the reason is shown); an unreachable server is "unavailable".
pub(super) fn link_error(e: ImapError) -> ServiceError {
    let folder = e.kind() == crate::sources::imap::ImapErrorKind::FolderUnavailable;
    if e.is_transient() && !e.is_auth_failure() && !folder {
        ServiceError::Unavailable(e.to_string())
    } else {
        ServiceError::LinkFailed {
            reason: e.to_string(),
            auth: e.is_auth_failure(),
            tls_untrusted: e.kind() == crate::sources::imap::ImapErrorKind::TlsUntrusted,
            folder,
        }
    }
}

fn check_link(
    form: &LinkImap,
    options: &ImapOptions,
) -> ServiceResult<(ImapSettings, String, ListId)> {
    check_link_fields(form, options, true)
}

/// [`check_link`]'s checks; `password_required: false` for a link whose credential comes from
/// an OAuth sign-in instead.
pub(super) fn check_link_fields(
    form: &LinkImap,
    options: &ImapOptions,
    password_required: bool,
) -> ServiceResult<(ImapSettings, String, ListId)> {
    let mut c = Checker::new();
    let list = match form.list {
        None => {
            c.push("list", FieldCode::Required, "is required");
            None
        }
        Some(id) => c.number("list", Some(id), 1..=i64::MAX).map(ListId),
    };
    let host = c.text("host", form.host.as_deref(), 253);
    let security = match form
        .security
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
    {
        None => Some("tls"),
        Some(s) => c.choice("security", Some(s), &["tls", "starttls", "plaintext"]),
    };
    let port = c.number("port", form.port, 1..=65535);
    let username = c.text("username", form.username.as_deref(), 320);
    if password_required
        && form
            .password
            .as_ref()
            .is_none_or(|p| p.expose_secret().is_empty())
    {
        c.push("password", FieldCode::Required, "is required");
    }
    let address = match form
        .address
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        Some(a) => c.email("address", Some(a)),
        None => match username.as_deref() {
            Some(u) if u.contains('@') => c.email("address", Some(u)),
            Some(_) => {
                c.push(
                    "address",
                    FieldCode::Required,
                    "is required when the username is not an e-mail address",
                );
                None
            }
            None => None,
        },
    };
    c.optional_text("name", form.name.as_deref(), 200);
    let ca_pem = check_ca_pem(&mut c, form.ca_pem.as_deref());
    let backfill = c.number("backfill", form.backfill, 0..=10_000);
    if form.folders.len() > options.max_folders_per_mailbox {
        c.push(
            "folders",
            FieldCode::Number,
            format!(
                "holds more than {} folders (imap.max_folders_per_mailbox)",
                options.max_folders_per_mailbox
            ),
        );
    }
    for (i, folder) in form
        .folders
        .iter()
        .enumerate()
        .take(options.max_folders_per_mailbox)
    {
        if folder.trim().is_empty()
            || folder.contains(['\r', '\n', '"'])
            || folder.chars().count() > 200
        {
            c.push(
                &format!("folders[{i}]"),
                FieldCode::Text,
                "is empty or contains a quote or line break",
            );
        }
    }
    check_domains(&mut c, &form.excluded_domains);
    c.finish()?;
    let (Some(list), Some(host), Some(security), Some(username), Some(address)) =
        (list, host, security, username, address)
    else {
        return Err(ServiceError::Internal("checked fields missing".into()));
    };
    let security = TlsMode::from_form_name(security).unwrap_or(TlsMode::ImplicitTls);
    let settings = ImapSettings {
        host,
        port: port
            .and_then(|p| u16::try_from(p).ok())
            .unwrap_or(security.default_port(MailProtocol::Imap)),
        security,
        username,
        folders: form.folders.iter().map(|f| f.trim().to_owned()).collect(),
        // A user cannot name a file on the server: a private CA comes as text.
        ca_file: None,
        ca_pem,
        backfill: backfill.and_then(|b| u32::try_from(b).ok()).unwrap_or(0),
        // A user linked it: every connection is checked (see `sources::host_guard`).
        operator_trusted: false,
    };
    if let Err(e) = settings.validate(options) {
        return Err(ServiceError::field(
            "security",
            FieldCode::Choice,
            e.to_string(),
        ));
    }
    Ok((settings, address, list))
}

/// A CA given when linking: empty means none; otherwise PEM certificates usable as trust
/// anchors (the text itself is never repeated in the error).
fn check_ca_pem(c: &mut Checker, pem: Option<&str>) -> Option<String> {
    let pem = pem.map(str::trim).filter(|p| !p.is_empty())?;
    match crate::sources::imap::trust::parse_ca_pem(pem.as_bytes()) {
        // Stored as one text with plain line ends, whatever the form or client sent.
        Ok(_) => Some(format!("{}\n", pem.replace("\r\n", "\n"))),
        Err(e) => {
            c.push("ca_pem", FieldCode::Text, e.to_string());
            None
        }
    }
}

pub(super) fn check_domains(c: &mut Checker, domains: &[String]) {
    if domains.len() > MAX_EXCLUSIONS {
        c.push(
            "excluded_domains",
            FieldCode::Number,
            format!("at most {MAX_EXCLUSIONS} domains"),
        );
    }
    for (i, d) in domains.iter().enumerate() {
        let d = d.trim().trim_start_matches('@');
        let ok = !d.is_empty()
            && d.len() <= 253
            && d.contains('.')
            && d.chars()
                .all(|ch| ch.is_alphanumeric() || ch == '.' || ch == '-');
        if !ok {
            c.push(
                &format!("excluded_domains[{i}]"),
                FieldCode::Text,
                "is not a domain name",
            );
        }
    }
}

/// New credentials for an IMAP mailbox (after a password change, or when it needs attention):
/// the login is tested with the stored settings first; then the new sealed password replaces
/// the old one, which is wiped, and the mailbox is retried.
pub async fn replace_password(
    store: &Store,
    vault: &Vault,
    options: &ImapOptions,
    actor: Actor,
    id: MailboxId,
    password: Option<SecretString>,
) -> ServiceResult<MailboxView> {
    let mailbox = owned(store, actor, id).await?;
    if mailbox.kind != MailboxKind::Imap {
        return Err(ServiceError::field(
            "password",
            FieldCode::Choice,
            "only IMAP mailboxes have a password",
        ));
    }
    let Some(password) = password.filter(|p| !p.expose_secret().is_empty()) else {
        return Err(ServiceError::field(
            "password",
            FieldCode::Required,
            "is required",
        ));
    };
    let settings: ImapSettings = serde_json::from_value(mailbox.settings).map_err(|e| {
        ServiceError::Internal(format!("stored IMAP settings of mailbox {}: {e}", id.0))
    })?;
    // The stored host may have been re-pointed in DNS since it was linked: check it again.
    let addrs = resolve_checked(&settings.host, settings.port, options).await?;
    test_login_at(&settings, &password, options, &addrs)
        .await
        .map_err(link_error)?;
    let key_version = current_key_version(store).await?;
    let secret = put_password(store, vault, key_version, &password).await?;
    if let Err(e) = store.set_mailbox_secret(id, secret).await {
        if let Err(cleanup) = store.delete_secret(secret).await {
            tracing::error!(error = %cleanup, "could not remove a password that was not attached to its mailbox");
        }
        return Err(e.into());
    }
    audit(
        store,
        actor,
        AuditAction::MailboxRecredential,
        AuditObject::Mailbox,
        Some(id.0),
        None,
    )
    .await?;
    get_mailbox(store, actor, id).await
}

/// Stops the watching of the actor's own mailbox until it is resumed: the sources stop it at
/// once (this process) or at their next reconcile (another replica). Nothing is read meanwhile;
/// resuming starts from where it stopped (the IMAP cursor, the Graph delta link), so mail that
/// arrived while it was paused is read then. Pausing a paused mailbox changes nothing.
pub async fn pause(
    store: &Store,
    changed: &MailboxesChanged,
    actor: Actor,
    id: MailboxId,
) -> ServiceResult<MailboxView> {
    set_paused(store, changed, actor, id, true).await
}

/// Resumes a paused mailbox of the actor's: watched again at once, from where it stopped.
pub async fn resume(
    store: &Store,
    changed: &MailboxesChanged,
    actor: Actor,
    id: MailboxId,
) -> ServiceResult<MailboxView> {
    set_paused(store, changed, actor, id, false).await
}

async fn set_paused(
    store: &Store,
    changed: &MailboxesChanged,
    actor: Actor,
    id: MailboxId,
    paused: bool,
) -> ServiceResult<MailboxView> {
    owned(store, actor, id).await?;
    if store.set_mailbox_paused(id, paused).await? {
        let action = if paused {
            AuditAction::MailboxPause
        } else {
            AuditAction::MailboxResume
        };
        audit(store, actor, action, AuditObject::Mailbox, Some(id.0), None).await?;
        changed.notify();
    }
    get_mailbox(store, actor, id).await
}

/// The mailbox of `id` if the actor owns it, or owns the list it delivers into: a list's
/// owner can stop any mailbox that feeds the list, also one of a member whose share ended.
async fn owned_or_feeding_my_list(
    store: &Store,
    actor: Actor,
    id: MailboxId,
) -> ServiceResult<Mailbox> {
    let mailbox = store.get_mailbox(id).await?;
    if mailbox.owner == actor.user() {
        return Ok(mailbox);
    }
    match store.role_of(actor.user(), mailbox.target_list).await? {
        Some(Role::Owner) => Ok(mailbox),
        _ => Err(ServiceError::NotFound { what: "mailbox" }),
    }
}

/// Unlinks the mailbox and wipes its secrets at once (its owner, or the owner of the list it
/// delivers into). IMAP: the stored password goes in the
/// same transaction as the removal. Microsoft 365: the running task stops, the subscriptions
/// are deleted at Graph (best effort, within a time budget: an unreachable Graph is logged and
/// counted, and does not keep the rest from happening), the tokens and clientStates are wiped
/// and the webhook forgets the subscriptions (see [`GraphUnlinker`]).
/// Starts linking a Microsoft 365 mailbox into `list`: the actor must be able to edit the list.
/// Returns the consent URL the mailbox owner opens; the daemon's OAuth callback completes the
/// link in a browser signed in as that user. The pages, the API and the CLI all start here, so
/// the role check and the audit entry are the same for each. Authorization comes first: without
/// `[graph]` (`graph` is `None`) an actor who may edit the list learns that Microsoft 365 is not
/// configured, anyone else only what their role allows.
pub async fn start_microsoft_link(
    store: &Store,
    vault: &Vault,
    graph: Option<&crate::sources::graph::GraphConfig>,
    actor: Actor,
    list: ListId,
    origin: crate::sources::graph::LinkOrigin,
) -> ServiceResult<url::Url> {
    start_microsoft_link_for(
        store,
        vault,
        graph,
        actor,
        list,
        origin,
        crate::sources::graph::Consent::Mail,
    )
    .await
}

/// [`start_microsoft_link`] asking for the scopes of `consent`: mail and contacts for a list
/// that writes to Outlook contacts.
pub async fn start_microsoft_link_for(
    store: &Store,
    vault: &Vault,
    graph: Option<&crate::sources::graph::GraphConfig>,
    actor: Actor,
    list: ListId,
    origin: crate::sources::graph::LinkOrigin,
    consent: crate::sources::graph::Consent,
) -> ServiceResult<url::Url> {
    use crate::sources::graph::{LinkError, start_linking_for};
    require_role(store, actor, list, Role::Editor).await?;
    let Some(graph) = graph else {
        return Err(ServiceError::Unavailable(
            "Microsoft 365 is not configured".into(),
        ));
    };
    let url = start_linking_for(store, vault, graph, actor.user(), list, origin, consent)
        .await
        .map_err(|e| match e {
            LinkError::ListNotEditable => ServiceError::Forbidden {
                action: "link a mailbox to this list",
            },
            LinkError::Store(e) => ServiceError::from(e),
            other => {
                tracing::warn!(error = %other, "microsoft 365 linking could not start");
                ServiceError::Unavailable("the Microsoft 365 linking could not start".into())
            }
        })?;
    audit(
        store,
        actor,
        AuditAction::MailboxLinkMicrosoftStart,
        AuditObject::List,
        Some(list.0),
        None,
    )
    .await?;
    Ok(url)
}

pub async fn unlink(
    store: &Store,
    graph: &GraphUnlinker,
    actor: Actor,
    id: MailboxId,
) -> ServiceResult<()> {
    let mailbox = owned_or_feeding_my_list(store, actor, id).await?;
    match mailbox.kind {
        MailboxKind::Graph => graph.unlink(store, id).await.map_err(|e| match e {
            crate::sources::graph::LinkError::Store(e) => ServiceError::from(e),
            other => ServiceError::Internal(format!("unlink microsoft 365 mailbox: {other}")),
        })?,
        _ => store.soft_remove_mailbox(id).await?,
    }
    audit(
        store,
        actor,
        AuditAction::MailboxRemove,
        AuditObject::Mailbox,
        Some(id.0),
        None,
    )
    .await?;
    Ok(())
}

/// Replaces the excluded sender domains.
pub async fn set_exclusions(
    store: &Store,
    actor: Actor,
    id: MailboxId,
    domains: &[String],
) -> ServiceResult<MailboxView> {
    owned(store, actor, id).await?;
    let mut c = Checker::new();
    check_domains(&mut c, domains);
    c.finish()?;
    let domains: Vec<String> = domains
        .iter()
        .map(|d| d.trim().trim_start_matches('@').to_lowercase())
        .collect();
    store.set_exclusions(id, &domains).await?;
    audit(
        store,
        actor,
        AuditAction::MailboxExclude,
        AuditObject::Mailbox,
        Some(id.0),
        None,
    )
    .await?;
    get_mailbox(store, actor, id).await
}

/// Points the mailbox's suggestions at another list the actor may edit.
pub async fn set_list(
    store: &Store,
    actor: Actor,
    id: MailboxId,
    list: ListId,
) -> ServiceResult<MailboxView> {
    owned(store, actor, id).await?;
    require_role(store, actor, list, Role::Editor).await?;
    store.set_target_list(id, list).await?;
    audit(
        store,
        actor,
        AuditAction::MailboxSetList,
        AuditObject::Mailbox,
        Some(id.0),
        None,
    )
    .await?;
    get_mailbox(store, actor, id).await
}

pub async fn status(
    store: &Store,
    actor: Actor,
    id: MailboxId,
) -> ServiceResult<MailboxStatusView> {
    let mailbox = owned(store, actor, id).await?;
    let stats = store.mailbox_stats(id).await?;
    let (status, status_reason) = mailbox.shown_status();
    let status_reason = status_reason.map(str::to_owned);
    Ok(MailboxStatusView {
        id,
        needs_attention: !matches!(status, MailboxStatus::Ok | MailboxStatus::Paused),
        status,
        status_reason,
        reconnecting_since: mailbox.reconnecting.as_ref().map(|r| r.since),
        reconnecting_reason: mailbox.reconnecting.map(|r| r.reason),
        counters: stats.counters,
        skipped: stats.skipped,
        last_activity: stats.last_activity,
    })
}
