//! Mail folders: `GET …/mailFolders` (with `$filter=displayName eq '{name}'`) and
//! `GET …/mailFolders/{id|well-known name}`, so a client can resolve the folders a user chose.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::messages::not_found;
use super::reply::{graph_error, json};
use super::routing::{Call, Caller};
use super::state::{Emulator, Folder, State};

const SCOPES: &[&str] = &["mail.read", "mail.readbasic", "mail.readwrite"];

fn folder_json(st: &State, user_id: &str, f: &Folder) -> Value {
    let total = st
        .messages
        .iter()
        .filter(|m| m.user_id == user_id && m.folder_id == f.id && m.deleted.is_none())
        .count();
    json!({
        "id": f.id,
        "displayName": f.display_name,
        "parentFolderId": null,
        "childFolderCount": 0,
        "unreadItemCount": total,
        "totalItemCount": total,
        "isHidden": false,
    })
}

pub fn list(emu: &Emulator, caller: &Caller, call: &Call) -> Response {
    if !caller.has_any(SCOPES) {
        return super::routing::access_denied();
    }
    let name = match call.query.get("$filter") {
        None => None,
        Some(f) => match parse_name_filter(f) {
            Some(n) => Some(n),
            None => {
                return graph_error(
                    StatusCode::BAD_REQUEST,
                    "ErrorInvalidUrlQueryFilter",
                    "The query filter contains one or more invalid nodes.",
                );
            }
        },
    };
    let st = emu.lock();
    let Some(user) = st.users.get(&caller.user_id) else {
        return not_found();
    };
    let value: Vec<Value> = user
        .folders
        .iter()
        .filter(|f| {
            name.as_ref()
                .is_none_or(|n| f.display_name.eq_ignore_ascii_case(n))
        })
        .map(|f| folder_json(&st, &user.id, f))
        .collect();
    json(
        StatusCode::OK,
        json!({ "@odata.context": format!("{}/$metadata#users('{}')/mailFolders", emu.graph_url(), user.id), "value": value }),
    )
}

pub fn get(emu: &Emulator, caller: &Caller, key: &str) -> Response {
    if !caller.has_any(SCOPES) {
        return super::routing::access_denied();
    }
    let st = emu.lock();
    let Some(id) = st.folder_id(&caller.user_id, key) else {
        return not_found();
    };
    let Some(f) = st
        .users
        .get(&caller.user_id)
        .and_then(|u| u.folders.iter().find(|f| f.id == id))
    else {
        return not_found();
    };
    json(StatusCode::OK, folder_json(&st, &caller.user_id, f))
}

/// `displayName eq 'Name'` → `Name`; other filters are refused.
fn parse_name_filter(filter: &str) -> Option<String> {
    let rest = filter.trim().strip_prefix("displayName")?.trim_start();
    let rest = rest.strip_prefix("eq")?.trim();
    let inner = rest.strip_prefix('\'')?.strip_suffix('\'')?;
    Some(inner.replace("''", "'"))
}
