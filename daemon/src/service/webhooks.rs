//! A list owner's outgoing webhooks: add one (URL, secret, events), list them, remove one, read
//! its delivery log. Owner only: an endpoint receives every contact of the list.
//!
//! The secret is chosen by the owner (the receiver must know it to check signatures), or, when
//! the owner gives none, generated here and shown in the answer that added the endpoint, that
//! once ([`Added::secret`]); either way it is sealed in the vault at once and never returned
//! again. The target is checked like every user-named host
//! (`sources::host_guard` under the `[webhooks]` policy) when it is added, and again by the
//! delivery worker before every attempt. A new endpoint hears of changes from the moment it is
//! added (its cursor is the change log's horizon then), not of the list's past.

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;

use crate::domain::{AuditAction, AuditObject, WebhookEvent, WebhookId};
use crate::sources::host_guard::{GuardError, Refusal, resolve_and_check_with};
use crate::store::{
    AttemptRecord, DeliveryCounts, ListId, NewWebhook, Role, SecretKind, Store, Webhook,
};
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

/// What the owner sends. The secret is never logged nor returned; `None` has one generated.
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
    /// Its deliveries by state (in listings).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deliveries: Option<DeliveryCounts>,
}

impl From<Webhook> for Endpoint {
    fn from(w: Webhook) -> Endpoint {
        Endpoint {
            id: w.id,
            url: w.url,
            events: w.events,
            created_at: w.created_at,
            deliveries: None,
        }
    }
}

/// The signing secret mailsig generated for a new endpoint: serialized (and so shown) only in
/// the answer that added the endpoint; no `Debug`, zeroized on drop.
pub struct GeneratedSecret(SecretString);

impl GeneratedSecret {
    fn new() -> ServiceResult<GeneratedSecret> {
        let mut bytes = zeroize::Zeroizing::new([0u8; 32]);
        getrandom::fill(bytes.as_mut())
            .map_err(|_| ServiceError::Internal("no randomness for a webhook secret".into()))?;
        let text = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            bytes.as_ref(),
        );
        Ok(GeneratedSecret(SecretString::from(text)))
    }

    /// The secret's text, for the one answer that shows it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl Serialize for GeneratedSecret {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.0.expose_secret())
    }
}

/// A new endpoint, with its secret when mailsig generated it (shown this once).
#[derive(Serialize)]
pub struct Added {
    #[serde(flatten)]
    pub endpoint: Endpoint,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<GeneratedSecret>,
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
) -> ServiceResult<Added> {
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
    let generated = match new.secret.as_ref() {
        None => Some(GeneratedSecret::new()?),
        Some(_) => None,
    };
    match new
        .secret
        .as_ref()
        .map(|s| s.expose_secret().chars().count())
    {
        None => {}
        Some(0) => c.push(
            "secret",
            FieldCode::Required,
            "must not be empty (leave it out to have one generated)",
        ),
        Some(n) if !(MIN_SECRET..=MAX_SECRET).contains(&n) => c.push(
            "secret",
            FieldCode::Text,
            format!("must be {MIN_SECRET} to {MAX_SECRET} characters"),
        ),
        Some(_) => {}
    }
    let events = check_events(&mut c, new.events.as_deref());
    c.finish()?;
    let secret = match (&generated, new.secret) {
        (Some(g), _) => g.0.clone(),
        (None, Some(s)) => s,
        (None, None) => return Err(ServiceError::Internal("no webhook secret".into())),
    };
    let Some(target) = target else {
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
    Ok(Added {
        endpoint: store.webhook(id).await?.into(),
        secret: generated,
    })
}

/// `GET /api/v1/lists/{id}/webhooks` (owner).
pub async fn list(store: &Store, actor: Actor, list: ListId) -> ServiceResult<Vec<Endpoint>> {
    require_role(store, actor, list, Role::Owner).await?;
    let mut out = Vec::new();
    for hook in store.webhooks_of_list(list).await? {
        let counts = store.webhook_delivery_counts(hook.id).await?;
        let mut endpoint = Endpoint::from(hook);
        endpoint.deliveries = Some(counts);
        out.push(endpoint);
    }
    Ok(out)
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
