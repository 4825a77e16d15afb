//! A list owner's outgoing webhooks: add one (URL, secret, events), list them, remove one, read
//! its delivery log. Owner only: an endpoint receives every contact of the list.
//!
//! The secret is chosen by the owner (the receiver must know it to check signatures), sealed in
//! the vault at once and never returned. The target is checked like every user-named host
//! (`sources::host_guard` under the `[webhooks]` policy) when it is added, and again by the
//! delivery worker before every attempt. A new endpoint hears of changes from the moment it is
//! added (its cursor is the change log's horizon then), not of the list's past.

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use crate::domain::{AuditAction, AuditObject, WebhookEvent, WebhookId};
use crate::sources::host_guard::{GuardError, Refusal, resolve_and_check_with};
use crate::store::{AttemptRecord, ListId, NewWebhook, Role, SecretKind, Store, Webhook};
use crate::vault::Vault;
use crate::webhooks::WebhookSettings;

use super::mailboxes::current_key_version;
use super::validate::{Checker, FieldCode};
use super::{Actor, ServiceError, ServiceResult, audit, require_role};

/// The shortest secret accepted (characters).
pub const MIN_SECRET: usize = 24;
const MAX_SECRET: usize = 256;
const MAX_URL: usize = 2000;
/// Lines of a delivery log answer.
pub const LOG_LINES: u32 = 200;

/// What the owner sends. The secret is never logged nor returned.
pub struct NewEndpoint {
    pub url: Option<String>,
    pub secret: Option<SecretString>,
    /// Defaults to every event.
    pub events: Option<Vec<String>>,
}

/// An endpoint as shown (never its secret).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Endpoint {
    pub id: WebhookId,
    pub url: String,
    pub events: Vec<WebhookEvent>,
    pub created_at: i64,
}

impl From<Webhook> for Endpoint {
    fn from(w: Webhook) -> Endpoint {
        Endpoint {
            id: w.id,
            url: w.url,
            events: w.events,
            created_at: w.created_at,
        }
    }
}

fn check_events(c: &mut Checker, events: Option<&[String]>) -> Vec<WebhookEvent> {
    let Some(events) = events else {
        return WebhookEvent::ALL.to_vec();
    };
    let mut out = Vec::new();
    for e in events {
        match e.trim().parse::<WebhookEvent>() {
            Ok(e) if !out.contains(&e) => out.push(e),
            Ok(_) => {}
            Err(_) => c.push(
                "events",
                FieldCode::Choice,
                "must be suggestion.created, suggestion.accepted or contact.changed",
            ),
        }
    }
    if events.is_empty() {
        c.push(
            "events",
            FieldCode::Required,
            "must name at least one event",
        );
    }
    out.sort();
    out
}

/// The guard's refusal as a field error on `url`; neither the host nor its address is echoed.
fn refusal(e: GuardError) -> ServiceError {
    match e {
        GuardError::Port => {
            ServiceError::field("url", FieldCode::Choice, "must use port 80, 443 or 1024 up")
        }
        GuardError::Timeout => {
            ServiceError::Unavailable("the webhook host's name lookup timed out".to_owned())
        }
        GuardError::Unresolvable => {
            ServiceError::field("url", FieldCode::Text, "names a host that does not resolve")
        }
        GuardError::Refused(Refusal::Internal(class)) => {
            tracing::info!(
                class,
                "webhook refused: the host resolves to an internal address"
            );
            ServiceError::field(
                "url",
                FieldCode::Choice,
                format!(
                    "resolves to a {class} address; the operator must allow internal webhook \
                     targets (webhooks.allow_private_hosts or webhooks.allowed_hosts)"
                ),
            )
        }
        GuardError::Refused(Refusal::Never(class)) => ServiceError::field(
            "url",
            FieldCode::Choice,
            format!("resolves to a {class} address, which cannot receive webhooks"),
        ),
    }
}

/// `POST /api/v1/lists/{id}/webhooks` (owner).
pub async fn add(
    store: &Store,
    vault: &Vault,
    settings: &WebhookSettings,
    actor: Actor,
    list: ListId,
    new: NewEndpoint,
) -> ServiceResult<Endpoint> {
    require_role(store, actor, list, Role::Owner).await?;
    let mut c = Checker::new();
    let url = c.text("url", new.url.as_deref(), MAX_URL);
    let target = url.as_deref().and_then(|u| match settings.target(u) {
        Ok(t) => Some(t),
        Err(e) => {
            c.push("url", FieldCode::Text, e.to_string());
            None
        }
    });
    match new
        .secret
        .as_ref()
        .map(|s| s.expose_secret().chars().count())
    {
        None | Some(0) => c.push("secret", FieldCode::Required, "is required"),
        Some(n) if !(MIN_SECRET..=MAX_SECRET).contains(&n) => c.push(
            "secret",
            FieldCode::Text,
            format!("must be {MIN_SECRET} to {MAX_SECRET} characters"),
        ),
        Some(_) => {}
    }
    let events = check_events(&mut c, new.events.as_deref());
    c.finish()?;
    let (Some(target), Some(secret)) = (target, new.secret) else {
        return Err(ServiceError::field(
            "url",
            FieldCode::Required,
            "is required",
        ));
    };
    resolve_and_check_with(&target.host, target.port, &settings.policy())
        .await
        .map_err(refusal)?;

    let key_version = current_key_version(store).await?;
    let secret_id = store
        .put_secret_sealed_by(SecretKind::WebhookSecret, key_version, |id| {
            vault
                .seal(
                    &crate::vault::Binding::secret(SecretKind::WebhookSecret, id),
                    secret.expose_secret().as_bytes(),
                )
                .map(crate::vault::SealedSecret::into_bytes)
                .map_err(|e| ServiceError::Internal(format!("seal the webhook secret: {e}")))
        })
        .await?;
    let cursor = store.change_horizon().await?;
    let url = target.url.to_string();
    let id = store
        .create_webhook(&NewWebhook {
            list,
            url: &url,
            events: &events,
            secret: secret_id,
            event_cursor: cursor,
            created_by: actor.user(),
        })
        .await?;
    audit(
        store,
        actor,
        AuditAction::WebhookAdd,
        AuditObject::Webhook,
        Some(id.0),
        None,
    )
    .await?;
    Ok(store.webhook(id).await?.into())
}

/// `GET /api/v1/lists/{id}/webhooks` (owner).
pub async fn list(store: &Store, actor: Actor, list: ListId) -> ServiceResult<Vec<Endpoint>> {
    require_role(store, actor, list, Role::Owner).await?;
    Ok(store
        .webhooks_of_list(list)
        .await?
        .into_iter()
        .map(Endpoint::from)
        .collect())
}

/// `DELETE /api/v1/lists/{id}/webhooks/{webhook_id}` (owner): the endpoint, its queued
/// deliveries, its log and its sealed secret.
pub async fn remove(store: &Store, actor: Actor, list: ListId, id: WebhookId) -> ServiceResult<()> {
    require_role(store, actor, list, Role::Owner).await?;
    store.delete_webhook(list, id).await.map_err(|e| {
        if e.is_not_found() {
            ServiceError::NotFound { what: "webhook" }
        } else {
            e.into()
        }
    })?;
    audit(
        store,
        actor,
        AuditAction::WebhookRemove,
        AuditObject::Webhook,
        Some(id.0),
        None,
    )
    .await
}

/// `GET /api/v1/lists/{id}/webhooks/{webhook_id}/deliveries` (owner): the newest attempts.
pub async fn log(
    store: &Store,
    actor: Actor,
    list: ListId,
    id: WebhookId,
) -> ServiceResult<Vec<AttemptRecord>> {
    require_role(store, actor, list, Role::Owner).await?;
    let hook = match store.webhook(id).await {
        Ok(hook) if hook.list == list => hook,
        Ok(_) => return Err(ServiceError::NotFound { what: "webhook" }),
        Err(e) if e.is_not_found() => return Err(ServiceError::NotFound { what: "webhook" }),
        Err(e) => return Err(e.into()),
    };
    let lines = store.webhook_attempts(hook.id, LOG_LINES).await?;
    audit(
        store,
        actor,
        AuditAction::WebhookLog,
        AuditObject::Webhook,
        Some(id.0),
        None,
    )
    .await?;
    Ok(lines)
}
