//! The OpenAPI 3.1 document, built with utoipa's model from the route table in
//! [`super::routes`], so every route is in it by construction.

use std::sync::OnceLock;

use axum::http::{Method, header};
use axum::response::{IntoResponse, Response};
use utoipa::openapi::path::{
    HttpMethod, OperationBuilder, ParameterBuilder, ParameterIn, PathItem,
};
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
