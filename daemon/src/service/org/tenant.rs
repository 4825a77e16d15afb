//! The organisation's Microsoft 365 tenant, rolled out without each person's consent screen: an
//! org admin grants the app's application permissions once for the organisation (admin
//! consent), then links mail-enabled groups; every member's mailbox is linked app-only (read
//! with the app's own tokens, `Mail.Read` application permission), owned by the member's mailsig
//! account (made when missing: they sign in with SSO) and delivering into a list of theirs.
//!
//! Membership is followed with Graph's delta on the group's members ([`follow_memberships`], on
//! a timer, one replica per group by a claim on its row): a member who joins gets a mailbox, one
//! who leaves has it unlinked and wiped (the Graph unlinker: task stopped, subscriptions deleted,
//! clientStates, jobs and delta links wiped); their account and lists stay. The person sees the
//! mailbox on their pages like any other; they cannot re-consent it.
//!
//! Every change is audited here: the consent and group links with the admin as actor, what a
//! membership round does with the operator as actor and `group membership` as detail.

use std::time::Duration;

use crate::domain::{AuditAction, AuditObject};
use crate::sources::graph::client::Me;
use crate::sources::graph::config::{APP_ONLY_SCOPE, GraphConfig};
use crate::sources::graph::oauth::{issue_state, state_hash, state_is_ours};
use crate::sources::graph::{
    Access, GraphApi, GraphError, GraphSettings, GraphSource, GraphUnlinker, LinkError,
};
use crate::store::{
    Mailbox, MailboxFilter, MailboxKind, NewMailbox, Store, TenantGrant, TenantGroup,
    TenantGroupId, TenantUser, UserId,
};
use crate::vault::Vault;

use super::super::validate::FieldCode;
use super::super::{ServiceError, ServiceResult, audit};
use super::AdminActor;

/// How long an admin consent waits for the administrator at Microsoft.
pub const ADMIN_CONSENT_TTL: Duration = Duration::from_secs(15 * 60);
/// The audit detail of what a membership round does.
const MEMBERSHIP: &str = "group membership";
/// The name of the list made for a member who owns none.
const DEFAULT_LIST_NAME: &str = "Contacts";
/// A membership round links and unlinks as the operator.
const MEMBERSHIP_ROUND: Linker = Linker {
    actor: AdminActor::operator(),
    detail: MEMBERSHIP,
};

/// The tenant as an admin sees it.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct TenantOverview {
    /// The admin consent, when one was given.
    pub grant: Option<TenantGrant>,
    pub groups: Vec<LinkedGroup>,
    /// The people chosen one by one (`tenant_users`).
    pub users: Vec<TenantUser>,
}

/// A linked group and how many of its members have a mailbox linked.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LinkedGroup {
    #[serde(flatten)]
    pub group: TenantGroup,
    pub members: usize,
}

/// The admin consent, the linked groups and the chosen users.
pub async fn overview(store: &Store, _admin: AdminActor) -> ServiceResult<TenantOverview> {
    let grant = store.tenant_grant().await?;
    let mut groups = Vec::new();
    for group in store.tenant_groups().await? {
        let members = store.tenant_members(group.id).await?.len();
        groups.push(LinkedGroup { group, members });
    }
    let users = store.tenant_users().await?;
    Ok(TenantOverview {
        grant,
        groups,
        users,
    })
}

/// Starts an admin consent in the admin's browser session `session`: returns the URL of
/// Microsoft's admin-consent page. The `state` is single-use, expires after
/// [`ADMIN_CONSENT_TTL`] and completes only in the same session.
pub async fn start_admin_consent(
    store: &Store,
    vault: &Vault,
    config: &GraphConfig,
    admin: AdminActor,
    session: i64,
) -> ServiceResult<url::Url> {
    let Some(user) = admin.user() else {
        return Err(ServiceError::Forbidden {
            action: "grant admin consent without a browser session",
        });
    };
    let state = issue_state(vault).map_err(internal)?;
    store
        .put_admin_consent_state(&state_hash(&state), user, session, ADMIN_CONSENT_TTL)
        .await?;
    let mut url = url::Url::parse(&config.admin_consent_endpoint())
        .map_err(|e| ServiceError::Internal(format!("admin consent url: {e}")))?;
    url.query_pairs_mut()
        .append_pair("client_id", &config.client_id)
        .append_pair("scope", APP_ONLY_SCOPE)
        .append_pair("redirect_uri", &config.admin_consent_redirect_uri())
        .append_pair("state", &state);
    Ok(url)
}

/// What Microsoft's admin-consent page sent back.
pub enum AdminConsentAnswer<'a> {
    Granted {
        tenant: &'a str,
    },
    /// `error` is the OAuth error code (the description is never kept or logged).
    Refused {
        error: &'a str,
    },
}

/// Why an admin consent did not complete.
#[derive(Debug, thiserror::Error)]
pub enum AdminConsentError {
    #[error("unknown, used or expired admin consent")]
    UnknownState,
    #[error("the admin consent came back in another session")]
    WrongSession,
    #[error("the administrator did not grant access ({0})")]
    Refused(String),
    #[error("the tenant id is not a tenant id")]
    BadTenant,
    #[error(transparent)]
    Service(#[from] ServiceError),
}

impl From<crate::store::Error> for AdminConsentError {
    fn from(e: crate::store::Error) -> Self {
        AdminConsentError::Service(e.into())
    }
}

/// Completes an admin consent: the state must be this daemon's, unused, unexpired and come back
/// in the session that started it (`session`: the browser's, if signed in). A grant is stored
/// (replacing an earlier one) and audited as `tenant.consent`.
pub async fn complete_admin_consent(
    store: &Store,
    vault: &Vault,
    state: &str,
    session: Option<i64>,
    answer: AdminConsentAnswer<'_>,
) -> Result<TenantGrant, AdminConsentError> {
    if !state_is_ours(vault, state) {
        return Err(AdminConsentError::UnknownState);
    }
    let pending = match store.take_admin_consent_state(&state_hash(state)).await {
        Ok(pending) => pending,
        Err(e) if e.is_not_found() => return Err(AdminConsentError::UnknownState),
        Err(e) => return Err(e.into()),
    };
    if session != Some(pending.session) {
        return Err(AdminConsentError::WrongSession);
    }
    // The admin may have lost the role meanwhile.
    let admin = super::require_admin(store, crate::service::Actor::signed_in(pending.user)).await?;
    let tenant = match answer {
        AdminConsentAnswer::Refused { error } => {
            return Err(AdminConsentError::Refused(error.to_owned()));
        }
        AdminConsentAnswer::Granted { tenant } => tenant,
    };
    if tenant.is_empty()
        || tenant.len() > 64
        || !tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        return Err(AdminConsentError::BadTenant);
    }
    store.set_tenant_grant(tenant, admin.user()).await?;
    audit(
        store,
        admin.actor(),
        AuditAction::TenantConsent,
        AuditObject::Tenant,
        None,
        None,
    )
    .await?;
    tracing::info!("microsoft 365 admin consent recorded for the organisation");
    store
        .tenant_grant()
        .await?
        .ok_or(AdminConsentError::Service(ServiceError::Internal(
            "admin consent not stored".into(),
        )))
}

/// Links a mail-enabled group, named by its id or its e-mail address, resolved at Graph with
/// the app's tokens. Its members are linked at the next membership round (started at once by
/// the caller if it wants). Audited as `tenant.group_link`.
pub async fn link_group(
    store: &Store,
    source: &GraphSource,
    admin: AdminActor,
    key: &str,
) -> ServiceResult<TenantGroup> {
    let key = key.trim();
    if key.is_empty() || key.len() > 320 {
        return Err(ServiceError::field(
            "group",
            FieldCode::Required,
            "give the group's e-mail address or id",
        ));
    }
    if store.tenant_grant().await?.is_none() {
        return Err(ServiceError::InUse {
            message: "grant access for the organisation first (admin consent)".into(),
        });
    }
    let directory = source.directory().map_err(graph_error)?;
    let found = if key.contains('@') {
        directory.group_by_mail(key).await.map_err(graph_error)?
    } else {
        match directory.group(key).await {
            Ok(group) => Some(group),
            Err(e) if e.is_not_found() => None,
            Err(e) => return Err(graph_error(e)),
        }
    };
    let Some(group) = found else {
        return Err(ServiceError::field(
            "group",
            FieldCode::Choice,
            "no such group in the organisation's tenant",
        ));
    };
    let linked = store
        .add_tenant_group(
            &group.id,
            group.display_name.as_deref(),
            group.mail.as_deref(),
            admin.user(),
        )
        .await?;
    audit(
        store,
        admin.actor(),
        AuditAction::TenantGroupLink,
        AuditObject::TenantGroup,
        Some(linked.id.0),
        None,
    )
    .await?;
    Ok(linked)
}

/// Unlinks a group: the mailboxes linked for its members (and for no other linked group) are
/// unlinked and wiped. Audited as `tenant.group_unlink`.
pub async fn unlink_group(
    store: &Store,
    unlinker: &GraphUnlinker,
    admin: AdminActor,
    group: TenantGroupId,
) -> ServiceResult<()> {
    let members = store.tenant_members(group).await?;
    store.remove_tenant_group(group).await?;
    for member in members {
        release_mailbox(store, unlinker, member.mailbox, MEMBERSHIP_ROUND).await?;
    }
    audit(
        store,
        admin.actor(),
        AuditAction::TenantGroupUnlink,
        AuditObject::TenantGroup,
        Some(group.0),
        None,
    )
    .await
}

/// What one membership round did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MembershipRound {
    pub groups: usize,
    pub linked: usize,
    pub unlinked: usize,
}

/// One membership round over every linked group this replica can claim: the delta on the
/// group's members since its deltaLink (every member in a first round, which also unlinks
/// members no longer there); joiners linked, leavers unlinked; the new deltaLink stored last,
/// so a round that fails part-way is repeated from the same point (linking is idempotent).
pub async fn follow_memberships(
    store: &Store,
    source: &GraphSource,
    unlinker: &GraphUnlinker,
    replica: &str,
    claim_for: Duration,
) -> ServiceResult<MembershipRound> {
    let mut round = MembershipRound::default();
    if store.tenant_grant().await?.is_none() {
        return Ok(round);
    }
    for group in store.tenant_groups().await? {
        if !store
            .claim_tenant_group(group.id, replica, claim_for)
            .await?
        {
            continue;
        }
        let result = follow_group(store, source, unlinker, &group, &mut round).await;
        store.release_tenant_group(group.id, replica).await?;
        result?;
        round.groups += 1;
    }
    Ok(round)
}

async fn follow_group(
    store: &Store,
    source: &GraphSource,
    unlinker: &GraphUnlinker,
    group: &TenantGroup,
    round: &mut MembershipRound,
) -> ServiceResult<()> {
    let directory = source.directory().map_err(graph_error)?;
    let changes = read_member_changes(&directory, group).await?;
    let known: Vec<String> = store
        .tenant_members(group.id)
        .await?
        .into_iter()
        .map(|m| m.graph_user_id)
        .collect();
    let left: Vec<&String> = if changes.full {
        // Not in the full list: gone while nobody looked.
        known
            .iter()
            .filter(|k| !changes.joined.contains(k))
            .collect()
    } else {
        changes.left.iter().collect()
    };
    for graph_user in left {
        if let Some(mailbox) = store.remove_tenant_member(group.id, graph_user).await?
            && release_mailbox(store, unlinker, mailbox, MEMBERSHIP_ROUND).await?
        {
            round.unlinked += 1;
        }
    }
    for graph_user in changes.joined.iter().filter(|j| !known.contains(j)) {
        if link_member(store, source, &directory, group, graph_user).await? {
            round.linked += 1;
        }
    }
    store
        .set_tenant_group_delta(group.id, &changes.delta_link)
        .await?;
    Ok(())
}

/// What one delta round on a group's members said.
struct MemberChanges {
    joined: Vec<String>,
    left: Vec<String>,
    /// A first round (or one after Graph forgot the sync state): `joined` is every member.
    full: bool,
    delta_link: String,
}

/// The members who joined and left since the group's deltaLink, and the next deltaLink.
async fn read_member_changes(
    directory: &GraphApi,
    group: &TenantGroup,
) -> ServiceResult<MemberChanges> {
    let mut link = group.delta_link.clone();
    let mut full = link.is_none();
    let mut joined = Vec::new();
    let mut left = Vec::new();
    loop {
        let page = match directory
            .member_delta_page(&group.group_id, link.as_deref())
            .await
        {
            Ok(page) => page,
            // The sync state expired: start over with a full round.
            Err(GraphError::Status { status: 410, .. }) if !full => {
                full = true;
                link = None;
                joined.clear();
                left.clear();
                continue;
            }
            Err(e) => return Err(graph_error(e)),
        };
        joined.extend(page.joined);
        left.extend(page.left);
        if let Some(next) = page.next_link {
            link = Some(next);
            continue;
        }
        let Some(delta_link) = page.delta_link else {
            return Err(ServiceError::Unavailable(
                "graph members delta ended without a deltaLink".into(),
            ));
        };
        // A member who left and came back within the round counts as a member.
        left.retain(|l| !joined.contains(l));
        return Ok(MemberChanges {
            joined,
            left,
            full,
            delta_link,
        });
    }
}

/// Links the mailbox of the group's member `graph_user` (see the module docs). Returns whether a
/// mailbox was linked (a member without a mail address, or with a disabled account, is not).
async fn link_member(
    store: &Store,
    source: &GraphSource,
    directory: &GraphApi,
    group: &TenantGroup,
    graph_user: &str,
) -> ServiceResult<bool> {
    if let Some(mailbox) = app_only_mailbox_of(store, graph_user).await? {
        // Already linked through another group or as a chosen user: this group counts it too.
        store
            .add_tenant_member(group.id, graph_user, mailbox.id)
            .await?;
        return Ok(false);
    }
    let person = match directory.user(graph_user).await {
        Ok(person) => person,
        Err(e) if e.is_not_found() => return Ok(false),
        Err(e) => return Err(graph_error(e)),
    };
    match link_mailbox(store, source, &person, MEMBERSHIP_ROUND).await? {
        Ok(mailbox) => {
            store
                .add_tenant_member(group.id, graph_user, mailbox.id)
                .await?;
            tracing::info!(mailbox = %mailbox.id, group = %group.id, "graph mailbox linked app-only for a group member");
            Ok(true)
        }
        Err(NotLinked::NoAddress) => {
            tracing::info!(group = %group.id, "group member without a mail address left out");
            Ok(false)
        }
        Err(NotLinked::Disabled(owner)) => {
            tracing::info!(group = %group.id, user = %owner, "group member with a disabled account left out");
            Ok(false)
        }
    }
}

/// Who links or unlinks a mailbox of the tenant, as the audit log names it: the operator with
/// `group membership` for a membership round, the admin with `chosen user` for a chosen user.
#[derive(Clone, Copy)]
pub(super) struct Linker {
    pub actor: AdminActor,
    pub detail: &'static str,
}

/// Why a person's mailbox was not linked.
pub(super) enum NotLinked {
    /// Graph knows no mail address for them.
    NoAddress,
    /// Their mailsig account is disabled.
    Disabled(UserId),
}

/// Links the mailbox of the tenant's `person` app-only, exactly as for a joining group member:
/// owned by the mailsig account with their address (made when missing), delivering into that
/// account's first list (made when missing). The caller records who counts the mailbox.
pub(super) async fn link_mailbox(
    store: &Store,
    source: &GraphSource,
    person: &Me,
    linker: Linker,
) -> ServiceResult<Result<Mailbox, NotLinked>> {
    let Some(address) = person.address().map(str::to_owned) else {
        return Ok(Err(NotLinked::NoAddress));
    };
    let actor = linker.actor.actor();
    let owner = match store.user_by_email(&address).await {
        Ok(user) => user.id,
        Err(e) if e.is_not_found() => {
            let user = store
                .create_user(&address, person.display_name.as_deref())
                .await?;
            audit(
                store,
                actor,
                AuditAction::UserCreate,
                AuditObject::User,
                Some(user.id.0),
                Some(linker.detail),
            )
            .await?;
            user.id
        }
        Err(e) => return Err(e.into()),
    };
    if store.org_member(owner).await?.disabled_at.is_some() {
        return Ok(Err(NotLinked::Disabled(owner)));
    }
    let list = default_list(store, owner, linker).await?;
    let settings = GraphSettings {
        user_id: person.id.clone(),
        folders: source.config().folders.clone(),
        access: Access::AppOnly,
    };
    let mailbox = store
        .create_mailbox(NewMailbox {
            owner,
            kind: MailboxKind::Graph,
            address,
            display_name: person.display_name.clone(),
            target_list: list,
            excluded_domains: Vec::new(),
            settings: settings.to_json(),
            secret: None,
        })
        .await?;
    audit(
        store,
        actor,
        AuditAction::MailboxAdd,
        AuditObject::Mailbox,
        Some(mailbox.id.0),
        Some(linker.detail),
    )
    .await?;
    Ok(Ok(mailbox))
}

/// The person's first list, or a new one.
async fn default_list(
    store: &Store,
    owner: UserId,
    linker: Linker,
) -> ServiceResult<crate::store::ListId> {
    if let Some(list) = store.lists_owned_by(owner).await?.first() {
        return Ok(*list);
    }
    let list = store.create_list(owner, DEFAULT_LIST_NAME).await?;
    audit(
        store,
        linker.actor.actor(),
        AuditAction::ListCreate,
        AuditObject::List,
        Some(list.id.0),
        Some(linker.detail),
    )
    .await?;
    Ok(list.id)
}

/// The active app-only mailbox of the Graph user, if one is linked.
pub(super) async fn app_only_mailbox_of(
    store: &Store,
    graph_user: &str,
) -> ServiceResult<Option<Mailbox>> {
    let filter = MailboxFilter {
        owner: None,
        kind: Some(MailboxKind::Graph),
    };
    Ok(store.list_mailboxes(&filter).await?.into_iter().find(|m| {
        GraphSettings::from_json(&m.settings)
            .is_ok_and(|s| s.access == Access::AppOnly && s.user_id == graph_user)
    }))
}

/// Unlinks `mailbox` unless a linked group or a chosen user still counts it; returns whether it
/// did.
pub(super) async fn release_mailbox(
    store: &Store,
    unlinker: &GraphUnlinker,
    mailbox: crate::store::MailboxId,
    linker: Linker,
) -> ServiceResult<bool> {
    if store.tenant_member_references(mailbox).await? > 0 {
        return Ok(false);
    }
    match unlinker.unlink(store, mailbox).await {
        Ok(()) => {}
        // Unlinked meanwhile (by its owner, or an offboarding).
        Err(LinkError::Store(e)) if e.is_not_found() => return Ok(false),
        Err(LinkError::Store(e)) => return Err(e.into()),
        Err(other) => {
            return Err(ServiceError::Internal(format!(
                "unlink microsoft 365 mailbox: {other}"
            )));
        }
    }
    audit(
        store,
        linker.actor.actor(),
        AuditAction::MailboxRemove,
        AuditObject::Mailbox,
        Some(mailbox.0),
        Some(linker.detail),
    )
    .await?;
    tracing::info!(mailbox = %mailbox, reason = linker.detail, "app-only graph mailbox unlinked");
    Ok(true)
}

pub(super) fn graph_error(error: GraphError) -> ServiceError {
    match error {
        GraphError::NoTenantGrant => ServiceError::InUse {
            message: "grant access for the organisation first (admin consent)".into(),
        },
        GraphError::Store(e) => e.into(),
        e if e.is_transient() => ServiceError::Unavailable(format!("microsoft graph: {e}")),
        GraphError::Status {
            status: 401 | 403, ..
        } => ServiceError::Unavailable(
            "microsoft graph refused the app's access: check the admin consent and the application permissions"
                .into(),
        ),
        e => ServiceError::Internal(format!("microsoft graph: {e}")),
    }
}

fn internal(error: GraphError) -> ServiceError {
    ServiceError::Internal(error.to_string())
}
