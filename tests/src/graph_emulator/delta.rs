//! Delta query on a mail folder (`GET …/mailFolders/{id|inbox}/messages/delta`): a round pages
//! through the folder with `@odata.nextLink` (`$skiptoken`) and ends with an `@odata.deltaLink`
//! (`$deltatoken`); calling that link returns only the changes since it was issued: messages added,
//! and messages deleted, as `{"id":…,"@removed":{"reason":"deleted"}}`.
//!
//! Tokens are opaque and stored here. An unknown token answers `410 Gone` with code
//! `SyncStateNotFound`: the client must start a new round. Supported options: `$select`, `$top`
//! and `Prefer: odata.maxpagesize=N` (page size, default 10), `$filter=receivedDateTime ge|gt
//! {time}` on the first round, `changeType=created` (only creations happen in the emulator).

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::messages::{message_json, not_found};
use super::reply::{graph_error, json};
use super::routing::{Call, Caller};
use super::state::{
    DEFAULT_DELTA_PAGE_SIZE, DeltaLink, DeltaPage, Emulator, opaque, parse_graph_time,
};

pub fn delta(emu: &Emulator, caller: &Caller, folder_key: &str, call: &Call) -> Response {
    if !caller.has_any(&["mail.read", "mail.readbasic", "mail.readwrite"]) {
        return super::routing::access_denied();
    }
    let page_size = page_size(call);
    let mut st = emu.lock();
    let Some(folder_id) = st.folder_id(&caller.user_id, folder_key) else {
        return not_found();
    };
    let gone = || {
        graph_error(
            StatusCode::GONE,
            "SyncStateNotFound",
            "The sync state is not found or has expired; start a new delta round.",
        )
    };
    let round = if let Some(token) = call.query.get("$skiptoken") {
        match st.delta_pages.get(token) {
            Some(p) if p.user_id == caller.user_id && p.folder_id == folder_id => p.clone(),
            _ => return gone(),
        }
    } else if let Some(token) = call.query.get("$deltatoken") {
        let Some(link) = st
            .delta_links
            .get(token)
            .filter(|l| l.user_id == caller.user_id && l.folder_id == folder_id)
        else {
            return gone();
        };
        let since = link.watermark;
        // Changes since the watermark in the order they happened: messages created (and still
        // there), and messages that existed then and were deleted since (`@removed`).
        let mut changes: Vec<(u64, String, bool)> = st
            .messages
            .iter()
            .filter(|m| m.user_id == caller.user_id && m.folder_id == folder_id)
            .filter_map(|m| match m.deleted {
                None if m.seq > since => Some((m.seq, m.id.clone(), false)),
                Some(d) if m.seq <= since && d > since => Some((d, m.id.clone(), true)),
                _ => None,
            })
            .collect();
        changes.sort_by_key(|c| c.0);
        let remaining = changes
            .into_iter()
            .map(|(_, id, removed)| (id, removed))
            .collect();
        DeltaPage {
            remaining,
            watermark: st.next_seq - 1,
            ..link_to_page(link)
        }
    } else {
        let filter = match call.query.get("$filter").map(|f| parse_filter(f)) {
            None => None,
            Some(Some(f)) => Some(f),
            Some(None) => {
                return graph_error(
                    StatusCode::BAD_REQUEST,
                    "ErrorInvalidUrlQueryFilter",
                    "The query filter contains one or more invalid nodes.",
                );
            }
        };
        let only_created = call
            .query
            .get("changeType")
            .is_none_or(|c| c.eq_ignore_ascii_case("created"));
        let remaining = st
            .messages
            .iter()
            .filter(|m| {
                m.user_id == caller.user_id
                    && m.folder_id == folder_id
                    && m.deleted.is_none()
                    && only_created
            })
            .filter(|m| {
                filter.is_none_or(|(strict, t)| {
                    if strict {
                        m.received > t
                    } else {
                        m.received >= t
                    }
                })
            })
            .map(|m| (m.id.clone(), false))
            .collect();
        DeltaPage {
            user_id: caller.user_id.clone(),
            folder_id: folder_id.clone(),
            select: call.query.get("$select").cloned(),
            remaining,
            watermark: st.next_seq - 1,
        }
    };
    let take = page_size.min(round.remaining.len());
    let (page, rest) = round.remaining.split_at(take);
    let items: Vec<Value> = page
        .iter()
        .filter_map(|(id, removed)| {
            if *removed {
                return Some(json!({
                    "@odata.type": "#microsoft.graph.message",
                    "id": id,
                    "@removed": { "reason": "deleted" },
                }));
            }
            // A message deleted while the round pages is left out.
            let m = st.message(&caller.user_id, id)?;
            let mut item = message_json(&st, m, round.select.as_deref());
            item.insert("@odata.type".into(), json!("#microsoft.graph.message"));
            Some(Value::Object(item))
        })
        .collect();
    let link_base = format!("{}{}", emu.graph_url(), call.raw_path);
    let mut body = json!({
        "@odata.context": format!("{}/$metadata#Collection(message)", emu.graph_url()),
        "value": items,
    });
    if rest.is_empty() {
        let token = opaque("", 24);
        st.delta_links.insert(
            token.clone(),
            DeltaLink {
                user_id: round.user_id.clone(),
                folder_id: round.folder_id.clone(),
                select: round.select.clone(),
                watermark: round.watermark,
            },
        );
        body["@odata.deltaLink"] = json!(format!("{link_base}?$deltatoken={token}"));
    } else {
        let token = opaque("", 24);
        st.delta_pages.insert(
            token.clone(),
            DeltaPage {
                remaining: rest.to_vec(),
                ..round.clone()
            },
        );
        body["@odata.nextLink"] = json!(format!("{link_base}?$skiptoken={token}"));
    }
    json(StatusCode::OK, body)
}

fn link_to_page(link: &DeltaLink) -> DeltaPage {
    DeltaPage {
        user_id: link.user_id.clone(),
        folder_id: link.folder_id.clone(),
        select: link.select.clone(),
        remaining: Vec::new(),
        watermark: link.watermark,
    }
}

fn page_size(call: &Call) -> usize {
    let prefer = call
        .headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| {
            p.trim()
                .strip_prefix("odata.maxpagesize=")
                .and_then(|n| n.trim().parse::<usize>().ok())
        });
    let top = call.query.get("$top").and_then(|t| t.parse::<usize>().ok());
    prefer
        .or(top)
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_DELTA_PAGE_SIZE)
}

/// `receivedDateTime ge|gt {time}` → (strict, time); anything else is unsupported (as in Graph).
fn parse_filter(filter: &str) -> Option<(bool, time::OffsetDateTime)> {
    let mut parts = filter.split_whitespace();
    let (field, op, value) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || !field.eq_ignore_ascii_case("receivedDateTime") {
        return None;
    }
    let strict = match op.to_ascii_lowercase().as_str() {
        "gt" => true,
        "ge" => false,
        _ => return None,
    };
    Some((strict, parse_graph_time(value.trim_matches('\''))?))
}
