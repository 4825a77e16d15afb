//! Linking a mailbox (the IMAP form, the Microsoft 365 button), and a mailbox's own page: its
//! status, the list its suggestions go to, its excluded domains, unlinking.

use std::collections::BTreeMap;

use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use secrecy::SecretString;
use serde::Deserialize;
use zeroize::Zeroize;

use super::render::{PageError, Visitor, html, when};
use super::{imap_presets, mailbox_words};
use crate::domain::{MailProtocol, TlsMode};
use crate::http::app::AppState;
use crate::http::auth::CurrentUser;
use crate::service::{self, ServiceError};
use crate::store::{ListId, MailboxId};

/// A list the visitor may send suggestions to (owner or editor).
pub struct ListChoice {
    pub id: i64,
    pub name: String,
    pub selected: bool,
}

/// The IMAP form's values, kept when the form comes back with errors (never the password).
#[derive(Default)]
pub struct LinkValues {
    pub address: String,
    pub host: String,
    pub port: String,
    pub security: String,
    pub username: String,
    pub folders: String,
    pub exclusions: String,
    /// How many recent messages to read when linked ("0": only new mail).
    pub backfill: String,
    /// A private CA's certificate, PEM (public, so kept like the other values).
    pub ca_pem: String,
    /// The OAuth provider to sign in at instead of a password ("": the password).
    pub sign_in: String,
}

#[derive(Template)]
#[template(path = "link_mailbox.html")]
struct LinkPage {
    csrf: String,
    lists: Vec<ListChoice>,
    values: LinkValues,
    /// Field name → message, shown beside the field.
    errors: BTreeMap<String, String>,
    /// A message for the whole form (the server refused the login, …).
    failure: Option<String>,
    /// The provider buttons: key and label.
    presets: Vec<(&'static str, &'static str)>,
    /// What the chosen preset or the guess says (app passwords…).
    advice: String,
    /// Microsoft 365 is configured: offer its button.
    microsoft: bool,
    /// The signed-in person is an org admin (the navigation links to `/admin`).
    org_admin: bool,
    /// The providers an IMAP account can be signed in at instead of a password.
    oauth_providers: Vec<String>,
}

/// Sends the browser on to the provider of an OAuth link (a refresh and a link): the IMAP
/// provider a user signs in at, or Microsoft's consent page.
#[derive(Template)]
#[template(path = "continue_at_provider.html")]
pub(super) struct ContinueAtProvider {
    pub(super) csrf: String,
    pub(super) provider: String,
    pub(super) address: String,
    pub(super) url: String,
    /// The consent also asks to read and write the person's contacts (Outlook contacts).
    pub(super) contacts: bool,
    /// The signed-in person is an org admin (the navigation links to `/admin`).
    pub(super) org_admin: bool,
}

/// The choices of "read recent mail when linked".
pub const BACKFILL_CHOICES: [(&str, &str); 4] = [
    ("0", "No, only mail that arrives from now on"),
    ("50", "Yes, the latest 50 messages"),
    ("200", "Yes, the latest 200 messages"),
    ("1000", "Yes, the latest 1,000 messages"),
];

impl LinkPage {
    fn error(&self, field: &str) -> String {
        self.errors.get(field).cloned().unwrap_or_default()
    }
}

async fn editable_lists(
    state: &AppState,
    visitor: &Visitor,
    selected: Option<i64>,
) -> Result<Vec<ListChoice>, PageError> {
    let lists = service::lists::my_lists(&state.store, visitor.actor).await?;
    Ok(lists
        .into_iter()
        .filter(|l| l.role.can_edit())
        .map(|l| ListChoice {
            id: l.id.0,
            selected: Some(l.id.0) == selected,
            name: l.name,
        })
        .collect())
}

/// `?address=` (guess the settings from it) or `?preset=gmail|outlook|icloud|fastmail`.
#[derive(Deserialize, Default)]
pub struct LinkQuery {
    #[serde(default)]
    address: Option<String>,
    #[serde(default)]
    preset: Option<String>,
}

pub async fn link_page(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    linking: Option<axum::Extension<MicrosoftLinking>>,
    Query(query): Query<LinkQuery>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    let lists = editable_lists(&state, &visitor, None).await?;
    let address = query.address.unwrap_or_default().trim().to_owned();
    let preset = query
        .preset
        .as_deref()
        .and_then(imap_presets::by_key)
        .or_else(|| imap_presets::for_address(&address));
    let mut values = LinkValues {
        port: TlsMode::ImplicitTls
            .default_port(MailProtocol::Imap)
            .to_string(),
        security: TlsMode::ImplicitTls.form_name().to_owned(),
        folders: "INBOX".to_owned(),
        backfill: "0".to_owned(),
        username: address.clone(),
        address: address.clone(),
        ..LinkValues::default()
    };
    let mut advice = String::new();
    if let Some(preset) = &preset {
        values.host = preset.host.clone();
        values.port = preset.port.to_string();
        values.security = preset.security.to_owned();
        if !address.is_empty() {
            values.username = imap_presets::username_for(preset, &address);
        }
        advice = preset.advice.to_owned();
    }
    html(&LinkPage {
        org_admin: visitor.org_admin,
        csrf: visitor.csrf,
        lists,
        values,
        errors: BTreeMap::new(),
        failure: None,
        presets: imap_presets::offered(),
        advice,
        microsoft: linking.is_some(),
        oauth_providers: state.settings.mail_oauth.provider_names(),
    })
}

#[derive(Deserialize, Default)]
pub struct LinkForm {
    #[serde(default)]
    list: String,
    #[serde(default)]
    address: String,
    #[serde(default)]
    host: String,
    #[serde(default)]
    port: String,
    #[serde(default)]
    security: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    folders: String,
    #[serde(default)]
    exclusions: String,
    #[serde(default)]
    backfill: String,
    #[serde(default)]
    ca_pem: String,
    /// An OAuth provider's name: sign in there instead of giving the password.
    #[serde(default)]
    sign_in: String,
}

impl Drop for LinkForm {
    fn drop(&mut self) {
        self.password.zeroize();
    }
}

/// Splits a textarea or comma list into trimmed, non-empty lines.
fn items(text: &str) -> Vec<String> {
    text.split([',', '\n', '\r'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The port the form means: the other mode's standard port with a security choice that never
/// uses it (STARTTLS on 993, TLS on 143) is the form's default left unchanged, so it follows
/// the choice.
fn port_for(security: &str, port: &str) -> String {
    match (security, port.trim()) {
        ("starttls", "993") => "143".to_owned(),
        ("tls", "143") => "993".to_owned(),
        (_, other) => other.to_owned(),
    }
}

/// A failed link in words, on the field it is about: `(field, text)`; field `""` is the form.
/// `ca_given`: the form named a CA of its own.
fn link_failure(
    e: &ServiceError,
    host: &str,
    port: &str,
    ca_given: bool,
) -> (&'static str, String) {
    match e {
        ServiceError::LinkFailed { auth: true, .. } => (
            "password",
            "The server refused this user name and password. Check both; most providers need an app password made for mailsig rather than your usual password.".to_owned(),
        ),
        ServiceError::LinkFailed {
            tls_untrusted: true,
            ..
        } if ca_given => (
            "ca_pem",
            format!(
                "The certificate of {host} is not signed by this certificate authority (or it names another server, or it has expired). Paste the certificate of the authority that issued the server's certificate, and check the server name."
            ),
        ),
        ServiceError::LinkFailed {
            tls_untrusted: true,
            ..
        } => (
            "ca_pem",
            format!(
                "The certificate of {host} is not trusted (an unknown authority, another name, or expired). Check the server name; if the server uses its own certificate authority, paste that authority's certificate here."
            ),
        ),
        ServiceError::LinkFailed { folder: true, .. } => (
            "folders",
            "One of these folders does not exist on the server (names are case-sensitive; most servers call the inbox INBOX).".to_owned(),
        ),
        ServiceError::LinkFailed { .. } => (
            "security",
            format!(
                "The server at {host} port {port} did not accept this connection. Check the security choice: TLS usually uses port 993, STARTTLS port 143."
            ),
        ),
        // Unreachable, or it accepted the connection and then said nothing within
        // `[imap] connect_timeout` (STARTTLS against a TLS-only port waits like that).
        _ => (
            "port",
            format!(
                "No answer from {host} on port {port} in time: the server could not be reached, or it accepted the connection and then said nothing. Check the server name, the port and the security choice (TLS usually uses port 993, STARTTLS port 143)."
            ),
        ),
    }
}

pub async fn link_imap(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    linking: Option<axum::Extension<MicrosoftLinking>>,
    Form(form): Form<LinkForm>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    let list = form.list.trim().parse::<i64>().ok();
    let security = form.security.trim().to_owned();
    let port = port_for(&security, &form.port);
    let request = service::mailboxes::LinkImap {
        list,
        host: Some(form.host.trim().to_owned()),
        port: port
            .trim()
            .parse::<i64>()
            .ok()
            .or(if port.trim().is_empty() {
                None
            } else {
                Some(-1)
            }),
        security: Some(security.clone()).filter(|s| !s.is_empty()),
        username: Some(form.username.trim().to_owned()),
        address: Some(form.address.trim().to_owned()).filter(|a| !a.is_empty()),
        password: Some(SecretString::from(form.password.clone())),
        folders: items(&form.folders),
        backfill: form.backfill.trim().parse::<i64>().ok(),
        excluded_domains: items(&form.exclusions),
        ca_pem: Some(form.ca_pem.clone()),
        ..service::mailboxes::LinkImap::default()
    };
    let provider = form.sign_in.trim();
    let result = if provider.is_empty() {
        service::mailboxes::link_imap(
            &state.store,
            &state.vault,
            &state.imap,
            visitor.actor,
            request,
        )
        .await
    } else {
        let started = service::imap_oauth::start_imap_oauth_link(
            &state.store,
            &state.vault,
            &state.imap,
            &state.settings.mail_oauth,
            visitor.actor,
            service::imap_oauth::ImapOAuthStart {
                provider: provider.to_owned(),
                form: service::mailboxes::LinkImap {
                    password: None,
                    ..request
                },
                origin: crate::store::LinkOrigin::Web,
            },
        )
        .await;
        match started {
            // Off to the provider, whose callback links the mailbox. Through a page rather than
            // a redirect: the CSP's `form-action 'self'` stops a form redirected elsewhere.
            Ok(url) => {
                return html(&ContinueAtProvider {
                    csrf: visitor.csrf.clone(),
                    provider: provider.to_owned(),
                    address: form.address.trim().to_owned(),
                    url: url.to_string(),
                    contacts: false,
                    org_admin: visitor.org_admin,
                });
            }
            Err(e) => Err(e),
        }
    };
    let e = match result {
        Ok(mailbox) => {
            return Ok(
                Redirect::to(&format!("/mailboxes/{}?saved=linked", mailbox.id.0)).into_response(),
            );
        }
        Err(
            e @ (ServiceError::Internal(_)
            | ServiceError::NotFound { .. }
            | ServiceError::Forbidden { .. }),
        ) => {
            return Err(e.into());
        }
        Err(e) => e,
    };
    let (errors, failure): (BTreeMap<String, String>, String) = match e {
        ServiceError::Validation(fields) => (
            fields
                .into_iter()
                .map(|f| {
                    let field = f.field.split('[').next().unwrap_or_default().to_owned();
                    let text = format!("This {}.", f.message.trim_end_matches('.'));
                    (field, text)
                })
                .collect(),
            "Nothing was linked yet: please look at the marked fields.".to_owned(),
        ),
        other => {
            let (field, text) = link_failure(
                &other,
                form.host.trim(),
                port.trim(),
                !form.ca_pem.trim().is_empty(),
            );
            (
                BTreeMap::from([(field.to_owned(), text.clone())]),
                format!("Nothing was linked yet: {text}"),
            )
        }
    };
    let page = LinkPage {
        org_admin: visitor.org_admin,
        csrf: visitor.csrf.clone(),
        lists: editable_lists(&state, &visitor, list).await?,
        values: LinkValues {
            address: form.address.clone(),
            host: form.host.clone(),
            port,
            security,
            username: form.username.clone(),
            folders: form.folders.clone(),
            exclusions: form.exclusions.clone(),
            backfill: form.backfill.clone(),
            ca_pem: form.ca_pem.clone(),
            sign_in: form.sign_in.trim().to_owned(),
        },
        errors,
        failure: Some(failure),
        presets: imap_presets::offered(),
        advice: String::new(),
        microsoft: linking.is_some(),
        oauth_providers: state.settings.mail_oauth.provider_names(),
    };
    let body = page
        .render()
        .map_err(|e| PageError::Internal(format!("render: {e}")))?;
    Ok((StatusCode::BAD_REQUEST, Html(body)).into_response())
}

#[derive(Template)]
#[template(path = "microsoft_unavailable.html")]
struct MicrosoftUnavailable {
    csrf: String,
    /// The signed-in person is an org admin (the navigation links to `/admin`).
    org_admin: bool,
}

/// The Microsoft 365 settings, present as a request extension when `[graph]` is configured and
/// its source started (the supervisor adds it); the "Connect Microsoft 365" button needs them.
#[derive(Clone)]
pub struct MicrosoftLinking(pub crate::sources::graph::GraphConfig);

#[derive(Deserialize)]
pub struct MicrosoftForm {
    #[serde(default)]
    list: String,
}

/// The "Connect Microsoft 365" button: sends the browser to Microsoft's consent page (the
/// daemon's OAuth callback completes the link), or says plainly that Microsoft 365 is not
/// configured when `[graph]` is absent.
pub async fn connect_microsoft(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    linking: Option<axum::Extension<MicrosoftLinking>>,
    Form(form): Form<MicrosoftForm>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    let Some(axum::Extension(MicrosoftLinking(config))) = linking else {
        let page = MicrosoftUnavailable {
            org_admin: visitor.org_admin,
            csrf: visitor.csrf,
        };
        let body = page
            .render()
            .map_err(|e| PageError::Internal(format!("render: {e}")))?;
        return Ok((StatusCode::SERVICE_UNAVAILABLE, Html(body)).into_response());
    };
    let Ok(list) = form.list.trim().parse::<i64>() else {
        return Err(
            ServiceError::field("list", service::FieldCode::Choice, "choose a list").into(),
        );
    };
    let url = service::mailboxes::start_microsoft_link(
        &state.store,
        &state.vault,
        Some(&config),
        visitor.actor,
        ListId(list),
        crate::sources::graph::LinkOrigin::Web,
    )
    .await?;
    // Through a page rather than a redirect: the CSP's `form-action 'self'` stops a form
    // redirected to another origin.
    html(&ContinueAtProvider {
        csrf: visitor.csrf.clone(),
        provider: "Microsoft 365".to_owned(),
        address: String::new(),
        url: url.to_string(),
        contacts: false,
        org_admin: visitor.org_admin,
    })
}

#[derive(Template)]
#[template(path = "mailbox.html")]
struct MailboxPage {
    csrf: String,
    id: i64,
    address: String,
    kind: &'static str,
    status: &'static str,
    reason: String,
    needs_attention: bool,
    /// "since <time> (<fixed reason>)" while the source keeps failing to connect, else empty.
    reconnecting: String,
    settings: Vec<(String, String)>,
    lists: Vec<ListChoice>,
    exclusions: String,
    exclusions_error: String,
    /// What was just saved, for the confirmation ("Saved: …").
    saved: String,
    counters: Vec<(String, i64)>,
    last_activity: String,
    /// The signed-in person is an org admin (the navigation links to `/admin`).
    org_admin: bool,
    /// A Microsoft 365 mailbox the organisation linked app-only: nothing to consent to.
    managed: bool,
}

/// `?saved=list|exclusions` after a change.
#[derive(Deserialize, Default)]
pub struct MailboxQuery {
    #[serde(default)]
    saved: Option<String>,
}

pub async fn settings_page(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
    Query(query): Query<MailboxQuery>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    render_mailbox(&state, &visitor, id, query.saved.as_deref(), None).await
}

/// The mailbox page; `exclusions` is a refused exclusions form (its text and the error).
async fn render_mailbox(
    state: &AppState,
    visitor: &Visitor,
    id: i64,
    saved: Option<&str>,
    exclusions: Option<(String, String)>,
) -> Result<Response, PageError> {
    let mailbox =
        service::mailboxes::get_mailbox(&state.store, visitor.actor, MailboxId(id)).await?;
    let status = service::mailboxes::status(&state.store, visitor.actor, MailboxId(id)).await?;
    let lists = editable_lists(state, visitor, Some(mailbox.list.0)).await?;
    let list_name = lists
        .iter()
        .find(|l| l.selected)
        .map(|l| l.name.clone())
        .unwrap_or_default();
    let saved = match saved {
        Some("list") => format!("Saved: suggestions from this mailbox now go to “{list_name}”."),
        Some("exclusions") => "Saved: the excluded domains apply to the next message.".to_owned(),
        Some("paused") => "Paused: this mailbox is not read until you resume it.".to_owned(),
        Some("resumed") => "Resumed: mail that arrived while it was paused is read now.".to_owned(),
        Some("linked") => format!(
            "Linked: the login worked and new mail in this mailbox now becomes suggestions in “{list_name}”."
        ),
        _ => String::new(),
    };
    let (exclusions, exclusions_error) =
        exclusions.unwrap_or_else(|| (mailbox.excluded_domains.join("\n"), String::new()));
    let page = MailboxPage {
        lists,
        org_admin: visitor.org_admin,
        managed: crate::sources::graph::GraphSettings::is_app_only(&mailbox.settings),
        csrf: visitor.csrf.clone(),
        id,
        address: mailbox.address,
        kind: match mailbox.kind.as_str() {
            "imap" => "IMAP",
            "graph" => "Microsoft 365",
            other => other,
        },
        status: mailbox.status.as_str(),
        reason: mailbox.status_reason.unwrap_or_default(),
        needs_attention: mailbox.needs_attention,
        reconnecting: match (mailbox.reconnecting_since, mailbox.reconnecting_reason) {
            (Some(since), reason) => {
                format!("since {} ({})", when(since), reason.unwrap_or_default())
            }
            (None, _) => String::new(),
        },
        settings: mailbox_words::settings(&mailbox.settings),
        exclusions,
        saved,
        counters: mailbox_words::counters(&status.counters, &status.skipped),
        last_activity: status
            .last_activity
            .map_or_else(|| "never".to_owned(), when),
        exclusions_error: exclusions_error.clone(),
    };
    let response = html(&page)?;
    Ok(if exclusions_error.is_empty() {
        response
    } else {
        (StatusCode::BAD_REQUEST, response).into_response()
    })
}

#[derive(Deserialize)]
pub struct ListForm {
    #[serde(default)]
    list: String,
}

pub async fn set_list(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
    Form(form): Form<ListForm>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    let Ok(list) = form.list.trim().parse::<i64>() else {
        return Err(
            ServiceError::field("list", service::FieldCode::Choice, "choose a list").into(),
        );
    };
    service::mailboxes::set_list(&state.store, visitor.actor, MailboxId(id), ListId(list)).await?;
    Ok(Redirect::to(&format!("/mailboxes/{id}?saved=list")).into_response())
}

/// Pauses the mailbox's watching (its owner only).
pub async fn pause(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    service::mailboxes::pause(
        &state.store,
        &state.mailboxes_changed,
        visitor.actor,
        MailboxId(id),
    )
    .await?;
    Ok(Redirect::to(&format!("/mailboxes/{id}?saved=paused")).into_response())
}

/// Resumes a paused mailbox.
pub async fn resume(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    service::mailboxes::resume(
        &state.store,
        &state.mailboxes_changed,
        visitor.actor,
        MailboxId(id),
    )
    .await?;
    Ok(Redirect::to(&format!("/mailboxes/{id}?saved=resumed")).into_response())
}

#[derive(Deserialize)]
pub struct ExclusionsForm {
    #[serde(default)]
    exclusions: String,
}

/// Saves the excluded domains; refused ones come back on the same page with the text kept.
pub async fn set_exclusions(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
    Form(form): Form<ExclusionsForm>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    match service::mailboxes::set_exclusions(
        &state.store,
        visitor.actor,
        MailboxId(id),
        &items(&form.exclusions),
    )
    .await
    {
        Ok(_) => Ok(Redirect::to(&format!("/mailboxes/{id}?saved=exclusions")).into_response()),
        Err(ServiceError::Validation(fields)) => {
            let error = fields
                .iter()
                .map(|f| f.message.clone())
                .collect::<Vec<_>>()
                .join("; ");
            let error = format!("Not saved: {error}. Correct the list and save again.");
            render_mailbox(
                &state,
                &visitor,
                id,
                None,
                Some((form.exclusions.clone(), error)),
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct UnlinkForm {
    #[serde(default)]
    confirm: String,
}

/// Unlinks after the "I understand" box was ticked (the browser insists on it; a post without
/// it is refused here too).
pub async fn unlink(
    State(state): State<AppState>,
    user: Option<CurrentUser>,
    Path(id): Path<i64>,
    Form(form): Form<UnlinkForm>,
) -> Result<Response, PageError> {
    let visitor = Visitor::require(user)?;
    if form.confirm != "yes" {
        return Err(ServiceError::field(
            "confirm",
            service::FieldCode::Required,
            "tick the box to confirm the unlinking",
        )
        .into());
    }
    service::mailboxes::unlink(
        &state.store,
        &state.graph_unlinker(),
        visitor.actor,
        MailboxId(id),
    )
    .await?;
    Ok(Redirect::to("/dashboard?done=unlinked").into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(reconnecting: &str) -> MailboxPage {
        MailboxPage {
            csrf: "c".into(),
            org_admin: false,
            id: 7,
            address: "ann@example.com".into(),
            kind: "imap",
            status: "ok",
            reason: String::new(),
            needs_attention: false,
            reconnecting: reconnecting.into(),
            settings: vec![],
            lists: vec![],
            exclusions: String::new(),
            exclusions_error: String::new(),
            saved: String::new(),
            counters: vec![],
            last_activity: "never".into(),
            managed: false,
        }
    }

    #[test]
    fn the_page_says_reconnecting_since_when_and_why_only_while_it_is_so()
    -> Result<(), askama::Error> {
        let shown = page("since 2026-12-07 00:20 (IMAP server unreachable)").render()?;
        assert!(
            shown.contains("reconnecting since 2026-12-07 00:20 (IMAP server unreachable)"),
            "{shown}"
        );
        let healthy = page("").render()?;
        assert!(!healthy.contains("reconnecting"), "{healthy}");
        Ok(())
    }
}
