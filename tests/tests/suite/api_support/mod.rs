//! Shared setup of the API tests: a real store (SQLite in a temp dir, or a fresh PostgreSQL
//! database), the daemon's whole HTTP application called in process (`tower::ServiceExt`), and
//! users with tokens, a shared list, a mailbox and suggestions.

use std::net::SocketAddr;

use anyhow::{Context, Result};
use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use mailsig_daemon::books::BookSettings;
use mailsig_daemon::clock::Clock;
use mailsig_daemon::domain::{WebhookEvent, WebhookId};
use mailsig_daemon::http::MetricSources;
use mailsig_daemon::http::app::{ApiSettings, AppState, app_router};
use mailsig_daemon::pipeline::stats::PipelineStats;
use mailsig_daemon::sources::imap::ImapOptions;
use mailsig_daemon::store::{
    CommitMessage, CommitResult, Cursor, ListId, MailboxId, MailboxKind, NewMailbox, NewSuggestion,
    Outcome, Role, Store, StoredField, SuggestionFields, SuggestionId, User,
};
use mailsig_daemon::store::{NewWebhook, SecretKind, StoreOptions};
use mailsig_daemon::vault::{MasterKey, Vault};
use mailsig_daemon::webhooks::WebhookSettings;
use secrecy::ExposeSecret;
use tempfile::TempDir;
use tower::ServiceExt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub const BACKENDS: [Backend; 2] = [Backend::Sqlite, Backend::Postgres];

/// How a request authenticates.
#[derive(Clone, Debug)]
pub enum Auth {
    None,
    Bearer(String),
    Cookie {
        cookie: String,
        csrf: Option<String>,
    },
}

/// One response.
pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Result<serde_json::Value> {
        serde_json::from_slice(&self.body)
            .with_context(|| format!("JSON body of a {} reply: {}", self.status, self.text()))
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    }
}

/// The store, the application and the client address requests come from.
pub struct App {
    pub store: Store,
    /// The vault the application seals with (a webhook worker in a test opens with it).
    pub vault: Vault,
    pub router: Router,
    _dir: TempDir,
}

pub fn fast_settings() -> ApiSettings {
    ApiSettings {
        rate_per_minute: 100_000,
        rate_burst: 10_000,
        ..ApiSettings::default()
    }
}

/// The test servers are on 127.0.0.1: plaintext there and internal hosts are allowed, as an
/// operator running a local IMAP bridge would configure it.
pub fn test_imap_options() -> ImapOptions {
    ImapOptions {
        allow_plaintext_loopback: true,
        allow_private_hosts: true,
        ..ImapOptions::default()
    }
}

impl App {
    pub async fn new(backend: Backend) -> Result<App> {
        App::with_settings(backend, fast_settings()).await
    }

    pub async fn with_settings(backend: Backend, settings: ApiSettings) -> Result<App> {
        App::with_imap(backend, settings, test_imap_options()).await
    }

    pub async fn with_imap(
        backend: Backend,
        settings: ApiSettings,
        imap: ImapOptions,
    ) -> Result<App> {
        App::build(
            backend,
            settings,
            imap,
            WebhookSettings::default(),
            Clock::System,
        )
        .await
    }

    /// An application whose webhooks follow `webhooks`.
    pub async fn with_webhooks(backend: Backend, webhooks: WebhookSettings) -> Result<App> {
        App::build(
            backend,
            fast_settings(),
            test_imap_options(),
            webhooks,
            Clock::System,
        )
        .await
    }

    /// An application whose store reads `clock` (a manual clock moves only when the test says).
    pub async fn with_clock(backend: Backend, clock: Clock) -> Result<App> {
        App::build(
            backend,
            fast_settings(),
            test_imap_options(),
            WebhookSettings::default(),
            clock,
        )
        .await
    }

    async fn build(
        backend: Backend,
        settings: ApiSettings,
        imap: ImapOptions,
        webhooks: WebhookSettings,
        clock: Clock,
    ) -> Result<App> {
        App::build_with_books(
            backend,
            settings,
            imap,
            webhooks,
            clock,
            BookSettings::default(),
        )
        .await
    }

    /// An application whose address books follow `books` (the operator's `[address_books]`).
    pub async fn with_books(backend: Backend, books: BookSettings) -> Result<App> {
        App::build_with_books(
            backend,
            fast_settings(),
            test_imap_options(),
            WebhookSettings::default(),
            Clock::System,
            books,
        )
        .await
    }

    async fn build_with_books(
        backend: Backend,
        settings: ApiSettings,
        imap: ImapOptions,
        webhooks: WebhookSettings,
        clock: Clock,
        books: BookSettings,
    ) -> Result<App> {
        let dir = tempfile::tempdir().context("create temp dir")?;
        let url = match backend {
            Backend::Sqlite => Store::sqlite_url(&dir.path().join("mailsig.db")),
            Backend::Postgres => mailsig_tests::servers::fresh_pg_database().await?,
        };
        let store = Store::open_with(
            &url,
            StoreOptions {
                clock,
                ..StoreOptions::default()
            },
        )
        .await
        .with_context(|| format!("open {backend:?} store"))?;
        store.migrate().await.context("migrate")?;
        let vault = Vault::new(MasterKey::generate().context("master key")?);
        let state = AppState::new(store.clone(), vault.clone(), imap, settings)
            .with_webhooks(webhooks)
            .with_books(books);
        let metrics = MetricSources {
            store: store.clone(),
            pipeline: std::sync::Arc::new(PipelineStats::default()),
            notify: None,
            imap: None,
        };
        Ok(App {
            router: app_router(state, metrics),
            store,
            vault,
            _dir: dir,
        })
    }

    /// Sends one request from 192.0.2.1.
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        auth: &Auth,
        body: Option<serde_json::Value>,
    ) -> Result<Reply> {
        self.call_from(method, path, auth, body, "192.0.2.1:40000".parse()?)
            .await
    }

    pub async fn call_from(
        &self,
        method: Method,
        path: &str,
        auth: &Auth,
        body: Option<serde_json::Value>,
        from: SocketAddr,
    ) -> Result<Reply> {
        let mut builder = Request::builder().method(method).uri(path);
        match auth {
            Auth::None => {}
            Auth::Bearer(token) => {
                builder = builder.header("authorization", format!("Bearer {token}"))
            }
            Auth::Cookie { cookie, csrf } => {
                builder = builder.header("cookie", format!("__Host-mailsig_session={cookie}"));
                if let Some(csrf) = csrf {
                    builder = builder.header("x-csrf-token", csrf);
                }
            }
        }
        let body = match body {
            Some(value) => {
                builder = builder.header("content-type", "application/json");
                Body::from(serde_json::to_vec(&value)?)
            }
            None => Body::empty(),
        };
        self.send(builder.body(body)?, from).await
    }

    /// Sends a prepared request.
    /// Every answer from an `/api` path is checked against the OpenAPI document
    /// ([`mailsig_tests::openapi_contract`]): a status or body the document does not describe
    /// fails the call.
    pub async fn send(&self, mut request: Request<Body>, from: SocketAddr) -> Result<Reply> {
        request.extensions_mut().insert(ConnectInfo(from));
        let method = request.method().to_string();
        let path = request.uri().path().to_owned();
        let response = self
            .router
            .clone()
            .oneshot(request)
            .await
            .context("call the router")?;
        let status = response.status();
        let headers = response.headers().clone();
        let body = axum::body::to_bytes(response.into_body(), 16 * 1024 * 1024)
            .await
            .context("read body")?;
        if path == "/api" || path.starts_with("/api/") {
            let content_type = headers
                .get(axum::http::header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok());
            mailsig_tests::openapi_contract::contract().check(
                &method,
                &path,
                status.as_u16(),
                content_type,
                &body,
            )?;
        }
        Ok(Reply {
            status,
            headers,
            body: body.to_vec(),
        })
    }

    pub async fn user(&self, tag: &str) -> Result<(User, String)> {
        let email = format!("{tag}{:08x}@example.test", rand::random::<u32>());
        let user = self
            .store
            .create_user(&email, Some(tag))
            .await
            .context("create user")?;
        let token = self
            .store
            .create_token(user.id, "test")
            .await
            .context("token")?;
        Ok((user, token.secret.expose_secret().to_owned()))
    }
}

/// Owner, editor, viewer and a stranger; a list of the owner shared with editor and viewer; a
/// mailbox of the owner feeding it; one suggestion in it; a revoked token of the owner.
pub struct World {
    pub app: App,
    pub owner: (User, String),
    pub editor: (User, String),
    pub viewer: (User, String),
    pub stranger: (User, String),
    pub revoked: String,
    pub spare_token: i64,
    pub list: ListId,
    pub stranger_list: ListId,
    pub mailbox: MailboxId,
    pub suggestion: SuggestionId,
    /// A webhook of `list` (pointing at a documentation address; never delivered to).
    pub webhook: WebhookId,
    /// An entry of the org-wide sender blocklist.
    pub blocklist_entry: i64,
    /// A notification to the owner that failed for good.
    pub failed_notification: i64,
}

impl World {
    pub async fn new(backend: Backend) -> Result<World> {
        World::with_imap(backend, test_imap_options()).await
    }

    /// A world whose IMAP options are `imap` (for the SSRF guard's tests).
    pub async fn with_imap(backend: Backend, imap: ImapOptions) -> Result<World> {
        World::from_app(App::with_imap(backend, fast_settings(), imap).await?).await
    }

    /// The world's users, list, mailbox and objects in `app`.
    pub async fn from_app(app: App) -> Result<World> {
        let owner = app.user("owner").await?;
        let editor = app.user("editor").await?;
        let viewer = app.user("viewer").await?;
        let stranger = app.user("stranger").await?;
        let list = app.store.create_list(owner.0.id, "Shared").await?.id;
        app.store
            .share_list(list, editor.0.id, Role::Editor)
            .await?;
        app.store
            .share_list(list, viewer.0.id, Role::Viewer)
            .await?;
        let stranger_list = app.store.create_list(stranger.0.id, "Stranger's").await?.id;
        let revoked_token = app.store.create_token(owner.0.id, "revoked").await?;
        app.store.revoke_token(revoked_token.token.id).await?;
        let spare = app.store.create_token(owner.0.id, "spare").await?;
        let mailbox = app
            .store
            .create_mailbox(NewMailbox {
                owner: owner.0.id,
                kind: MailboxKind::Imap,
                address: owner.0.email.clone(),
                display_name: None,
                target_list: list,
                excluded_domains: vec![],
                settings: serde_json::json!({}),
                secret: None,
            })
            .await?
            .id;
        let suggestion = add_suggestion(
            &app.store,
            mailbox,
            "ann@acme.example",
            &[("name", "Ann Example"), ("title", "CTO")],
        )
        .await?;
        let horizon = app.store.change_horizon().await?;
        let secret = app
            .vault
            .store_new(
                &app.store,
                SecretKind::WebhookSecret,
                1,
                b"the world's webhook secret, 32+",
            )
            .await?;
        let webhook = app
            .store
            .create_webhook(&NewWebhook {
                list,
                url: "https://192.0.2.10/hook",
                events: &WebhookEvent::ALL,
                secret,
                event_cursor: horizon,
                created_by: owner.0.id,
            })
            .await?;
        let blocklist_entry = app
            .store
            .add_blocklist_entry(
                mailsig_daemon::store::BlocklistKind::Domain,
                "blocked.example",
                usize::MAX,
            )
            .await?
            .id;
        let failed_notification = app
            .store
            .enqueue(
                &mailsig_daemon::domain::OutboxMessage::Digest(Default::default()),
                owner.0.id,
                0,
            )
            .await?;
        app.store
            .mark_failed(failed_notification, "550 5.1.1 mailbox unavailable")
            .await?;
        Ok(World {
            blocklist_entry,
            failed_notification: failed_notification.0,
            revoked: revoked_token.secret.expose_secret().to_owned(),
            spare_token: spare.token.id.0,
            app,
            owner,
            editor,
            viewer,
            stranger,
            list,
            stranger_list,
            mailbox,
            suggestion,
            webhook,
        })
    }
}

fn field(value: &str) -> Option<StoredField> {
    Some(StoredField {
        value: value.to_owned(),
        confidence: 0.9,
        rule: "test".to_owned(),
    })
}

/// Commits one message's suggestion for `sender` with scalar `fields` (name, title, company,
/// address) through the store's real commit path; returns the suggestion it created or updated.
pub async fn add_suggestion(
    store: &Store,
    mailbox: MailboxId,
    sender: &str,
    fields: &[(&str, &str)],
) -> Result<SuggestionId> {
    match commit_suggestion(store, mailbox, sender, fields).await? {
        CommitResult::Inserted { suggestion }
        | CommitResult::Merged { suggestion, .. }
        | CommitResult::Unchanged { suggestion } => Ok(suggestion),
        other => anyhow::bail!("unexpected commit result {other:?}"),
    }
}

/// Commits one message from `sender` carrying `fields` (as [`add_suggestion`] reads them) and
/// returns what the commit did, skips included.
pub async fn commit_suggestion(
    store: &Store,
    mailbox: MailboxId,
    sender: &str,
    fields: &[(&str, &str)],
) -> Result<CommitResult> {
    let mut f = SuggestionFields::default();
    for (name, value) in fields {
        match *name {
            "name" => f.name = field(value),
            "title" => f.title = field(value),
            "company" => f.company = field(value),
            "address" => f.address = field(value),
            "phone" => f.phones.push(mailsig_daemon::store::StoredPhone {
                kind: "work".into(),
                e164: (*value).into(),
                confidence: 0.9,
                rule: "test".into(),
            }),
            "website" => f.websites.push(StoredField {
                value: (*value).into(),
                confidence: 0.9,
                rule: "test".into(),
            }),
            other => anyhow::bail!("unknown test field {other}"),
        }
    }
    let result = store
        .commit_message(CommitMessage {
            mailbox,
            folder: "INBOX".into(),
            cursor: Cursor::None,
            message_id_hash: format!("{:032x}", rand::random::<u128>()),
            outcome: Outcome::Suggestion(NewSuggestion {
                sender_email: sender.into(),
                fields: f,
                confidence: 0.9,
                auth: mailsig_daemon::domain::SenderAuth::new(
                    mailsig_daemon::domain::AuthResult::Authenticated,
                    mailsig_daemon::domain::AuthMethod::Dmarc,
                ),
            }),
            fencing: None,
        })
        .await
        .context("commit a suggestion")?;
    Ok(result)
}
