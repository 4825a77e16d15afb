//! Linking an IMAP mailbox that signs in with OAuth 2.0 instead of a password (Exchange Online,
//! Gmail, any server taking XOAUTH2 or OAUTHBEARER): the tokens a completed authorization gave
//! are tested with one AUTHENTICATE, sealed as one vault record (the provider's name inside),
//! and stored with the mailbox; the running IMAP source refreshes them from there.
//!
//! Only the operator's path exists here (the command line, which runs the authorization itself
//! on a loopback redirect); it has no SSRF guard, like the operator's password linking.

use crate::domain::{AuditAction, AuditObject};
use crate::sources::imap::connect::{Credential, test_credential};
use crate::sources::imap::{ImapOptions, ImapSettings};
use crate::sources::oauth::BearerTokens;
use crate::store::{ListId, MailboxKind, NewMailbox, Role, SecretKind, Store};
use crate::vault::Vault;

use super::mailboxes::{MailboxView, check_domains, current_key_version, link_error};
use super::validate::Checker;
use super::{Actor, ServiceError, ServiceResult, audit, require_role};

/// An OAuth link whose fields are valid and whose authorization completed.
pub struct LinkOAuth {
    pub settings: ImapSettings,
    pub address: String,
    pub name: Option<String>,
    pub list: ListId,
    pub excluded_domains: Vec<String>,
    pub tokens: BearerTokens,
}

/// The operator links an OAuth mailbox for the user it acts as: the list must be editable by
/// the owner, the access token must open every folder, and the link is audited.
pub async fn link_imap_oauth_trusted(
    store: &Store,
    vault: &Vault,
    options: &ImapOptions,
    actor: Actor,
    mut link: LinkOAuth,
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
    link.settings.validate(options).map_err(link_error)?;
    test_credential(
        &link.settings,
        Credential::Bearer(&link.tokens.access_token),
        options,
    )
    .await
    .map_err(link_error)?;
    let key_version = current_key_version(store).await?;
    let secret = store
        .put_secret_sealed_by(SecretKind::OauthTokens, key_version, |id| {
            link.tokens
                .seal(vault, id)
                .map(crate::vault::SealedSecret::into_bytes)
                .map_err(|e| ServiceError::Internal(format!("seal the tokens: {e}")))
        })
        .await?;
    let settings = serde_json::to_value(&link.settings)
        .map_err(|e| ServiceError::Internal(format!("serialise mailbox settings: {e}")))?;
    let created = store
        .create_mailbox(NewMailbox {
            owner: actor.user(),
            kind: MailboxKind::Imap,
            address: link.address,
            display_name: link.name,
            target_list: link.list,
            excluded_domains: link.excluded_domains,
            settings,
            secret: Some(secret),
        })
        .await;
    let mailbox = match created {
        Ok(mailbox) => mailbox,
        Err(e) => {
            // Do not leave orphaned tokens behind.
            if let Err(cleanup) = store.delete_secret(secret).await {
                tracing::error!(error = %cleanup, "could not remove the tokens of a mailbox that failed to link");
            }
            return Err(e.into());
        }
    };
    audit(
        store,
        actor,
        AuditAction::MailboxAdd,
        AuditObject::Mailbox,
        Some(mailbox.id.0),
        Some("imap-oauth"),
    )
    .await?;
    Ok(mailbox.into())
}
