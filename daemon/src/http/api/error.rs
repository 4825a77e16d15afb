//! The API's one error type and its JSON form `{"error": code, "message": …}` (plus `fields`
//! for validation errors). Objects of other users are 404, never 403, so ids cannot be probed.
//! Internal details are logged, never sent.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::service::{FieldCode, ServiceError};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Service(#[from] ServiceError),
    #[error("{0} not found")]
    NotFound(&'static str),
    #[error("the request body is not valid JSON for this endpoint: {0}")]
    BadBody(String),
    #[error("the request body is larger than the limit")]
    TooLarge,
    #[error("send the body as application/json")]
    UnsupportedMediaType,
    #[error("no such endpoint")]
    NoRoute,
    #[error("method not allowed")]
    MethodNotAllowed,
    #[error("too many attempts")]
    RateLimited(std::time::Duration),
}

impl From<crate::store::Error> for ApiError {
    fn from(e: crate::store::Error) -> Self {
        ApiError::Service(e.into())
    }
}

impl From<crate::http::auth::AuthError> for ApiError {
    fn from(e: crate::http::auth::AuthError) -> Self {
        use crate::http::auth::AuthError as A;
        let field = |message: String| {
            ApiError::Service(ServiceError::field("password", FieldCode::Text, message))
        };
        match e {
            A::TooManyAttempts { retry_after } => ApiError::RateLimited(retry_after),
            A::BadCredentials => field("wrong e-mail or password".to_owned()),
            A::WeakPassword { .. } => field(e.to_string()),
            A::SecondFactorRequired => ApiError::Service(ServiceError::field(
                "second_factor",
                FieldCode::Required,
                "is required: this account uses two-step verification",
            )),
            A::SecondFactor(e) => e.into(),
            A::Store(e) => e.into(),
            A::Internal(m) => ApiError::Service(ServiceError::Internal(m)),
        }
    }
}

impl From<crate::http::auth::second_factor::SecondFactorError> for ApiError {
    fn from(e: crate::http::auth::second_factor::SecondFactorError) -> Self {
        use crate::http::auth::second_factor::SecondFactorError as F;
        match e {
            F::TooManyAttempts { retry_after } => ApiError::RateLimited(retry_after),
            F::WrongCode => ApiError::Service(ServiceError::field(
                "second_factor",
                FieldCode::Text,
                "is wrong or was already used",
            )),
            F::WrongState => ApiError::Service(ServiceError::Conflict {
                what: "two-step verification",
            }),
            F::Store(e) => e.into(),
            F::Internal(m) => ApiError::Service(ServiceError::Internal(m)),
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge,
            StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::UnsupportedMediaType,
            _ => ApiError::BadBody(r.body_text()),
        }
    }
}

fn body(code: &str, message: &str) -> serde_json::Value {
    json!({ "error": code, "message": message })
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, value) = match &self {
            ApiError::Service(e) => match e {
                ServiceError::NotFound { what } => (
                    StatusCode::NOT_FOUND,
                    body("not_found", &format!("{what} not found")),
                ),
                ServiceError::Forbidden { .. } => {
                    (StatusCode::FORBIDDEN, body("forbidden", &e.to_string()))
                }
                ServiceError::Validation(fields) => (
                    StatusCode::BAD_REQUEST,
                    json!({ "error": "validation", "message": "some fields are not valid", "fields": fields }),
                ),
                ServiceError::Conflict { .. } => {
                    (StatusCode::CONFLICT, body("conflict", &e.to_string()))
                }
                ServiceError::InUse { message } => (StatusCode::CONFLICT, body("in_use", message)),
                ServiceError::LinkFailed {
                    reason,
                    auth,
                    tls_untrusted,
                    ..
                } => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    json!({
                        "error": "link_failed",
                        "message": crate::service::error::link_failure_text(reason, *tls_untrusted),
                        "auth_failed": auth,
                    }),
                ),
                ServiceError::Unavailable(detail) => {
                    tracing::warn!(detail = %detail, "request failed: dependency unavailable");
                    (
                        StatusCode::SERVICE_UNAVAILABLE,
                        body(
                            "unavailable",
                            "a dependency is unavailable; try again later",
                        ),
                    )
                }
                ServiceError::Internal(detail) => {
                    tracing::error!(detail = %detail, "request failed: internal error");
                    (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        body("internal", "internal error"),
                    )
                }
            },
            ApiError::NotFound(what) => (
                StatusCode::NOT_FOUND,
                body("not_found", &format!("{what} not found")),
            ),
            ApiError::BadBody(m) => (
                StatusCode::BAD_REQUEST,
                json!({ "error": "validation", "message": m,
                        "fields": [{ "field": "body", "code": "text", "message": m }] }),
            ),
            ApiError::TooLarge => (
                StatusCode::PAYLOAD_TOO_LARGE,
                body("too_large", &self.to_string()),
            ),
            ApiError::UnsupportedMediaType => (
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                body("unsupported_media_type", &self.to_string()),
            ),
            ApiError::NoRoute => (StatusCode::NOT_FOUND, body("no_route", &self.to_string())),
            ApiError::MethodNotAllowed => (
                StatusCode::METHOD_NOT_ALLOWED,
                body("method_not_allowed", &self.to_string()),
            ),
            ApiError::RateLimited(wait) => {
                let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                let mut response = (
                    StatusCode::TOO_MANY_REQUESTS,
                    Json(body("rate_limited", "too many attempts; retry later")),
                )
                    .into_response();
                response.headers_mut().insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from(seconds.max(1)),
                );
                return response;
            }
        };
        (status, Json(value)).into_response()
    }
}
