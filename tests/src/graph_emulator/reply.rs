//! The shapes of Graph's and the identity platform's answers, so every handler errs alike.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// A Graph error: `{"error":{"code":…,"message":…,"innerError":{…}}}`.
pub fn graph_error(status: StatusCode, code: &str, message: &str) -> Response {
    let body = json!({
        "error": {
            "code": code,
            "message": message,
            "innerError": { "request-id": super::state::guid(), "client-request-id": super::state::guid() }
        }
    });
    (status, Json(body)).into_response()
}

/// An identity platform (OAuth) error, as the token endpoint answers it.
pub fn oauth_error(status: StatusCode, error: &str, aadsts: u32, description: &str) -> Response {
    let body = json!({
        "error": error,
        "error_description": format!("AADSTS{aadsts}: {description}"),
        "error_codes": [aadsts],
        "timestamp": super::state::graph_time(time::OffsetDateTime::now_utc()),
        "trace_id": super::state::guid(),
        "correlation_id": super::state::guid(),
    });
    (status, Json(body)).into_response()
}

pub fn json(status: StatusCode, body: serde_json::Value) -> Response {
    (status, Json(body)).into_response()
}
