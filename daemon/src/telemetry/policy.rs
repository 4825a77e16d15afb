//! The log policy: which events may reach the log output at all, whatever filter the operator
//! sets (`[log] level`, `RUST_LOG`, a SIGHUP reload).
//!
//! Dependencies log what they see: async-imap writes `LOGIN "user" "password"` and every raw
//! server response at TRACE, html5ever and rlibphonenumber log message text, hyper, h2, rustls,
//! reqwest, lettre and sqlx log requests, replies and statements. None of that may ever reach a
//! log line, and a directive such as `RUST_LOG=trace` or `async_imap=trace` must not change it.
//! So the output layer carries this filter, applied after the operator's filter and not
//! replaceable by a reload: an event passes only when its target belongs to this project's own
//! crates, which log through [`crate::telemetry::hash_id`] and [`crate::telemetry::Redacted`],
//! or to the short list of dependency targets below that carry no content.
//!
//! It is an allow-list, not a deny-list, so that a new dependency is silent until someone
//! decides otherwise. The `log` crate's records never become events in the first place:
//! [`crate::telemetry::init`] installs the subscriber without the `log` bridge (and the bridge
//! would name its events after the dependency, which this filter refuses anyway).

use tracing::Metadata;
use tracing::subscriber::Interest;
use tracing_subscriber::layer::{Context, Filter};

/// Target prefixes whose events may be written. A prefix matches the target itself and its
/// submodules (`mailsig_daemon` matches `mailsig_daemon::sources::imap::watcher`).
const ALLOWED_TARGETS: &[&str] = &[
    // This project's crates: the library, the parser and the binary.
    "mailsig_daemon",
    "mailsig_parser",
    "mailsigd",
    // The HTTP trace layer's own events ("started/finished processing request") carry only the
    // status and the latency; the request span they sit in is built by `http::app` and names
    // the path without its query.
    "tower_http::trace",
];

/// Whether events and spans with this target may reach the output.
pub fn target_allowed(target: &str) -> bool {
    ALLOWED_TARGETS.iter().any(|prefix| {
        target
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with("::"))
    })
}

/// The policy as a per-layer filter for the output layer (see the module doc).
#[derive(Clone, Copy, Debug, Default)]
pub struct LogPolicy;

impl<S> Filter<S> for LogPolicy {
    fn enabled(&self, metadata: &Metadata<'_>, _: &Context<'_, S>) -> bool {
        target_allowed(metadata.target())
    }

    fn callsite_enabled(&self, metadata: &'static Metadata<'static>) -> Interest {
        if target_allowed(metadata.target()) {
            Interest::always()
        } else {
            Interest::never()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_our_crates_and_the_http_trace_lines_are_allowed() {
        for allowed in [
            "mailsig_daemon",
            "mailsig_daemon::sources::imap::watcher",
            "mailsig_parser::fields",
            "mailsigd",
            "tower_http::trace::on_response",
        ] {
            assert!(target_allowed(allowed), "{allowed}");
        }
        for refused in [
            "async_imap::imap_stream",
            "imap_proto",
            "html5ever::tokenizer",
            "markup5ever",
            "rlibphonenumber",
            "mail_parser",
            "lettre::transport::smtp",
            "reqwest::connect",
            "hyper::proto::h1::io",
            "h2::codec",
            "rustls::client",
            "sqlx::query",
            "graph_rs_sdk",
            "graph_http",
            "log",
            "mailsig_daemonic",
            "tower_http::cors",
        ] {
            assert!(!target_allowed(refused), "{refused}");
        }
    }
}
