//! mailsigd: the daemon library. `main.rs` only parses the command line and delegates here.
//!
//! Module ownership (see ARCHITECTURE.md): only `sources` talks to mail providers, only
//! `store` talks SQL, only `vault` sees plaintext credentials.

pub mod books;
pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
pub mod http;
pub mod notify;
pub mod pipeline;
pub mod sender_auth;
pub mod service;
pub mod sources;
pub mod store;
pub mod supervisor;
pub mod telemetry;
pub mod vault;
pub mod webhooks;
