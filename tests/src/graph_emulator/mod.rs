//! A Microsoft Graph emulator for the Microsoft 365 source's tests: the identity platform
//! v2 (`{base}/{tenant}/oauth2/v2.0/authorize|token`) and the Graph v1.0 calls the daemon makes
//! (`/me`, `/subscriptions`, `/me/messages/{id}[/$value]`, `/me/mailFolders[/{id}]`,
//! `/me/mailFolders/{id}/messages/delta`, `sendMail` in MIME form, Outlook contacts under
//! `/me/contactFolders` with ETags, `If-Match` and delta, and their `/users/{id|upn}/…` forms,
//! which an app with application permissions calls for any user; the tenant's groups and the
//! delta on their members, `groups.rs`),
//! speaking the documented protocol over real HTTP.
//!
//! It exists because the real service cannot be driven by a test: here a test registers the app,
//! adds users, plays the user's consent, delivers messages (which posts change notifications to the
//! daemon's webhook), sends lifecycle events, revokes tokens, ages the clock and injects faults (429
//! with `Retry-After`, 503, slow answers, dropped notifications), then reads back what happened:
//! every Graph call ([`RequestRecord`]) and every call the emulator made ([`DeliveryRecord`]).
//!
//! The daemon reaches it through configuration only: [`GraphEmulator::authority_url`] and
//! [`GraphEmulator::graph_url`].
//!
//! ```no_run
//! # async fn demo() -> Result<(), mailsig_tests::graph_emulator::EmulatorError> {
//! use mailsig_tests::graph_emulator::GraphEmulator;
//! let graph = GraphEmulator::start().await?;
//! graph.register_app("client-id", "client-secret", "http://127.0.0.1:8080/oauth/callback");
//! graph.add_user("alice@contoso.test", "Alice");
//! // … the daemon builds an authorize URL from graph.authority_url() …
//! # let authorize_url = String::new();
//! let callback = graph.consent(&authorize_url, "alice@contoso.test").await?;
//! // … the test GETs `callback` on the daemon, which redeems the code …
//! let id = graph.deliver("alice@contoso.test", b"From: b@x.test\r\n\r\nhi\r\n".to_vec()).await?;
//! # let _ = (callback, id); Ok(()) }
//! ```

// Handlers return the HTTP answer itself as the `Err` of their helpers: it is built on the error
// path only, and boxing it would add noise to every handler.
#![allow(clippy::result_large_err)]

mod admin;
mod contacts;
mod delta;
mod faults;
mod folders;
mod groups;
mod messages;
mod notifier;
mod oauth;
mod reply;
mod routing;
mod send_mail;
mod state;
mod subscriptions;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing::any;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

pub use faults::Fault;
pub use oauth::SIGN_IN_HEADER;
use state::Emulator;
pub use state::{DEFAULT_ACCESS_TOKEN_LIFETIME, MAX_MESSAGE_SUBSCRIPTION_LIFETIME};

/// Errors of the test-facing API.
#[derive(Debug, thiserror::Error)]
pub enum EmulatorError {
    #[error("bind the graph emulator on {addr}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("no emulated user {0}")]
    UnknownUser(String),
    #[error("no message {0}")]
    UnknownMessage(String),
    #[error("no live subscription {0}")]
    UnknownSubscription(String),
    #[error("subscription {0} has no lifecycleNotificationUrl")]
    NoLifecycleUrl(String),
    #[error("the lifecycle notification to {url} got no answer")]
    NoAnswer { url: String },
    #[error("call the authorize URL {url}")]
    Http { url: String, source: reqwest::Error },
    #[error("the authorize URL answered {status} without a redirect: {body}")]
    NoRedirect { status: u16, body: String },
}

/// A lifecycle event Graph posts to `lifecycleNotificationUrl`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LifecycleEvent {
    ReauthorizationRequired,
    /// Also deletes the subscription (Graph removed it).
    SubscriptionRemoved,
    Missed,
}

impl LifecycleEvent {
    pub fn as_str(self) -> &'static str {
        match self {
            LifecycleEvent::ReauthorizationRequired => "reauthorizationRequired",
            LifecycleEvent::SubscriptionRemoved => "subscriptionRemoved",
            LifecycleEvent::Missed => "missed",
        }
    }
}

/// A subscription as the emulator holds it.
#[derive(Clone, Debug)]
pub struct SubscriptionView {
    pub id: String,
    pub client_id: String,
    /// The owner's e-mail.
    pub user: String,
    pub resource: String,
    pub change_type: String,
    pub expiration: time::OffsetDateTime,
    pub notification_url: String,
    pub lifecycle_notification_url: Option<String>,
    pub client_state: Option<String>,
    /// How many times it was reauthorized (`POST …/reauthorize` or a renewal by `PATCH`).
    pub reauthorized: u32,
}

/// One Graph (`/v1.0`) call the emulator served.
#[derive(Clone, Debug)]
pub struct RequestRecord {
    pub method: String,
    /// Path and query as sent (after the host).
    pub path: String,
    pub status: u16,
    pub started: Instant,
    pub finished: Instant,
    /// The mailbox (e-mail) of the bearer token's user; `None` when authentication failed.
    pub user: Option<String>,
    /// The injected fault that shaped this answer (`throttle`, `unavailable`, `slow`,
    /// `concurrency`), if any.
    pub fault: Option<&'static str>,
}

/// What kind of call the emulator made to the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryKind {
    Validation,
    Notification,
    Lifecycle,
}

/// One call the emulator made to a client URL.
#[derive(Clone, Debug)]
pub struct DeliveryRecord {
    pub kind: DeliveryKind,
    pub url: String,
    pub subscription_ids: Vec<String>,
    /// Notifications in the body (several in batch mode).
    pub items: usize,
    /// The HTTP status, `None` when no answer came (refused, timed out).
    pub status: Option<u16>,
    pub latency: Duration,
    pub error: Option<String>,
}

/// The emulator, serving on a loopback port in the current tokio runtime; it stops when dropped.
pub struct GraphEmulator {
    emu: Arc<Emulator>,
    server: JoinHandle<()>,
}

impl Drop for GraphEmulator {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl GraphEmulator {
    /// Serves on `127.0.0.1` on a free port.
    pub async fn start() -> Result<GraphEmulator, EmulatorError> {
        Self::start_on(SocketAddr::from(([127, 0, 0, 1], 0))).await
    }

    /// Serves on `addr` (the standalone binary's `--listen`).
    pub async fn start_on(addr: SocketAddr) -> Result<GraphEmulator, EmulatorError> {
        let listener = TcpListener::bind(addr)
            .await
            .map_err(|source| EmulatorError::Bind { addr, source })?;
        let local = listener
            .local_addr()
            .map_err(|source| EmulatorError::Bind { addr, source })?;
        let emu = Emulator::new(format!("http://{local}"));
        let app = router(Arc::clone(&emu));
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "graph emulator stopped");
            }
        });
        Ok(GraphEmulator { emu, server })
    }

    /// `http://127.0.0.1:PORT`
    pub fn base_url(&self) -> String {
        self.emu.base_url.clone()
    }

    /// `{base}/v1.0`, the Graph root.
    pub fn graph_url(&self) -> String {
        self.emu.graph_url()
    }

    /// `{base}/common`: the authority (`…/oauth2/v2.0/authorize` and `…/token` below it).
    pub fn authority_url(&self) -> String {
        format!("{}/common", self.emu.base_url)
    }

    /// The tenant id notifications carry.
    pub fn tenant_id(&self) -> String {
        self.emu.lock().tenant_id.clone()
    }

    /// Registers a confidential client (web app); calling again adds another redirect URI.
    pub fn register_app(&self, client_id: &str, client_secret: &str, redirect_uri: &str) {
        self.emu
            .register_app(client_id, client_secret, redirect_uri);
    }

    /// Grants the app an application permission (app role, e.g. `Mail.Send`), as an admin's
    /// consent does; the app's client-credentials tokens carry it from then on.
    pub fn grant_app_role(&self, client_id: &str, role: &str) {
        if let Some(app) = self.emu.lock().apps.get_mut(client_id) {
            app.app_roles.insert(role.to_ascii_lowercase());
        }
    }

    /// Adds an application permission (e.g. `Mail.Read`) to what the app registration asks for;
    /// an admin's consent (`adminconsent`) grants it.
    pub fn declare_application_permission(&self, client_id: &str, role: &str) {
        if let Some(app) = self.emu.lock().apps.get_mut(client_id) {
            app.application_permissions
                .insert(role.to_ascii_lowercase());
        }
    }

    /// The application permissions the app holds now (lower case, sorted).
    pub fn granted_app_roles(&self, client_id: &str) -> Vec<String> {
        let st = self.emu.lock();
        let mut roles: Vec<String> = st
            .apps
            .get(client_id)
            .map(|a| a.app_roles.iter().cloned().collect())
            .unwrap_or_default();
        roles.sort();
        roles
    }

    /// Makes the admin decline (or accept again) the next admin consents.
    pub fn set_refuse_admin_consent(&self, refuse: bool) {
        self.emu.lock().settings.refuse_admin_consent = refuse;
    }

    /// Adds a mail-enabled group with the users of `members` (e-mail addresses, added as users
    /// when new); returns the group id.
    pub fn add_group(&self, mail: &str, display_name: &str, members: &[&str]) -> String {
        let ids: Vec<String> = members.iter().map(|m| self.emu.add_user(m, m)).collect();
        let id = state::guid();
        let mut st = self.emu.lock();
        st.groups.insert(
            id.clone(),
            state::Group {
                id: id.clone(),
                display_name: display_name.to_owned(),
                mail: mail.to_owned(),
                members: Vec::new(),
            },
        );
        for user in ids {
            st.change_membership(&id, &user, true);
        }
        id
    }

    /// Adds the user `email` (created when new) to the group's members.
    pub fn add_group_member(&self, group_id: &str, email: &str) {
        let user = self.emu.add_user(email, email);
        self.emu.lock().change_membership(group_id, &user, true);
    }

    /// Removes the user `email` from the group's members while Graph forgets every groups delta
    /// token (a sync state expired), in one step: the next call of a deltaLink answers
    /// `410 Gone`, so the client learns of the removal only from a new, full round.
    pub fn remove_group_member_and_expire_sync_state(
        &self,
        group_id: &str,
        email: &str,
    ) -> Result<(), EmulatorError> {
        let mut st = self.emu.lock();
        let Some(user) = st.user_by_email(email).map(|u| u.id.clone()) else {
            return Err(EmulatorError::UnknownUser(email.to_owned()));
        };
        st.change_membership(group_id, &user, false);
        st.group_delta_links.clear();
        Ok(())
    }

    /// Removes the user `email` from the group's members.
    pub fn remove_group_member(&self, group_id: &str, email: &str) -> Result<(), EmulatorError> {
        let mut st = self.emu.lock();
        let Some(user) = st.user_by_email(email).map(|u| u.id.clone()) else {
            return Err(EmulatorError::UnknownUser(email.to_owned()));
        };
        st.change_membership(group_id, &user, false);
        Ok(())
    }

    /// The MIME messages `sendMail` accepted from the mailbox of `email`, oldest first.
    pub fn sent_mail(&self, email: &str) -> Vec<Vec<u8>> {
        let st = self.emu.lock();
        let Some(user_id) = st.user_by_email(email).map(|u| u.id.clone()) else {
            return Vec::new();
        };
        st.sent_mail
            .iter()
            .filter(|m| m.user_id == user_id)
            .map(|m| m.mime.clone())
            .collect()
    }

    /// `{base}/{tenant id}/oauth2/v2.0/token`: the tenant's token endpoint (the client-credentials
    /// grant needs a tenant, not `common`).
    pub fn tenant_token_url(&self) -> String {
        format!(
            "{}/{}/oauth2/v2.0/token",
            self.emu.base_url,
            self.tenant_id()
        )
    }

    /// Adds a user with an Inbox; returns the user id (an existing user's id if `email` is known).
    pub fn add_user(&self, email: &str, display_name: &str) -> String {
        self.emu.add_user(email, display_name)
    }

    /// The id of the user's folder named `display_name` (well-known `inbox` included), created if new.
    pub fn folder(&self, email: &str, display_name: &str) -> Result<String, EmulatorError> {
        self.emu.folder(email, display_name)
    }

    /// Plays the user's browser: signs `email` in at the authorize URL the daemon produced and
    /// returns the redirect `Location` (the daemon's callback URL with `code` and `state`, or with
    /// `error` when the emulator refused the request, e.g. no PKCE or an unknown scope).
    pub async fn consent(&self, authorize_url: &str, email: &str) -> Result<String, EmulatorError> {
        if self.emu.lock().user_by_email(email).is_none() {
            return Err(EmulatorError::UnknownUser(email.to_owned()));
        }
        let http = |source| EmulatorError::Http {
            url: authorize_url.to_owned(),
            source,
        };
        let resp = self
            .emu
            .http
            .get(authorize_url)
            .header(SIGN_IN_HEADER, email)
            .send()
            .await
            .map_err(http)?;
        let status = resp.status();
        let location = resp
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        match location {
            Some(l) if status.is_redirection() => Ok(l),
            _ => {
                let body = resp.text().await.unwrap_or_default();
                Err(EmulatorError::NoRedirect {
                    status: status.as_u16(),
                    body,
                })
            }
        }
    }

    /// The id of the user's contact folder named `display_name`, created if new (as the user would
    /// in Outlook).
    pub fn contact_folder(&self, email: &str, display_name: &str) -> Result<String, EmulatorError> {
        let mut st = self.emu.lock();
        let user_id = st
            .user_by_email(email)
            .map(|u| u.id.clone())
            .ok_or_else(|| EmulatorError::UnknownUser(email.to_owned()))?;
        Ok(match st.contact_folder_id(&user_id, display_name) {
            Some(id) => id,
            None => st.create_contact_folder(&user_id, display_name),
        })
    }

    /// The contacts of a contact folder as Graph returns them (`@odata.etag`, `changeKey`, …).
    pub fn contacts(&self, email: &str, folder_id: &str) -> Vec<serde_json::Value> {
        let st = self.emu.lock();
        let Some(user) = st.user_by_email(email) else {
            return Vec::new();
        };
        st.contacts
            .iter()
            .filter(|c| c.user_id == user.id && c.folder_id == folder_id && c.deleted.is_none())
            .map(contacts::Contact::to_json)
            .collect()
    }

    /// Adds a contact as the user would in Outlook; returns its id. `fields` is a JSON object of
    /// Graph contact properties.
    pub fn add_contact(
        &self,
        email: &str,
        folder_id: &str,
        fields: serde_json::Value,
    ) -> Result<String, EmulatorError> {
        let mut st = self.emu.lock();
        let user_id = st
            .user_by_email(email)
            .map(|u| u.id.clone())
            .ok_or_else(|| EmulatorError::UnknownUser(email.to_owned()))?;
        let fields = fields.as_object().cloned().unwrap_or_default();
        let body = st.add_contact(&user_id, folder_id, fields);
        Ok(body["id"].as_str().unwrap_or_default().to_owned())
    }

    /// Edits a contact as the user would in Outlook (a `null` clears a property): its change key,
    /// and so its ETag, changes.
    pub fn edit_contact(
        &self,
        email: &str,
        contact_id: &str,
        patch: serde_json::Value,
    ) -> Result<(), EmulatorError> {
        let mut st = self.emu.lock();
        let user_id = st
            .user_by_email(email)
            .map(|u| u.id.clone())
            .ok_or_else(|| EmulatorError::UnknownUser(email.to_owned()))?;
        let patch = patch.as_object().cloned().unwrap_or_default();
        st.patch_contact(&user_id, contact_id, patch)
            .map(|_| ())
            .ok_or_else(|| EmulatorError::UnknownMessage(contact_id.to_owned()))
    }

    /// Deletes a contact as the user would in Outlook.
    pub fn delete_contact(&self, email: &str, contact_id: &str) -> Result<(), EmulatorError> {
        let mut st = self.emu.lock();
        let user_id = st
            .user_by_email(email)
            .map(|u| u.id.clone())
            .ok_or_else(|| EmulatorError::UnknownUser(email.to_owned()))?;
        if st.delete_contact(&user_id, contact_id) {
            Ok(())
        } else {
            Err(EmulatorError::UnknownMessage(contact_id.to_owned()))
        }
    }

    /// Adds a message to the user's Inbox and notifies the subscriptions watching it (unless
    /// notifications are dropped or batched). Returns the message id once the notifications were
    /// answered.
    pub async fn deliver(&self, email: &str, raw_mime: Vec<u8>) -> Result<String, EmulatorError> {
        self.deliver_to(email, "inbox", raw_mime).await
    }

    /// [`Self::deliver`] into the folder named `folder` (created if new).
    pub async fn deliver_to(
        &self,
        email: &str,
        folder: &str,
        raw_mime: Vec<u8>,
    ) -> Result<String, EmulatorError> {
        messages::deliver(&self.emu, email, folder, raw_mime).await
    }

    /// Deletes a message as its user would (see delta's `@removed`); notifies subscriptions whose
    /// changeType includes `deleted`.
    pub async fn delete_message(&self, email: &str, message_id: &str) -> Result<(), EmulatorError> {
        messages::delete(&self.emu, email, message_id).await
    }

    /// Dropped mode: delivered messages notify nobody (the client must catch up with delta).
    pub fn set_drop_notifications(&self, drop: bool) {
        self.emu.lock().settings.drop_notifications = drop;
    }

    /// How many notifications were dropped in dropped mode.
    pub fn dropped_notifications(&self) -> usize {
        self.emu.lock().dropped_notifications
    }

    /// Batch mode: delivered messages queue their notifications until [`Self::flush_notifications`].
    pub fn set_batch_notifications(&self, batch: bool) {
        self.emu.lock().settings.batch_notifications = batch;
    }

    /// Retry a failed notification (non-2xx, or no answer within 3 s) up to `retries` times, waiting
    /// `first_wait` then doubling, as Graph does (for hours; here as the test says). Off by default.
    /// `deliver` returns after the last attempt.
    pub fn set_notification_retries(&self, retries: u32, first_wait: Duration) {
        self.emu.lock().settings.notification_retries = (retries, first_wait);
    }

    /// The validation token of the following handshakes (`None`: Graph-like random tokens), e.g.
    /// one holding `<script>` to check that a client echoes it as text/plain, verbatim.
    /// Cuts (or restores) the way from Microsoft to the daemon's notification URL: validation
    /// handshakes fail to connect, so Graph refuses new subscriptions with `ValidationError`.
    pub fn set_endpoint_unreachable(&self, unreachable: bool) {
        self.emu.lock().settings.endpoint_unreachable = unreachable;
    }

    pub fn set_validation_token(&self, token: Option<&str>) {
        self.emu.lock().settings.validation_token = token.map(str::to_owned);
    }

    /// Duplicate mode: every notification is posted twice, as Graph's at-least-once delivery may.
    pub fn set_duplicate_notifications(&self, duplicate: bool) {
        self.emu.lock().settings.duplicate_notifications = duplicate;
    }

    /// The body Graph would post to subscription `subscription_id` for message `message_id`
    /// (`{"value":[{…}]}`); `None` if either is unknown. For tests that forge or replay
    /// notifications (change `clientState`, post it twice) and for load tools.
    pub fn notification_body(
        &self,
        subscription_id: &str,
        message_id: &str,
    ) -> Option<serde_json::Value> {
        notifier::body_for(&self.emu, subscription_id, message_id)
    }

    /// Posts the queued notifications, one body per notification URL; returns the bodies posted.
    pub async fn flush_notifications(&self) -> usize {
        notifier::flush(&self.emu).await
    }

    /// Posts a lifecycle event; returns the client's HTTP status.
    pub async fn send_lifecycle(
        &self,
        subscription_id: &str,
        event: LifecycleEvent,
    ) -> Result<u16, EmulatorError> {
        let url = self
            .emu
            .lock()
            .subscriptions
            .get(subscription_id)
            .and_then(|s| s.lifecycle_notification_url.clone())
            .unwrap_or_default();
        notifier::lifecycle(&self.emu, subscription_id, event)
            .await?
            .ok_or(EmulatorError::NoAnswer { url })
    }

    /// The live subscriptions.
    pub fn subscriptions(&self) -> Vec<SubscriptionView> {
        let st = self.emu.lock();
        st.live_subscriptions()
            .map(|s| SubscriptionView {
                id: s.id.clone(),
                client_id: s.client_id.clone(),
                user: st
                    .users
                    .get(&s.user_id)
                    .map(|u| u.email.clone())
                    .unwrap_or_default(),
                resource: s.resource.clone(),
                change_type: s.change_types.join(","),
                expiration: s.expiration,
                notification_url: s.notification_url.clone(),
                lifecycle_notification_url: s.lifecycle_notification_url.clone(),
                client_state: s.client_state.clone(),
                reauthorized: s.reauthorized,
            })
            .collect()
    }

    /// Revokes every refresh token of the user (as a password reset or an admin would): the next
    /// refresh answers `invalid_grant` (AADSTS50173). Access tokens stay valid until they expire.
    pub fn revoke_refresh_tokens(&self, email: &str) {
        let mut st = self.emu.lock();
        let Some(user_id) = st.user_by_email(email).map(|u| u.id.clone()) else {
            return;
        };
        st.refresh_tokens.retain(|_, g| g.user_id != user_id);
    }

    /// Every access and refresh token issued to the user that is still on record (the canaries
    /// of the privacy tests: none may be found outside memory).
    pub fn issued_tokens(&self, email: &str) -> Vec<String> {
        let st = self.emu.lock();
        let Some(user_id) = st.user_by_email(email).map(|u| u.id.clone()) else {
            return Vec::new();
        };
        let access = st
            .access_tokens
            .iter()
            .filter(|(_, g)| g.user_id == user_id);
        let refresh = st
            .refresh_tokens
            .iter()
            .filter(|(_, g)| g.user_id == user_id);
        access
            .map(|(token, _)| token.clone())
            .chain(refresh.map(|(token, _)| token.clone()))
            .collect()
    }

    /// Expires every access token of the user now (the next Graph call answers 401).
    pub fn expire_access_tokens(&self, email: &str) {
        let mut st = self.emu.lock();
        let Some(user_id) = st.user_by_email(email).map(|u| u.id.clone()) else {
            return;
        };
        let now = st.now();
        for g in st
            .access_tokens
            .values_mut()
            .filter(|g| g.user_id == user_id)
        {
            g.expires = now;
        }
    }

    /// Lifetime of the access tokens issued from now on (`expires_in`).
    pub fn set_access_token_lifetime(&self, d: Duration) {
        self.emu.lock().settings.access_token_lifetime = d;
    }

    /// The maximum subscription lifetime (default 10,080 minutes); longer requests are capped.
    pub fn set_max_subscription_lifetime(&self, d: Duration) {
        self.emu.lock().settings.max_subscription_lifetime = d;
    }

    /// Moves the emulator's clock forward: tokens, codes and subscriptions age by `d`.
    pub fn advance_clock(&self, d: Duration) {
        self.emu.lock().settings.clock_offset += d;
    }

    /// Graph's per-mailbox concurrency limit (4 in Microsoft's throttling docs): calls beyond it get
    /// 429 `ApplicationThrottled` with `Retry-After: 1`. Off (`None`) by default.
    pub fn set_mailbox_concurrency_limit(&self, limit: Option<usize>) {
        self.emu.lock().settings.mailbox_concurrency_limit = limit;
    }

    /// Queues a fault for the next Graph calls (after the ones already queued).
    pub fn inject(&self, fault: Fault) {
        self.emu.lock().faults.push_back(fault);
    }

    /// Drops every queued fault: ends a time-boxed storm (a fault queued with a huge `times`).
    pub fn clear_faults(&self) {
        self.emu.lock().faults.clear();
    }

    /// Every Graph (`/v1.0`) call served, in order of completion.
    pub fn requests(&self) -> Vec<RequestRecord> {
        self.emu.lock().requests.clone()
    }

    /// The most Graph calls of one mailbox that were in progress at the same time.
    pub fn max_concurrency(&self, email: &str) -> usize {
        let mut edges: Vec<(Instant, i32)> = self
            .requests()
            .into_iter()
            .filter(|r| {
                r.user
                    .as_deref()
                    .is_some_and(|u| u.eq_ignore_ascii_case(email))
            })
            .flat_map(|r| [(r.started, 1), (r.finished, -1)])
            .collect();
        // Ends before starts at the same instant: touching calls do not overlap.
        edges.sort_by_key(|&(t, d)| (t, d));
        let (mut now, mut max) = (0i32, 0i32);
        for (_, d) in edges {
            now += d;
            max = max.max(now);
        }
        usize::try_from(max).unwrap_or(0)
    }

    /// Every call the emulator made to clients (handshakes, notifications, lifecycle events).
    pub fn deliveries(&self) -> Vec<DeliveryRecord> {
        self.emu.lock().deliveries.clone()
    }

    /// How many refresh-token grants the user's tokens went through.
    pub fn refresh_count(&self, email: &str) -> usize {
        let st = self.emu.lock();
        st.user_by_email(email)
            .and_then(|u| st.refresh_counts.get(&u.id))
            .copied()
            .unwrap_or(0)
    }
}

fn router(emu: Arc<Emulator>) -> Router {
    Router::new()
        .merge(oauth::routes())
        .merge(admin::routes())
        .route("/v1.0/{*rest}", any(routing::graph_entry))
        .with_state(emu)
}
