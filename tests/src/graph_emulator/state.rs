//! The emulator's whole world in one place: registered apps, users and their folders, messages,
//! OAuth codes and tokens, subscriptions, delta sync states, pending faults and the records tests
//! read back. Handlers lock it briefly (a `std::sync::Mutex`, never held across an `.await`).

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use time::OffsetDateTime;

use super::faults::Fault;
use super::{DeliveryRecord, EmulatorError, RequestRecord};

/// Outlook's documented maximum lifetime of a message subscription (10,080 minutes).
pub const MAX_MESSAGE_SUBSCRIPTION_LIFETIME: Duration = Duration::from_secs(10_080 * 60);
/// Access token lifetime Microsoft usually grants (about an hour).
pub const DEFAULT_ACCESS_TOKEN_LIFETIME: Duration = Duration::from_secs(3_599);
/// Authorization codes are short-lived (about 10 minutes).
pub const AUTH_CODE_LIFETIME: Duration = Duration::from_secs(600);
/// Page size of a delta round when the client asks for none (Graph's default for messages).
pub const DEFAULT_DELTA_PAGE_SIZE: usize = 10;

/// The emulator shared by its HTTP handlers and the test-facing [`super::GraphEmulator`].
pub struct Emulator {
    state: Mutex<State>,
    /// Client for the calls Graph makes itself: validation handshakes, notifications.
    pub http: reqwest::Client,
    /// `http://127.0.0.1:PORT`, known once the listener is bound.
    pub base_url: String,
}

impl Emulator {
    pub fn new(base_url: String) -> Arc<Self> {
        // Redirects are not followed: `consent` returns the authorize endpoint's Location. Building
        // fails only when a TLS backend cannot start, and this client has none (loopback http).
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        Arc::new(Self {
            state: Mutex::new(State::new()),
            http,
            base_url,
        })
    }

    /// Locks the state; a handler that panicked while holding it cannot leave it half-written in a
    /// way that matters to a test, so a poisoned lock is taken over.
    pub fn lock(&self) -> MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub fn graph_url(&self) -> String {
        format!("{}/v1.0", self.base_url)
    }

    pub fn register_app(&self, client_id: &str, client_secret: &str, redirect_uri: &str) {
        let mut st = self.lock();
        let app = st.apps.entry(client_id.to_owned()).or_insert_with(|| App {
            client_secret: client_secret.to_owned(),
            redirect_uris: Vec::new(),
            app_roles: HashSet::new(),
            application_permissions: HashSet::new(),
        });
        app.client_secret = client_secret.to_owned();
        if !app.redirect_uris.iter().any(|r| r == redirect_uri) {
            app.redirect_uris.push(redirect_uri.to_owned());
        }
    }

    pub fn add_user(&self, email: &str, display_name: &str) -> String {
        let mut st = self.lock();
        if let Some(u) = st.user_by_email(email) {
            return u.id.clone();
        }
        let id = guid();
        let inbox = Folder {
            id: opaque("AQMkFolder", 12),
            display_name: "Inbox".to_owned(),
        };
        let user = User {
            id: id.clone(),
            email: email.to_owned(),
            display_name: display_name.to_owned(),
            folders: vec![inbox],
        };
        st.users.insert(id.clone(), user);
        id
    }

    pub fn folder(&self, email: &str, display_name: &str) -> Result<String, EmulatorError> {
        let mut st = self.lock();
        let Some(user_id) = st.user_by_email(email).map(|u| u.id.clone()) else {
            return Err(EmulatorError::UnknownUser(email.to_owned()));
        };
        if let Some(id) = st.folder_id(&user_id, display_name) {
            return Ok(id);
        }
        let folder = Folder {
            id: opaque("AQMkFolder", 12),
            display_name: display_name.to_owned(),
        };
        let id = folder.id.clone();
        if let Some(u) = st.users.get_mut(&user_id) {
            u.folders.push(folder);
        }
        Ok(id)
    }
}

pub struct App {
    pub client_secret: String,
    pub redirect_uris: Vec<String>,
    /// Application permissions an admin granted (app roles such as `Mail.Send`, lower case):
    /// what a client-credentials token of this app carries.
    pub app_roles: HashSet<String>,
    /// Application permissions the app registration asks for (lower case): what an admin's
    /// consent (`adminconsent`) grants.
    pub application_permissions: HashSet<String>,
}

/// A mail-enabled group of the tenant.
pub struct Group {
    pub id: String,
    pub display_name: String,
    pub mail: String,
    /// Member user ids.
    pub members: Vec<String>,
}

/// One change of a group's membership, in the order they happened: the members delta's log.
pub struct MemberChange {
    pub seq: u64,
    pub group_id: String,
    pub user_id: String,
    pub added: bool,
}

/// Where a groups delta round stands: the group it is filtered to (`$filter=id eq '…'`), and
/// the member-change watermark its deltaLink carries.
#[derive(Clone)]
pub struct GroupDeltaLink {
    pub group_id: Option<String>,
    pub watermark: u64,
}

/// A message accepted by `sendMail`.
pub struct SentMail {
    /// The mailbox it was sent from (user id).
    pub user_id: String,
    /// The MIME message as received (decoded from the request's base64).
    pub mime: Vec<u8>,
}

pub struct User {
    pub id: String,
    pub email: String,
    pub display_name: String,
    /// Folder ids in creation order; the first one is the Inbox.
    pub folders: Vec<Folder>,
}

pub struct Folder {
    pub id: String,
    pub display_name: String,
}

pub struct Message {
    pub id: String,
    pub user_id: String,
    pub folder_id: String,
    /// Global order of arrival: delta watermarks are sequence numbers.
    pub seq: u64,
    pub received: OffsetDateTime,
    pub raw: Arc<Vec<u8>>,
    /// The sequence number of its deletion, once deleted (kept for delta's `@removed`).
    pub deleted: Option<u64>,
}

pub struct AuthCode {
    pub client_id: String,
    pub redirect_uri: String,
    pub user_id: String,
    pub scopes: Vec<String>,
    pub code_challenge: String,
    pub expires: OffsetDateTime,
}

pub struct AccessGrant {
    pub client_id: String,
    pub user_id: String,
    /// Lower-case scope names without the `https://graph.microsoft.com/` prefix.
    pub scopes: HashSet<String>,
    pub expires: OffsetDateTime,
}

pub struct RefreshGrant {
    pub client_id: String,
    pub user_id: String,
    pub scopes: Vec<String>,
}

pub struct Subscription {
    pub id: String,
    pub client_id: String,
    pub user_id: String,
    /// The resource as the client wrote it (returned verbatim).
    pub resource: String,
    /// The folder it watches; `None` = every folder (`me/messages`).
    pub folder_id: Option<String>,
    pub change_types: Vec<String>,
    pub notification_url: String,
    pub lifecycle_notification_url: Option<String>,
    pub client_state: Option<String>,
    pub expiration: OffsetDateTime,
    pub reauthorized: u32,
}

/// Where a delta round stands: the messages it still has to page through, and the watermark its
/// deltaLink will carry.
#[derive(Clone)]
pub struct DeltaPage {
    pub user_id: String,
    pub folder_id: String,
    pub select: Option<String>,
    /// Message ids still to show, each with `true` when it is shown as `@removed`.
    pub remaining: Vec<(String, bool)>,
    pub watermark: u64,
}

#[derive(Clone)]
pub struct DeltaLink {
    pub user_id: String,
    pub folder_id: String,
    pub select: Option<String>,
    pub watermark: u64,
}

/// A contacts delta round still paging (`$skiptoken`), or its end (`$deltatoken`): the contacts
/// still to show (`true`: as `@removed`) and the contact-sequence watermark of the round.
#[derive(Clone)]
pub struct ContactDeltaRound {
    pub user_id: String,
    pub folder_id: String,
    pub remaining: Vec<(String, bool)>,
    pub watermark: u64,
}

/// A notification waiting for [`super::GraphEmulator::flush_notifications`] in batch mode.
pub struct PendingNotification {
    pub url: String,
    pub subscription_id: String,
    pub item: serde_json::Value,
}

pub struct Settings {
    pub drop_notifications: bool,
    pub batch_notifications: bool,
    pub duplicate_notifications: bool,
    /// The token of the next handshakes, when the test chose one.
    pub validation_token: Option<String>,
    /// Microsoft's side of a network where the daemon's notification URL cannot be reached (a
    /// firewall, a wrong public URL): every validation request fails to connect.
    pub endpoint_unreachable: bool,
    /// Retries of a failed notification, and the first wait (doubling).
    pub notification_retries: (u32, Duration),
    pub access_token_lifetime: Duration,
    pub max_subscription_lifetime: Duration,
    pub mailbox_concurrency_limit: Option<usize>,
    /// Added to the wall clock: lets a test age tokens and subscriptions without waiting.
    pub clock_offset: Duration,
    /// The admin declines the next admin consents (`adminconsent` answers `access_denied`).
    pub refuse_admin_consent: bool,
}

pub struct State {
    pub tenant_id: String,
    pub apps: HashMap<String, App>,
    pub users: BTreeMap<String, User>,
    pub codes: HashMap<String, AuthCode>,
    pub access_tokens: HashMap<String, AccessGrant>,
    pub refresh_tokens: HashMap<String, RefreshGrant>,
    pub refresh_counts: HashMap<String, usize>,
    pub messages: Vec<Message>,
    pub next_seq: u64,
    pub subscriptions: BTreeMap<String, Subscription>,
    pub delta_pages: HashMap<String, DeltaPage>,
    pub delta_links: HashMap<String, DeltaLink>,
    pub contact_folders: Vec<super::contacts::ContactFolder>,
    pub contacts: Vec<super::contacts::Contact>,
    /// Sequence of contact changes (creations, edits, deletions): the contacts delta's watermark.
    pub contact_seq: u64,
    pub contact_delta_pages: HashMap<String, ContactDeltaRound>,
    pub contact_delta_links: HashMap<String, ContactDeltaRound>,
    pub faults: VecDeque<Fault>,
    pub in_flight: HashMap<String, usize>,
    pub requests: Vec<RequestRecord>,
    pub deliveries: Vec<DeliveryRecord>,
    pub sent_mail: Vec<SentMail>,
    pub groups: BTreeMap<String, Group>,
    pub member_changes: Vec<MemberChange>,
    pub group_delta_links: HashMap<String, GroupDeltaLink>,
    pub pending: Vec<PendingNotification>,
    pub dropped_notifications: usize,
    pub settings: Settings,
}

impl State {
    fn new() -> Self {
        Self {
            tenant_id: guid(),
            apps: HashMap::new(),
            users: BTreeMap::new(),
            codes: HashMap::new(),
            access_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            refresh_counts: HashMap::new(),
            messages: Vec::new(),
            next_seq: 1,
            subscriptions: BTreeMap::new(),
            delta_pages: HashMap::new(),
            delta_links: HashMap::new(),
            contact_folders: Vec::new(),
            contacts: Vec::new(),
            contact_seq: 0,
            contact_delta_pages: HashMap::new(),
            contact_delta_links: HashMap::new(),
            faults: VecDeque::new(),
            in_flight: HashMap::new(),
            requests: Vec::new(),
            deliveries: Vec::new(),
            sent_mail: Vec::new(),
            groups: BTreeMap::new(),
            member_changes: Vec::new(),
            group_delta_links: HashMap::new(),
            pending: Vec::new(),
            dropped_notifications: 0,
            settings: Settings {
                drop_notifications: false,
                batch_notifications: false,
                duplicate_notifications: false,
                validation_token: None,
                endpoint_unreachable: false,
                notification_retries: (0, Duration::ZERO),
                access_token_lifetime: DEFAULT_ACCESS_TOKEN_LIFETIME,
                max_subscription_lifetime: MAX_MESSAGE_SUBSCRIPTION_LIFETIME,
                mailbox_concurrency_limit: None,
                clock_offset: Duration::ZERO,
                refuse_admin_consent: false,
            },
        }
    }

    /// The emulator's notion of now (wall clock plus the test's offset).
    pub fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc() + self.settings.clock_offset
    }

    pub fn user_by_email(&self, email: &str) -> Option<&User> {
        self.users
            .values()
            .find(|u| u.email.eq_ignore_ascii_case(email))
    }

    /// A user named by id, e-mail or user principal name (the forms `/users/{id}` accepts).
    pub fn user_by_key(&self, key: &str) -> Option<&User> {
        self.users.get(key).or_else(|| self.user_by_email(key))
    }

    /// A folder by well-known name (`inbox`), display name or id, case-insensitively.
    pub fn folder_id(&self, user_id: &str, key: &str) -> Option<String> {
        let user = self.users.get(user_id)?;
        user.folders
            .iter()
            .find(|f| f.id == key || f.display_name.eq_ignore_ascii_case(key))
            .map(|f| f.id.clone())
    }

    /// Adds or removes `user_id` in the group's members and logs the change for delta.
    pub fn change_membership(&mut self, group_id: &str, user_id: &str, added: bool) {
        let Some(group) = self.groups.get_mut(group_id) else {
            return;
        };
        let present = group.members.iter().any(|m| m == user_id);
        match (added, present) {
            (true, false) => group.members.push(user_id.to_owned()),
            (false, true) => group.members.retain(|m| m != user_id),
            _ => return,
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.member_changes.push(MemberChange {
            seq,
            group_id: group_id.to_owned(),
            user_id: user_id.to_owned(),
            added,
        });
    }

    pub fn message(&self, user_id: &str, id: &str) -> Option<&Message> {
        self.messages
            .iter()
            .find(|m| m.user_id == user_id && m.id == id && m.deleted.is_none())
    }

    /// Subscriptions that have not expired; expired ones are gone, as in Graph.
    pub fn live_subscriptions(&self) -> impl Iterator<Item = &Subscription> {
        let now = self.now();
        self.subscriptions
            .values()
            .filter(move |s| s.expiration > now)
    }

    pub fn live_subscription(&self, id: &str) -> Option<&Subscription> {
        let now = self.now();
        self.subscriptions.get(id).filter(|s| s.expiration > now)
    }
}

/// A random GUID-shaped id (Graph's ids for users, tenants and subscriptions look like this).
pub fn guid() -> String {
    let n: u128 = rand::random();
    let h = format!("{n:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A random opaque token of `bytes` random bytes, URL-safe.
pub fn opaque(prefix: &str, bytes: usize) -> String {
    let raw: Vec<u8> = (0..bytes).map(|_| rand::random::<u8>()).collect();
    format!("{prefix}{}", hex::encode(raw))
}

/// A message id shaped like Outlook's: URL-safe base64 with `-`, `_` and `=` padding, so a client
/// that mangles such characters in paths or JSON fails here too.
pub fn message_id() -> String {
    use base64::Engine;
    let raw: Vec<u8> = (0..35).map(|_| rand::random::<u8>()).collect();
    format!(
        "AAMkAD{}",
        base64::engine::general_purpose::URL_SAFE.encode(raw)
    )
}

/// Graph's timestamp format: `2026-11-20T11:00:00.0000000Z`.
pub fn graph_time(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:07}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond() / 100
    )
}

/// Parses an ISO 8601 / RFC 3339 timestamp as Graph accepts them.
pub fn parse_graph_time(s: &str) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
}
