//! Groups of the tenant, read by an app with application permissions: `GET /groups?$filter=mail
//! eq '…'`, `GET /groups/{id}`, and the delta query on a group's members,
//! `GET /groups/delta?$filter=id eq '{id}'&$select=members`.
//!
//! Delta answers as Graph documents it: the first round lists the group with every member in
//! `members@delta`; the `@odata.deltaLink` (`$deltatoken`) then returns only the membership
//! changes since it was issued, a member who left carrying `"@removed":{"reason":"deleted"}`, and
//! an empty `value` when nothing changed. Groups need `GroupMember.Read.All` (or
//! `Group.Read.All`, `Directory.Read.All`), which only an app-only token of a consented app has.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::reply::{graph_error, json};
use super::routing::{Call, Caller, access_denied};
use super::state::{Emulator, Group, GroupDeltaLink, opaque};

const GROUP_SCOPES: &[&str] = &[
    "groupmember.read.all",
    "group.read.all",
    "directory.read.all",
];

fn group_json(group: &Group) -> Value {
    json!({
        "id": group.id,
        "displayName": group.display_name,
        "mail": group.mail,
        "mailEnabled": true,
        "securityEnabled": false,
    })
}

fn allowed(caller: &Caller) -> bool {
    caller.is_app_only() && caller.has_any(GROUP_SCOPES)
}

/// `GET /groups`, with the one filter the daemon uses: `mail eq '…'`.
pub fn list(emu: &Emulator, caller: &Caller, call: &Call) -> Response {
    if !allowed(caller) {
        return access_denied();
    }
    let mail = match call.query.get("$filter") {
        None => None,
        Some(filter) => match quoted_after(filter, "mail eq ") {
            Some(mail) => Some(mail),
            None => return unsupported_filter(),
        },
    };
    let st = emu.lock();
    let value: Vec<Value> = st
        .groups
        .values()
        .filter(|g| {
            mail.as_deref()
                .is_none_or(|m| g.mail.eq_ignore_ascii_case(m))
        })
        .map(group_json)
        .collect();
    json(
        StatusCode::OK,
        json!({ "@odata.context": format!("{}/$metadata#groups", emu.graph_url()), "value": value }),
    )
}

/// `GET /groups/{id}`.
pub fn get(emu: &Emulator, caller: &Caller, id: &str) -> Response {
    if !allowed(caller) {
        return access_denied();
    }
    let st = emu.lock();
    match st.groups.get(id) {
        Some(group) => json(StatusCode::OK, group_json(group)),
        None => graph_error(
            StatusCode::NOT_FOUND,
            "Request_ResourceNotFound",
            &format!(
                "Resource '{id}' does not exist or one of its queried reference-property objects are not present."
            ),
        ),
    }
}

/// `GET /groups/delta` (first round: `$filter=id eq '…'`, `$select=members`; later rounds: the
/// deltaLink's `$deltatoken`).
pub fn delta(emu: &Emulator, caller: &Caller, call: &Call) -> Response {
    if !allowed(caller) {
        return access_denied();
    }
    let mut st = emu.lock();
    let watermark = st.next_seq - 1;
    let (group_id, changes): (Option<String>, Vec<(String, String, bool)>) =
        if let Some(token) = call.query.get("$deltatoken") {
            let Some(link) = st.group_delta_links.get(token).cloned() else {
                return graph_error(
                    StatusCode::GONE,
                    "SyncStateNotFound",
                    "The sync state is not found or has expired; start a new delta round.",
                );
            };
            let changes = st
                .member_changes
                .iter()
                .filter(|c| c.seq > link.watermark)
                .filter(|c| link.group_id.as_deref().is_none_or(|g| g == c.group_id))
                .map(|c| (c.group_id.clone(), c.user_id.clone(), c.added))
                .collect();
            (link.group_id, changes)
        } else {
            let group_id = match call.query.get("$filter") {
                None => None,
                Some(filter) => match quoted_after(filter, "id eq ") {
                    Some(id) => Some(id),
                    None => return unsupported_filter(),
                },
            };
            let changes = st
                .groups
                .values()
                .filter(|g| group_id.as_deref().is_none_or(|id| id == g.id))
                .flat_map(|g| g.members.iter().map(|m| (g.id.clone(), m.clone(), true)))
                .collect();
            (group_id, changes)
        };
    let mut by_group: Vec<(String, Vec<Value>)> = Vec::new();
    for (group, user, added) in changes {
        let member = if added {
            json!({ "@odata.type": "#microsoft.graph.user", "id": user })
        } else {
            json!({ "@odata.type": "#microsoft.graph.user", "id": user, "@removed": { "reason": "deleted" } })
        };
        match by_group.iter_mut().find(|(g, _)| *g == group) {
            Some((_, members)) => members.push(member),
            None => by_group.push((group, vec![member])),
        }
    }
    let value: Vec<Value> = by_group
        .into_iter()
        .map(|(group, members)| json!({ "id": group, "members@delta": members }))
        .collect();
    let token = opaque("", 16);
    st.group_delta_links.insert(
        token.clone(),
        GroupDeltaLink {
            group_id,
            watermark,
        },
    );
    json(
        StatusCode::OK,
        json!({
            "@odata.context": format!("{}/$metadata#groups(members)", emu.graph_url()),
            "value": value,
            "@odata.deltaLink": format!("{}/groups/delta?$deltatoken={token}", emu.graph_url()),
        }),
    )
}

/// The quoted value of `{prefix}'value'` (OData string literal, `''` for a quote).
fn quoted_after(filter: &str, prefix: &str) -> Option<String> {
    let rest = filter.trim().strip_prefix(prefix)?.trim();
    let inner = rest.strip_prefix('\'')?.strip_suffix('\'')?;
    Some(inner.replace("''", "'"))
}

fn unsupported_filter() -> Response {
    graph_error(
        StatusCode::BAD_REQUEST,
        "Request_UnsupportedQuery",
        "Unsupported query.",
    )
}
