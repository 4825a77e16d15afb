//! THE adapter around graph-rs-sdk: the only module that builds Graph requests.
//!
//! Everything the source needs from Graph goes through [`GraphApi`] (one per mailbox):
//! `GET /me`, subscriptions (create, list, renew, delete), `GET /me/messages/{id}/$value`,
//! the per-folder delta query (the last two under `/users/{id}` for a mailbox linked app-only),
//! the tenant's directory for the app-only rollout (a user, a group by id or address, the delta
//! on a group's members), and Outlook contacts for a list's address book (contact folders,
//! create, read, `PATCH` with `If-Match`, delete, the folder's contacts delta; `contacts.rs`
//! maps them to book entries). The adapter adds what the SDK leaves to its caller:
//! - at most [`MAX_REQUESTS_PER_MAILBOX`] requests in flight per mailbox (Outlook's limit);
//! - 429 and 503 honour `Retry-After` (capped), other 5xx back off, a few attempts in all;
//! - a 401 forces one token refresh and one retry;
//! - errors mapped to [`GraphError`] with status and Graph's error code.
//!
//! The SDK's custom endpoints panic for hosts outside Microsoft's clouds unless its `test-util`
//! feature is on; [`check_graph_endpoint`] refuses such a URL at configuration time instead,
//! and only the `graph-test-util` feature of this crate (turned on by the tests) lifts that.

use std::sync::Arc;
use std::time::Duration;

use graph_rs_sdk::{GraphClient, GraphClientConfiguration, GraphFailure, ODataQuery};
use reqwest::header::HeaderMap;
use tokio::sync::Semaphore;
use url::Url;
use zeroize::Zeroizing;

use super::app_only::GraphAccess;
use super::config::MAX_REQUESTS_PER_MAILBOX;
use super::error::GraphError;
use super::stats::GraphStats;

/// Hosts graph-rs-sdk accepts as custom endpoints (it panics on any other).
const SDK_ALLOWED_HOSTS: [&str; 6] = [
    "graph.microsoft.com",
    "graph.microsoft.us",
    "dod-graph.microsoft.us",
    "graph.microsoft.de",
    "microsoftgraph.chinacloudapi.cn",
    "canary.graph.microsoft.com",
];
/// Page size asked for in delta rounds.
const DELTA_PAGE_SIZE: u32 = 100;

/// How throttled and failing requests are retried.
#[derive(Clone, Copy, Debug)]
pub struct RetryPolicy {
    /// Attempts per request, the first included.
    pub attempts: u32,
    /// Longest single wait, whatever `Retry-After` says.
    pub max_wait: Duration,
    /// Wait before the second attempt when the server gave no `Retry-After` (doubles).
    pub backoff: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            max_wait: Duration::from_secs(120),
            backoff: Duration::from_secs(1),
        }
    }
}

/// Why graph-rs-sdk cannot be pointed at a Graph URL.
#[derive(Debug, thiserror::Error)]
pub enum UnsupportedGraphEndpoint {
    #[error("must be an https URL without a query")]
    NotPlainHttps,
    #[error("host must be one of Microsoft's Graph clouds: {}", SDK_ALLOWED_HOSTS.join(", "))]
    NotAGraphCloud,
}

/// Whether graph-rs-sdk can be pointed at `url` in this build (never panics later).
pub fn check_graph_endpoint(url: &Url) -> Result<(), UnsupportedGraphEndpoint> {
    if cfg!(feature = "graph-test-util") {
        return Ok(());
    }
    if url.scheme() != "https" || url.query().is_some() {
        return Err(UnsupportedGraphEndpoint::NotPlainHttps);
    }
    match url.host_str() {
        Some(host) if SDK_ALLOWED_HOSTS.contains(&host) => Ok(()),
        _ => Err(UnsupportedGraphEndpoint::NotAGraphCloud),
    }
}

/// The signed-in user (`GET /me`).
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Me {
    pub id: String,
    pub mail: Option<String>,
    pub user_principal_name: Option<String>,
    pub display_name: Option<String>,
}

impl Me {
    /// The mailbox address: `mail`, else the user principal name.
    pub fn address(&self) -> Option<&str> {
        self.mail
            .as_deref()
            .or(self.user_principal_name.as_deref())
            .filter(|a| a.contains('@'))
    }
}

/// A subscription as Graph returns it.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteSubscription {
    pub id: String,
    pub resource: Option<String>,
    pub expiration_date_time: Option<String>,
    pub notification_url: Option<String>,
    #[serde(default)]
    client_state: Option<String>,
}

impl RemoteSubscription {
    /// The expiry as epoch ms, when Graph sent a readable one.
    pub fn expires_at_ms(&self) -> Option<i64> {
        self.expiration_date_time.as_deref().and_then(parse_time_ms)
    }

    /// The clientState, when Graph lists it (taken once; kept in a zeroizing buffer).
    pub fn take_client_state(&mut self) -> Option<Zeroizing<String>> {
        self.client_state.take().map(Zeroizing::new)
    }
}

/// What to create.
pub struct NewSubscription<'a> {
    pub resource: &'a str,
    pub notification_url: &'a str,
    pub lifecycle_url: &'a str,
    pub client_state: &'a str,
    pub expires_at_ms: i64,
}

/// One page of a delta round.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct DeltaPage {
    /// Ids of messages added or changed (removed ones are left out).
    pub ids: Vec<String>,
    /// `@odata.nextLink`: more pages follow.
    pub next_link: Option<String>,
    /// `@odata.deltaLink`: the round is complete; start the next one here.
    pub delta_link: Option<String>,
}

/// An Outlook contact folder.
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteContactFolder {
    pub id: String,
    #[serde(default)]
    pub display_name: String,
}

/// A contact as Graph returns it: its JSON object, which `contacts.rs` reads.
pub type RemoteContact = serde_json::Map<String, serde_json::Value>;

/// One page of a contact folder's delta round.
#[derive(Debug, Default)]
pub struct ContactDeltaPage {
    /// Contacts created or changed, whole.
    pub changed: Vec<RemoteContact>,
    /// Ids of contacts deleted since the round's link.
    pub removed: Vec<String>,
    pub next_link: Option<String>,
    pub delta_link: Option<String>,
}

/// A fetched message, or the fact that it is over the size limit.
pub enum Fetched {
    Raw(Vec<u8>),
    TooLarge(u64),
}

/// A group of the tenant (`GET /groups/{id}`).
#[derive(Clone, Debug, serde::Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RemoteGroup {
    pub id: String,
    pub display_name: Option<String>,
    pub mail: Option<String>,
}

/// One page of the delta on a group's members.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct MemberDeltaPage {
    /// User ids that joined (or all members, in a first round).
    pub joined: Vec<String>,
    /// User ids that left.
    pub left: Vec<String>,
    pub next_link: Option<String>,
    pub delta_link: Option<String>,
}

/// The adapter for one mailbox (or, app-only, for the tenant's directory). Cheap to clone.
#[derive(Clone)]
pub struct GraphApi {
    sdk: GraphClient,
    access: GraphAccess,
    /// The Graph user whose mailbox the calls are on: `None` for `/me` (delegated), the user id
    /// for `/users/{id}` (app-only).
    user: Option<String>,
    permits: Arc<Semaphore>,
    origin: Url,
    retry: RetryPolicy,
    stats: Arc<GraphStats>,
}

impl GraphApi {
    pub fn new(
        graph_url: &Url,
        access: impl Into<GraphAccess>,
        retry: RetryPolicy,
        stats: Arc<GraphStats>,
    ) -> Result<GraphApi, GraphError> {
        let access = access.into();
        check_graph_endpoint(graph_url).map_err(|error| GraphError::Protocol {
            op: "configure",
            reason: error.to_string(),
        })?;
        let config = GraphClientConfiguration::new()
            .client_application(access.clone())
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(15));
        #[cfg(feature = "graph-test-util")]
        let config = config.https_only(graph_url.scheme() == "https");
        let mut sdk = GraphClient::from(config);
        if graph_url.as_str().trim_end_matches('/') != graph_rs_sdk::GRAPH_URL {
            #[cfg(feature = "graph-test-util")]
            sdk.use_test_endpoint(graph_url);
            // Checked above: the host is on the SDK's list, so this cannot panic.
            #[cfg(not(feature = "graph-test-util"))]
            sdk.use_endpoint(graph_url);
        }
        Ok(GraphApi {
            sdk,
            access,
            user: None,
            permits: Arc::new(Semaphore::new(MAX_REQUESTS_PER_MAILBOX)),
            origin: graph_url.clone(),
            retry,
            stats,
        })
    }

    /// The same adapter, its mailbox calls on `/users/{user_id}/…` (an app-only mailbox).
    pub fn acting_for(mut self, user_id: &str) -> GraphApi {
        self.user = Some(user_id.to_owned());
        self
    }

    /// The Graph resource of a folder's messages, as a subscription names it.
    pub fn folder_resource(&self, folder: &str) -> String {
        match &self.user {
            None => format!("me/mailFolders('{folder}')/messages"),
            Some(user) => format!("users/{user}/mailFolders('{folder}')/messages"),
        }
    }

    /// `GET /me`.
    pub async fn me(&self) -> Result<Me, GraphError> {
        let response = self.send("get me", |c| c.me().get_user()).await?;
        json(response, "get me").await
    }

    /// `POST /subscriptions`. Graph validates both URLs before answering 201.
    pub async fn create_subscription(
        &self,
        new: &NewSubscription<'_>,
    ) -> Result<RemoteSubscription, GraphError> {
        let body = serde_json::json!({
            "changeType": "created",
            "notificationUrl": new.notification_url,
            "lifecycleNotificationUrl": new.lifecycle_url,
            "resource": new.resource,
            "expirationDateTime": format_time(new.expires_at_ms),
            "clientState": new.client_state,
            "latestSupportedTlsVersion": "v1_2",
        });
        let response = self
            .send("create subscription", |c| {
                c.subscriptions().create_subscription(&body)
            })
            .await?;
        json(response, "create subscription").await
    }

    /// `GET /subscriptions` (this app's subscriptions for the signed-in user).
    pub async fn list_subscriptions(&self) -> Result<Vec<RemoteSubscription>, GraphError> {
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            value: Vec<RemoteSubscription>,
        }
        let response = self
            .send("list subscriptions", |c| {
                c.subscriptions().list_subscription()
            })
            .await?;
        Ok(json::<Page>(response, "list subscriptions").await?.value)
    }

    /// `PATCH /subscriptions/{id}` with a new expiry: renews and reauthorizes.
    pub async fn renew_subscription(
        &self,
        id: &str,
        expires_at_ms: i64,
    ) -> Result<RemoteSubscription, GraphError> {
        let body = serde_json::json!({ "expirationDateTime": format_time(expires_at_ms) });
        let response = self
            .send("renew subscription", |c| {
                c.subscription(id).update_subscription(&body)
            })
            .await?;
        json(response, "renew subscription").await
    }

    /// `DELETE /subscriptions/{id}`; one that is already gone counts as deleted.
    pub async fn delete_subscription(&self, id: &str) -> Result<(), GraphError> {
        match self
            .send("delete subscription", |c| {
                c.subscription(id).delete_subscription()
            })
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// `GET /me/messages/{id}/$value`: the raw MIME, into memory, at most `max_bytes`.
    pub async fn message_mime(&self, id: &str, max_bytes: u64) -> Result<Fetched, GraphError> {
        let mut response = self
            .send("fetch message", |c| match &self.user {
                None => c.me().message(id).get_messages_content(),
                Some(user) => c.user(user).message(id).get_messages_content(),
            })
            .await?;
        if let Some(length) = response.content_length()
            && length > max_bytes
        {
            return Ok(Fetched::TooLarge(length));
        }
        let mut bytes = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if (bytes.len() + chunk.len()) as u64 > max_bytes {
                        zeroize::Zeroize::zeroize(&mut bytes);
                        return Ok(Fetched::TooLarge((bytes.capacity() + chunk.len()) as u64));
                    }
                    bytes.extend_from_slice(&chunk);
                }
                Ok(None) => break,
                Err(e) => {
                    zeroize::Zeroize::zeroize(&mut bytes);
                    return Err(GraphError::network("fetch message", &e));
                }
            }
        }
        PipelineBytes::count(&self.stats, bytes.len());
        Ok(Fetched::Raw(bytes))
    }

    /// One page of a folder's delta query: the first round when `link` is `None`, else the
    /// `nextLink` or `deltaLink` Graph returned (which must point back at the Graph URL).
    pub async fn delta_page(
        &self,
        folder: &str,
        link: Option<&str>,
    ) -> Result<DeltaPage, GraphError> {
        let link = match link {
            Some(link) => Some(self.own_link(link)?),
            None => None,
        };
        let response = self
            .send("delta", |c| {
                let mut request = match &self.user {
                    None => c.me().mail_folder(folder).messages().delta(),
                    Some(user) => c.user(user).mail_folder(folder).messages().delta(),
                }
                .select(&["id"]);
                request.headers_mut().insert(
                    "Prefer",
                    reqwest::header::HeaderValue::from_static(prefer_page_size()),
                );
                if let Some(link) = &link {
                    *request.as_mut() = link.clone();
                }
                request
            })
            .await?;
        #[derive(serde::Deserialize)]
        struct Item {
            id: Option<String>,
            #[serde(rename = "@removed")]
            removed: Option<serde_json::Value>,
        }
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            value: Vec<Item>,
            #[serde(rename = "@odata.nextLink")]
            next_link: Option<String>,
            #[serde(rename = "@odata.deltaLink")]
            delta_link: Option<String>,
        }
        let page: Page = json(response, "delta").await?;
        if page.next_link.is_none() && page.delta_link.is_none() {
            return Err(GraphError::Protocol {
                op: "delta",
                reason: "neither nextLink nor deltaLink".into(),
            });
        }
        Ok(DeltaPage {
            ids: page
                .value
                .into_iter()
                .filter(|i| i.removed.is_none())
                .filter_map(|i| i.id)
                .collect(),
            next_link: page.next_link,
            delta_link: page.delta_link,
        })
    }

    /// `GET /users/{id}` (app-only: needs `User.Read.All`).
    pub async fn user(&self, id: &str) -> Result<Me, GraphError> {
        let response = self
            .send("get user", |c| {
                c.user(id)
                    .get_user()
                    .select(&["id", "mail", "userPrincipalName", "displayName"])
            })
            .await?;
        json(response, "get user").await
    }

    /// `GET /groups/{id}` (app-only: needs `GroupMember.Read.All`).
    pub async fn group(&self, id: &str) -> Result<RemoteGroup, GraphError> {
        let response = self
            .send("get group", |c| {
                c.group(id)
                    .get_group()
                    .select(&["id", "displayName", "mail"])
            })
            .await?;
        json(response, "get group").await
    }

    /// `GET /groups?$filter=mail eq '…'`: the group with that address, if any.
    pub async fn group_by_mail(&self, mail: &str) -> Result<Option<RemoteGroup>, GraphError> {
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            value: Vec<RemoteGroup>,
        }
        let filter = format!("mail eq '{}'", mail.replace('\'', "''"));
        let response = self
            .send("find group", |c| {
                c.groups().list_group().filter(&[filter.as_str()]).select(&[
                    "id",
                    "displayName",
                    "mail",
                ])
            })
            .await?;
        Ok(json::<Page>(response, "find group")
            .await?
            .value
            .into_iter()
            .next())
    }

    /// One page of the delta on a group's members: the first round
    /// (`/groups/delta?$filter=id eq '{id}'&$select=members`) when `link` is `None`, else the
    /// `nextLink` or `deltaLink` Graph returned (checked to point back at the Graph URL).
    pub async fn member_delta_page(
        &self,
        group_id: &str,
        link: Option<&str>,
    ) -> Result<MemberDeltaPage, GraphError> {
        let link = match link {
            Some(link) => Some(self.own_link(link)?),
            None => None,
        };
        let filter = format!("id eq '{}'", group_id.replace('\'', "''"));
        let response = self
            .send("members delta", |c| {
                let mut request = c
                    .groups()
                    .delta()
                    .filter(&[filter.as_str()])
                    .select(&["members"]);
                if let Some(link) = &link {
                    *request.as_mut() = link.clone();
                }
                request
            })
            .await?;
        #[derive(serde::Deserialize)]
        struct Member {
            #[serde(rename = "@odata.type")]
            kind: Option<String>,
            id: Option<String>,
            #[serde(rename = "@removed")]
            removed: Option<serde_json::Value>,
        }
        #[derive(serde::Deserialize)]
        struct Group {
            id: Option<String>,
            #[serde(rename = "members@delta", default)]
            members: Vec<Member>,
        }
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            value: Vec<Group>,
            #[serde(rename = "@odata.nextLink")]
            next_link: Option<String>,
            #[serde(rename = "@odata.deltaLink")]
            delta_link: Option<String>,
        }
        let page: Page = json(response, "members delta").await?;
        if page.next_link.is_none() && page.delta_link.is_none() {
            return Err(GraphError::Protocol {
                op: "members delta",
                reason: "neither nextLink nor deltaLink".into(),
            });
        }
        let mut out = MemberDeltaPage {
            next_link: page.next_link,
            delta_link: page.delta_link,
            ..MemberDeltaPage::default()
        };
        let members = page
            .value
            .into_iter()
            .filter(|g| g.id.as_deref() == Some(group_id))
            .flat_map(|g| g.members);
        for member in members {
            // Only users have mailboxes; nested groups, devices and contacts are skipped.
            let is_user = member
                .kind
                .as_deref()
                .is_none_or(|k| k.eq_ignore_ascii_case("#microsoft.graph.user"));
            let Some(id) = member.id.filter(|_| is_user) else {
                continue;
            };
            if member.removed.is_some() {
                out.left.push(id);
            } else {
                out.joined.push(id);
            }
        }
        Ok(out)
    }

    /// `GET /me/contactFolders`.
    pub async fn contact_folders(&self) -> Result<Vec<RemoteContactFolder>, GraphError> {
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            value: Vec<RemoteContactFolder>,
        }
        let response = self
            .send("list contact folders", |c| {
                c.me().contact_folders().list_contact_folders()
            })
            .await?;
        Ok(json::<Page>(response, "list contact folders").await?.value)
    }

    /// `POST /me/contactFolders`.
    pub async fn create_contact_folder(
        &self,
        name: &str,
    ) -> Result<RemoteContactFolder, GraphError> {
        let body = serde_json::json!({ "displayName": name });
        let response = self
            .send("create contact folder", |c| {
                c.me().contact_folders().create_contact_folders(&body)
            })
            .await?;
        json(response, "create contact folder").await
    }

    /// `POST /me/contactFolders/{folder}/contacts`.
    pub async fn create_contact(
        &self,
        folder: &str,
        body: &serde_json::Value,
    ) -> Result<RemoteContact, GraphError> {
        let response = self
            .send("create contact", |c| {
                c.me()
                    .contact_folder(folder)
                    .contacts()
                    .create_contacts(body)
            })
            .await?;
        json(response, "create contact").await
    }

    /// `GET /me/contactFolders/{folder}/contacts/{id}`.
    pub async fn contact(&self, folder: &str, id: &str) -> Result<RemoteContact, GraphError> {
        let response = self
            .send("get contact", |c| {
                c.me().contact_folder(folder).contact(id).get_contacts()
            })
            .await?;
        json(response, "get contact").await
    }

    /// `PATCH /me/contactFolders/{folder}/contacts/{id}` with `If-Match: etag`: only the
    /// properties in `body` change; a contact changed since `etag` answers 412
    /// ([`GraphError::is_precondition_failed`]).
    pub async fn update_contact(
        &self,
        folder: &str,
        id: &str,
        etag: &str,
        body: &serde_json::Value,
    ) -> Result<RemoteContact, GraphError> {
        let if_match = if_match(etag, "update contact")?;
        let response = self
            .send("update contact", |c| {
                let mut request = c
                    .me()
                    .contact_folder(folder)
                    .contact(id)
                    .update_contacts(body);
                request
                    .headers_mut()
                    .insert(reqwest::header::IF_MATCH, if_match.clone());
                request
            })
            .await?;
        json(response, "update contact").await
    }

    /// `DELETE /me/contactFolders/{folder}/contacts/{id}` with `If-Match: etag`; one that is
    /// already gone counts as deleted.
    pub async fn delete_contact(
        &self,
        folder: &str,
        id: &str,
        etag: &str,
    ) -> Result<(), GraphError> {
        let if_match = if_match(etag, "delete contact")?;
        let sent = self
            .send("delete contact", |c| {
                let mut request = c.me().contact_folder(folder).contact(id).delete_contacts();
                request
                    .headers_mut()
                    .insert(reqwest::header::IF_MATCH, if_match.clone());
                request
            })
            .await;
        match sent {
            Ok(_) => Ok(()),
            Err(e) if e.is_not_found() => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// One page of a contact folder's delta query: the first round when `link` is `None`, else
    /// the `nextLink` or `deltaLink` Graph returned (checked to point back at the Graph URL).
    pub async fn contacts_delta_page(
        &self,
        folder: &str,
        link: Option<&str>,
    ) -> Result<ContactDeltaPage, GraphError> {
        let link = match link {
            Some(link) => Some(self.own_link(link)?),
            None => None,
        };
        let response = self
            .send("contacts delta", |c| {
                let mut request = c.me().contact_folder(folder).contacts().delta();
                request.headers_mut().insert(
                    "Prefer",
                    reqwest::header::HeaderValue::from_static(prefer_page_size()),
                );
                if let Some(link) = &link {
                    *request.as_mut() = link.clone();
                }
                request
            })
            .await?;
        #[derive(serde::Deserialize)]
        struct Page {
            #[serde(default)]
            value: Vec<RemoteContact>,
            #[serde(rename = "@odata.nextLink")]
            next_link: Option<String>,
            #[serde(rename = "@odata.deltaLink")]
            delta_link: Option<String>,
        }
        let page: Page = json(response, "contacts delta").await?;
        if page.next_link.is_none() && page.delta_link.is_none() {
            return Err(GraphError::Protocol {
                op: "contacts delta",
                reason: "neither nextLink nor deltaLink".into(),
            });
        }
        let mut out = ContactDeltaPage {
            next_link: page.next_link,
            delta_link: page.delta_link,
            ..ContactDeltaPage::default()
        };
        for item in page.value {
            if item.contains_key("@removed") {
                if let Some(id) = item.get("id").and_then(serde_json::Value::as_str) {
                    out.removed.push(id.to_owned());
                }
            } else {
                out.changed.push(item);
            }
        }
        Ok(out)
    }

    /// A link Graph returned, checked to stay on the configured Graph URL (the bearer token
    /// must never go elsewhere).
    fn own_link(&self, link: &str) -> Result<Url, GraphError> {
        let url = Url::parse(link).map_err(|_| GraphError::Protocol {
            op: "delta",
            reason: "link is not a URL".into(),
        })?;
        let same_origin = url.scheme() == self.origin.scheme()
            && url.host_str() == self.origin.host_str()
            && url.port_or_known_default() == self.origin.port_or_known_default()
            && url
                .path()
                .starts_with(self.origin.path().trim_end_matches('/'));
        if !same_origin {
            return Err(GraphError::Protocol {
                op: "delta",
                reason: "link points outside the Graph URL".into(),
            });
        }
        Ok(url)
    }

    /// Sends one request built by `build`, with the per-mailbox limit, token handling and the
    /// retry policy. Returns only 2xx answers.
    async fn send(
        &self,
        op: &'static str,
        build: impl Fn(&GraphClient) -> graph_http::api_impl::RequestHandler,
    ) -> Result<reqwest::Response, GraphError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| GraphError::Protocol {
                op,
                reason: "request limiter closed".into(),
            })?;
        let mut refreshed = false;
        let mut attempt = 1;
        let mut backoff = self.retry.backoff;
        loop {
            // Typed token errors (invalid_grant) surface here rather than inside the SDK.
            self.access.access_token().await?;
            GraphStats::bump(&self.stats.requests);
            let response = build(&self.sdk).send().await.map_err(|e| failure(op, &e))?;
            let status = response.status().as_u16();
            if status < 400 {
                return Ok(response);
            }
            let retry_after = retry_after(response.headers());
            let code = error_code(response).await;
            if status == 401 && !refreshed {
                refreshed = true;
                self.access.force_refresh().await?;
                continue;
            }
            let error = GraphError::Status {
                op,
                status,
                code,
                retry_after,
            };
            if error.is_transient() && attempt < self.retry.attempts {
                if status == 429 || status == 503 {
                    GraphStats::bump(&self.stats.throttled);
                }
                let wait = retry_after.unwrap_or(backoff).min(self.retry.max_wait);
                tracing::debug!(mailbox = %self.access.mailbox(), op, status, wait_ms = wait.as_millis() as u64, "graph retry");
                tokio::time::sleep(wait).await;
                backoff = (backoff * 2).min(self.retry.max_wait);
                attempt += 1;
                continue;
            }
            return Err(error);
        }
    }
}

/// An `If-Match` header from an ETag Graph gave.
fn if_match(etag: &str, op: &'static str) -> Result<reqwest::header::HeaderValue, GraphError> {
    reqwest::header::HeaderValue::from_str(etag).map_err(|_| GraphError::Protocol {
        op,
        reason: "unusable etag".into(),
    })
}

/// Counts fetched bytes (kept apart so `message_mime` reads simply).
struct PipelineBytes;

impl PipelineBytes {
    fn count(stats: &GraphStats, n: usize) {
        GraphStats::bump(&stats.messages_fetched);
        GraphStats::add(&stats.bytes_fetched, n as u64);
    }
}

fn prefer_page_size() -> &'static str {
    const _: () = assert!(DELTA_PAGE_SIZE == 100);
    "odata.maxpagesize=100"
}

fn failure(op: &'static str, error: &GraphFailure) -> GraphError {
    match error {
        GraphFailure::ReqwestError(e) => GraphError::network(op, e),
        // Anything else the SDK reports before a response exists (building the request, the
        // token callback) is treated as a failed request, which is retried later.
        _ => GraphError::Network {
            op,
            reason: "request not sent".into(),
        },
    }
}

async fn json<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
    op: &'static str,
) -> Result<T, GraphError> {
    let bytes = response
        .bytes()
        .await
        .map_err(|e| GraphError::network(op, &e))?;
    serde_json::from_slice(&bytes).map_err(|e| GraphError::Protocol {
        op,
        reason: format!("bad JSON at column {}", e.column()),
    })
}

/// Graph's `error.code` from an error body, when there is one.
async fn error_code(response: reqwest::Response) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Body {
        error: Option<Inner>,
    }
    #[derive(serde::Deserialize)]
    struct Inner {
        code: Option<String>,
    }
    let bytes = response.bytes().await.ok()?;
    let body: Body = serde_json::from_slice(&bytes).ok()?;
    body.error?.code.filter(|c| c.len() <= 100)
}

/// `Retry-After` as seconds or an HTTP date.
pub fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let when =
        time::OffsetDateTime::parse(value, &time::format_description::well_known::Rfc2822).ok()?;
    let wait = when - time::OffsetDateTime::from(crate::clock::now());
    Some(Duration::try_from(wait).unwrap_or(Duration::ZERO))
}

/// RFC 3339 UTC, as Graph writes `expirationDateTime`.
pub fn format_time(ms: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Epoch ms of an RFC 3339 time (Graph sends up to 7 fractional digits).
pub fn parse_time_ms(text: &str) -> Option<i64> {
    let t =
        time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
            .ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_round_trip_and_accept_graph_precision() {
        assert_eq!(
            parse_time_ms("2026-11-20T11:00:00.0000000Z"),
            Some(1_795_172_400_000)
        );
        assert_eq!(
            parse_time_ms(&format_time(1_795_172_400_123)),
            Some(1_795_172_400_123)
        );
        assert_eq!(parse_time_ms("tomorrow"), None);
    }

    #[test]
    fn retry_after_reads_seconds() {
        let mut headers = HeaderMap::new();
        headers.insert(
            reqwest::header::RETRY_AFTER,
            reqwest::header::HeaderValue::from_static("3"),
        );
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(
            reqwest::header::RETRY_AFTER,
            reqwest::header::HeaderValue::from_static("soon"),
        );
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn endpoint_check_matches_the_sdk_allow_list() {
        let Ok(default) = Url::parse("https://graph.microsoft.com/v1.0") else {
            panic!("url")
        };
        assert!(check_graph_endpoint(&default).is_ok());
        let Ok(local) = Url::parse("http://127.0.0.1:9/v1.0") else {
            panic!("url")
        };
        assert_eq!(
            check_graph_endpoint(&local).is_ok(),
            cfg!(feature = "graph-test-util")
        );
    }
}
