//! What every route answers, for the OpenAPI document: the success status and the JSON Schema
//! (2020-12, as OpenAPI 3.1 uses) of each body, and the one error body every failure has.
//!
//! The schemas are written out rather than derived, like the request schemas in
//! [`super::openapi`]: they state the wire format the service types serialise to, and the
//! contract test in the test suite validates real responses of every route against them, so a
//! field added, renamed or removed on either side fails it. Objects are closed
//! (`additionalProperties: false`) for the same reason.

use axum::http::Method;

/// What a route answers on success.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Success {
    /// JSON described by the named component schema.
    Json(u16, &'static str),
    /// No body.
    Empty(u16),
    /// A file download of this media type.
    File(u16, &'static str),
}

/// The success answer of `method path` (a route of [`super::routes`]).
pub fn success(method: &Method, path: &str) -> Success {
    use Success::{Empty, File, Json};
    match (method.as_str(), path) {
        ("POST", "/api/v1/session") => Json(200, "Session"),
        ("DELETE", _) => Empty(204),
        ("GET", "/api/v1/me") => Json(200, "Me"),
        ("GET", "/api/v1/me/tokens") => Json(200, "TokenList"),
        ("POST", "/api/v1/me/tokens") => Json(201, "CreatedToken"),
        ("PUT", "/api/v1/me/password") => Empty(204),
        ("GET", "/api/v1/lists") => Json(200, "ListList"),
        ("POST", "/api/v1/lists") => Json(201, "List"),
        ("GET" | "PATCH", "/api/v1/lists/{id}") => Json(200, "List"),
        ("GET" | "POST", "/api/v1/lists/{id}/members") => Json(200, "MemberList"),
        ("GET", "/api/v1/lists/{id}/suggestions") => Json(200, "SuggestionPage"),
        ("GET" | "PUT", "/api/v1/lists/{id}/change-alerts") => Json(200, "ChangeAlerts"),
        ("GET" | "PUT", "/api/v1/lists/{id}/auto-accept") => Json(200, "AutoAccept"),
        ("GET", "/api/v1/lists/{id}/export.vcf") => File(200, "text/vcard"),
        ("GET", "/api/v1/lists/{id}/export.csv") => File(200, "text/csv"),
        ("GET", "/api/v1/lists/{id}/changes") => Json(200, "Changes"),
        ("GET" | "PUT", "/api/v1/lists/{id}/book") => Json(200, "AddressBook"),
        ("PUT", "/api/v1/lists/{id}/book/outlook") => Json(200, "AddressBook"),
        ("POST", "/api/v1/lists/{id}/book/outlook/consent") => Json(200, "ConsentUrl"),
        ("GET", "/api/v1/lists/{id}/webhooks") => Json(200, "WebhookList"),
        ("POST", "/api/v1/lists/{id}/webhooks") => Json(201, "Webhook"),
        ("GET", "/api/v1/lists/{id}/webhooks/{webhook_id}/deliveries") => Json(200, "DeliveryLog"),
        ("GET", "/api/v1/mailboxes") => Json(200, "MailboxList"),
        ("POST", "/api/v1/mailboxes/imap") => Json(201, "Mailbox"),
        ("POST", "/api/v1/mailboxes/microsoft") => Json(200, "ConsentUrl"),
        ("POST", "/api/v1/mailboxes/imap-oauth") => Json(200, "ConsentUrl"),
        ("GET", "/api/v1/mailboxes/{id}/status") => Json(200, "MailboxStatus"),
        ("GET" | "PUT", _) if path.starts_with("/api/v1/mailboxes/{id}") => Json(200, "Mailbox"),
        ("POST", "/api/v1/mailboxes/{id}/pause" | "/api/v1/mailboxes/{id}/resume") => {
            Json(200, "Mailbox")
        }
        ("GET", "/api/v1/suggestions/{id}/history") => Json(200, "History"),
        ("GET", "/api/v1/suggestions/{id}/changes") => Json(200, "ChangeSuggestionList"),
        ("POST", p) if p.starts_with("/api/v1/change-suggestions/{id}") => {
            Json(200, "ChangeSuggestion")
        }
        (_, p) if p.starts_with("/api/v1/suggestions/{id}") => Json(200, "Suggestion"),
        ("GET", "/api/v1/admin/blocklist") => Json(200, "BlocklistEntryList"),
        ("POST", "/api/v1/admin/blocklist") => Json(201, "BlocklistEntry"),
        ("GET", "/api/v1/admin/microsoft-365") => Json(200, "TenantOverview"),
        ("POST", "/api/v1/admin/microsoft-365/groups") => Json(201, "TenantGroup"),
        ("POST", "/api/v1/admin/microsoft-365/users") => Json(201, "TenantUser"),
        ("GET", "/api/v1/admin/mailboxes") => Json(200, "OrgMailboxHealthList"),
        ("GET", "/api/v1/admin/notifications/failed") => Json(200, "FailedNotificationList"),
        ("POST", "/api/v1/admin/notifications/{id}/retry") => Empty(204),
        ("GET", "/api/v1/admin/audit") => Json(200, "AuditPage"),
        ("GET", "/api/v1/admin/audit/export.csv") => File(200, "text/csv"),
        ("GET", "/api/v1/admin/users") => Json(200, "OrgUserList"),
        ("POST", "/api/v1/admin/users") => Json(201, "OrgUser"),
        ("POST", "/api/v1/admin/users/{id}/offboard") => Json(200, "Offboarded"),
        ("POST", p) if p.starts_with("/api/v1/admin/users/{id}/") => Json(200, "OrgUser"),
        ("GET", "/api/v1/openapi.json") => Json(200, "OpenApiDocument"),
        // A route missing above names no component: the unit test below fails on it.
        _ => Json(200, "Unknown"),
    }
}

/// An id, a count or a time in epoch milliseconds.
const INT: &str = r#"{"type": "integer", "format": "int64"}"#;

/// The component schemas, by name: every body any route answers.
pub fn components() -> Vec<(&'static str, String)> {
    let field = r#"{"type": "object", "additionalProperties": false,
        "required": ["value", "confidence", "rule"], "properties": {
            "value": {"type": "string"},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "rule": {"type": "string", "description": "the extraction rule that found the value"}}}"#;
    let phone = r#"{"type": "object", "additionalProperties": false,
        "required": ["kind", "e164", "confidence", "rule"], "properties": {
            "kind": {"type": "string", "enum": ["work", "mobile", "fax", "other"]},
            "e164": {"type": "string", "description": "the number in E.164 form"},
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "rule": {"type": "string"}}}"#;
    let one_field = r##"{"oneOf": [{"$ref": "#/components/schemas/Field"}, {"type": "null"}]}"##;
    let many_fields = r##"{"type": "array", "items": {"$ref": "#/components/schemas/Field"}}"##;
    let nullable_string = r#"{"type": ["string", "null"]}"#;
    let nullable_int = r#"{"type": ["integer", "null"], "format": "int64"}"#;
    // A component of its own: inline, generators name it after the property's object
    // (`MailboxStatus`), which is also the name of the status route's body.
    let status = r##"{"$ref": "#/components/schemas/MailboxHealth"}"##;
    let counts =
        r#"{"type": "object", "additionalProperties": {"type": "integer", "format": "int64"}}"#;
    let role = r#"{"type": "string", "enum": ["owner", "editor", "viewer"]}"#;
    let token = format!(
        r#""id": {INT}, "user": {INT}, "label": {{"type": "string"}}, "created_at": {INT},
            "last_used_at": {nullable_int}, "revoked_at": {nullable_int},
            "scope": {{"type": "string", "enum": ["read", "write", "full"],
                "description": "read: safe methods only; write: also changes; full: also tokens and the password"}},
            "expires_at": {INT}"#
    );
    let token_required = r#""id", "user", "label", "created_at", "last_used_at", "revoked_at", "scope", "expires_at""#;
    let list = format!(
        r#"{{"type": "object", "additionalProperties": false,
            "required": ["id", "name", "owner", "role", "created_at"], "properties": {{
            "id": {INT}, "name": {{"type": "string"}}, "owner": {INT},
            "role": {role}, "created_at": {INT}}}}}"#
    );
    let member = format!(
        r#"{{"type": "object", "additionalProperties": false,
            "required": ["user", "email", "role"], "properties": {{
            "user": {INT}, "email": {{"type": "string"}}, "role": {role}}}}}"#
    );
    let sender_auth = r#"{"type": "object", "additionalProperties": false,
                "required": ["result", "method"], "properties": {
                "result": {"type": "string", "enum": ["authenticated", "not_authenticated", "unknown"]},
                "method": {"type": "string", "enum": ["authentication_results", "dmarc", "dkim", "arc", "none"]}}}"#;
    let change = format!(
        r#"{{"type": "object", "additionalProperties": false,
            "required": ["id", "suggestion", "contact_name", "line", "diff", "sender_auth", "status", "created_at", "decided_at"],
            "properties": {{
            "id": {INT}, "suggestion": {INT}, "contact_name": {nullable_string},
            "line": {{"type": "string", "description": "e.g. Jane Doe: new title"}},
            "diff": {{"type": "array", "items": {{"type": "object", "additionalProperties": false,
                "required": ["field", "old", "new"], "properties": {{
                "field": {{"type": "string"}}, "old": {nullable_string}, "new": {nullable_string}}}}}}},
            "sender_auth": {sender_auth},
            "status": {{"type": "string", "enum": ["open", "accepted", "dismissed"]}},
            "created_at": {INT}, "decided_at": {nullable_int}}}}}"#
    );
    let change_alerts = r##"{"type": "object", "additionalProperties": false,
            "required": ["enabled", "items"], "properties": {
            "enabled": {"type": "boolean"},
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/ChangeSuggestion"}}}}"##
        .to_owned();
    let change_list = r##"{"type": "object", "additionalProperties": false,
            "required": ["items"], "properties": {
            "items": {"type": "array", "items": {"$ref": "#/components/schemas/ChangeSuggestion"}}}}"##
        .to_owned();
    let auto_accept = format!(
        r#"{{"type": "object", "additionalProperties": false,
            "required": ["mode", "threshold", "expected_error_rate", "passing", "authenticated", "accepted", "would_accept"],
            "properties": {{
            "mode": {{"type": "string", "enum": ["off", "dry_run", "on"]}},
            "threshold": {{"type": "number", "minimum": 0.5, "maximum": 1}},
            "expected_error_rate": {{"type": ["number", "null"], "minimum": 0, "maximum": 1,
                "description": "expected share of contacts accepted at the threshold with at least one wrong field (null: no recent authenticated suggestion passes it)"}},
            "passing": {INT}, "authenticated": {INT}, "accepted": {INT},
            "would_accept": {{"type": "array", "items": {{"type": "object", "additionalProperties": false,
                "required": ["suggestion", "sender_email", "name", "lowest_confidence", "created_at"],
                "properties": {{
                "suggestion": {INT}, "sender_email": {{"type": "string"}}, "name": {nullable_string},
                "lowest_confidence": {{"type": "number", "minimum": 0, "maximum": 1}},
                "created_at": {INT}}}}}}}}}}}"#
    );
    let suggestion = format!(
        r##"{{"type": "object", "additionalProperties": false,
            "required": ["id", "list", "mailbox", "sender_email", "fields", "confidence", "status", "created_at", "updated_at", "sender_auth", "unverified_sender"],
            "properties": {{
            "id": {INT}, "list": {INT},
            "mailbox": {nullable_int},
            "sender_email": {{"type": "string"}},
            "fields": {{"type": "object", "additionalProperties": false,
                "required": ["name", "title", "company", "emails", "phones", "websites", "address", "social"],
                "properties": {{
                "name": {one_field}, "title": {one_field}, "company": {one_field},
                "emails": {many_fields},
                "phones": {{"type": "array", "items": {{"$ref": "#/components/schemas/Phone"}}}},
                "websites": {many_fields},
                "address": {one_field},
                "social": {many_fields}}}}},
            "confidence": {{"type": "number", "minimum": 0, "maximum": 1}},
            "status": {{"type": "string", "enum": ["new", "accepted", "dismissed", "merged"]}},
            "created_at": {INT}, "updated_at": {INT},
            "sender_auth": {sender_auth},
            "unverified_sender": {{"type": "boolean"}},
            "book": {{"type": "object", "additionalProperties": false,
                "description": "the duplicate check against the list's connected address book (absent when the list has none): exists (an entry has one of its e-mail addresses), possible_duplicate (an entry shares a phone, or a name spelled or sounding alike and the company), new; the entry met and why, strongest reason first",
                "required": ["verdict", "entry", "reasons"], "properties": {{
                "verdict": {{"type": "string", "enum": ["exists", "possible_duplicate", "new"]}},
                "entry": {nullable_string},
                "reasons": {{"type": "array", "items": {{"type": "string", "enum": ["email", "phone", "name_and_company", "phonetic_name_and_company"]}}}}}}}},
            "provenance": {{"type": "object", "additionalProperties": false,
                "description": "the messages behind the suggestion (only in GET /api/v1/suggestions/{{id}}): how many, and the newest 50 with each one's sender authentication",
                "required": ["seen", "recent"], "properties": {{
                "seen": {INT},
                "recent": {{"type": "array", "items": {{"type": "object", "additionalProperties": false,
                    "required": ["at", "mailbox", "outcome", "sender_auth"], "properties": {{
                    "at": {INT}, "mailbox": {nullable_int},
                    "outcome": {{"type": "string", "enum": ["created", "merged", "unchanged", "change_proposed"]}},
                    "sender_auth": {sender_auth}}}}}}}}}}}}}}}"##
    );
    let mailbox = format!(
        r#"{{"type": "object", "additionalProperties": false,
            "required": ["id", "kind", "address", "display_name", "list", "excluded_domains", "status", "status_reason", "needs_attention", "reconnecting_since", "reconnecting_reason", "settings", "has_credentials", "created_at"],
            "properties": {{
            "id": {INT}, "kind": {{"type": "string", "enum": ["imap", "graph"]}},
            "address": {{"type": "string"}}, "display_name": {nullable_string},
            "list": {INT},
            "excluded_domains": {{"type": "array", "items": {{"type": "string"}}}},
            "status": {status}, "status_reason": {nullable_string},
            "needs_attention": {{"type": "boolean"}},
            "reconnecting_since": {nullable_int}, "reconnecting_reason": {nullable_string},
            "settings": {{"type": "object", "description": "provider settings (host, port, security, username, folders); never a password"}},
            "has_credentials": {{"type": "boolean"}},
            "created_at": {INT}}}}}"#
    );
    let mailbox_status = format!(
        r#"{{"type": "object", "additionalProperties": false,
            "required": ["id", "status", "status_reason", "needs_attention", "reconnecting_since", "reconnecting_reason", "counters", "skipped", "last_activity"],
            "properties": {{
            "id": {INT}, "status": {status}, "status_reason": {nullable_string},
            "needs_attention": {{"type": "boolean"}},
            "reconnecting_since": {nullable_int}, "reconnecting_reason": {nullable_string},
            "counters": {counts}, "skipped": {counts},
            "last_activity": {nullable_int}}}}}"#
    );
    vec![
        (
            "Error",
            r##"{"type": "object", "additionalProperties": false,
                "required": ["error", "message"], "properties": {
                "error": {"type": "string", "description": "a stable code: validation, not_found, unauthorized, forbidden, conflict, in_use, link_failed, too_large, unsupported_media_type, bad_body, no_route, method_not_allowed, rate_limited, unavailable, internal"},
                "message": {"type": "string"},
                "fields": {"type": "array", "items": {"$ref": "#/components/schemas/FieldError"},
                           "description": "validation errors only: one entry per field"},
                "auth_failed": {"type": "boolean", "description": "link_failed only: the server refused the login"}}}"##
                .to_owned(),
        ),
        (
            "FieldError",
            r#"{"type": "object", "additionalProperties": false,
                "required": ["field", "code", "message"], "properties": {
                "field": {"type": "string"},
                "code": {"type": "string", "enum": ["required", "text", "number", "email", "choice"]},
                "message": {"type": "string"}}}"#
                .to_owned(),
        ),
        (
            "Session",
            format!(
                r#"{{"type": "object", "additionalProperties": false,
                "required": ["user_id", "csrf_token", "expires_at"], "properties": {{
                "user_id": {INT},
                "csrf_token": {{"type": "string", "description": "send as X-CSRF-Token with cookie-authenticated changes"}},
                "expires_at": {INT}}}}}"#
            ),
        ),
        (
            "Me",
            format!(
                r#"{{"type": "object", "additionalProperties": false,
                "required": ["id", "email", "display_name", "created_at", "lists", "mailboxes"], "properties": {{
                "id": {INT}, "email": {{"type": "string"}}, "display_name": {nullable_string},
                "created_at": {INT},
                "lists": {{"type": "integer", "minimum": 0}},
                "mailboxes": {{"type": "integer", "minimum": 0}}}}}}"#
            ),
        ),
        (
            "Token",
            format!(
                r#"{{"type": "object", "additionalProperties": false,
                "required": [{token_required}], "properties": {{ {token} }}}}"#
            ),
        ),
        (
            "TokenList",
            r##"{"type": "array", "items": {"$ref": "#/components/schemas/Token"}}"##.to_owned(),
        ),
        (
            "CreatedToken",
            format!(
                r#"{{"type": "object", "additionalProperties": false,
                "required": [{token_required}, "secret"], "properties": {{ {token},
                "secret": {{"type": "string", "description": "the token; shown this once"}} }}}}"#
            ),
        ),
        ("List", list),
        (
            "ListList",
            r##"{"type": "array", "items": {"$ref": "#/components/schemas/List"}}"##.to_owned(),
        ),
        ("Member", member),
        (
            "MemberList",
            r##"{"type": "array", "items": {"$ref": "#/components/schemas/Member"}}"##.to_owned(),
        ),
        ("Field", field.to_owned()),
        ("Phone", phone.to_owned()),
        ("Suggestion", suggestion),
        ("ChangeAlerts", change_alerts),
        ("ChangeSuggestion", change),
        ("AutoAccept", auto_accept),
        ("ChangeSuggestionList", change_list),
        (
            "SuggestionPage",
            r##"{"type": "object", "additionalProperties": false,
                "required": ["items", "next_cursor"], "properties": {
                "items": {"type": "array", "items": {"$ref": "#/components/schemas/Suggestion"}},
                "next_cursor": {"type": ["string", "null"], "description": "pass as ?cursor= for the next page; null on the last"}}}"##
                .to_owned(),
        ),
        (
            "Changes",
            r##"{"type": "object", "additionalProperties": false,
                "required": ["cursor", "more", "include", "created", "changed", "deleted"], "properties": {
                "cursor": {"type": "string", "description": "opaque; pass as ?since= for the changes after this answer"},
                "more": {"type": "boolean", "description": "this answer is one page of several: pass its cursor at once for the next"},
                "include": {"type": "string", "enum": ["accepted", "all"]},
                "created": {"type": "array", "items": {"$ref": "#/components/schemas/Suggestion"},
                            "description": "contacts that entered the export since the cursor (all of them without one)"},
                "changed": {"type": "array", "items": {"$ref": "#/components/schemas/Suggestion"},
                            "description": "contacts of the export whose fields or status changed"},
                "deleted": {"type": "array", "items": {"$ref": "#/components/schemas/Tombstone"},
                            "description": "contacts that left the export: deleted, dismissed, or (include=accepted) back to review"}}}"##
                .to_owned(),
        ),
        (
            "Webhook",
            format!(
                r#"{{"type": "object", "additionalProperties": false,
                "required": ["id", "url", "events", "created_at"], "properties": {{
                "id": {INT}, "url": {{"type": "string"}},
                "events": {{"type": "array", "items": {{"type": "string",
                           "enum": ["suggestion.created", "suggestion.accepted", "contact.changed"]}}}},
                "created_at": {INT},
                "deliveries": {{"type": "object", "additionalProperties": false,
                               "description": "in listings: the endpoint's deliveries by state",
                               "required": ["pending", "delivered", "failed"], "properties": {{
                               "pending": {INT}, "delivered": {INT}, "failed": {INT}}}}},
                "secret": {{"type": "string", "description": "only in the answer that added an endpoint without a secret: the signing secret mailsig generated, shown this once"}}}}}}"#
            ),
        ),
        (
            "AddressBook",
            format!(
                r#"{{"type": "object", "additionalProperties": false,
                "required": ["connected"], "properties": {{
                "connected": {{"type": "boolean"}},
                "book": {{"type": "object", "additionalProperties": false,
                    "description": "absent when the list has no address book",
                    "required": ["kind", "url", "name", "user", "own_ca", "status", "status_reason", "last_sync_at", "entries", "created_at"],
                    "properties": {{
                    "kind": {{"type": "string", "enum": ["carddav", "outlook"]}},
                    "url": {{"type": "string", "description": "the address book's URL (carddav), or where the contact folder is (outlook)"}},
                    "name": {{"type": ["string", "null"], "description": "its display name, as the server gave it (carddav), or the contact folder's name (outlook)"}},
                    "user": {{"type": "string", "description": "the CardDAV user name, or the address of the Microsoft 365 mailbox whose contacts these are"}},
                    "mailbox": {{"type": "integer", "format": "int64", "description": "outlook only: the linked Microsoft 365 mailbox whose contacts these are"}},
                    "own_ca": {{"type": "boolean", "description": "a CA of its own is trusted besides the public roots"}},
                    "status": {{"type": "string", "enum": ["ok", "needs_attention"]}},
                    "status_reason": {{"type": ["string", "null"], "enum": ["unreachable", "tls", "auth", "refused_host", "not_found", "conflict", "protocol", "unavailable", null]}},
                    "last_sync_at": {{"type": ["integer", "null"], "format": "int64", "description": "when the book was last read (ms since the epoch)"}},
                    "entries": {INT},
                    "created_at": {INT}}}}}}}}}"#
            ),
        ),
        (
            "WebhookList",
            r##"{"type": "array", "items": {"$ref": "#/components/schemas/Webhook"}}"##.to_owned(),
        ),
        (
            "DeliveryLog",
            format!(
                r#"{{"type": "array", "description": "newest attempt first", "items": {{
                "type": "object", "additionalProperties": false,
                "required": ["delivery_id", "event", "suggestion_id", "at", "http_status", "outcome", "delivery_status"],
                "properties": {{
                "delivery_id": {INT},
                "event": {{"type": "string", "enum": ["suggestion.created", "suggestion.accepted", "contact.changed"]}},
                "suggestion_id": {INT}, "at": {INT},
                "http_status": {{"type": ["integer", "null"], "description": "the receiver's status, when it answered"}},
                "outcome": {{"type": "string", "enum": ["delivered", "http_status", "connect", "timeout", "tls", "refused_host", "unusable"]}},
                "delivery_status": {{"type": "string", "enum": ["pending", "sending", "delivered", "failed"],
                                     "description": "the delivery's state now"}}}}}}}}"#
            ),
        ),
        (
            "Tombstone",
            format!(
                r#"{{"type": "object", "additionalProperties": false,
                "required": ["id"], "properties": {{"id": {INT}}}}}"#
            ),
        ),
        (
            "History",
            format!(
                r#"{{"type": "array", "items": {{"type": "object", "additionalProperties": false,
                "required": ["field", "old_value", "new_value", "at"], "properties": {{
                "field": {{"type": "string"}}, "old_value": {nullable_string},
                "new_value": {nullable_string}, "at": {INT}}}}}}}"#
            ),
        ),
        ("Mailbox", mailbox),
        (
            "MailboxList",
            r##"{"type": "array", "items": {"$ref": "#/components/schemas/Mailbox"}}"##.to_owned(),
        ),
        ("MailboxStatus", mailbox_status),
        (
            "MailboxHealth",
            r#"{"type": "string", "enum": ["ok", "needs_attention", "needs_reconsent", "paused"]}"#.to_owned(),
        ),
        (
            "ConsentUrl",
            r#"{"type": "object", "additionalProperties": false,
                "required": ["authorize_url"], "properties": {
                "authorize_url": {"type": "string", "format": "uri"}}}"#
                .to_owned(),
        ),
        (
            "BlocklistEntry",
            format!(
                r#"{{"type": "object", "additionalProperties": false,
                "required": ["id", "kind", "value", "created_at"], "properties": {{
                "id": {INT},
                "kind": {{"type": "string", "enum": ["domain", "address"],
                         "description": "domain: the domain and its subdomains; address: this one address"}},
                "value": {{"type": "string", "description": "lower case"}},
                "created_at": {INT}}}}}"#
            ),
        ),
        (
            "BlocklistEntryList",
            r##"{"type": "array", "items": {"$ref": "#/components/schemas/BlocklistEntry"}}"##
                .to_owned(),
        ),
        (
            "TenantGroup",
            format!(
                r#"{{"type": "object", "additionalProperties": false,
                "required": ["id", "group_id", "display_name", "mail", "created_at"], "properties": {{
                "id": {INT},
                "group_id": {{"type": "string", "description": "the group's id in Microsoft Graph"}},
                "display_name": {{"type": ["string", "null"]}},
                "mail": {{"type": ["string", "null"]}},
                "created_at": {INT}}}}}"#
            ),
        ),
        (
            "TenantUser",
            format!(
                r#"{{"type": "object", "additionalProperties": false,
                "required": ["id", "graph_user_id", "display_name", "mail", "mailbox", "created_at"], "properties": {{
                "id": {INT},
                "graph_user_id": {{"type": "string", "description": "the user's id in Microsoft Graph"}},
                "display_name": {{"type": ["string", "null"]}},
                "mail": {{"type": ["string", "null"]}},
                "mailbox": {{"type": "integer", "description": "the mailbox linked app-only for them"}},
                "created_at": {INT}}}}}"#
            ),
        ),
        (
            "TenantOverview",
            format!(
                r##"{{"type": "object", "additionalProperties": false,
                "required": ["grant", "groups", "users"], "properties": {{
                "grant": {{"oneOf": [{{"type": "null"}}, {{"type": "object", "additionalProperties": false,
                  "required": ["tenant_id", "granted_by", "granted_at"], "properties": {{
                  "tenant_id": {{"type": "string", "description": "the Microsoft Entra tenant id"}},
                  "granted_by": {{"oneOf": [{INT}, {{"type": "null"}}]}},
                  "granted_at": {INT}}}}}],
                  "description": "the admin consent for the organisation; null before it"}},
                "groups": {{"type": "array", "items": {{"type": "object", "additionalProperties": false,
                  "required": ["id", "group_id", "display_name", "mail", "created_at", "members"], "properties": {{
                  "id": {INT},
                  "group_id": {{"type": "string"}},
                  "display_name": {{"type": ["string", "null"]}},
                  "mail": {{"type": ["string", "null"]}},
                  "created_at": {INT},
                  "members": {{"type": "integer", "minimum": 0, "description": "members with a linked mailbox"}}}}}}}},
                "users": {{"type": "array", "items": {{"$ref": "#/components/schemas/TenantUser"}},
                  "description": "the people chosen one by one"}}}}}}"##
            ),
        ),
        (
            "OrgMailboxHealth",
            format!(
                r##"{{"type": "object", "additionalProperties": false,
                "required": ["id", "kind", "address", "owner", "owner_email", "list", "list_name", "status",
                  "status_reason", "reconnecting_since", "reconnecting_reason", "last_message_at",
                  "messages_read", "waiting", "waiting_since", "created_at"], "properties": {{
                "id": {INT}, "kind": {{"type": "string", "enum": ["imap", "graph"]}},
                "address": {{"type": "string"}}, "owner": {INT}, "owner_email": {{"type": "string"}},
                "list": {INT}, "list_name": {{"type": "string"}},
                "status": {{"$ref": "#/components/schemas/MailboxHealth"}},
                "status_reason": {nullable_string},
                "reconnecting_since": {nullable_int}, "reconnecting_reason": {nullable_string},
                "last_message_at": {nullable_int},
                "messages_read": {INT},
                "waiting": {{"type": "integer", "description": "messages known but not read yet: for Microsoft 365 announced notifications, for IMAP what the latest listing found beyond the cursor; `waiting_since` says since when the oldest waits (the lag)"}},
                "waiting_since": {nullable_int}, "created_at": {INT}}}}}"##
            ),
        ),
        (
            "OrgMailboxHealthList",
            r##"{"type": "array", "description": "needing attention first, then reconnecting, then the rest",
                "items": {"$ref": "#/components/schemas/OrgMailboxHealth"}}"##
                .to_owned(),
        ),
        (
            "FailedNotification",
            format!(
                r#"{{"type": "object", "additionalProperties": false,
                "required": ["id", "kind", "recipient", "recipient_email", "attempts", "reason", "queued_at", "failed_at"],
                "properties": {{
                "id": {INT}, "kind": {{"type": "string"}}, "recipient": {INT},
                "recipient_email": {nullable_string}, "attempts": {INT},
                "reason": {{"type": ["string", "null"], "description": "a fixed text with at most an SMTP reply code"}},
                "queued_at": {INT}, "failed_at": {INT}}}}}"#
            ),
        ),
        (
            "FailedNotificationList",
            r##"{"type": "array", "items": {"$ref": "#/components/schemas/FailedNotification"}}"##
                .to_owned(),
        ),
        (
            "AuditPage",
            format!(
                r#"{{"type": "object", "additionalProperties": false,
                "required": ["entries", "next_before"], "properties": {{
                "next_before": {{"type": ["integer", "null"], "description": "pass as before for the next (older) page"}},
                "entries": {{"type": "array", "items": {{"type": "object", "additionalProperties": false,
                  "required": ["id", "at", "actor", "actor_email", "action", "object_kind", "object_id", "detail"],
                  "properties": {{
                  "id": {INT}, "at": {INT},
                  "actor": {{"type": ["integer", "null"], "description": "null: the operator's command line or the daemon"}},
                  "actor_email": {nullable_string}, "action": {{"type": "string"}},
                  "object_kind": {{"type": "string"}}, "object_id": {nullable_int},
                  "detail": {nullable_string}}}}}}}}}}}"#
            ),
        ),
        (
            "OrgUser",
            format!(
                r#"{{"type": "object", "additionalProperties": false,
                "required": ["id", "email", "display_name", "org_role", "created_at", "disabled_at",
                    "has_password", "second_factor", "last_sign_in", "mailboxes"], "properties": {{
                "id": {INT}, "email": {{"type": "string"}}, "display_name": {nullable_string},
                "org_role": {{"type": "string", "enum": ["admin", "user"]}},
                "created_at": {INT},
                "disabled_at": {nullable_int},
                "has_password": {{"type": "boolean"}},
                "second_factor": {{"type": "boolean", "description": "two-step verification is on"}},
                "last_sign_in": {{"type": ["integer", "null"], "format": "int64",
                    "description": "when the newest open browser session began; null when none is open"}},
                "mailboxes": {{"type": "integer", "minimum": 0}}}}}}"#
            ),
        ),
        (
            "Offboarded",
            r#"{"type": "object", "additionalProperties": false,
                "required": ["mailboxes_stopped", "lists_handed_over", "lists_deleted", "shares_ended",
                    "second_factor_wiped", "credentials"], "properties": {
                "mailboxes_stopped": {"type": "integer", "minimum": 0},
                "lists_handed_over": {"type": "integer", "minimum": 0},
                "lists_deleted": {"type": "integer", "minimum": 0},
                "shares_ended": {"type": "integer", "minimum": 0},
                "second_factor_wiped": {"type": "boolean"},
                "credentials": {"type": "object", "additionalProperties": false,
                    "required": ["sessions", "api_tokens", "provider_links"], "properties": {
                    "sessions": {"type": "integer", "minimum": 0},
                    "api_tokens": {"type": "integer", "minimum": 0},
                    "provider_links": {"type": "integer", "minimum": 0}}}}}"#
                .to_owned(),
        ),
        (
            "OrgUserList",
            r##"{"type": "array", "items": {"$ref": "#/components/schemas/OrgUser"}}"##.to_owned(),
        ),
        (
            "OpenApiDocument",
            r#"{"type": "object", "required": ["openapi", "info", "paths"]}"#.to_owned(),
        ),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every schema is JSON, every reference points at a component, every route has an answer.
    #[test]
    fn schemas_parse_and_references_resolve() {
        let all = components();
        let names: Vec<&str> = all.iter().map(|(n, _)| *n).collect();
        for (name, text) in &all {
            let value: serde_json::Value = serde_json::from_str(text)
                .unwrap_or_else(|e| panic!("schema {name} is not JSON: {e}\n{text}"));
            let text = value.to_string();
            for part in text.split("#/components/schemas/").skip(1) {
                let target = part.split('"').next().unwrap_or_default();
                assert!(names.contains(&target), "{name} refers to {target}");
            }
        }
        for route in super::super::routes() {
            if let Success::Json(_, name) = success(&route.method, route.path) {
                assert!(
                    names.contains(&name),
                    "{} {} has no schema",
                    route.method,
                    route.path
                );
            }
        }
    }
}
