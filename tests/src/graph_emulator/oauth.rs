//! The Microsoft identity platform v2 endpoints under `{base}/{tenant}/`: `v2.0/adminconsent` (an
//! admin grants the app's application permissions for the tenant), `oauth2/v2.0/authorize`
//! (the emulator plays the sign-in page and the user's consent) and `token` (authorization code with
//! PKCE S256 and client secret; refresh token, rotated at every use; client credentials for
//! `https://graph.microsoft.com/.default`, carrying the application permissions an admin granted).
//!
//! Stricter than Microsoft on purpose where a laxer daemon would be wrong: PKCE is required and
//! only S256 is accepted, and a refresh token is invalid once used (Microsoft merely replaces it).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::json;
use sha2::{Digest, Sha256};

use super::reply::{json, oauth_error};
use super::state::{AUTH_CODE_LIFETIME, AccessGrant, AuthCode, Emulator, RefreshGrant, opaque};

/// Header (or query parameter) by which [`super::GraphEmulator::consent`] tells the sign-in page
/// which user signs in.
pub const SIGN_IN_HEADER: &str = "x-emulator-user";
const SIGN_IN_PARAM: &str = "emulator_user";

/// Scopes the emulated tenant knows; anything else is refused as `invalid_scope`.
const KNOWN_SCOPES: &[&str] = &[
    "openid",
    "profile",
    "email",
    "offline_access",
    "user.read",
    "mail.read",
    "mail.readbasic",
    "mail.readwrite",
    "contacts.read",
    "contacts.readwrite",
];
/// Scopes about the sign-in itself, never listed in a token's `scope`.
const OIDC_SCOPES: &[&str] = &["openid", "profile", "email", "offline_access"];

pub fn routes() -> Router<Arc<Emulator>> {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/authorize", get(authorize))
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/{tenant}/v2.0/adminconsent", get(admin_consent))
}

/// Tenants a client-credentials grant cannot be asked of: the app is in every tenant, so the
/// identity platform must be told which one.
const MULTI_TENANT_ALIASES: &[&str] = &["common", "organizations", "consumers"];

/// The admin-consent endpoint: an administrator grants the app's application permissions for
/// the whole tenant. The emulator plays an admin who consents (or declines, when the test set
/// [`super::state::Settings::refuse_admin_consent`]) and redirects back with
/// `admin_consent=True&tenant=…&state=…&scope=…`, or `error=…&error_description=…&state=…`.
async fn admin_consent(
    State(emu): State<Arc<Emulator>>,
    Query(q): Query<HashMap<String, String>>,
) -> Response {
    let param = |k: &str| q.get(k).map(String::as_str).unwrap_or("");
    let redirect_uri = param("redirect_uri");
    let state_param = q.get("state").cloned();
    let mut st = emu.lock();
    let refuse = st.settings.refuse_admin_consent;
    let tenant = st.tenant_id.clone();
    let Some(app) = st.apps.get_mut(param("client_id")) else {
        return error_page(
            StatusCode::BAD_REQUEST,
            "AADSTS700016: application not found in the directory",
        );
    };
    if !app.redirect_uris.iter().any(|r| r == redirect_uri) {
        return error_page(
            StatusCode::BAD_REQUEST,
            "AADSTS50011: the redirect URI does not match the redirect URIs configured for the application",
        );
    }
    if param("scope") != GRAPH_DEFAULT_SCOPE {
        return redirect_with(
            redirect_uri,
            &[
                ("error", "invalid_request"),
                (
                    "error_description",
                    "AADSTS70011: the scope of an admin consent must be the resource's /.default",
                ),
            ],
            state_param.as_deref(),
        );
    }
    if refuse {
        return redirect_with(
            redirect_uri,
            &[
                ("error", "access_denied"),
                (
                    "error_description",
                    "AADSTS65004: the administrator declined to consent to access the app",
                ),
            ],
            state_param.as_deref(),
        );
    }
    let granted: Vec<String> = app.application_permissions.iter().cloned().collect();
    app.app_roles.extend(granted);
    redirect_with(
        redirect_uri,
        &[
            ("admin_consent", "True"),
            ("tenant", &tenant),
            ("scope", GRAPH_DEFAULT_SCOPE),
        ],
        state_param.as_deref(),
    )
}

/// `Mail.Read` and `https://graph.microsoft.com/Mail.Read` are the same scope.
pub fn normalize_scope(scope: &str) -> String {
    let lower = scope.to_ascii_lowercase();
    lower
        .strip_prefix("https://graph.microsoft.com/")
        .map(str::to_owned)
        .unwrap_or(lower)
}

fn s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

async fn authorize(
    State(emu): State<Arc<Emulator>>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let param = |k: &str| q.get(k).map(String::as_str).unwrap_or("");
    let client_id = param("client_id");
    let redirect_uri = param("redirect_uri");
    {
        let st = emu.lock();
        let Some(app) = st.apps.get(client_id) else {
            return error_page(
                StatusCode::BAD_REQUEST,
                "AADSTS700016: application not found in the directory",
            );
        };
        if !app.redirect_uris.iter().any(|r| r == redirect_uri) {
            return error_page(
                StatusCode::BAD_REQUEST,
                "AADSTS50011: the redirect URI does not match the redirect URIs configured for the application",
            );
        }
    }
    // From here on errors go back to the client through its redirect URI, as Microsoft does.
    let state_param = q.get("state").cloned();
    let fail = |error: &str, description: &str| {
        redirect_with(
            redirect_uri,
            &[("error", error), ("error_description", description)],
            state_param.as_deref(),
        )
    };
    if param("response_type") != "code" {
        return fail(
            "unsupported_response_type",
            "AADSTS70005: response_type must be code",
        );
    }
    if !matches!(param("response_mode"), "" | "query") {
        return fail(
            "invalid_request",
            "AADSTS900144: only response_mode=query is supported here",
        );
    }
    let challenge = param("code_challenge");
    if param("code_challenge_method") != "S256" || !(43..=128).contains(&challenge.len()) {
        return fail(
            "invalid_request",
            "AADSTS501491: PKCE with code_challenge_method=S256 is required",
        );
    }
    let scopes: Vec<String> = param("scope")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    if scopes.is_empty() {
        return fail(
            "invalid_request",
            "AADSTS900144: the request body must contain the 'scope' parameter",
        );
    }
    if let Some(bad) = scopes
        .iter()
        .find(|s| !KNOWN_SCOPES.contains(&normalize_scope(s).as_str()))
    {
        return fail(
            "invalid_scope",
            &format!("AADSTS70011: the scope '{bad}' is not valid"),
        );
    }
    let who = headers
        .get(SIGN_IN_HEADER)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| q.get(SIGN_IN_PARAM).cloned());
    let Some(who) = who else {
        return sign_in_page(&q);
    };
    let code = {
        let mut st = emu.lock();
        let Some(user_id) = st.user_by_email(&who).map(|u| u.id.clone()) else {
            return error_page(
                StatusCode::BAD_REQUEST,
                "AADSTS50034: the user account does not exist",
            );
        };
        let code = opaque("emu-code-", 24);
        let expires = st.now() + AUTH_CODE_LIFETIME;
        st.codes.insert(
            code.clone(),
            AuthCode {
                client_id: client_id.to_owned(),
                redirect_uri: redirect_uri.to_owned(),
                user_id,
                scopes,
                code_challenge: challenge.to_owned(),
                expires,
            },
        );
        code
    };
    redirect_with(redirect_uri, &[("code", &code)], state_param.as_deref())
}

fn redirect_with(redirect_uri: &str, pairs: &[(&str, &str)], state: Option<&str>) -> Response {
    let Ok(mut url) = url::Url::parse(redirect_uri) else {
        return error_page(StatusCode::BAD_REQUEST, "the redirect URI is not a URL");
    };
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            q.append_pair(k, v);
        }
        if let Some(s) = state {
            q.append_pair("state", s);
        }
    }
    (StatusCode::FOUND, [(header::LOCATION, url.to_string())]).into_response()
}

fn error_page(status: StatusCode, message: &str) -> Response {
    (
        status,
        Html(format!(
            "<!doctype html><title>Sign in error</title><p>{}</p>",
            escape(message)
        )),
    )
        .into_response()
}

/// The page a person sees in manual runs: type the e-mail of an emulated user to sign in.
fn sign_in_page(q: &HashMap<String, String>) -> Response {
    let hidden: String = q
        .iter()
        .map(|(k, v)| {
            format!(
                r#"<input type="hidden" name="{}" value="{}">"#,
                escape(k),
                escape(v)
            )
        })
        .collect();
    Html(format!(
        "<!doctype html><title>Sign in (Graph emulator)</title><form method=get>{hidden}\
         <label>E-mail <input name={SIGN_IN_PARAM}></label> <button>Sign in and consent</button></form>"
    ))
    .into_response()
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// Client credentials from the form or from HTTP Basic authentication.
fn client_credentials(
    form: &HashMap<String, String>,
    headers: &HeaderMap,
) -> (Option<String>, Option<String>) {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| STANDARD.decode(b.trim()).ok())
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            // RFC 6749 §2.3.1: id and secret are form-urlencoded before the Basic encoding.
            let (id, secret) = s.split_once(':')?;
            let dec = |x: &str| {
                url::form_urlencoded::parse(format!("x={x}").as_bytes())
                    .next()
                    .map(|(_, v)| v.into_owned())
            };
            Some((dec(id)?, dec(secret)?))
        });
    match basic {
        Some((id, secret)) => (Some(id), Some(secret)),
        None => (
            form.get("client_id").cloned(),
            form.get("client_secret").cloned(),
        ),
    }
}

async fn token(
    State(emu): State<Arc<Emulator>>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let (client_id, secret) = client_credentials(&form, &headers);
    let Some(client_id) = client_id else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            900144,
            "the request must contain client_id",
        );
    };
    let mut st = emu.lock();
    let Some(app) = st.apps.get(&client_id) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            "application not found in the directory",
        );
    };
    if secret.as_deref() != Some(app.client_secret.as_str()) {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            7000215,
            "invalid client secret provided",
        );
    }
    let app_roles = app.app_roles.clone();
    let form_param = |k: &str| form.get(k).map(String::as_str).unwrap_or("");
    if form_param("grant_type") == "client_credentials" {
        if MULTI_TENANT_ALIASES.contains(&tenant.to_ascii_lowercase().as_str()) {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                700016,
                &format!(
                    "the client credentials grant needs the tenant's own endpoint, not '{tenant}'"
                ),
            );
        }
        return client_credentials_token(&mut st, client_id, form_param("scope"), app_roles);
    }
    let (user_id, scopes) = match form_param("grant_type") {
        "authorization_code" => {
            let Some(code) = st.codes.remove(form_param("code")) else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    54005,
                    "the authorization code is unknown or was already redeemed",
                );
            };
            if code.expires <= st.now() {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    70008,
                    "the provided authorization code has expired",
                );
            }
            if code.client_id != client_id {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    70000,
                    "the code was issued to another client",
                );
            }
            if code.redirect_uri != form_param("redirect_uri") {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    50148,
                    "the redirect_uri does not match the one of the authorization request",
                );
            }
            if s256(form_param("code_verifier")) != code.code_challenge {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    501481,
                    "the code_verifier does not match the code_challenge supplied in the authorization request",
                );
            }
            (code.user_id, code.scopes)
        }
        "refresh_token" => {
            let presented = form_param("refresh_token");
            match st.refresh_tokens.get(presented) {
                Some(g) if g.client_id == client_id => {}
                Some(_) => {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        70000,
                        "the refresh token was issued to another client",
                    );
                }
                None => {
                    return oauth_error(
                        StatusCode::BAD_REQUEST,
                        "invalid_grant",
                        50173,
                        "the provided grant has expired due to it being revoked, a fresh auth token is needed",
                    );
                }
            }
            let Some(grant) = st.refresh_tokens.remove(presented) else {
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    50173,
                    "the refresh token is unknown",
                );
            };
            let granted: HashSet<String> =
                grant.scopes.iter().map(|s| normalize_scope(s)).collect();
            if let Some(requested) = form.get("scope")
                && let Some(bad) = requested
                    .split_whitespace()
                    .find(|s| !granted.contains(&normalize_scope(s)))
            {
                st.refresh_tokens.insert(presented.to_owned(), grant);
                return oauth_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_grant",
                    65001,
                    &format!("the user has not consented to the scope '{bad}'"),
                );
            }
            *st.refresh_counts.entry(grant.user_id.clone()).or_default() += 1;
            (grant.user_id, grant.scopes)
        }
        other => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                70003,
                &format!("the grant type '{other}' is not supported"),
            );
        }
    };
    let lifetime = st.settings.access_token_lifetime;
    let access_token = opaque("emu-at-", 32);
    let normalized: HashSet<String> = scopes.iter().map(|s| normalize_scope(s)).collect();
    let expires = st.now() + lifetime;
    st.access_tokens.insert(
        access_token.clone(),
        AccessGrant {
            client_id: client_id.clone(),
            user_id: user_id.clone(),
            scopes: normalized.clone(),
            expires,
        },
    );
    let granted_scope: Vec<&str> = scopes
        .iter()
        .filter(|s| !OIDC_SCOPES.contains(&normalize_scope(s).as_str()))
        .map(String::as_str)
        .collect();
    let mut body = json!({
        "token_type": "Bearer",
        "scope": granted_scope.join(" "),
        "expires_in": lifetime.as_secs(),
        "ext_expires_in": lifetime.as_secs(),
        "access_token": access_token,
    });
    if normalized.contains("offline_access") {
        let refresh_token = opaque("emu-rt-", 40);
        st.refresh_tokens.insert(
            refresh_token.clone(),
            RefreshGrant {
                client_id,
                user_id,
                scopes,
            },
        );
        body["refresh_token"] = json!(refresh_token);
    }
    json(StatusCode::OK, body)
}

/// The client-credentials grant: an app-only token (no user, no refresh token) whose permissions
/// are the app roles an admin granted. As at Microsoft, the scope must be the resource's
/// `/.default`; an app without granted roles still gets a token, which Graph then refuses.
fn client_credentials_token(
    st: &mut super::state::State,
    client_id: String,
    scope: &str,
    app_roles: HashSet<String>,
) -> Response {
    if scope.trim() != GRAPH_DEFAULT_SCOPE {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            1002012,
            "the provided value for scope is not valid: client credential flows must have a scope value with /.default suffixed to the resource identifier",
        );
    }
    let lifetime = st.settings.access_token_lifetime;
    let access_token = opaque("emu-at-", 32);
    let expires = st.now() + lifetime;
    st.access_tokens.insert(
        access_token.clone(),
        AccessGrant {
            client_id,
            user_id: String::new(),
            scopes: app_roles,
            expires,
        },
    );
    json(
        StatusCode::OK,
        json!({
            "token_type": "Bearer",
            "expires_in": lifetime.as_secs(),
            "ext_expires_in": lifetime.as_secs(),
            "access_token": access_token,
        }),
    )
}

/// The only scope a client-credentials request for Graph may ask for.
pub const GRAPH_DEFAULT_SCOPE: &str = "https://graph.microsoft.com/.default";
