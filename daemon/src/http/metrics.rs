//! The Prometheus text exposition (format 0.0.4) of this process's counters.
//!
//! Hand-written rather than with `prometheus-client`: every value already lives in the modules'
//! own atomic stats structs, so a registry would only copy them; the format needed here (HELP,
//! TYPE, one sample per line, label values from a fixed set of snake_case names that need no
//! escaping) is a few lines, and it keeps one more crate out of the build.

use std::fmt::Write as _;
use std::sync::Arc;

use crate::notify::{NotifyStats, NotifyStatsSnapshot};
use crate::pipeline::stats::{PipelineStats, StatsSnapshot};
use crate::sources::imap::{ImapSource, ImapStatsSnapshot};
use crate::store::{OutboxDepth, Store};

/// Where the metrics come from. Cheap to clone (shared counters and a pool handle).
#[derive(Clone)]
pub struct MetricSources {
    pub store: Store,
    pub pipeline: Arc<PipelineStats>,
    /// The outbox worker's counters; `None` when no SMTP server is configured (exported as zeros).
    pub notify: Option<Arc<NotifyStats>>,
    /// The IMAP source, for its counters; `None` when it is not running.
    pub imap: Option<ImapSource>,
}

impl MetricSources {
    /// Reads every counter and the outbox depth, and formats them.
    pub async fn render(&self) -> String {
        let depth = self.store.outbox_depth().await;
        if let Err(error) = &depth {
            tracing::warn!(error = %error, "metrics: outbox depth unavailable");
        }
        let notify = self.notify.as_ref().map(|n| n.snapshot()).unwrap_or_default();
        let imap = self.imap.as_ref().map(ImapSource::stats);
        render(&self.pipeline.snapshot(), &notify, depth.ok().as_ref(), imap.as_ref())
    }
}

/// Formats one scrape. `depth` is `None` when the store did not answer (`mailsig_store_up 0`).
pub fn render(
    pipeline: &StatsSnapshot,
    notify: &NotifyStatsSnapshot,
    depth: Option<&OutboxDepth>,
    imap: Option<&ImapStatsSnapshot>,
) -> String {
    let mut out = Exposition::default();
    out.counter("mailsig_messages_received_total", "Messages taken from the queue by a pipeline worker.", pipeline.received);
    out.counter("mailsig_messages_processed_total", "Messages whose outcome (suggestion or skip) was committed.", pipeline.committed);
    out.family("mailsig_messages_skipped_total", "counter", "Messages skipped, by reason.");
    for (reason, n) in &pipeline.skipped {
        out.sample("mailsig_messages_skipped_total", &[("reason", reason.as_str())], *n);
    }
    out.counter("mailsig_suggestions_created_total", "Commits that created a new contact suggestion.", pipeline.suggestions_created);
    out.counter("mailsig_suggestions_merged_total", "Commits that merged into an existing suggestion.", pipeline.suggestions_merged);
    out.counter("mailsig_commit_failures_total", "Commits that failed and were left to the source to retry.", pipeline.commit_failures);
    out.counter("mailsig_parsed_bytes_total", "Raw message bytes handed to the signature parser.", pipeline.bytes_parsed);
    out.gauge("mailsig_messages_in_flight", "Messages being worked on now.", pipeline.in_flight);

    out.counter("mailsig_notifications_sent_total", "Notification mails accepted by the SMTP server.", notify.sent);
    out.counter("mailsig_notifications_failed_total", "Notification mails marked failed.", notify.failed);
    out.counter("mailsig_notifications_retried_total", "Notification mails put back for a later attempt.", notify.retried);
    out.counter(
        "mailsig_notifications_configuration_errors_total",
        "Notification failures caused by the SMTP settings (an operator must act).",
        notify.configuration_errors,
    );

    out.gauge("mailsig_store_up", "1 when the store answered the last scrape's query.", u64::from(depth.is_some()));
    if let Some(depth) = depth {
        out.family("mailsig_outbox_depth", "gauge", "Notification rows in the outbox, by status.");
        for (status, n) in [("pending", depth.pending), ("sending", depth.sending), ("failed", depth.failed)] {
            out.sample("mailsig_outbox_depth", &[("status", status)], u64::try_from(n).unwrap_or(0));
        }
    }

    if let Some(imap) = imap {
        out.family("mailsig_imap_connections", "gauge", "IMAP connections, by state.");
        out.sample("mailsig_imap_connections", &[("state", "logged_in")], u64::try_from(imap.connected).unwrap_or(0));
        out.counter("mailsig_imap_logins_total", "IMAP login attempts.", imap.logins);
        out.counter("mailsig_imap_auth_failures_total", "IMAP logins refused by the server.", imap.auth_failures);
        out.counter("mailsig_imap_reconnects_total", "IMAP sessions retried after a transient error.", imap.reconnects);
        out.counter("mailsig_imap_needs_attention_total", "IMAP watchers stopped because their mailbox needs attention.", imap.needs_attention);
    }
    out.text
}

/// The text being built. Writing into a `String` cannot fail, so the `fmt::Result`s are dropped.
#[derive(Default)]
struct Exposition {
    text: String,
}

impl Exposition {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.text, "# HELP {name} {help}\n# TYPE {name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: u64) {
        let _ = write!(self.text, "{name}");
        if !labels.is_empty() {
            let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
            let _ = write!(self.text, "{{{}}}", pairs.join(","));
        }
        let _ = writeln!(self.text, " {value}");
    }

    fn counter(&mut self, name: &str, help: &str, value: u64) {
        self.family(name, "counter", help);
        self.sample(name, &[], value);
    }

    fn gauge(&mut self, name: &str, help: &str, value: u64) {
        self.family(name, "gauge", help);
        self.sample(name, &[], value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::skip::SkipReason;

    #[test]
    fn every_family_has_help_and_type_and_skips_carry_their_reason() {
        let stats = PipelineStats::default();
        stats.record_skip(SkipReason::Bulk);
        let depth = OutboxDepth { pending: 3, sending: 0, failed: 1 };
        let text = render(&stats.snapshot(), &NotifyStatsSnapshot::default(), Some(&depth), None);
        assert!(text.contains("mailsig_messages_skipped_total{reason=\"bulk\"} 1\n"), "{text}");
        assert!(text.contains("mailsig_messages_skipped_total{reason=\"duplicate\"} 0\n"), "{text}");
        assert!(text.contains("mailsig_outbox_depth{status=\"pending\"} 3\n"), "{text}");
        assert!(text.contains("mailsig_store_up 1\n"), "{text}");
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            assert!(text.contains(&format!("# TYPE {name} ")), "no TYPE for {name}");
        }
    }

    #[test]
    fn a_store_that_does_not_answer_is_reported_down_without_depth() {
        let text = render(&StatsSnapshot::default(), &NotifyStatsSnapshot::default(), None, None);
        assert!(text.contains("mailsig_store_up 0\n"));
        assert!(!text.contains("mailsig_outbox_depth"));
    }
}
