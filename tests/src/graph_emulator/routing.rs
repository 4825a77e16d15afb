//! The entry of every Graph call under `/v1.0/`: checks the bearer token, applies queued faults and
//! the per-mailbox concurrency limit, records the call, and routes it.
//!
//! Routed by hand rather than with axum route patterns because Graph paths carry OData forms that
//! patterns cannot express: `mailFolders('Inbox')`, `delta()`, `$value` (sometimes sent as
//! `%24value`), and `/me/…` next to `/users/{id|upn}/…` for the same resource.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;

use super::reply::graph_error;
use super::state::Emulator;
use super::{
    RequestRecord, contacts, delta, faults, folders, groups, messages, send_mail, subscriptions,
};

/// Who is calling: the app and the signed-in user behind the bearer token.
pub struct Caller {
    pub client_id: String,
    pub user_id: String,
    pub email: String,
    pub scopes: HashSet<String>,
}

impl Caller {
    /// A client-credentials token: the app itself, no signed-in user.
    pub fn is_app_only(&self) -> bool {
        self.user_id.is_empty()
    }

    /// An app-only caller acting on `user_id`'s resources (`/users/{id}/…`): the app's roles
    /// stand for the delegated scopes of the same name, `User.Read.All` for reading the user.
    pub fn acting_as(&self, user_id: String, email: String) -> Caller {
        let mut scopes = self.scopes.clone();
        if self.has_any(&["user.read.all", "directory.read.all"]) {
            scopes.insert("user.read".to_owned());
        }
        Caller {
            client_id: self.client_id.clone(),
            user_id,
            email,
            scopes,
        }
    }

    pub fn has_any(&self, scopes: &[&str]) -> bool {
        scopes.iter().any(|s| self.scopes.contains(*s))
    }
}

/// One Graph call, parsed.
pub struct Call {
    pub method: Method,
    /// Path after `/v1.0`, as the client sent it (used to build `@odata.nextLink`s).
    pub raw_path: String,
    /// Decoded, normalized segments: `mailFolders('x')` becomes `mailfolders`, `x`; `delta()` becomes
    /// `delta`; fixed words are lower-cased, ids are kept as sent.
    pub segments: Vec<String>,
    pub query: HashMap<String, String>,
    pub headers: HeaderMap,
    pub body: Bytes,
}

/// What a Graph path names.
enum Route {
    Me,
    Message(String),
    MessageValue(String),
    Delta(String),
    Folders,
    Folder(String),
    Subscriptions,
    Subscription(String),
    Reauthorize(String),
    ContactFolders,
    ContactFolder(String),
    Contacts(String),
    Contact(String, String),
    ContactsDelta(String),
    /// `sendMail` of this user (id).
    SendMail(String),
    Groups,
    Group(String),
    GroupsDelta,
}

pub async fn graph_entry(
    State(emu): State<Arc<Emulator>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let path = uri.path().to_owned();
    let raw_path = path.strip_prefix("/v1.0").unwrap_or(&path).to_owned();
    let (response, email, fault) = serve(&emu, &method, &uri, raw_path, headers, body).await;
    emu.lock().requests.push(RequestRecord {
        method: method.to_string(),
        path: uri.path_and_query().map(|p| p.to_string()).unwrap_or(path),
        status: response.status().as_u16(),
        started,
        finished: Instant::now(),
        user: email,
        fault,
    });
    response
}

async fn serve(
    emu: &Arc<Emulator>,
    method: &Method,
    uri: &Uri,
    raw_path: String,
    headers: HeaderMap,
    body: Bytes,
) -> (Response, Option<String>, Option<&'static str>) {
    let caller = match authenticate(emu, &headers) {
        Ok(c) => c,
        Err(r) => return (r, None, None),
    };
    let email = Some(caller.email.clone());
    // The slot is taken first: a slow answer occupies it, as a slow Graph call would.
    let Some(_slot) = InFlight::enter(emu, &caller.user_id) else {
        return (faults::concurrency_exceeded(), email, Some("concurrency"));
    };
    let fault = faults::take(&mut emu.lock());
    let fault_name = fault.as_ref().map(faults::FaultAction::name);
    match fault {
        Some(faults::FaultAction::Reply(r)) => return (r, email, fault_name),
        Some(faults::FaultAction::Delay(d)) => tokio::time::sleep(d).await,
        None => {}
    }
    let call = Call {
        method: method.clone(),
        segments: normalize_segments(&raw_path),
        raw_path,
        query: uri
            .query()
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .into_owned()
                    .collect()
            })
            .unwrap_or_default(),
        headers,
        body,
    };
    (dispatch(emu, &caller, &call).await, email, fault_name)
}

async fn dispatch(emu: &Arc<Emulator>, caller: &Caller, call: &Call) -> Response {
    let (route, acting) = match route(emu, caller, &call.segments) {
        Ok(r) => r,
        Err(r) => return r,
    };
    // An app-only call on `/users/{id}/…` acts on that user's mailbox with the app's roles.
    let caller = acting.as_ref().unwrap_or(caller);
    let get = call.method == Method::GET;
    match route {
        Route::Me if get => messages::me(emu, caller),
        Route::Message(id) if get => messages::metadata(emu, caller, &id, call),
        Route::MessageValue(id) if get => messages::mime(emu, caller, &id),
        Route::Delta(folder) if get => delta::delta(emu, caller, &folder, call),
        Route::Folders if get => folders::list(emu, caller, call),
        Route::Folder(key) if get => folders::get(emu, caller, &key),
        Route::Subscriptions if get => subscriptions::list(emu, caller),
        Route::Subscriptions if call.method == Method::POST => {
            subscriptions::create(emu, caller, call).await
        }
        Route::Subscription(id) if get => subscriptions::get(emu, caller, &id),
        Route::Subscription(id) if call.method == Method::PATCH => {
            subscriptions::update(emu, caller, &id, call).await
        }
        Route::Subscription(id) if call.method == Method::DELETE => {
            subscriptions::delete(emu, caller, &id)
        }
        Route::SendMail(user_id) if call.method == Method::POST => {
            send_mail::send_mail(emu, caller, &user_id, call)
        }
        Route::Reauthorize(id) if call.method == Method::POST => {
            subscriptions::reauthorize(emu, caller, &id)
        }
        Route::ContactFolders if get => contacts::list_folders(emu, caller, call),
        Route::ContactFolders if call.method == Method::POST => {
            contacts::create_folder(emu, caller, call)
        }
        Route::ContactFolder(f) if get => contacts::get_folder(emu, caller, &f),
        Route::Contacts(f) if get => contacts::list(emu, caller, &f),
        Route::Contacts(f) if call.method == Method::POST => {
            contacts::create(emu, caller, &f, call)
        }
        Route::Contact(f, id) if get => contacts::get(emu, caller, &f, &id),
        Route::Contact(f, id) if call.method == Method::PATCH => {
            contacts::update(emu, caller, &f, &id, call)
        }
        Route::Contact(f, id) if call.method == Method::DELETE => {
            contacts::delete(emu, caller, &f, &id, call)
        }
        Route::ContactsDelta(f) if get => contacts::delta(emu, caller, &f, call),
        Route::Groups if get => groups::list(emu, caller, call),
        Route::Group(id) if get => groups::get(emu, caller, &id),
        Route::GroupsDelta if get => groups::delta(emu, caller, call),
        _ => graph_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "Request_BadRequest",
            &format!(
                "The HTTP method '{}' is not allowed for this resource.",
                call.method
            ),
        ),
    }
}

/// What the path names, and for an app-only call on a user's resources, the caller acting as
/// that user.
fn route(
    emu: &Emulator,
    caller: &Caller,
    segs: &[String],
) -> Result<(Route, Option<Caller>), Response> {
    let mut acting = None;
    let route = route_for(emu, caller, segs, &mut acting)?;
    Ok((route, acting))
}

fn route_for(
    emu: &Emulator,
    caller: &Caller,
    segs: &[String],
    acting: &mut Option<Caller>,
) -> Result<Route, Response> {
    let s: Vec<&str> = segs.iter().map(String::as_str).collect();
    let not_found = || {
        let last = s.last().copied().unwrap_or("");
        graph_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            &format!("Resource not found for the segment '{last}'."),
        )
    };
    let rest = match s.as_slice() {
        ["subscriptions"] => return Ok(Route::Subscriptions),
        ["subscriptions", id] => return Ok(Route::Subscription((*id).to_owned())),
        ["subscriptions", id, "reauthorize"] => return Ok(Route::Reauthorize((*id).to_owned())),
        ["groups"] => return Ok(Route::Groups),
        ["groups", "delta"] => return Ok(Route::GroupsDelta),
        ["groups", id] => return Ok(Route::Group((*id).to_owned())),
        ["me", "sendmail"] if !caller.is_app_only() => {
            return Ok(Route::SendMail(caller.user_id.clone()));
        }
        ["users", key, "sendmail"] => {
            let Some(id) = emu.lock().user_by_key(key).map(|u| u.id.clone()) else {
                return Err(graph_error(
                    StatusCode::NOT_FOUND,
                    "ErrorInvalidUser",
                    &format!("The requested user '{key}' is invalid."),
                ));
            };
            return Ok(Route::SendMail(id));
        }
        ["me", rest @ ..] => rest,
        ["users", key, rest @ ..] => {
            let target = emu
                .lock()
                .user_by_key(key)
                .map(|u| (u.id.clone(), u.email.clone()));
            match target {
                Some((id, _)) if id == caller.user_id => rest,
                Some((id, email)) if caller.is_app_only() => {
                    *acting = Some(caller.acting_as(id, email));
                    rest
                }
                None if caller.is_app_only() => {
                    return Err(graph_error(
                        StatusCode::NOT_FOUND,
                        "Request_ResourceNotFound",
                        &format!(
                            "Resource '{key}' does not exist or one of its queried reference-property objects are not present."
                        ),
                    ));
                }
                _ => return Err(access_denied()),
            }
        }
        _ => return Err(not_found()),
    };
    match rest {
        [] => Ok(Route::Me),
        ["messages", id] if *id != "delta" => Ok(Route::Message((*id).to_owned())),
        ["messages", id, "$value"] => Ok(Route::MessageValue((*id).to_owned())),
        ["mailfolders", folder, "messages", "delta"] => Ok(Route::Delta((*folder).to_owned())),
        ["mailfolders"] => Ok(Route::Folders),
        ["mailfolders", folder] => Ok(Route::Folder((*folder).to_owned())),
        ["contactfolders"] => Ok(Route::ContactFolders),
        ["contactfolders", folder] => Ok(Route::ContactFolder((*folder).to_owned())),
        ["contactfolders", folder, "contacts"] => Ok(Route::Contacts((*folder).to_owned())),
        ["contactfolders", folder, "contacts", "delta"] => {
            Ok(Route::ContactsDelta((*folder).to_owned()))
        }
        ["contactfolders", folder, "contacts", id] => {
            Ok(Route::Contact((*folder).to_owned(), (*id).to_owned()))
        }
        _ => Err(not_found()),
    }
}

pub fn access_denied() -> Response {
    graph_error(
        StatusCode::FORBIDDEN,
        "ErrorAccessDenied",
        "Access is denied. Check credentials and try again.",
    )
}

fn authenticate(emu: &Emulator, headers: &HeaderMap) -> Result<Caller, Response> {
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .unwrap_or("");
    if token.is_empty() {
        return Err(unauthorized("Access token is empty."));
    }
    let st = emu.lock();
    let Some(grant) = st.access_tokens.get(token) else {
        return Err(unauthorized("Invalid authentication token."));
    };
    if grant.expires <= st.now() {
        return Err(unauthorized(
            "Access token has expired or is not yet valid.",
        ));
    }
    if grant.user_id.is_empty() {
        return Ok(Caller {
            client_id: grant.client_id.clone(),
            user_id: String::new(),
            email: format!("app:{}", grant.client_id),
            scopes: grant.scopes.clone(),
        });
    }
    let Some(user) = st.users.get(&grant.user_id) else {
        return Err(unauthorized("Invalid authentication token."));
    };
    Ok(Caller {
        client_id: grant.client_id.clone(),
        user_id: user.id.clone(),
        email: user.email.clone(),
        scopes: grant.scopes.clone(),
    })
}

fn unauthorized(message: &str) -> Response {
    let mut r = graph_error(
        StatusCode::UNAUTHORIZED,
        "InvalidAuthenticationToken",
        message,
    );
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"\", error=\"invalid_token\""),
    );
    r
}

/// Splits a Graph path into decoded, normalized segments (see [`Call::segments`]).
pub fn normalize_segments(path: &str) -> Vec<String> {
    let mut out = Vec::new();
    for seg in path.split('/').filter(|s| !s.is_empty()) {
        let seg = percent_decode(seg);
        let lower = seg.to_ascii_lowercase();
        if let Some(word) = ["mailfolders", "contactfolders"]
            .into_iter()
            .find(|w| lower.starts_with(&format!("{w}(")) && seg.ends_with(')'))
        {
            out.push(word.to_owned());
            let inner = &seg[word.len() + 1..seg.len() - 1];
            out.push(inner.trim_matches(|c| c == '\'' || c == '"').to_owned());
        } else if matches!(
            lower.as_str(),
            "me" | "users"
                | "messages"
                | "mailfolders"
                | "contactfolders"
                | "contacts"
                | "subscriptions"
                | "reauthorize"
                | "sendmail"
                | "groups"
                | "$value"
        ) {
            out.push(lower);
        } else if lower == "delta" || lower == "delta()" {
            out.push("delta".to_owned());
        } else {
            out.push(seg);
        }
    }
    out
}

/// Percent-decoding of one path segment (hand-rolled: ten lines instead of another dependency;
/// invalid escapes are kept as they are).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (bytes[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A call counted against its mailbox's concurrency; leaves the count on drop.
struct InFlight {
    emu: Arc<Emulator>,
    user_id: String,
}

impl InFlight {
    fn enter(emu: &Arc<Emulator>, user_id: &str) -> Option<Self> {
        let mut st = emu.lock();
        let limit = st.settings.mailbox_concurrency_limit;
        let n = st.in_flight.entry(user_id.to_owned()).or_default();
        if limit.is_some_and(|l| *n >= l) {
            return None;
        }
        *n += 1;
        Some(Self {
            emu: Arc::clone(emu),
            user_id: user_id.to_owned(),
        })
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if let Some(n) = self.emu.lock().in_flight.get_mut(&self.user_id) {
            *n = n.saturating_sub(1);
        }
    }
}
