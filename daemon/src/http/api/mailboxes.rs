//! `/api/v1/mailboxes…`: link IMAP, list, show, unlink, exclusions, target list, status.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use secrecy::SecretString;
use serde::Deserialize;

use crate::http::app::AppState;
use crate::http::auth::CurrentUser;
use crate::service::mailboxes::{self, LinkImap};
use crate::store::{ListId, MailboxId};

use super::error::ApiError;
use super::extract::{Ids, JsonBody};

type ApiResult = Result<Response, ApiError>;

/// The link form. The password moves straight into a `SecretString`; no response echoes it.
#[derive(Deserialize)]
pub struct LinkImapBody {
    #[serde(default, deserialize_with = "super::extract::integer")]
    list: Option<i64>,
    host: Option<String>,
    #[serde(default, deserialize_with = "super::extract::integer")]
    port: Option<i64>,
    security: Option<String>,
    username: Option<String>,
    password: Option<String>,
    address: Option<String>,
    name: Option<String>,
    #[serde(default)]
    folders: Vec<String>,
    #[serde(default, deserialize_with = "super::extract::integer")]
    backfill: Option<i64>,
    #[serde(default)]
    excluded_domains: Vec<String>,
    /// A private CA's certificate(s), PEM.
    ca_pem: Option<String>,
}

#[derive(Deserialize)]
pub struct ExclusionsBody {
    #[serde(default)]
    domains: Vec<String>,
}

#[derive(Deserialize)]
pub struct ListBody {
    #[serde(default, deserialize_with = "super::extract::integer")]
    list: Option<i64>,
}

pub async fn index(State(app): State<AppState>, user: CurrentUser) -> ApiResult {
    Ok(Json(mailboxes::my_mailboxes(&app.store, user.actor()).await?).into_response())
}

pub async fn link_imap(
    State(app): State<AppState>,
    user: CurrentUser,
    JsonBody(body): JsonBody<LinkImapBody>,
) -> ApiResult {
    let form = LinkImap {
        list: body.list,
        host: body.host,
        port: body.port,
        security: body.security,
        username: body.username,
        password: body.password.map(SecretString::from),
        address: body.address,
        name: body.name,
        folders: body.folders,
        backfill: body.backfill,
        excluded_domains: body.excluded_domains,
        ca_pem: body.ca_pem,
    };
    let mailbox =
        mailboxes::link_imap(&app.store, &app.vault, &app.imap, user.actor(), form).await?;
    Ok((StatusCode::CREATED, Json(mailbox)).into_response())
}

#[derive(Deserialize)]
pub struct PasswordBody {
    password: Option<String>,
}

pub async fn replace_password(
    State(app): State<AppState>,
    user: CurrentUser,
    ids: Ids,
    JsonBody(body): JsonBody<PasswordBody>,
) -> ApiResult {
    let password = body.password.map(SecretString::from);
    let mailbox = mailboxes::replace_password(
        &app.store,
        &app.vault,
        &app.imap,
        user.actor(),
        MailboxId(ids.one()?),
        password,
    )
    .await?;
    Ok(Json(mailbox).into_response())
}

pub async fn pause(State(app): State<AppState>, user: CurrentUser, ids: Ids) -> ApiResult {
    let id = MailboxId(ids.one()?);
    let mailbox = mailboxes::pause(&app.store, &app.mailboxes_changed, user.actor(), id).await?;
    Ok(Json(mailbox).into_response())
}

pub async fn resume(State(app): State<AppState>, user: CurrentUser, ids: Ids) -> ApiResult {
    let id = MailboxId(ids.one()?);
    let mailbox = mailboxes::resume(&app.store, &app.mailboxes_changed, user.actor(), id).await?;
    Ok(Json(mailbox).into_response())
}

pub async fn show(State(app): State<AppState>, user: CurrentUser, ids: Ids) -> ApiResult {
    Ok(
        Json(mailboxes::get_mailbox(&app.store, user.actor(), MailboxId(ids.one()?)).await?)
            .into_response(),
    )
}

pub async fn unlink(State(app): State<AppState>, user: CurrentUser, ids: Ids) -> ApiResult {
    mailboxes::unlink(
        &app.store,
        &app.graph_unlinker(),
        user.actor(),
        MailboxId(ids.one()?),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

pub async fn exclusions(
    State(app): State<AppState>,
    user: CurrentUser,
    ids: Ids,
    JsonBody(body): JsonBody<ExclusionsBody>,
) -> ApiResult {
    let mailbox = mailboxes::set_exclusions(
        &app.store,
        user.actor(),
        MailboxId(ids.one()?),
        &body.domains,
    )
    .await?;
    Ok(Json(mailbox).into_response())
}

pub async fn set_list(
    State(app): State<AppState>,
    user: CurrentUser,
    ids: Ids,
    JsonBody(body): JsonBody<ListBody>,
) -> ApiResult {
    let Some(list) = body.list.filter(|l| *l > 0) else {
        return Err(crate::service::ServiceError::field(
            "list",
            crate::service::FieldCode::Required,
            "is required",
        )
        .into());
    };
    let mailbox = mailboxes::set_list(
        &app.store,
        user.actor(),
        MailboxId(ids.one()?),
        ListId(list),
    )
    .await?;
    Ok(Json(mailbox).into_response())
}

pub async fn status(State(app): State<AppState>, user: CurrentUser, ids: Ids) -> ApiResult {
    Ok(
        Json(mailboxes::status(&app.store, user.actor(), MailboxId(ids.one()?)).await?)
            .into_response(),
    )
}

#[derive(Deserialize)]
pub struct LinkMicrosoftBody {
    #[serde(default, deserialize_with = "super::extract::integer")]
    list: Option<i64>,
}

/// `POST /api/v1/mailboxes/microsoft`: a thin wrapper over
/// [`mailboxes::start_microsoft_link`]; the daemon's OAuth callback completes the link
/// (only in a browser signed in as this user).
pub async fn link_microsoft(
    State(app): State<AppState>,
    user: CurrentUser,
    JsonBody(body): JsonBody<LinkMicrosoftBody>,
) -> ApiResult {
    use crate::service::{FieldCode, FieldError, ServiceError};
    let Some(list) = body.list.map(ListId) else {
        return Err(ServiceError::Validation(vec![FieldError::new(
            "list",
            FieldCode::Required,
            "is required",
        )])
        .into());
    };
    let url = mailboxes::start_microsoft_link(
        &app.store,
        &app.vault,
        app.settings.graph.as_deref(),
        user.actor(),
        list,
        crate::sources::graph::LinkOrigin::Api,
    )
    .await?;
    Ok(Json(serde_json::json!({ "authorize_url": url.as_str() })).into_response())
}

/// The OAuth link form: the IMAP form without a password, and the provider to sign in at.
#[derive(Deserialize)]
pub struct LinkImapOAuthBody {
    provider: Option<String>,
    #[serde(default, deserialize_with = "super::extract::integer")]
    list: Option<i64>,
    host: Option<String>,
    #[serde(default, deserialize_with = "super::extract::integer")]
    port: Option<i64>,
    security: Option<String>,
    username: Option<String>,
    address: Option<String>,
    name: Option<String>,
    #[serde(default)]
    folders: Vec<String>,
    #[serde(default, deserialize_with = "super::extract::integer")]
    backfill: Option<i64>,
    #[serde(default)]
    excluded_domains: Vec<String>,
    ca_pem: Option<String>,
}

/// `POST /api/v1/mailboxes/imap-oauth`: a thin wrapper over
/// [`crate::service::imap_oauth::start_imap_oauth_link`]; returns the provider's sign-in URL.
/// The daemon's callback completes the link, only in a browser signed in as this user.
pub async fn link_imap_oauth(
    State(app): State<AppState>,
    user: CurrentUser,
    JsonBody(body): JsonBody<LinkImapOAuthBody>,
) -> ApiResult {
    let form = LinkImap {
        list: body.list,
        host: body.host,
        port: body.port,
        security: body.security,
        username: body.username,
        password: None,
        address: body.address,
        name: body.name,
        folders: body.folders,
        backfill: body.backfill,
        excluded_domains: body.excluded_domains,
        ca_pem: body.ca_pem,
    };
    let url = crate::service::imap_oauth::start_imap_oauth_link(
        &app.store,
        &app.vault,
        &app.imap,
        &app.settings.mail_oauth,
        user.actor(),
        crate::service::imap_oauth::ImapOAuthStart {
            provider: body.provider.unwrap_or_default(),
            form,
            origin: crate::store::LinkOrigin::Api,
        },
    )
    .await?;
    Ok(Json(serde_json::json!({ "authorize_url": url.as_str() })).into_response())
}
