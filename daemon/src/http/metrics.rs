//! The Prometheus text exposition (format 0.0.4) of this process's counters.
//!
//! Hand-written rather than with `prometheus-client`: every value already lives in the modules'
//! own atomic stats structs, so a registry would only copy them; the format needed here (HELP,
//! TYPE, one sample per line, label values from a fixed set of snake_case names that need no
//! escaping, and histograms as `_bucket{le=..}`/`_sum`/`_count`) is a few lines, and it keeps
//! one more crate out of the build. Histograms are [`crate::telemetry::histogram::Histogram`]
//! (fixed buckets on atomics); values without a stats struct of their own (source lag, Graph
//! webhook latency and subscriptions, vault operations, reloads) live in
//! [`crate::telemetry::metrics`]. A strict line check in the tests fails on a malformed line.

use std::fmt::Write as _;
use std::sync::Arc;

use crate::notify::{NotifyStats, NotifyStatsSnapshot};
use crate::pipeline::stats::{PipelineStats, StatsSnapshot};
use crate::sources::imap::{ImapSource, ImapStatsSnapshot};
use crate::store::{OutboxDepth, Store};
use crate::telemetry::histogram::HistogramSnapshot;
use crate::telemetry::metrics::{ProcessMetrics, SourceKind, metrics};

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
        let imap = self.imap.as_ref().map(|source| (source.stats(), source.watched().len()));
        let mut text = render(&self.pipeline.snapshot(), &notify, depth.ok().as_ref(), imap.as_ref().map(|i| &i.0));
        if let Some((_, watched)) = imap {
            let mut out = Exposition::default();
            out.gauge("mailsig_imap_watched_mailboxes", "IMAP mailboxes with running watchers.", u64::try_from(watched).unwrap_or(0));
            text.push_str(&out.text);
        }
        text.push_str(&render_process(metrics()));
        text.push_str(&crate::sources::graph::stats::render_prometheus());
        text
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
        out.counter("mailsig_imap_committed_total", "Messages fetched over IMAP and committed.", imap.committed);
        out.counter("mailsig_imap_too_large_total", "IMAP messages skipped unfetched for their size.", imap.too_large);
        out.counter("mailsig_imap_uidvalidity_resets_total", "Folders whose UIDVALIDITY changed.", imap.uidvalidity_resets);
        out.counter("mailsig_imap_idle_wakeups_total", "IDLE waits ended by the server announcing news.", imap.idle_wakeups);
        out.counter("mailsig_imap_polls_total", "Polls of folders on servers without IDLE.", imap.polls);
    }
    out.text
}

/// Formats the process-wide metrics (lag and latency histograms, Graph subscriptions, vault
/// operations, configuration reloads).
pub fn render_process(process: &ProcessMetrics) -> String {
    let mut out = Exposition::default();
    let name = "mailsig_source_lag_seconds";
    out.family(name, "histogram", "Time from a message's arrival at the mail server (IMAP INTERNALDATE, Graph receivedDateTime) to its commit here, by source kind.");
    for kind in SourceKind::ALL {
        out.histogram(name, &[("source", kind.as_str())], &process.source_lag(kind).snapshot());
    }
    let name = "mailsig_graph_webhook_latency_seconds";
    out.family(name, "histogram", "Time from a Graph webhook request's arrival to its answer.");
    out.histogram(name, &[], &process.graph_webhook_latency.snapshot());
    out.family("mailsig_graph_subscriptions", "gauge", "Microsoft Graph change subscriptions, by state.");
    for (state, n) in process.graph_subscriptions.snapshot() {
        out.sample("mailsig_graph_subscriptions", &[("state", &state)], n);
    }
    out.family("mailsig_vault_operations_total", "counter", "Vault seal and open operations, by result.");
    for (operation, result, n) in process.vault.samples() {
        out.sample("mailsig_vault_operations_total", &[("operation", operation), ("result", result)], n);
    }
    out.family("mailsig_config_reloads_total", "counter", "Configuration reloads (SIGHUP), by result.");
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    out.sample("mailsig_config_reloads_total", &[("result", "ok")], load(&process.reloads.ok));
    out.sample("mailsig_config_reloads_total", &[("result", "failed")], load(&process.reloads.failed));
    out.gauge(
        "mailsig_config_last_reload_successful",
        "0 when the last reload was refused and the daemon runs on the previous configuration.",
        load(&process.reloads.last_ok),
    );
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
        self.sample_text(name, labels, &value.to_string());
    }

    fn sample_text(&mut self, name: &str, labels: &[(&str, &str)], value: &str) {
        let _ = write!(self.text, "{name}");
        if !labels.is_empty() {
            let pairs: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
            let _ = write!(self.text, "{{{}}}", pairs.join(","));
        }
        let _ = writeln!(self.text, " {value}");
    }

    /// The `_bucket`, `_sum` and `_count` lines of one histogram (its family written before).
    fn histogram(&mut self, name: &str, labels: &[(&str, &str)], histogram: &HistogramSnapshot) {
        let bucket = format!("{name}_bucket");
        for (bound, n) in &histogram.buckets {
            let le = bound.to_string();
            let mut with_le = labels.to_vec();
            with_le.push(("le", &le));
            self.sample(&bucket, &with_le, *n);
        }
        let mut with_inf = labels.to_vec();
        with_inf.push(("le", "+Inf"));
        self.sample(&bucket, &with_inf, histogram.count);
        self.sample_text(&format!("{name}_sum"), labels, &histogram.sum_seconds.to_string());
        self.sample(&format!("{name}_count"), labels, histogram.count);
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
    fn the_whole_exposition_passes_the_strict_check_with_histograms() {
        use crate::telemetry::exposition_check::check_exposition;
        use crate::telemetry::histogram::{Histogram, LAG_BUCKETS};
        use std::time::Duration;
        let stats = PipelineStats::default();
        stats.record_skip(SkipReason::Bulk);
        let depth = OutboxDepth { pending: 1, sending: 0, failed: 0 };
        let imap = ImapStatsSnapshot { connected: 2, ..ImapStatsSnapshot::default() };
        let process = metrics();
        process.source_lag(SourceKind::Imap).observe(Duration::from_millis(700));
        process.graph_subscriptions.set("active", 2);
        let mut text = render(&stats.snapshot(), &NotifyStatsSnapshot::default(), Some(&depth), Some(&imap));
        text.push_str(&render_process(process));
        assert_eq!(check_exposition(&text), Ok(()), "{text}");
        assert!(text.contains("mailsig_source_lag_seconds_bucket{source=\"imap\",le=\"1\"} "), "{text}");
        assert!(text.contains("mailsig_source_lag_seconds_bucket{source=\"graph\",le=\"+Inf\"} "), "{text}");
        assert!(text.contains("mailsig_graph_subscriptions{state=\"active\"} 2\n"), "{text}");
        assert!(text.contains("mailsig_vault_operations_total{operation=\"open\",result=\"failed\"} "), "{text}");

        // The histogram lines exactly, from a histogram of our own.
        let h = Histogram::new(&[0.5, 1.0]);
        h.observe(Duration::from_millis(250));
        h.observe(Duration::from_secs(2));
        let mut out = Exposition::default();
        out.family("x_seconds", "histogram", "X.");
        out.histogram("x_seconds", &[("source", "imap")], &h.snapshot());
        assert_eq!(
            out.text,
            "# HELP x_seconds X.\n# TYPE x_seconds histogram\n\
             x_seconds_bucket{source=\"imap\",le=\"0.5\"} 1\n\
             x_seconds_bucket{source=\"imap\",le=\"1\"} 1\n\
             x_seconds_bucket{source=\"imap\",le=\"+Inf\"} 2\n\
             x_seconds_sum{source=\"imap\"} 2.25\n\
             x_seconds_count{source=\"imap\"} 2\n"
        );
        assert!(LAG_BUCKETS.len() > 5);
    }

    #[test]
    fn a_store_that_does_not_answer_is_reported_down_without_depth() {
        let text = render(&StatsSnapshot::default(), &NotifyStatsSnapshot::default(), None, None);
        assert!(text.contains("mailsig_store_up 0\n"));
        assert!(!text.contains("mailsig_outbox_depth"));
    }
}
