//! The OpenAPI 3.1 document, built with utoipa's model from the route table in
//! [`super::routes`], so every route is in it by construction.

use std::sync::OnceLock;

use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::content::ContentBuilder;
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem,
};
use utoipa::openapi::request_body::RequestBodyBuilder;
use utoipa::openapi::security::{
    ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityRequirement, SecurityScheme,
};
use utoipa::openapi::{
    ComponentsBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathsBuilder, Required,
    ResponseBuilder,
};

use super::Route;
use crate::http::auth::SESSION_COOKIE;

fn http_method(method: &Method) -> HttpMethod {
    match *method {
        Method::POST => HttpMethod::Post,
        Method::PUT => HttpMethod::Put,
        Method::PATCH => HttpMethod::Patch,
        Method::DELETE => HttpMethod::Delete,
        _ => HttpMethod::Get,
    }
}

/// `{id}` → `id`, for each parameter of a path.
fn path_params(path: &str) -> impl Iterator<Item = &str> {
    path.split('/')
        .filter_map(|seg| seg.strip_prefix('{'))
        .filter_map(|seg| seg.split_once('}'))
        .map(|(name, _)| name)
}

fn operation_id(route: &Route) -> String {
    let path: String = route
        .path
        .trim_start_matches(super::PREFIX)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!(
        "{}{}",
        route.method.as_str().to_lowercase(),
        path.trim_end_matches('_')
    )
}

/// An example JSON body for the routes that take one (every field is optional in the schema
/// sense: missing required fields come back as field-level 400s).
pub fn example_body(method: &Method, path: &str) -> Option<&'static str> {
    Some(match (method.as_str(), path) {
        ("POST", "/api/v1/session") => {
            r#"{"email": "ann@example.com", "password": "correct horse battery"}"#
        }
        ("POST", "/api/v1/me/tokens") => r#"{"label": "laptop"}"#,
        ("POST", "/api/v1/lists") | ("PATCH", "/api/v1/lists/{id}") => r#"{"name": "Customers"}"#,
        ("POST", "/api/v1/lists/{id}/members") => {
            r#"{"email": "bob@example.com", "role": "editor"}"#
        }
        ("POST", "/api/v1/mailboxes/imap") => {
            r#"{"list": 1, "host": "imap.example.com", "port": 993, "security": "tls", "username": "ann@example.com", "password": "app-password", "address": "ann@example.com", "name": "Work", "folders": ["INBOX"], "backfill": 0, "excluded_domains": ["newsletter.example"]}"#
        }
        ("POST", "/api/v1/mailboxes/microsoft") => r#"{"list": 2}"#,
        ("PUT", "/api/v1/mailboxes/{id}/exclusions") => r#"{"domains": ["newsletter.example"]}"#,
        ("PUT", "/api/v1/mailboxes/{id}/list") => r#"{"list": 2}"#,
        ("PUT", "/api/v1/mailboxes/{id}/password") => r#"{"password": "new-app-password"}"#,
        ("POST", "/api/v1/suggestions/{id}/merge") => {
            r#"{"fields": [{"field": "title", "choice": "keep_old"}, {"field": "company", "choice": "take_new"}, {"field": "name", "choice": "typed", "value": "Ann Q. Example"}]}"#
        }
        _ => return None,
    })
}

/// Builds the document.
pub fn document(routes: &[Route]) -> OpenApi {
    let mut paths = PathsBuilder::new();
    for route in routes {
        let mut op = OperationBuilder::new()
            .summary(Some(route.summary))
            .operation_id(Some(operation_id(route)))
            .tag(route.tag)
            .response("2XX", ResponseBuilder::new().description("success").build())
            .response(
                "400",
                ResponseBuilder::new()
                    .description("validation error: {error, message, fields[]}")
                    .build(),
            )
            .response(
                "404",
                ResponseBuilder::new()
                    .description("not found (also: another user's object)")
                    .build(),
            )
            .response(
                "409",
                ResponseBuilder::new()
                    .description("conflict: already exists, or still in use ({error: \"in_use\", message})")
                    .build(),
            )
            .response(
                "429",
                ResponseBuilder::new()
                    .description("rate limited; see Retry-After")
                    .build(),
            );
        for name in path_params(route.path) {
            op = op.parameter(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .build(),
            );
        }
        if let Some(example) = example_body(&route.method, route.path) {
            let example: Option<serde_json::Value> = serde_json::from_str(example).ok();
            let content = ContentBuilder::new().example(example).build();
            op = op.request_body(Some(
                RequestBodyBuilder::new()
                    .content("application/json", content)
                    .required(Some(Required::True))
                    .build(),
            ));
        }
        if route.authenticated {
            op = op
                .response(
                    "401",
                    ResponseBuilder::new()
                        .description("not signed in / bad token")
                        .build(),
                )
                .response(
                    "403",
                    ResponseBuilder::new()
                        .description("role too small, or CSRF token missing")
                        .build(),
                )
                .security(SecurityRequirement::new("bearer", Vec::<String>::new()))
                .security(SecurityRequirement::new("session", Vec::<String>::new()));
        }
        paths = paths.path(
            route.path,
            PathItem::new(http_method(&route.method), op.build()),
        );
    }
    let components = ComponentsBuilder::new()
        .security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        )
        .security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(SESSION_COOKIE))),
        )
        .build();
    OpenApiBuilder::new()
        .info(
            InfoBuilder::new()
                .title("mailsig API")
                .version(env!("CARGO_PKG_VERSION"))
                .description(Some(
                    "Link mailboxes, share contact lists and review contact suggestions. \
                     Cookie-authenticated unsafe requests need the X-CSRF-Token header.",
                ))
                .build(),
        )
        .paths(paths.build())
        .components(Some(components))
        .build()
}

/// The document as JSON, built once.
pub fn json() -> &'static str {
    static JSON: OnceLock<String> = OnceLock::new();
    JSON.get_or_init(|| {
        serde_json::to_string_pretty(&document(&super::routes())).unwrap_or_else(|e| {
            tracing::error!(error = %e, "openapi document does not serialise");
            "{}".to_owned()
        })
    })
}

pub async fn serve() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], json()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every route that reads a JSON body documents an example, and every example is JSON.
    #[test]
    fn json_bodies_have_examples() {
        let without_body = ["/accept", "/dismiss"];
        for route in super::super::routes() {
            let takes_body = matches!(route.method, Method::POST | Method::PUT | Method::PATCH)
                && !without_body.iter().any(|s| route.path.ends_with(s));
            let example = example_body(&route.method, route.path);
            assert_eq!(
                takes_body,
                example.is_some(),
                "{} {}",
                route.method,
                route.path
            );
            if let Some(example) = example {
                assert!(
                    serde_json::from_str::<serde_json::Value>(example).is_ok(),
                    "{} {}",
                    route.method,
                    route.path
                );
            }
        }
        let doc = serde_json::to_value(document(&super::super::routes())).unwrap_or_default();
        let merge = &doc["paths"]["/api/v1/suggestions/{id}/merge"]["post"]["requestBody"];
        assert_eq!(
            merge["content"]["application/json"]["example"]["fields"][0]["choice"],
            "keep_old"
        );
    }
}
