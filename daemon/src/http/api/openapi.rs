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
    ComponentsBuilder, InfoBuilder, OpenApi, OpenApiBuilder, PathsBuilder, Ref, RefOr, Required,
    ResponseBuilder, Schema,
};

use super::Route;
use super::schemas::{self, Success};
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
        ("POST", "/api/v1/me/tokens") => {
            r#"{"label": "laptop", "scope": "read", "expires_in_days": 30}"#
        }
        ("PUT", "/api/v1/me/password") => {
            r#"{"current_password": "correct horse battery", "new_password": "a new and longer passphrase"}"#
        }
        ("POST", "/api/v1/lists") | ("PATCH", "/api/v1/lists/{id}") => r#"{"name": "Customers"}"#,
        ("POST", "/api/v1/lists/{id}/members") => {
            r#"{"email": "bob@example.com", "role": "editor"}"#
        }
        ("POST", "/api/v1/mailboxes/imap") => {
            r#"{"list": 1, "host": "imap.example.com", "port": 993, "security": "tls", "username": "ann@example.com", "password": "app-password", "address": "ann@example.com", "name": "Work", "folders": ["INBOX"], "backfill": 0, "excluded_domains": ["newsletter.example"]}"#
        }
        ("POST", "/api/v1/mailboxes/imap-oauth") => {
            r#"{"provider": "microsoft", "list": 1, "host": "outlook.office365.com", "username": "ann@example.com", "name": "Work"}"#
        }
        ("POST", "/api/v1/mailboxes/microsoft") => r#"{"list": 2}"#,
        ("PUT", "/api/v1/mailboxes/{id}/exclusions") => r#"{"domains": ["newsletter.example"]}"#,
        ("PUT", "/api/v1/lists/{id}/change-alerts") => r#"{"enabled": false}"#,
        ("PUT", "/api/v1/lists/{id}/auto-accept") => r#"{"mode": "dry_run", "threshold": 0.95}"#,
        ("PUT", "/api/v1/mailboxes/{id}/list") => r#"{"list": 2}"#,
        ("PUT", "/api/v1/mailboxes/{id}/password") => r#"{"password": "new-app-password"}"#,
        ("POST", "/api/v1/lists/{id}/webhooks") => {
            r#"{"url": "https://crm.example.com/hooks/mailsig", "secret": "a long random shared secret", "events": ["suggestion.accepted", "contact.changed"]}"#
        }
        ("POST", "/api/v1/admin/blocklist") => r#"{"value": "newsletter.example"}"#,
        ("POST", "/api/v1/admin/microsoft-365/groups") => r#"{"group": "sales@contoso.com"}"#,
        ("POST", "/api/v1/admin/microsoft-365/users") => r#"{"user": "megan@contoso.com"}"#,
        ("PUT", "/api/v1/lists/{id}/book") => {
            r#"{"url": "https://dav.example.com/", "user": "ann", "password": "app-password"}"#
        }
        ("PUT", "/api/v1/lists/{id}/book/outlook") => r#"{"mailbox": 3, "folder": "From mailsig"}"#,
        ("POST", "/api/v1/admin/users") => {
            r#"{"email": "new.colleague@example.com", "display_name": "New Colleague"}"#
        }
        ("POST", "/api/v1/admin/users/{id}/offboard") => r#"{"new_owner": 2}"#,
        ("POST", "/api/v1/suggestions/{id}/merge") => {
            r#"{"fields": [{"field": "title", "choice": "keep_old"}, {"field": "company", "choice": "take_new"}, {"field": "name", "choice": "typed", "value": "Ann Q. Example"}]}"#
        }
        _ => return None,
    })
}

/// The JSON Schema of each route's body (the same routes as [`example_body`]): types, required
/// fields, lengths, ranges and choices as the service layer checks them, so a client (or a
/// fuzzer such as schemathesis) knows what is accepted. Text fields must hold a non-space
/// character (`pattern`), as the service trims them.
pub fn body_schema(method: &Method, path: &str) -> Option<&'static str> {
    Some(match (method.as_str(), path) {
        ("POST", "/api/v1/session") => {
            r#"{"type": "object", "required": ["email", "password"], "properties": {
                "email": {"type": "string", "format": "email", "maxLength": 254},
                "password": {"type": "string", "minLength": 1, "maxLength": 1024},
                "second_factor": {"type": "string", "maxLength": 64, "writeOnly": true,
                  "description": "A code from the authenticator app, or an unused recovery code; required when the account has two-step verification on."}}}"#
        }
        ("POST", "/api/v1/me/tokens") => {
            r#"{"type": "object", "required": ["label"], "properties": {
                "label": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"},
                "scope": {"type": "string", "enum": ["read", "write", "full"], "default": "read",
                          "description": "at most the caller's own; issuing needs a session or a full token"},
                "expires_in_days": {"type": "integer", "minimum": 1, "maximum": 36500,
                          "description": "default [api] token_ttl (90 days), at most [api] token_max_ttl (365 days); never later than the issuing token"}}}"#
        }
        ("PUT", "/api/v1/me/password") => {
            r#"{"type": "object", "required": ["current_password", "new_password"], "properties": {
                "current_password": {"type": "string", "minLength": 1, "maxLength": 1024, "writeOnly": true},
                "new_password": {"type": "string", "minLength": 10, "maxLength": 1024, "writeOnly": true}}}"#
        }
        ("POST", "/api/v1/lists") | ("PATCH", "/api/v1/lists/{id}") => {
            r#"{"type": "object", "required": ["name"], "properties": {
                "name": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"}}}"#
        }
        ("POST", "/api/v1/admin/users/{id}/offboard") => {
            r#"{"type": "object", "properties": {
                "new_owner": {"type": "integer", "format": "int64", "minimum": 1,
                    "description": "the account that takes over the leaver's lists"},
                "delete_lists": {"type": "boolean",
                    "description": "delete the leaver's lists instead (give one of the two)"}}}"#
        }
        ("POST", "/api/v1/admin/users") => {
            r#"{"type": "object", "required": ["email"], "properties": {
                "email": {"type": "string", "format": "email", "maxLength": 254},
                "display_name": {"type": "string", "maxLength": 200}}}"#
        }
        ("POST", "/api/v1/lists/{id}/members") => {
            r#"{"type": "object", "required": ["email", "role"], "properties": {
                "email": {"type": "string", "format": "email", "maxLength": 254,
                          "description": "the e-mail of an existing user"},
                "role": {"type": "string", "enum": ["editor", "viewer"]}}}"#
        }
        ("POST", "/api/v1/mailboxes/imap") => {
            r#"{"type": "object", "required": ["list", "host", "username", "password"], "properties": {
                "list": {"type": "integer", "format": "int64", "minimum": 1, "maximum": 9223372036854775807},
                "host": {"type": "string", "minLength": 1, "maxLength": 253, "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"},
                "port": {"type": "integer", "minimum": 1, "maximum": 65535,
                         "description": "143, 993 or 1024 and up; default 993 (tls) or 143"},
                "security": {"type": "string", "enum": ["tls", "starttls", "plaintext"], "default": "tls"},
                "username": {"type": "string", "minLength": 1, "maxLength": 320, "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"},
                "password": {"type": "string", "minLength": 1, "writeOnly": true},
                "address": {"type": "string", "format": "email", "maxLength": 254},
                "name": {"type": "string", "maxLength": 200},
                "folders": {"type": "array", "items": {"type": "string", "minLength": 1}},
                "backfill": {"type": "integer", "minimum": 0, "maximum": 10000},
                "excluded_domains": {"type": "array", "maxItems": 500, "items": {"type": "string"}},
                "ca_pem": {"type": "string", "maxLength": 65536,
                           "description": "PEM certificate(s) of a private CA, trusted instead of the public roots"}}}"#
        }
        ("POST", "/api/v1/mailboxes/imap-oauth") => {
            r#"{"type": "object", "required": ["provider", "list", "host", "username"], "properties": {
                "provider": {"type": "string", "minLength": 1,
                             "description": "the name of one of the daemon's [oauth.providers.<name>]"},
                "list": {"type": "integer", "format": "int64", "minimum": 1, "maximum": 9223372036854775807},
                "host": {"type": "string", "minLength": 1, "maxLength": 253, "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"},
                "port": {"type": "integer", "minimum": 1, "maximum": 65535,
                         "description": "143, 993 or 1024 and up; default 993 (tls) or 143"},
                "security": {"type": "string", "enum": ["tls", "starttls", "plaintext"], "default": "tls"},
                "username": {"type": "string", "minLength": 1, "maxLength": 320, "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"},
                "address": {"type": "string", "format": "email", "maxLength": 254},
                "name": {"type": "string", "maxLength": 200},
                "folders": {"type": "array", "items": {"type": "string", "minLength": 1}},
                "backfill": {"type": "integer", "minimum": 0, "maximum": 10000},
                "excluded_domains": {"type": "array", "maxItems": 500, "items": {"type": "string"}},
                "ca_pem": {"type": "string", "maxLength": 65536,
                           "description": "PEM certificate(s) of a private CA, trusted instead of the public roots"}}}"#
        }
        ("POST", "/api/v1/mailboxes/microsoft") | ("PUT", "/api/v1/mailboxes/{id}/list") => {
            r#"{"type": "object", "required": ["list"], "properties": {
                "list": {"type": "integer", "format": "int64", "minimum": 1, "maximum": 9223372036854775807}}}"#
        }
        ("POST", "/api/v1/lists/{id}/webhooks") => {
            r#"{"type": "object", "required": ["url", "secret"], "properties": {
                "url": {"type": "string", "format": "uri", "minLength": 1, "maxLength": 2000,
                        "description": "https:// (http:// only when [webhooks] allow_http); its host is checked like every user-named host"},
                "secret": {"type": "string", "minLength": 24, "maxLength": 256, "writeOnly": true,
                           "description": "the HMAC-SHA256 signing key the receiver checks with; kept in the vault, never shown again"},
                "events": {"type": "array", "minItems": 1, "items": {"type": "string",
                           "enum": ["suggestion.created", "suggestion.accepted", "contact.changed"]},
                           "description": "default: every event"}}}"#
        }
        ("PUT", "/api/v1/lists/{id}/book") => {
            r#"{"type": "object", "required": ["url", "user", "password"], "properties": {
                "url": {"type": "string", "format": "uri", "minLength": 1, "maxLength": 2000,
                        "description": "the CardDAV server's address (found by RFC 6764 discovery) or the address book's URL; https:// (http:// only when [address_books] allow_http); its host is checked like every user-named host"},
                "user": {"type": "string", "minLength": 1, "maxLength": 256, "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$"},
                "password": {"type": "string", "minLength": 1, "maxLength": 1024, "writeOnly": true,
                             "description": "kept in the vault, never shown again"},
                "ca_pem": {"type": "string", "maxLength": 65536,
                           "description": "the PEM certificate of a private CA that signed the server's certificate, trusted besides the public roots"}}}"#
        }
        ("PUT", "/api/v1/lists/{id}/book/outlook") => {
            r#"{"type": "object", "required": ["mailbox", "folder"], "properties": {
                "mailbox": {"type": "integer", "format": "int64", "minimum": 1, "maximum": 9223372036854775807,
                            "description": "one of the caller's own linked Microsoft 365 mailboxes; its consent must include Contacts.ReadWrite (else 400 on this field: consent again with POST /api/v1/lists/{id}/book/outlook/consent)"},
                "folder": {"type": "string", "minLength": 1, "maxLength": 100, "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]*[^\\s\\u0000-\\u001f\\u007f-\\u009f][^\\u0000-\\u001f\\u007f-\\u009f]*$",
                           "description": "the contact folder's name; created when the mailbox has none of that name"}}}"#
        }
        ("PUT", "/api/v1/lists/{id}/change-alerts") => {
            r#"{"type": "object", "required": ["enabled"], "properties": {
                "enabled": {"type": "boolean"}}}"#
        }
        ("PUT", "/api/v1/lists/{id}/auto-accept") => {
            r#"{"type": "object", "required": ["mode"], "properties": {
                "mode": {"type": "string", "enum": ["off", "dry_run", "on"]},
                "threshold": {"type": "number", "minimum": 0.5, "maximum": 1,
                              "description": "every shown field's confidence must reach it; default: the list's current one (0.95 at first)"}}}"#
        }
        ("PUT", "/api/v1/mailboxes/{id}/exclusions") => {
            r#"{"type": "object", "required": ["domains"], "properties": {
                "domains": {"type": "array", "maxItems": 500, "items": {"type": "string"}}}}"#
        }
        ("PUT", "/api/v1/mailboxes/{id}/password") => {
            r#"{"type": "object", "required": ["password"], "properties": {
                "password": {"type": "string", "minLength": 1, "writeOnly": true}}}"#
        }
        ("POST", "/api/v1/admin/microsoft-365/groups") => {
            r#"{"type": "object", "required": ["group"], "properties": {
                "group": {"type": "string", "minLength": 1, "maxLength": 320,
                          "description": "the group's e-mail address, or its id in Microsoft Graph"}}}"#
        }
        ("POST", "/api/v1/admin/microsoft-365/users") => {
            r#"{"type": "object", "required": ["user"], "properties": {
                "user": {"type": "string", "minLength": 1, "maxLength": 320,
                         "description": "the user's e-mail address or user principal name, or their id in Microsoft Graph"}}}"#
        }
        ("POST", "/api/v1/admin/blocklist") => {
            r#"{"type": "object", "required": ["value"], "properties": {
                "value": {"type": "string", "minLength": 1, "maxLength": 320,
                          "description": "a domain (example.com, its subdomains too) or one address (name@example.com)"}}}"#
        }
        ("POST", "/api/v1/suggestions/{id}/merge") => {
            r#"{"type": "object", "required": ["fields"], "properties": {
                "fields": {"type": "array", "minItems": 1, "items": {"oneOf": [
                    {"type": "object", "required": ["field", "choice"], "properties": {
                        "field": {"type": "string", "enum": ["name", "title", "company", "address"]},
                        "choice": {"type": "string", "enum": ["take_new", "keep_old"]}}},
                    {"type": "object", "required": ["field", "choice", "value"], "properties": {
                        "field": {"type": "string", "enum": ["name", "title", "company", "address"]},
                        "choice": {"type": "string", "enum": ["typed"]},
                        "value": {"type": "string", "maxLength": 500, "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]*$",
                                  "description": "the value typed (empty clears the field)"}}},
                    {"type": "object", "required": ["field", "choice", "values"], "properties": {
                        "field": {"type": "string", "enum": ["emails", "phones", "websites", "social"]},
                        "choice": {"type": "string", "enum": ["keep"]},
                        "values": {"type": "array", "items": {"type": "string"},
                                   "description": "the current values to keep (phones as E.164); the others are removed"}}},
                    {"type": "object", "required": ["field", "choice"], "properties": {
                        "field": {"type": "string", "enum": ["name", "title", "company", "address", "emails", "phones"]},
                        "choice": {"type": "string", "enum": ["book"],
                                   "description": "the value of the connected address book's entry that holds the contact: the contact takes it and the entry keeps it (emails, phones: the contact keeps those the entry has; nothing is added to the entry)"}}}]}}}}"#
        }
        _ => return None,
    })
}

/// A schema from JSON text (the texts above are constants, checked by a unit test).
fn schema(json: &str) -> Option<RefOr<Schema>> {
    serde_json::from_str(json).ok()
}

/// `include` of the exports and the change feed.
const INCLUDE: &str = r#"{"type": "string", "enum": ["accepted", "all"], "default": "accepted",
    "description": "accepted: accepted and merged contacts; all: unreviewed suggestions too (never dismissed ones)"}"#;

/// The query parameters of the export routes (the suggestion filters are listed in [`document`]).
fn query_params(route: &Route) -> Vec<(&'static str, &'static str)> {
    if route.method != Method::GET {
        return Vec::new();
    }
    match route.path {
        "/api/v1/lists/{id}/export.vcf" | "/api/v1/lists/{id}/export.csv" => {
            vec![("include", INCLUDE)]
        }
        "/api/v1/lists/{id}/changes" => vec![
            (
                "since",
                r#"{"type": "string", "pattern": "^([sp][0-9a-f]{1,16}(\\.[0-9a-f]{1,16}\\.[0-9a-f]{1,16})?)?$",
                    "description": "the cursor of the previous answer; without it, every contact is listed as created"}"#,
            ),
            ("include", INCLUDE),
            (
                "limit",
                r#"{"type": "integer", "minimum": 1, "maximum": 1000, "default": 500,
                    "description": "contacts per page; while an answer says more, send its cursor back at once"}"#,
            ),
        ],
        "/api/v1/admin/notifications/failed" => vec![(
            "limit",
            r#"{"type": "integer", "minimum": 1, "maximum": 500, "default": 100}"#,
        )],
        "/api/v1/admin/audit" | "/api/v1/admin/audit/export.csv" => {
            let mut params = vec![
                (
                    "actor",
                    r#"{"type": "string", "description": "a user's e-mail or id, or operator (the command line and the daemon)"}"#,
                ),
                (
                    "action",
                    r#"{"type": "string", "description": "an action, e.g. blocklist.add"}"#,
                ),
                (
                    "object",
                    r#"{"type": "string", "enum": ["user", "token", "list", "mailbox", "suggestion", "secret", "secrets", "webhook", "blocklist", "outbox", "audit", "tenant", "tenant_group"]}"#,
                ),
                ("object_id", r#"{"type": "integer", "minimum": 1}"#),
                (
                    "from",
                    r#"{"type": "string", "description": "a day (2026-12-01, UTC) or an RFC 3339 time; inclusive"}"#,
                ),
                (
                    "to",
                    r#"{"type": "string", "description": "a day (included) or an RFC 3339 time (excluded)"}"#,
                ),
            ];
            if route.path == "/api/v1/admin/audit" {
                params.push((
                    "before",
                    r#"{"type": "integer", "minimum": 1, "description": "next_before of the previous page"}"#,
                ));
                params.push((
                    "limit",
                    r#"{"type": "integer", "minimum": 1, "maximum": 500, "default": 50}"#,
                ));
            }
            params
        }
        _ => Vec::new(),
    }
}

/// The error statuses every route may answer, each with the `Error` body.
const ERRORS: &[(&str, &str)] = &[
    (
        "400",
        "validation error: `fields` says which fields and why",
    ),
    (
        "404",
        "not found (also: another user's object, and unknown API paths)",
    ),
    ("405", "method not allowed on this path"),
    (
        "409",
        "conflict: already exists, or still in use (`in_use`)",
    ),
    ("413", "body larger than 64 KiB"),
    ("415", "a body that is not application/json"),
    (
        "422",
        "linking failed: the server refused the login or cannot be used (`link_failed`)",
    ),
    ("429", "rate limited; see Retry-After"),
    (
        "500",
        "internal error (logged; the message says nothing more)",
    ),
    (
        "503",
        "a dependency (database, mail server, name lookup, Microsoft 365) is unavailable or not configured",
    ),
];

fn success_status(route: &Route) -> String {
    match schemas::success(&route.method, route.path) {
        Success::Json(status, _) | Success::Empty(status) | Success::File(status, _) => {
            status.to_string()
        }
    }
}

fn success_response(route: &Route) -> utoipa::openapi::Response {
    match schemas::success(&route.method, route.path) {
        Success::Json(_, name) => ResponseBuilder::new()
            .description("success")
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(RefOr::Ref(Ref::from_schema_name(name))))
                    .build(),
            )
            .build(),
        Success::Empty(_) => ResponseBuilder::new().description("done; no body").build(),
        Success::File(_, media_type) => ResponseBuilder::new()
            .description("the file (Content-Disposition: attachment)")
            .content(
                media_type,
                ContentBuilder::new()
                    .schema(schema(r#"{"type": "string"}"#))
                    .build(),
            )
            .build(),
    }
}

fn error_response(description: &str, name: &str) -> utoipa::openapi::Response {
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/json",
            ContentBuilder::new()
                .schema(Some(RefOr::Ref(Ref::from_schema_name(name))))
                .build(),
        )
        .build()
}

/// A component schema from its JSON text. The texts are constants checked by the unit tests
/// here and in [`schemas`]; one that utoipa's model cannot hold would be a bug, logged once.
fn component_schema(name: &str, text: &str) -> RefOr<Schema> {
    schema(text).unwrap_or_else(|| {
        tracing::error!(schema = name, "openapi component schema does not parse");
        RefOr::T(Schema::default())
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
            .response(success_status(route), success_response(route));
        for (status, description) in ERRORS {
            op = op.response(*status, error_response(description, "Error"));
        }
        for name in path_params(route.path) {
            op = op.parameter(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Path)
                    .required(Required::True)
                    .schema(schema(r#"{"type": "integer", "format": "int64", "minimum": 1, "maximum": 9223372036854775807}"#))
                    .build(),
            );
        }
        if route.method == Method::GET && route.path.ends_with("/suggestions") {
            for (name, json) in [
                (
                    "status",
                    r#"{"type": "string", "enum": ["new", "accepted", "dismissed", "merged"]}"#,
                ),
                (
                    "q",
                    r#"{"type": "string", "maxLength": 200, "pattern": "^[^\\u0000-\\u001f\\u007f-\\u009f]*$"}"#,
                ),
                (
                    "mailbox",
                    r#"{"type": "integer", "format": "int64", "minimum": 1, "maximum": 9223372036854775807}"#,
                ),
                (
                    "cursor",
                    r#"{"type": "string", "pattern": "^(c[0-9]{1,18})?$"}"#,
                ),
                (
                    "limit",
                    r#"{"type": "integer", "minimum": 1, "maximum": 200}"#,
                ),
            ] {
                op = op.parameter(
                    ParameterBuilder::new()
                        .name(name)
                        .parameter_in(ParameterIn::Query)
                        .required(Required::False)
                        .schema(schema(json))
                        .build(),
                );
            }
        }
        for (name, json) in query_params(route) {
            op = op.parameter(
                ParameterBuilder::new()
                    .name(name)
                    .parameter_in(ParameterIn::Query)
                    .required(Required::False)
                    .schema(schema(json))
                    .build(),
            );
        }
        if let Some(example) = example_body(&route.method, route.path) {
            let example: Option<serde_json::Value> = serde_json::from_str(example).ok();
            let body_schema = body_schema(&route.method, route.path).and_then(schema);
            let content = ContentBuilder::new()
                .schema(body_schema)
                .example(example)
                .build();
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
                    error_response("not signed in, or a bad or revoked token", "Error"),
                )
                .response(
                    "403",
                    error_response("role too small, or CSRF token missing", "Error"),
                )
                .security(SecurityRequirement::new("bearer", Vec::<String>::new()))
                .security(SecurityRequirement::new("session", Vec::<String>::new()));
        } else {
            // A credential that is sent is checked even here: a bad one is refused.
            op = op
                .response(
                    "401",
                    error_response("a bad or revoked token was sent", "Error"),
                )
                .response(
                    "403",
                    error_response("CSRF token missing with a session cookie", "Error"),
                );
        }
        paths = paths.path(
            route.path,
            PathItem::new(http_method(&route.method), op.build()),
        );
    }
    let mut components = ComponentsBuilder::new()
        .security_scheme(
            "bearer",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        )
        .security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(SESSION_COOKIE))),
        );
    for (name, text) in schemas::components() {
        components = components.schema(name, component_schema(name, &text));
    }
    let components = components.build();
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

    /// The response schemas reach the document as written (utoipa's model keeps every keyword),
    /// and every route documents its success body and the error body.
    #[test]
    fn response_schemas_reach_the_document_unchanged() {
        let doc = serde_json::to_value(document(&super::super::routes())).unwrap_or_default();
        for (name, text) in schemas::components() {
            let written: serde_json::Value = serde_json::from_str(&text).unwrap_or_default();
            assert_eq!(
                doc["components"]["schemas"][name], written,
                "component {name} changed on its way into the document"
            );
        }
        for route in super::super::routes() {
            let op = &doc["paths"][route.path][route.method.as_str().to_lowercase()];
            let status = success_status(&route);
            assert!(
                op["responses"][&status].is_object(),
                "{} {}: {op}",
                route.method,
                route.path
            );
            assert_eq!(
                op["responses"]["404"]["content"]["application/json"]["schema"]["$ref"],
                "#/components/schemas/Error",
                "{} {}",
                route.method,
                route.path
            );
        }
        let page = &doc["paths"]["/api/v1/lists/{id}/suggestions"]["get"]["responses"]["200"];
        assert_eq!(
            page["content"]["application/json"]["schema"]["$ref"],
            "#/components/schemas/SuggestionPage"
        );
    }

    /// Every route that reads a JSON body documents an example, and every example is JSON.
    #[test]
    fn json_bodies_have_examples() {
        let without_body = [
            "/accept",
            "/dismiss",
            "/disable",
            "/enable",
            "/reset-second-factor",
            "/retry",
            "/outlook/consent",
            "/pause",
            "/resume",
        ];
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
        for route in super::super::routes() {
            let example = example_body(&route.method, route.path);
            let schema_text = body_schema(&route.method, route.path);
            assert_eq!(
                example.is_some(),
                schema_text.is_some(),
                "schema of {} {}",
                route.method,
                route.path
            );
            if let Some(text) = schema_text {
                assert!(
                    schema(text).is_some(),
                    "schema of {} {} does not parse",
                    route.method,
                    route.path
                );
            }
        }
        let doc = serde_json::to_value(document(&super::super::routes())).unwrap_or_default();
        let imap = &doc["paths"]["/api/v1/mailboxes/imap"]["post"]["requestBody"]["content"]["application/json"]
            ["schema"];
        assert_eq!(imap["properties"]["port"]["maximum"], 65535, "{imap}");
        assert_eq!(
            imap["properties"]["security"]["enum"][1], "starttls",
            "{imap}"
        );
        assert!(
            imap["required"]
                .as_array()
                .is_some_and(|r| r.iter().any(|f| f == "password")),
            "{imap}"
        );
        assert!(
            imap["properties"]["host"]["pattern"]
                .as_str()
                .is_some_and(|p| p.starts_with("^[^\\u0000")),
            "{imap}"
        );
        let merge_schema = &doc["paths"]["/api/v1/suggestions/{id}/merge"]["post"]["requestBody"]["content"]
            ["application/json"]["schema"];
        assert_eq!(
            merge_schema["properties"]["fields"]["items"]["oneOf"][1]["properties"]["choice"]["enum"]
                [0],
            "typed",
            "{merge_schema}"
        );
        let id = &doc["paths"]["/api/v1/lists/{id}"]["get"]["parameters"][0]["schema"];
        assert_eq!(id["type"], "integer", "{id}");
        assert_eq!(id["minimum"], 1, "{id}");
        assert_eq!(id["maximum"], i64::MAX, "{id}");
        let merge = &doc["paths"]["/api/v1/suggestions/{id}/merge"]["post"]["requestBody"];
        assert_eq!(
            merge["content"]["application/json"]["example"]["fields"][0]["choice"],
            "keep_old"
        );
    }
}
