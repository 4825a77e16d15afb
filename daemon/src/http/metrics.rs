//! `/metrics`: this process's counters in the Prometheus text exposition (format 0.0.4),
//! written through [`crate::telemetry::exposition::Exposition`].
//!
//! Every value already lives in a module's own atomic stats struct (pipeline, outbox, IMAP,
//! Graph, sender authentication) or in [`crate::telemetry::metrics`] (source lag, Graph webhook
//! latency and subscriptions, vault operations, reloads); this module only reads and formats
//! them. Values that live in the store (outbox depth, Graph subscriptions by state) are read at
//! most once per [`STORE_READ_INTERVAL`] ([`StoreReadings`]), however often `/metrics` and
//! `/readyz` are called: both are unauthenticated, and a flood of them must not become store work.
//! A strict line check in the tests fails on a malformed line.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::notify::{NotifyStats, NotifyStatsSnapshot};
use crate::pipeline::stats::{PipelineStats, StatsSnapshot};
use crate::sources::imap::{ImapSource, ImapStatsSnapshot};
use crate::store::{OutboxDepth, Store};
use crate::telemetry::exposition::Exposition;
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

/// How long one reading of the store serves `/metrics` and `/readyz`.
pub const STORE_READ_INTERVAL: Duration = Duration::from_secs(2);

/// The store's values for `/metrics` and `/readyz`: a successful reading serves for
/// [`STORE_READ_INTERVAL`]; one reading runs at a time, and callers that waited for it use its
/// result (success or failure) instead of starting their own. A failure is not kept beyond
/// that, so readiness comes back with the first caller after the store does.
#[derive(Default)]
pub struct StoreReadings {
    last: tokio::sync::Mutex<Option<(Instant, Option<OutboxDepth>)>>,
}

impl StoreReadings {
    /// The outbox depth (`None`: the store did not answer). A new reading also refreshes the
    /// Graph subscription gauges.
    pub async fn outbox_depth(&self, store: &Store) -> Option<OutboxDepth> {
        let arrived = Instant::now();
        let mut last = self.last.lock().await;
        if let Some((at, depth)) = *last {
            let fresh_success = depth.is_some() && at.elapsed() < STORE_READ_INTERVAL;
            // A reading that ended while this caller waited for the lock serves it too.
            if fresh_success || at >= arrived {
                return depth;
            }
        }
        let depth = match store.outbox_depth().await {
            Ok(depth) => Some(depth),
            Err(error) => {
                tracing::warn!(error = %error, "metrics: outbox depth unavailable");
                None
            }
        };
        if depth.is_some() {
            // Graph subscriptions by state, from the store (every replica shows the same).
            crate::sources::graph::stats::refresh_subscription_gauges(store).await;
        }
        *last = Some((Instant::now(), depth));
        depth
    }
}

impl MetricSources {
    /// Reads every counter and the outbox depth (now), and formats them.
    pub async fn render(&self) -> String {
        self.render_with(&StoreReadings::default()).await
    }

    /// [`render`](Self::render) with the store's values from `readings`.
    pub async fn render_with(&self, readings: &StoreReadings) -> String {
        let depth = readings.outbox_depth(&self.store).await;
        let notify = self
            .notify
            .as_ref()
            .map(|n| n.snapshot())
            .unwrap_or_default();
        let imap = self
            .imap
            .as_ref()
            .map(|source| (source.stats(), source.watched().len()));
        let mut text = render(
            &self.pipeline.snapshot(),
            &notify,
            depth.as_ref(),
            imap.as_ref().map(|i| &i.0),
        );
        if let Some((_, watched)) = imap {
            let mut out = Exposition::default();
            out.gauge(
                "mailsig_imap_watched_mailboxes",
                "IMAP mailboxes with running watchers.",
                u64::try_from(watched).unwrap_or(0),
            );
            text.push_str(out.as_str());
        }
        let mut out = Exposition::default();
        out.counter(
            "mailsig_store_queries_total",
            "Statements and transactions this process started on the store.",
            self.store.queries(),
        );
        text.push_str(out.as_str());
        text.push_str(&render_process(metrics()));
        text.push_str(&crate::sources::graph::stats::render_prometheus());
        text.push_str(&crate::sender_auth::stats::render_prometheus());
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
    out.counters(&[
        (
            "mailsig_messages_received_total",
            "Messages taken from the queue by a pipeline worker.",
            pipeline.received,
        ),
        (
            "mailsig_messages_processed_total",
            "Messages whose outcome (suggestion or skip) was committed.",
            pipeline.committed,
        ),
    ]);
    let skipped: Vec<(&str, u64)> = pipeline
        .skipped
        .iter()
        .map(|(reason, n)| (reason.as_str(), *n))
        .collect();
    out.labelled(
        "mailsig_messages_skipped_total",
        "counter",
        "Messages skipped, by reason.",
        "reason",
        &skipped,
    );
    out.counters(&[
        (
            "mailsig_suggestions_created_total",
            "Commits that created a new contact suggestion.",
            pipeline.suggestions_created,
        ),
        (
            "mailsig_suggestions_merged_total",
            "Commits that merged into an existing suggestion.",
            pipeline.suggestions_merged,
        ),
        (
            "mailsig_commit_failures_total",
            "Commits that failed and were left to the source to retry.",
            pipeline.commit_failures,
        ),
        (
            "mailsig_parsed_bytes_total",
            "Raw message bytes handed to the signature parser.",
            pipeline.bytes_parsed,
        ),
    ]);
    out.gauge(
        "mailsig_messages_in_flight",
        "Messages being worked on now.",
        pipeline.in_flight,
    );

    out.counters(&[
        (
            "mailsig_notifications_sent_total",
            "Notification mails accepted by the SMTP server.",
            notify.sent,
        ),
        (
            "mailsig_notifications_failed_total",
            "Notification mails marked failed.",
            notify.failed,
        ),
        (
            "mailsig_notifications_retried_total",
            "Notification mails put back for a later attempt.",
            notify.retried,
        ),
        (
            "mailsig_notifications_configuration_errors_total",
            "Notification failures caused by the SMTP settings (an operator must act).",
            notify.configuration_errors,
        ),
    ]);

    out.gauge(
        "mailsig_store_up",
        "1 when the store answered the last scrape's query.",
        u64::from(depth.is_some()),
    );
    if let Some(depth) = depth {
        let n = |v: i64| u64::try_from(v).unwrap_or(0);
        let by_status = [
            ("pending", n(depth.pending)),
            ("sending", n(depth.sending)),
            ("failed", n(depth.failed)),
        ];
        out.labelled(
            "mailsig_outbox_depth",
            "gauge",
            "Notification rows in the outbox, by status.",
            "status",
            &by_status,
        );
    }

    if let Some(imap) = imap {
        let connected = u64::try_from(imap.connected).unwrap_or(0);
        out.labelled(
            "mailsig_imap_connections",
            "gauge",
            "IMAP connections, by state.",
            "state",
            &[("logged_in", connected)],
        );
        out.counters(&[
            (
                "mailsig_imap_logins_total",
                "IMAP logins the server accepted.",
                imap.logins,
            ),
            (
                "mailsig_imap_auth_failures_total",
                "IMAP logins refused by the server.",
                imap.auth_failures,
            ),
            (
                "mailsig_imap_reconnects_total",
                "IMAP sessions retried after a transient error.",
                imap.reconnects,
            ),
            (
                "mailsig_imap_needs_attention_total",
                "IMAP watchers stopped because their mailbox needs attention.",
                imap.needs_attention,
            ),
            (
                "mailsig_imap_committed_total",
                "Messages fetched over IMAP and committed.",
                imap.committed,
            ),
            (
                "mailsig_imap_too_large_total",
                "IMAP messages skipped unfetched for their size.",
                imap.too_large,
            ),
            (
                "mailsig_imap_uidvalidity_resets_total",
                "Folders whose UIDVALIDITY changed.",
                imap.uidvalidity_resets,
            ),
            (
                "mailsig_imap_idle_wakeups_total",
                "IDLE waits ended by the server announcing news.",
                imap.idle_wakeups,
            ),
            (
                "mailsig_imap_polls_total",
                "Polls of folders on servers without IDLE.",
                imap.polls,
            ),
        ]);
    }
    out.into_text()
}

/// Formats the process-wide metrics (lag and latency histograms, Graph subscriptions, vault
/// operations, configuration reloads).
pub fn render_process(process: &ProcessMetrics) -> String {
    let mut out = Exposition::default();
    let name = "mailsig_source_lag_seconds";
    out.family(
        name,
        "histogram",
        "Time from a message's arrival to its commit here, by source kind (IMAP: the server's INTERNALDATE; Graph: when the notification or delta round reported it).",
    );
    for kind in SourceKind::ALL {
        out.histogram(
            name,
            &[("source", kind.as_str())],
            &process.source_lag(kind).snapshot(),
        );
    }
    let name = "mailsig_graph_webhook_latency_seconds";
    out.family(
        name,
        "histogram",
        "Time from a Graph webhook request's arrival to its answer.",
    );
    out.histogram(name, &[], &process.graph_webhook_latency.snapshot());
    let subscriptions = process.graph_subscriptions.snapshot();
    let subscriptions: Vec<(&str, u64)> = subscriptions
        .iter()
        .map(|(state, n)| (state.as_str(), *n))
        .collect();
    out.labelled(
        "mailsig_graph_subscriptions",
        "gauge",
        "Microsoft Graph change subscriptions, by state.",
        "state",
        &subscriptions,
    );
    out.family(
        "mailsig_vault_operations_total",
        "counter",
        "Vault seal and open operations, by result.",
    );
    for (operation, result, n) in process.vault.samples() {
        out.sample(
            "mailsig_vault_operations_total",
            &[("operation", operation), ("result", result)],
            n,
        );
    }
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    let reloads = [
        ("ok", load(&process.reloads.ok)),
        ("failed", load(&process.reloads.failed)),
    ];
    out.labelled(
        "mailsig_config_reloads_total",
        "counter",
        "Configuration reloads (SIGHUP), by result.",
        "result",
        &reloads,
    );
    out.gauge(
        "mailsig_config_last_reload_successful",
        "0 when the last reload was refused and the daemon runs on the previous configuration.",
        load(&process.reloads.last_ok),
    );
    out.into_text()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::SkipReason;

    #[test]
    fn every_family_has_help_and_type_and_skips_carry_their_reason() {
        let stats = PipelineStats::default();
        stats.record_skip(SkipReason::Bulk);
        let depth = OutboxDepth {
            pending: 3,
            sending: 0,
            failed: 1,
        };
        let text = render(
            &stats.snapshot(),
            &NotifyStatsSnapshot::default(),
            Some(&depth),
            None,
        );
        assert!(
            text.contains("mailsig_messages_skipped_total{reason=\"bulk\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("mailsig_messages_skipped_total{reason=\"duplicate\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("mailsig_outbox_depth{status=\"pending\"} 3\n"),
            "{text}"
        );
        assert!(text.contains("mailsig_store_up 1\n"), "{text}");
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let name = line.split(['{', ' ']).next().unwrap_or_default();
            assert!(
                text.contains(&format!("# TYPE {name} ")),
                "no TYPE for {name}"
            );
        }
    }

    #[test]
    fn the_whole_exposition_passes_the_strict_check_with_histograms() {
        use crate::telemetry::exposition_check::check_exposition;
        use crate::telemetry::histogram::LAG_BUCKETS;
        use std::time::Duration;
        let stats = PipelineStats::default();
        stats.record_skip(SkipReason::Bulk);
        let depth = OutboxDepth {
            pending: 1,
            sending: 0,
            failed: 0,
        };
        let imap = ImapStatsSnapshot {
            connected: 2,
            ..ImapStatsSnapshot::default()
        };
        let process = metrics();
        process
            .source_lag(SourceKind::Imap)
            .observe(Duration::from_millis(700));
        process.graph_subscriptions.set("active", 2);
        let mut text = render(
            &stats.snapshot(),
            &NotifyStatsSnapshot::default(),
            Some(&depth),
            Some(&imap),
        );
        text.push_str(&render_process(process));
        crate::sender_auth::stats::record(crate::domain::SenderAuth::new(
            crate::domain::AuthResult::Authenticated,
            crate::domain::AuthMethod::Dkim,
        ));
        text.push_str(&crate::sender_auth::stats::render_prometheus());
        assert_eq!(check_exposition(&text), Ok(()), "{text}");
        assert!(
            text.contains(
                "mailsig_sender_auth_checks_total{result=\"authenticated\",method=\"dkim\"} "
            ),
            "{text}"
        );
        assert!(
            text.contains("mailsig_sender_auth_checks_total{result=\"unknown\",method=\"arc\"} "),
            "every pair is exported, zeros included: {text}"
        );
        assert!(
            text.contains("mailsig_source_lag_seconds_bucket{source=\"imap\",le=\"1\"} "),
            "{text}"
        );
        assert!(
            text.contains("mailsig_source_lag_seconds_bucket{source=\"graph\",le=\"+Inf\"} "),
            "{text}"
        );
        assert!(
            text.contains("mailsig_graph_subscriptions{state=\"active\"} 2\n"),
            "{text}"
        );
        assert!(
            text.contains("mailsig_vault_operations_total{operation=\"open\",result=\"failed\"} "),
            "{text}"
        );

        assert!(LAG_BUCKETS.len() > 5);
    }

    #[test]
    fn a_store_that_does_not_answer_is_reported_down_without_depth() {
        let text = render(
            &StatsSnapshot::default(),
            &NotifyStatsSnapshot::default(),
            None,
            None,
        );
        assert!(text.contains("mailsig_store_up 0\n"));
        assert!(!text.contains("mailsig_outbox_depth"));
    }
}
