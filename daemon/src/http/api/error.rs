//! The API's one error type and its JSON form `{"error": code, "message": …}` (plus `fields`
//! for validation errors). Objects of other users are 404, never 403, so ids cannot be probed.
//! Internal details are logged, never sent.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::service::{FieldCode, FieldError, ServiceError};

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
}

impl From<crate::store::Error> for ApiError {
    fn from(e: crate::store::Error) -> Self {
        ApiError::Service(e.into())
    }
}

impl From<crate::http::auth::AuthError> for ApiError {
    fn from(e: crate::http::auth::AuthError) -> Self {
        use crate::http::auth::AuthError as A;
        ApiError::Service(match e {
            A::BadCredentials => ServiceError::Validation(vec![FieldError::new(
                "password",
                FieldCode::Text,
                "wrong e-mail or password",
            )]),
            A::WeakPassword { .. } => ServiceError::Validation(vec![FieldError::new("password", FieldCode::Text, e.to_string())]),
            A::Store(e) => e.into(),
            A::Internal(m) => ServiceError::Internal(m),
        })
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
                ServiceError::NotFound { what } => (StatusCode::NOT_FOUND, body("not_found", &format!("{what} not found"))),
                ServiceError::Forbidden { .. } => (StatusCode::FORBIDDEN, body("forbidden", &e.to_string())),
                ServiceError::Validation(fields) => (
                    StatusCode::BAD_REQUEST,
                    json!({ "error": "validation", "message": "some fields are not valid", "fields": fields }),
                ),
                ServiceError::Conflict { .. } => (StatusCode::CONFLICT, body("conflict", &e.to_string())),
                ServiceError::LinkFailed { reason, auth } => (
                    StatusCode::UNPROCESSABLE_ENTITY,
                    json!({ "error": "link_failed", "message": reason, "auth_failed": auth }),
                ),
                ServiceError::Unavailable(detail) => {
                    tracing::warn!(detail = %detail, "request failed: dependency unavailable");
                    (StatusCode::SERVICE_UNAVAILABLE, body("unavailable", "a dependency is unavailable; try again later"))
                }
                ServiceError::Internal(detail) => {
                    tracing::error!(detail = %detail, "request failed: internal error");
                    (StatusCode::INTERNAL_SERVER_ERROR, body("internal", "internal error"))
                }
            },
            ApiError::NotFound(what) => (StatusCode::NOT_FOUND, body("not_found", &format!("{what} not found"))),
            ApiError::BadBody(m) => (
                StatusCode::BAD_REQUEST,
                json!({ "error": "validation", "message": m,
                        "fields": [{ "field": "body", "code": "text", "message": m }] }),
            ),
            ApiError::TooLarge => (StatusCode::PAYLOAD_TOO_LARGE, body("too_large", &self.to_string())),
            ApiError::UnsupportedMediaType => {
                (StatusCode::UNSUPPORTED_MEDIA_TYPE, body("unsupported_media_type", &self.to_string()))
            }
            ApiError::NoRoute => (StatusCode::NOT_FOUND, body("no_route", &self.to_string())),
            ApiError::MethodNotAllowed => (StatusCode::METHOD_NOT_ALLOWED, body("method_not_allowed", &self.to_string())),
        };
        (status, Json(value)).into_response()
    }
}
