//! The Microsoft 365 source: mailboxes linked with one consent screen, new mail
//! learnt from Graph change notifications within seconds, and nothing missed when Graph drops
//! notifications (delta queries catch up).
//!
//! - [`config`]: `[graph]` validated ([`GraphConfig`]).
//! - [`oauth`]: authorization code + PKCE and refresh against the identity platform v2.
//! - [`tokens`]: one mailbox's tokens over the vault (rotation persisted), and graph-rs-sdk's
//!   `ClientApplication`.
//! - [`app_only`]: the app's own tokens (client credentials, after the organisation's admin
//!   consent) for mailboxes linked app-only and the tenant's directory; [`GraphAccess`] says
//!   which of the two a [`GraphApi`] uses.
//! - [`client`]: THE adapter around graph-rs-sdk ([`GraphApi`]): throttling, limits, errors.
//! - [`contacts`]: Outlook contacts of a mailbox, for a list whose address book is a contact folder.
//! - [`linking`]: [`start_linking`] / [`complete_linking`] / [`unlink`].
//! - [`subscriptions`], [`delta`]: keeping subscriptions alive; delta catch-up per folder.
//! - [`webhook`], [`registry`]: notification bodies → persisted jobs (no Graph call inline).
//! - [`jobs`]: the workers that fetch `$value` and hand it to the pipeline.
//! - [`group_commit`]: many small writes (queued jobs, job outcomes) folded into one transaction.
//! - [`runtime`], [`source`]: per-mailbox tasks and the running source ([`GraphSource`]).
//! - [`stats`]: counters and the webhook latency histogram ([`GraphStatsSnapshot`]).

pub mod app_only;
pub mod client;
pub mod config;
pub mod contacts;
pub mod delta;
pub mod error;
pub mod group_commit;
pub mod jobs;
pub mod linking;
pub mod oauth;
pub mod registry;
pub mod runtime;
pub mod settings;
pub mod source;
pub mod stats;
pub mod subscriptions;
pub mod tokens;
pub mod webhook;

pub use crate::store::LinkOrigin;
pub use app_only::{AppOnlyTokens, GraphAccess};
pub use client::{GraphApi, RetryPolicy, check_graph_endpoint};
pub use config::{Consent, GraphConfig};
pub use error::GraphError;
pub use jobs::JobOptions;
pub use linking::{
    GraphUnlinker, LinkError, UNLINK_GRAPH_BUDGET, complete_linking, start_linking,
    start_linking_for, unlink,
};
pub use oauth::{CLIENT_SECRET_NAME, store_client_secret};
pub use runtime::Timing;
pub use settings::{Access, GraphSettings};
pub use source::{GraphSource, GraphStartOptions};
pub use stats::{GraphStats, GraphStatsSnapshot};
pub use webhook::{Verdict, Webhook};
