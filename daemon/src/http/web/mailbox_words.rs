//! A mailbox's settings and counters in words for its page: "Security: TLS" rather than
//! `security "tls"`, "Skipped: automatic replies 3" rather than `skipped:auto_reply 3`.
//!
//! Why here and not in the store or service: the stored keys are a stable vocabulary for the
//! API, the CLI and metrics; only the page needs sentences, and only for the keys it knows
//! (anything else is left out rather than shown as JSON).

use crate::domain::SkipReason;

/// The connection settings as label/value lines, in reading order.
pub fn settings(settings: &serde_json::Value) -> Vec<(String, String)> {
    let get = |key: &str| settings.get(key);
    let text = |key: &str| get(key).and_then(|v| v.as_str()).map(str::to_owned);
    let mut lines = Vec::new();
    if let Some(host) = text("host") {
        lines.push(("Server".to_owned(), host));
    }
    if let Some(port) = get("port").and_then(serde_json::Value::as_u64) {
        lines.push(("Port".to_owned(), port.to_string()));
    }
    if let Some(security) = text("security") {
        let words = match security.as_str() {
            "tls" => "TLS (encrypted from the start)",
            "starttls" => "STARTTLS (encrypted after connecting)",
            "plaintext" => "None (a server on this machine only)",
            _ => "Other",
        };
        lines.push(("Security".to_owned(), words.to_owned()));
    }
    if let Some(user) = text("username") {
        lines.push(("Login".to_owned(), user));
    }
    let folders: Vec<&str> = get("folders")
        .and_then(serde_json::Value::as_array)
        .map(|f| f.iter().filter_map(serde_json::Value::as_str).collect())
        .unwrap_or_default();
    if get("host").is_some() {
        lines.push((
            "Folders watched".to_owned(),
            if folders.is_empty() {
                "INBOX".to_owned()
            } else {
                folders.join(", ")
            },
        ));
    }
    if text("ca_pem").is_some() {
        lines.push((
            "Trusted certificate authority".to_owned(),
            "the one given when linking (public authorities are not trusted for this mailbox)"
                .to_owned(),
        ));
    } else if let Some(ca) = text("ca_file") {
        lines.push(("Trusted certificate authority".to_owned(), ca));
    }
    if let Some(backfill) = get("backfill").and_then(serde_json::Value::as_u64) {
        lines.push((
            "Recent mail read when linked".to_owned(),
            match backfill {
                0 => "none: only mail that arrives after linking".to_owned(),
                1 => "the latest message".to_owned(),
                n => format!("the latest {n} messages"),
            },
        ));
    }
    if get("operator_trusted").and_then(serde_json::Value::as_bool) == Some(true) {
        lines.push(("Added by".to_owned(), "the server's operator".to_owned()));
    }
    lines
}

/// A mailbox's state in words, with the stored reason (a fixed sentence) when there is one:
/// "working", "needs attention: …", "needs its owner to consent again: …".
pub fn status(status: crate::store::MailboxStatus, reason: Option<&str>) -> String {
    use crate::store::MailboxStatus;
    let words = match status {
        MailboxStatus::Ok => return "working".to_owned(),
        MailboxStatus::NeedsAttention => "needs attention",
        MailboxStatus::NeedsReconsent => "needs its owner to consent again",
        MailboxStatus::Paused => "paused",
    };
    match reason.map(str::trim).filter(|r| !r.is_empty()) {
        Some(reason) => format!("{words}: {reason}"),
        None => words.to_owned(),
    }
}

/// What a counter counts, in words; `None` for counters the page does not show.
fn counter_label(name: &str) -> Option<&'static str> {
    Some(match name {
        "processed" => "Messages read",
        "suggested" => "New suggestions",
        "merged" => "Updates to existing suggestions",
        _ => return None,
    })
}

/// Why messages were skipped, in words.
fn skip_label(reason: &str) -> String {
    let known = SkipReason::ALL
        .into_iter()
        .find(|r| r.as_str() == reason)
        .map(|r| match r {
            SkipReason::ExcludedDomain => "from an excluded domain",
            SkipReason::OwnDomain => "from your own domain",
            SkipReason::AutoReply => "automatic replies",
            SkipReason::Bulk => "newsletters and bulk mail",
            SkipReason::RoleAddress => "from role addresses (info@, noreply@…)",
            SkipReason::TooLarge => "too large",
            SkipReason::NoSignature => "without a signature",
            SkipReason::ParseError => "unreadable",
            SkipReason::Duplicate => "already read",
            SkipReason::TargetListDeleted => "its list was deleted",
            SkipReason::TargetListNotEditable => "you may no longer edit its list",
            SkipReason::EngineError => "the signature reader failed",
            SkipReason::UnverifiedSender => "unverified senders changing known contacts",
            SkipReason::BlockedAddress => "from a sender address the organisation blocks",
        });
    known.map_or_else(|| "other reasons".to_owned(), str::to_owned)
}

/// The counters as label/value lines: what was read and suggested, then each skip reason once
/// (the `skipped:` counters are shown only under "Skipped", never twice).
pub fn counters(
    counters: &std::collections::BTreeMap<String, i64>,
    skipped: &std::collections::BTreeMap<String, i64>,
) -> Vec<(String, i64)> {
    let mut lines: Vec<(String, i64)> = ["processed", "suggested", "merged"]
        .into_iter()
        .filter_map(|name| Some((counter_label(name)?.to_owned(), *counters.get(name)?)))
        .collect();
    for (reason, count) in skipped {
        if *count > 0 {
            lines.push((format!("Skipped: {}", skip_label(reason)), *count));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_read_as_words_without_json() {
        let lines = settings(&serde_json::json!({
            "host": "imap.example.net", "port": 993, "security": "tls", "username": "ann",
            "folders": ["INBOX", "Sent"], "backfill": 0, "operator_trusted": false
        }));
        let shown = format!("{lines:?}");
        assert!(
            shown.contains("\"Folders watched\", \"INBOX, Sent\""),
            "{shown}"
        );
        assert!(
            shown.contains("only mail that arrives after linking"),
            "{shown}"
        );
        assert!(
            lines
                .iter()
                .all(|(k, v)| !v.starts_with(['[', '"']) && !k.contains('_')),
            "{shown}"
        );
        assert!(!shown.contains("backfill"), "{shown}");
    }

    #[test]
    fn a_status_reads_as_words_with_its_reason() {
        use crate::store::MailboxStatus;
        assert_eq!(status(MailboxStatus::Ok, Some("ignored")), "working");
        assert_eq!(
            status(
                MailboxStatus::NeedsAttention,
                Some("the server refused the login")
            ),
            "needs attention: the server refused the login"
        );
        assert_eq!(
            status(MailboxStatus::NeedsReconsent, None),
            "needs its owner to consent again"
        );
    }

    #[test]
    fn skipped_counters_are_listed_once_in_words() {
        let mut all = std::collections::BTreeMap::new();
        all.insert("processed".to_owned(), 5);
        all.insert("skipped:auto_reply".to_owned(), 2);
        let mut skipped = std::collections::BTreeMap::new();
        skipped.insert("auto_reply".to_owned(), 2);
        let lines = counters(&all, &skipped);
        assert_eq!(
            lines,
            vec![
                ("Messages read".to_owned(), 5),
                ("Skipped: automatic replies".to_owned(), 2)
            ]
        );
    }
}
