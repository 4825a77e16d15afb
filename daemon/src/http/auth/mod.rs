//! Authentication for the API and the pages: who is calling, and may this request go on.
//!
//! Two ways in, one result. A bearer API token (`Authorization: Bearer msig_…`, SHA-256 at rest)
//! or the session cookie of a signed-in browser; the [`authenticate`] middleware resolves
//! either into a [`CurrentUser`] stored in the request's extensions, and handlers take the
//! [`CurrentUser`] extractor (401 without it). Cookie-authenticated requests with an unsafe
//! method must carry the session's CSRF token (`X-CSRF-Token` header or `csrf_token` form
//! field), else 403; bearer requests need none (a browser never adds that header by itself).
//! A bearer token's scope is enforced here for the coarse cut (a `read` token with an unsafe
//! method is 403 before any handler); the finer rules (issuing tokens, changing the password)
//! are the service's, from [`CurrentUser::credential`].

pub mod csrf_token;
pub mod oidc;
pub mod org_admin;
pub mod password;
pub mod password_change;
pub mod policy;
pub mod second_factor;
pub mod session;
pub mod sign_in;
pub mod sign_in_csrf;
pub mod throttle;

use axum::extract::{FromRequestParts, OptionalFromRequestParts, Request, State};
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::service::tokens::Credential;
use crate::store::{Store, TokenId, TokenScope, UserId};

pub use org_admin::OrgAdmin;
pub use password_change::change_password;
pub use session::{
    NewSession, SESSION_COOKIE, Session, SessionKind, clear_cookie, cookie_value, csrf_token,
    sign_out,
};
pub use sign_in::{PasswordSignIn, sign_in, sign_in_for, sign_in_from, sign_in_with_password};
pub use sign_in_csrf::{SIGN_IN_COOKIE, SignInToken, check_sign_in_token, clear_sign_in_cookie};

/// The CSRF header scripts send.
pub const CSRF_HEADER: &str = "x-csrf-token";
/// The CSRF form field the pages put into every form.
pub const CSRF_FIELD: &str = "csrf_token";
/// Largest form body read to find the CSRF field.
const CSRF_FORM_LIMIT: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("wrong e-mail or password")]
    BadCredentials,
    /// Too many failed sign-ins from this source or on this account (`throttle`), or the
    /// hashing pool is full; try again after `retry_after`.
    #[error("too many sign-in attempts; try again in {} s", retry_after.as_secs().max(1))]
    TooManyAttempts { retry_after: std::time::Duration },
    /// The password was right, but this user also needs a second factor.
    #[error("this account needs a code from its authenticator app")]
    SecondFactorRequired,
    #[error(transparent)]
    SecondFactor(#[from] second_factor::SecondFactorError),
    #[error("a password must have {min} to {max} characters")]
    WeakPassword { min: usize, max: usize },
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    #[error("internal error: {0}")]
    Internal(String),
}

impl AuthError {
    pub fn is_transient(&self) -> bool {
        matches!(self, AuthError::Store(e) if e.is_transient())
    }
}

/// How the caller proved who they are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Via {
    Bearer {
        token: TokenId,
        scope: TokenScope,
        /// Epoch milliseconds.
        expires_at: i64,
    },
    /// A browser session; its CSRF token was already checked for unsafe methods.
    Session(Session),
}

/// The authenticated user of this request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CurrentUser {
    pub user_id: UserId,
    pub via: Via,
}

impl CurrentUser {
    pub fn actor(&self) -> crate::service::Actor {
        crate::service::Actor::signed_in(self.user_id)
    }

    /// What this request's credential may grant: a session is full, a token its own scope.
    pub fn credential(&self) -> Credential {
        match &self.via {
            Via::Session(_) => Credential::SESSION,
            Via::Bearer {
                scope, expires_at, ..
            } => Credential {
                scope: *scope,
                expires_at: Some(*expires_at),
            },
        }
    }

    /// The browser session, when the request came with the cookie.
    pub fn session(&self) -> Option<&Session> {
        match &self.via {
            Via::Session(s) => Some(s),
            Via::Bearer { .. } => None,
        }
    }
}

/// Why a request was refused before reaching its handler.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rejection {
    /// No credentials, or credentials that are unknown, revoked or expired.
    Unauthenticated,
    /// A cookie-authenticated unsafe request without the right CSRF token.
    Csrf,
    /// A `read` token with an unsafe method.
    Scope,
    /// The store did not answer.
    Unavailable,
}

impl IntoResponse for Rejection {
    fn into_response(self) -> Response {
        let (status, code, message) = match self {
            Rejection::Unauthenticated => (
                StatusCode::UNAUTHORIZED,
                "unauthenticated",
                "sign in or send a valid API token",
            ),
            Rejection::Csrf => (StatusCode::FORBIDDEN, "csrf", "missing or wrong CSRF token"),
            Rejection::Scope => (
                StatusCode::FORBIDDEN,
                "insufficient_scope",
                "this API token may only read",
            ),
            Rejection::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "try again later",
            ),
        };
        let mut response = (
            status,
            axum::Json(serde_json::json!({ "error": code, "message": message })),
        )
            .into_response();
        if self == Rejection::Unauthenticated {
            response.headers_mut().insert(
                axum::http::header::WWW_AUTHENTICATE,
                axum::http::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

impl<S: Send + Sync> FromRequestParts<S> for CurrentUser {
    type Rejection = Rejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<CurrentUser>()
            .cloned()
            .ok_or(Rejection::Unauthenticated)
    }
}

impl<S: Send + Sync> OptionalFromRequestParts<S> for CurrentUser {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<CurrentUser>().cloned())
    }
}

/// The bearer token of the request, if it sent one.
pub fn bearer(parts_headers: &axum::http::HeaderMap) -> Option<&str> {
    let value = parts_headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}

fn is_safe(method: &Method) -> bool {
    matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// Constant-time comparison of two tokens.
pub(crate) fn same_token(a: &str, b: &str) -> bool {
    use subtle_compare::ct_eq;
    ct_eq(a.as_bytes(), b.as_bytes())
}

/// Hand-written constant-time equality: the two inputs are short tokens, and the `subtle`
/// crate is not a direct dependency for this one loop.
mod subtle_compare {
    pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
        if a.len() != b.len() {
            return false;
        }
        a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// Middleware: resolves the caller and enforces CSRF; see the module docs. A request with no
/// credentials goes on anonymously (the handler decides); a bad bearer token is refused here.
pub async fn authenticate(State(store): State<Store>, request: Request, next: Next) -> Response {
    let (mut parts, body) = request.into_parts();
    if let Some(token) = bearer(&parts.headers) {
        match store.verify_token(token).await {
            Ok(row) => {
                if row.scope < TokenScope::Write && !is_safe(&parts.method) {
                    return Rejection::Scope.into_response();
                }
                parts.extensions.insert(CurrentUser {
                    user_id: row.user,
                    via: Via::Bearer {
                        token: row.id,
                        scope: row.scope,
                        expires_at: row.expires_at,
                    },
                });
            }
            Err(e) if e.is_not_found() => return Rejection::Unauthenticated.into_response(),
            Err(e) => {
                tracing::warn!(error = %e, "token check failed");
                return Rejection::Unavailable.into_response();
            }
        }
        return next.run(Request::from_parts(parts, body)).await;
    }
    let session = match session::from_headers(&store, &parts.headers).await {
        Ok(session) => session,
        Err(e) => {
            tracing::warn!(error = %e, "session check failed");
            return Rejection::Unavailable.into_response();
        }
    };
    let Some(session) = session else {
        return next.run(Request::from_parts(parts, body)).await;
    };
    let mut request = Request::from_parts(parts, body);
    if !is_safe(request.method()) {
        let presented = request
            .headers()
            .get(CSRF_HEADER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let presented = match presented {
            Some(p) => Some(p),
            None => match csrf_from_form(request).await {
                Ok((rebuilt, found)) => {
                    request = rebuilt;
                    found
                }
                Err(response) => return response,
            },
        };
        if !presented.is_some_and(|p| same_token(&p, csrf_token(&session))) {
            // A person posting a stale page gets a page; a script gets the API's JSON.
            if request.uri().path().starts_with(crate::http::api::PREFIX) {
                return Rejection::Csrf.into_response();
            }
            return crate::http::web::csrf_refused_page();
        }
    }
    request.extensions_mut().insert(CurrentUser {
        user_id: session.user,
        via: Via::Session(session),
    });
    next.run(request).await
}

/// Reads the `csrf_token` field of a urlencoded form body and gives the request back whole.
async fn csrf_from_form(request: Request) -> Result<(Request, Option<String>), Response> {
    let is_form = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if !is_form {
        return Ok((request, None));
    }
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, CSRF_FORM_LIMIT)
        .await
        .map_err(|_| (StatusCode::PAYLOAD_TOO_LARGE, "form too large").into_response())?;
    let probe = Request::from_parts(parts.clone(), axum::body::Body::from(bytes.clone()));
    let found = match axum::Form::<Vec<(String, String)>>::from_request(probe, &()).await {
        Ok(axum::Form(fields)) => fields
            .into_iter()
            .find(|(k, _)| k == CSRF_FIELD)
            .map(|(_, v)| v),
        Err(_) => None,
    };
    Ok((
        Request::from_parts(parts, axum::body::Body::from(bytes)),
        found,
    ))
}

use axum::extract::FromRequest as _;
