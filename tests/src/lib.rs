//! Support for the end-to-end tests: where the test servers listen, and helpers to talk to them.
//!
//! The servers (Dovecot, Postfix, PostgreSQL) are started by `scripts/test.sh` (through
//! `scripts/test-servers.sh`), which exports their addresses as `MAILSIG_TEST_*` variables. Everything
//! here reads those variables through [`servers::TestEnv`]; see that module for the helpers.

pub mod browser;
/// The strict Prometheus exposition checker, shared with the daemon's unit tests (one source file,
/// test code only, never in the shipped binary).
#[path = "../../daemon/src/telemetry/exposition_check.rs"]
pub mod exposition_check;
pub mod hostile_imap;
pub mod https;
pub mod imap_support;
pub mod log_capture;
pub mod mailboxes;
pub mod oidc;
pub mod openapi_contract;
pub mod servers;
pub mod silent_server;

pub mod graph_emulator;

pub mod graph_support;
