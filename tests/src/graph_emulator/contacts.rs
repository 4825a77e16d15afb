//! Outlook contacts as Graph serves them: contact folders (`GET|POST …/contactFolders`, with
//! `$filter=displayName eq '{name}'`; `GET …/contactFolders/{id}`), the contacts of a folder
//! (`GET|POST …/contactFolders/{id}/contacts`, `GET|PATCH|DELETE …/contacts/{id}`) and the folder's
//! delta query (`GET …/contactFolders/{id}/contacts/delta`).
//!
//! Each contact carries a `changeKey` and the same value as `@odata.etag` (`W/"…"`), renewed on
//! every change. A `PATCH` or `DELETE` with `If-Match` that names an older version answers
//! `412 Precondition Failed` with code `ErrorIrresolvableConflict`, as Exchange does; a `PATCH`
//! changes only the properties it names; properties Graph does not know are refused with 400.
//! Reading needs `Contacts.Read` or `Contacts.ReadWrite`, writing `Contacts.ReadWrite`.
//!
//! Delta: a round pages with `@odata.nextLink` and ends with `@odata.deltaLink`; from that link
//! the contacts created or changed since come back whole, deleted ones as `@removed`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::{Map, Value, json};

use super::reply::{graph_error, json};
use super::routing::{Call, Caller};
use super::state::{ContactDeltaRound, Emulator, State, graph_time, message_id, opaque};

const READ: &[&str] = &["contacts.read", "contacts.readwrite"];
const WRITE: &[&str] = &["contacts.readwrite"];
/// Page size of a delta round when the client asks for none.
const DEFAULT_PAGE: usize = 10;

/// Writable contact properties (a subset of Graph's `contact` resource that the emulator keeps).
pub const PROPERTIES: &[&str] = &[
    "displayName",
    "givenName",
    "middleName",
    "surname",
    "nickName",
    "title",
    "companyName",
    "department",
    "jobTitle",
    "emailAddresses",
    "businessPhones",
    "homePhones",
    "mobilePhone",
    "businessHomePage",
    "businessAddress",
    "personalNotes",
    "categories",
];

/// A contact folder of a user.
pub struct ContactFolder {
    pub id: String,
    pub user_id: String,
    pub display_name: String,
}

/// A contact in a folder.
pub struct Contact {
    pub id: String,
    pub user_id: String,
    pub folder_id: String,
    pub fields: Map<String, Value>,
    pub change_key: String,
    /// The contact-sequence number of its last change (creation included).
    pub seq: u64,
    pub created: time::OffsetDateTime,
    pub modified: time::OffsetDateTime,
    /// The sequence number of its deletion, once deleted (kept for delta's `@removed`).
    pub deleted: Option<u64>,
}

impl Contact {
    pub fn etag(&self) -> String {
        format!("W/\"{}\"", self.change_key)
    }

    pub fn to_json(&self) -> Value {
        let mut v = self.fields.clone();
        v.insert("@odata.etag".into(), json!(self.etag()));
        v.insert("id".into(), json!(self.id));
        v.insert("parentFolderId".into(), json!(self.folder_id));
        v.insert("changeKey".into(), json!(self.change_key));
        v.insert("createdDateTime".into(), json!(graph_time(self.created)));
        v.insert(
            "lastModifiedDateTime".into(),
            json!(graph_time(self.modified)),
        );
        Value::Object(v)
    }
}

fn change_key() -> String {
    opaque("EQAAABYAAAD", 10)
}

impl State {
    pub fn contact_folder_id(&self, user_id: &str, key: &str) -> Option<String> {
        self.contact_folders
            .iter()
            .find(|f| f.user_id == user_id && (f.id == key || f.display_name == key))
            .map(|f| f.id.clone())
    }

    pub fn create_contact_folder(&mut self, user_id: &str, name: &str) -> String {
        let id = opaque("AQMkContactFolder", 10);
        self.contact_folders.push(ContactFolder {
            id: id.clone(),
            user_id: user_id.to_owned(),
            display_name: name.to_owned(),
        });
        id
    }

    pub fn contact(&self, user_id: &str, id: &str) -> Option<&Contact> {
        self.contacts
            .iter()
            .find(|c| c.user_id == user_id && c.id == id && c.deleted.is_none())
    }

    fn next_contact_seq(&mut self) -> u64 {
        self.contact_seq += 1;
        self.contact_seq
    }

    /// Adds a contact (from a client or from the test playing the user); returns it as JSON.
    pub fn add_contact(
        &mut self,
        user_id: &str,
        folder_id: &str,
        fields: Map<String, Value>,
    ) -> Value {
        let seq = self.next_contact_seq();
        let now = self.now();
        let contact = Contact {
            id: message_id().replacen("AAMkAD", "AAMkADc", 1),
            user_id: user_id.to_owned(),
            folder_id: folder_id.to_owned(),
            fields,
            change_key: change_key(),
            seq,
            created: now,
            modified: now,
            deleted: None,
        };
        let body = contact.to_json();
        self.contacts.push(contact);
        body
    }

    /// Changes the named properties of a contact (a `null` clears one); returns it as JSON.
    pub fn patch_contact(
        &mut self,
        user_id: &str,
        id: &str,
        patch: Map<String, Value>,
    ) -> Option<Value> {
        let seq = self.next_contact_seq();
        let now = self.now();
        let c = self
            .contacts
            .iter_mut()
            .find(|c| c.user_id == user_id && c.id == id && c.deleted.is_none())?;
        for (k, v) in patch {
            if v.is_null() {
                c.fields.remove(&k);
            } else {
                c.fields.insert(k, v);
            }
        }
        c.change_key = change_key();
        c.seq = seq;
        c.modified = now;
        Some(c.to_json())
    }

    pub fn delete_contact(&mut self, user_id: &str, id: &str) -> bool {
        let seq = self.next_contact_seq();
        match self
            .contacts
            .iter_mut()
            .find(|c| c.user_id == user_id && c.id == id && c.deleted.is_none())
        {
            Some(c) => {
                c.deleted = Some(seq);
                true
            }
            None => false,
        }
    }
}

fn not_found() -> Response {
    graph_error(
        StatusCode::NOT_FOUND,
        "ErrorItemNotFound",
        "The specified object was not found in the store.",
    )
}

fn with_etag(mut r: Response, etag: &str) -> Response {
    if let Ok(v) = HeaderValue::from_str(etag) {
        r.headers_mut().insert(header::ETAG, v);
    }
    r
}

/// The body as a JSON object of known contact properties, or the 400 Graph would give.
fn properties(call: &Call) -> Result<Map<String, Value>, Response> {
    let bad = |m: &str| graph_error(StatusCode::BAD_REQUEST, "RequestBodyRead", m);
    let Ok(Value::Object(map)) = serde_json::from_slice::<Value>(&call.body) else {
        return Err(bad("The request body is not a JSON object."));
    };
    let mut out = Map::new();
    for (k, v) in map {
        if k.starts_with("@odata.") {
            continue;
        }
        if !PROPERTIES.contains(&k.as_str()) {
            return Err(bad(&format!(
                "The property '{k}' does not exist on type 'microsoft.graph.contact'."
            )));
        }
        out.insert(k, v);
    }
    Ok(out)
}

/// `If-Match` against the contact's current ETag; `*` and no header always match.
fn precondition(call: &Call, c: &Contact) -> Result<(), Response> {
    let Some(sent) = call
        .headers
        .get(header::IF_MATCH)
        .and_then(|v| v.to_str().ok())
    else {
        return Ok(());
    };
    let sent = sent.trim();
    let strip = |s: &str| s.trim_start_matches("W/").trim_matches('"').to_owned();
    if sent == "*" || strip(sent) == c.change_key {
        return Ok(());
    }
    Err(graph_error(
        StatusCode::PRECONDITION_FAILED,
        "ErrorIrresolvableConflict",
        "The send or update operation could not be performed because the change key passed in the request does not match the current change key for the item.",
    ))
}

pub fn list_folders(emu: &Emulator, caller: &Caller, call: &Call) -> Response {
    if !caller.has_any(READ) {
        return super::routing::access_denied();
    }
    let name = call.query.get("$filter").map(|f| {
        f.trim()
            .strip_prefix("displayName eq '")
            .and_then(|r| r.strip_suffix('\''))
            .map(|n| n.replace("''", "'"))
    });
    if matches!(name, Some(None)) {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidUrlQueryFilter",
            "The query filter contains one or more invalid nodes.",
        );
    }
    let name = name.flatten();
    let st = emu.lock();
    let value: Vec<Value> = st
        .contact_folders
        .iter()
        .filter(|f| f.user_id == caller.user_id)
        .filter(|f| name.as_ref().is_none_or(|n| &f.display_name == n))
        .map(|f| json!({ "id": f.id, "displayName": f.display_name, "parentFolderId": null }))
        .collect();
    json(StatusCode::OK, json!({ "value": value }))
}

pub fn create_folder(emu: &Emulator, caller: &Caller, call: &Call) -> Response {
    if !caller.has_any(WRITE) {
        return super::routing::access_denied();
    }
    let name = serde_json::from_slice::<Value>(&call.body)
        .ok()
        .and_then(|v| {
            v.get("displayName")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .filter(|n| !n.trim().is_empty());
    let Some(name) = name else {
        return graph_error(
            StatusCode::BAD_REQUEST,
            "ErrorInvalidParameter",
            "displayName is required.",
        );
    };
    let mut st = emu.lock();
    if st
        .contact_folders
        .iter()
        .any(|f| f.user_id == caller.user_id && f.display_name == name)
    {
        return graph_error(
            StatusCode::CONFLICT,
            "ErrorFolderExists",
            "A folder with the specified name already exists.",
        );
    }
    let id = st.create_contact_folder(&caller.user_id, &name);
    json(
        StatusCode::CREATED,
        json!({ "id": id, "displayName": name, "parentFolderId": null }),
    )
}

pub fn get_folder(emu: &Emulator, caller: &Caller, key: &str) -> Response {
    if !caller.has_any(READ) {
        return super::routing::access_denied();
    }
    let st = emu.lock();
    match st
        .contact_folders
        .iter()
        .find(|f| f.user_id == caller.user_id && f.id == key)
    {
        Some(f) => json(
            StatusCode::OK,
            json!({ "id": f.id, "displayName": f.display_name, "parentFolderId": null }),
        ),
        None => not_found(),
    }
}

pub fn list(emu: &Emulator, caller: &Caller, folder: &str) -> Response {
    if !caller.has_any(READ) {
        return super::routing::access_denied();
    }
    let st = emu.lock();
    let Some(folder_id) = st.contact_folder_id(&caller.user_id, folder) else {
        return not_found();
    };
    let value: Vec<Value> = st
        .contacts
        .iter()
        .filter(|c| c.user_id == caller.user_id && c.folder_id == folder_id)
        .filter(|c| c.deleted.is_none())
        .map(Contact::to_json)
        .collect();
    json(StatusCode::OK, json!({ "value": value }))
}

pub fn create(emu: &Emulator, caller: &Caller, folder: &str, call: &Call) -> Response {
    if !caller.has_any(WRITE) {
        return super::routing::access_denied();
    }
    let fields = match properties(call) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let mut st = emu.lock();
    let Some(folder_id) = st.contact_folder_id(&caller.user_id, folder) else {
        return not_found();
    };
    let body = st.add_contact(&caller.user_id, &folder_id, fields);
    let etag = body["@odata.etag"].as_str().unwrap_or_default().to_owned();
    with_etag(json(StatusCode::CREATED, body), &etag)
}

/// The contact `id` in `folder`, when both exist.
fn in_folder<'a>(st: &'a State, caller: &Caller, folder: &str, id: &str) -> Option<&'a Contact> {
    let folder_id = st.contact_folder_id(&caller.user_id, folder)?;
    st.contact(&caller.user_id, id)
        .filter(|c| c.folder_id == folder_id)
}

pub fn get(emu: &Emulator, caller: &Caller, folder: &str, id: &str) -> Response {
    if !caller.has_any(READ) {
        return super::routing::access_denied();
    }
    let st = emu.lock();
    match in_folder(&st, caller, folder, id) {
        Some(c) => with_etag(json(StatusCode::OK, c.to_json()), &c.etag()),
        None => not_found(),
    }
}

pub fn update(emu: &Emulator, caller: &Caller, folder: &str, id: &str, call: &Call) -> Response {
    if !caller.has_any(WRITE) {
        return super::routing::access_denied();
    }
    let patch = match properties(call) {
        Ok(f) => f,
        Err(r) => return r,
    };
    let mut st = emu.lock();
    match in_folder(&st, caller, folder, id) {
        None => return not_found(),
        Some(c) => {
            if let Err(r) = precondition(call, c) {
                return r;
            }
        }
    }
    match st.patch_contact(&caller.user_id, id, patch) {
        Some(body) => {
            let etag = body["@odata.etag"].as_str().unwrap_or_default().to_owned();
            with_etag(json(StatusCode::OK, body), &etag)
        }
        None => not_found(),
    }
}

pub fn delete(emu: &Emulator, caller: &Caller, folder: &str, id: &str, call: &Call) -> Response {
    if !caller.has_any(WRITE) {
        return super::routing::access_denied();
    }
    let mut st = emu.lock();
    match in_folder(&st, caller, folder, id) {
        None => return not_found(),
        Some(c) => {
            if let Err(r) = precondition(call, c) {
                return r;
            }
        }
    }
    st.delete_contact(&caller.user_id, id);
    axum::response::IntoResponse::into_response(StatusCode::NO_CONTENT)
}

pub fn delta(emu: &Emulator, caller: &Caller, folder: &str, call: &Call) -> Response {
    if !caller.has_any(READ) {
        return super::routing::access_denied();
    }
    let page_size = page_size(call);
    let mut st = emu.lock();
    let Some(folder_id) = st.contact_folder_id(&caller.user_id, folder) else {
        return not_found();
    };
    let gone = || {
        graph_error(
            StatusCode::GONE,
            "SyncStateNotFound",
            "The sync state is not found or has expired; start a new delta round.",
        )
    };
    let (watermark, remaining) = if let Some(token) = call.query.get("$skiptoken") {
        match st.contact_delta_pages.get(token) {
            Some(r) if r.user_id == caller.user_id && r.folder_id == folder_id => {
                (r.watermark, r.remaining.clone())
            }
            _ => return gone(),
        }
    } else {
        let since = match call.query.get("$deltatoken") {
            Some(token) => match st.contact_delta_links.get(token) {
                Some(r) if r.user_id == caller.user_id && r.folder_id == folder_id => r.watermark,
                _ => return gone(),
            },
            None => 0,
        };
        let mut changes: Vec<(u64, String, bool)> = st
            .contacts
            .iter()
            .filter(|c| c.user_id == caller.user_id && c.folder_id == folder_id)
            .filter_map(|c| match c.deleted {
                None if c.seq > since => Some((c.seq, c.id.clone(), false)),
                Some(d) if since > 0 && d > since => Some((d, c.id.clone(), true)),
                _ => None,
            })
            .collect();
        changes.sort_by_key(|c| c.0);
        let remaining = changes.into_iter().map(|(_, id, r)| (id, r)).collect();
        (st.contact_seq, remaining)
    };
    let take = page_size.min(remaining.len());
    let (page, rest) = remaining.split_at(take);
    let items: Vec<Value> = page
        .iter()
        .filter_map(|(id, removed)| {
            if *removed {
                return Some(json!({ "id": id, "@removed": { "reason": "deleted" } }));
            }
            st.contact(&caller.user_id, id).map(Contact::to_json)
        })
        .collect();
    let link_base = format!("{}{}", emu.graph_url(), call.raw_path);
    let mut body = json!({ "value": items });
    let token = opaque("", 24);
    let round = ContactDeltaRound {
        user_id: caller.user_id.clone(),
        folder_id,
        remaining: rest.to_vec(),
        watermark,
    };
    if rest.is_empty() {
        st.contact_delta_links.insert(token.clone(), round);
        body["@odata.deltaLink"] = json!(format!("{link_base}?$deltatoken={token}"));
    } else {
        st.contact_delta_pages.insert(token.clone(), round);
        body["@odata.nextLink"] = json!(format!("{link_base}?$skiptoken={token}"));
    }
    json(StatusCode::OK, body)
}

fn page_size(call: &Call) -> usize {
    call.headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .find_map(|p| {
            p.trim()
                .strip_prefix("odata.maxpagesize=")
                .and_then(|n| n.trim().parse::<usize>().ok())
        })
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_PAGE)
}
