//! The notification texts: the suggestion digest and the "mailbox needs attention" notice.
//!
//! Minimum data by construction: the inputs are plain structs holding only a contact's name and
//! company and the list it went to (never a subject, a body or signature text), so nothing else
//! can reach the message. Every message has a text/plain and a text/html alternative (all values
//! HTML-escaped), a Message-ID in the sender's domain, a Date, and `Auto-Submitted: auto-generated`
//! (RFC 3834) so that vacation responders stay quiet.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::SystemTime;

use lettre::Message;
use lettre::message::header::{ContentType, HeaderName, HeaderValue};
use lettre::message::{Mailbox, MultiPart, SinglePart};

use super::error::NotifyError;
use super::outgoing::OutgoingMail;

/// One new suggestion as the digest shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestEntry {
    pub list_id: i64,
    pub list_name: String,
    /// The contact's name, if the signature gave one.
    pub name: Option<String>,
    /// The contact's company, if the signature gave one.
    pub company: Option<String>,
    /// No authenticated message backs the suggestion: the line says "unverified sender".
    pub unverified_sender: bool,
    /// A change alert for an accepted contact ("Jane Doe: new title (authenticated by dmarc,
    /// 2026-12-06)") instead of a new suggestion.
    pub alert: Option<String>,
}

/// A mailbox that stopped working and needs its owner (for example a changed password).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttentionNotice {
    pub mailbox_id: i64,
    /// How the owner knows the mailbox: its address or display name.
    pub mailbox_label: String,
    /// A short, content-free reason such as "login rejected".
    pub reason: String,
}

/// Sender, recipient and link base shared by every notification.
#[derive(Debug, Clone)]
pub struct Addressing {
    pub from: Mailbox,
    pub to: Mailbox,
    /// Base URL of the web pages, e.g. `https://mailsig.example.com` (no trailing slash needed).
    pub public_base_url: String,
}

impl Addressing {
    fn link(&self, path: &str) -> String {
        format!("{}{}", self.public_base_url.trim_end_matches('/'), path)
    }
}

/// Builds the digest of new suggestions, grouped by list, each list with its review link
/// `<public_base_url>/lists/<id>`.
pub fn compose_digest(
    addressing: &Addressing,
    entries: &[DigestEntry],
    date: SystemTime,
) -> Result<OutgoingMail, NotifyError> {
    if entries.is_empty() {
        return Err(NotifyError::Compose {
            reason: "a digest needs at least one suggestion".into(),
        });
    }
    let mut by_list: BTreeMap<i64, (&str, Vec<&DigestEntry>)> = BTreeMap::new();
    for entry in entries {
        by_list
            .entry(entry.list_id)
            .or_insert((entry.list_name.as_str(), Vec::new()))
            .1
            .push(entry);
    }
    let subject = match entries.len() {
        1 => "1 new contact suggestion".to_owned(),
        n => format!("{n} new contact suggestions"),
    };

    let mut text = format!("{subject} to review.\n");
    let mut html = format!(
        "<!DOCTYPE html>\n<html><body>\n<p>{}</p>\n",
        escape_html(&format!("{subject} to review."))
    );
    for (list_id, (list_name, list_entries)) in &by_list {
        let link = addressing.link(&format!("/lists/{list_id}"));
        // Writing into a String cannot fail.
        let _ = write!(text, "\nList \"{list_name}\" ({}):\n", list_entries.len());
        let _ = write!(
            html,
            "<h3>List &quot;{}&quot; ({})</h3>\n<ul>\n",
            escape_html(list_name),
            list_entries.len()
        );
        for entry in list_entries {
            let line = entry_line(entry);
            let _ = writeln!(text, "  - {line}");
            let _ = writeln!(html, "<li>{}</li>", escape_html(&line));
        }
        let _ = writeln!(text, "Review them: {link}");
        let _ = write!(
            html,
            "</ul>\n<p><a href=\"{0}\">Review them</a></p>\n",
            escape_html(&link)
        );
    }
    text.push_str(FOOTER_TEXT);
    let _ = write!(
        html,
        "<p>{}</p>\n</body></html>\n",
        escape_html(FOOTER_TEXT.trim())
    );
    build(addressing, &subject, text, html, date)
}

/// Builds the notice telling an owner that a mailbox needs attention, with a link to it.
pub fn compose_attention(
    addressing: &Addressing,
    notice: &AttentionNotice,
    date: SystemTime,
) -> Result<OutgoingMail, NotifyError> {
    let subject = "A mailbox needs your attention".to_owned();
    let link = addressing.link(&format!("/mailboxes/{}", notice.mailbox_id));
    let text = format!(
        "The mailbox \"{}\" needs your attention: {}.\nNo new suggestions come from it until this is fixed.\nOpen it: {link}\n{FOOTER_TEXT}",
        notice.mailbox_label, notice.reason
    );
    let html = format!(
        "<!DOCTYPE html>\n<html><body>\n<p>The mailbox &quot;{}&quot; needs your attention: {}.</p>\n<p>No new suggestions come from it until this is fixed.</p>\n<p><a href=\"{}\">Open it</a></p>\n<p>{}</p>\n</body></html>\n",
        escape_html(&notice.mailbox_label),
        escape_html(&notice.reason),
        escape_html(&link),
        escape_html(FOOTER_TEXT.trim())
    );
    build(addressing, &subject, text, html, date)
}

/// An invitation to an account: the link that sets the first password.
pub struct InvitationNotice {
    /// The link's one-time token (only its hash is stored).
    pub token: String,
    /// When the link stops working (epoch ms).
    pub expires_at: i64,
}

/// Builds the invitation to an account, with the link to set a first password.
pub fn compose_invitation(
    addressing: &Addressing,
    notice: &InvitationNotice,
    date: SystemTime,
) -> Result<OutgoingMail, NotifyError> {
    let link = addressing.link(&format!("/invitation?token={}", notice.token));
    let until = day_of(notice.expires_at);
    let text = format!(
        "You are invited to mailsig, which turns the signatures in your incoming e-mail into contact suggestions.\nOpen this link to set your password and sign in (it works once, until {until}):\n{link}\n{FOOTER_TEXT}"
    );
    let html = format!(
        "<!DOCTYPE html>\n<html><body>\n<p>You are invited to mailsig, which turns the signatures in your incoming e-mail into contact suggestions.</p>\n<p><a href=\"{}\">Set your password and sign in</a> (the link works once, until {}).</p>\n<p>{}</p>\n</body></html>\n",
        escape_html(&link),
        escape_html(&until),
        escape_html(FOOTER_TEXT.trim())
    );
    build(addressing, "You are invited to mailsig", text, html, date)
}

/// The message `mailsigd smtp test --send-to` submits: it proves the whole path, send included.
pub fn compose_test(
    addressing: &Addressing,
    date: SystemTime,
) -> Result<OutgoingMail, NotifyError> {
    let text = format!(
        "This is a test message from mailsig: notifications reach this address.\n{FOOTER_TEXT}"
    );
    let html = format!(
        "<!DOCTYPE html>\n<html><body>\n<p>This is a test message from mailsig: notifications reach this address.</p>\n<p>{}</p>\n</body></html>\n",
        escape_html(FOOTER_TEXT.trim())
    );
    build(addressing, "mailsig test message", text, html, date)
}

const FOOTER_TEXT: &str = "\n-- \nSent automatically by mailsig.\n";

fn entry_line(entry: &DigestEntry) -> String {
    if let Some(alert) = &entry.alert {
        return format!("Change: {alert}");
    }
    let line = match (entry.name.as_deref(), entry.company.as_deref()) {
        (Some(name), Some(company)) => format!("{name}, {company}"),
        (Some(name), None) => name.to_owned(),
        (None, Some(company)) => format!("(no name), {company}"),
        (None, None) => "(no name)".to_owned(),
    };
    if entry.unverified_sender {
        format!("{line} (unverified sender)")
    } else {
        line
    }
}

fn build(
    addressing: &Addressing,
    subject: &str,
    text: String,
    html: String,
    date: SystemTime,
) -> Result<OutgoingMail, NotifyError> {
    let message_id = new_message_id(&addressing.from);
    let message = Message::builder()
        .from(addressing.from.clone())
        .to(addressing.to.clone())
        .subject(subject)
        .date(date)
        .message_id(Some(message_id.clone()))
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("Auto-Submitted"),
            "auto-generated".into(),
        ))
        // Asks Exchange not to send out-of-office and similar replies either.
        .raw_header(HeaderValue::new(
            HeaderName::new_from_ascii_str("X-Auto-Response-Suppress"),
            "All".into(),
        ))
        .multipart(
            MultiPart::alternative()
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_PLAIN)
                        .body(text),
                )
                .singlepart(
                    SinglePart::builder()
                        .header(ContentType::TEXT_HTML)
                        .body(html),
                ),
        )
        .map_err(|err| NotifyError::Compose {
            reason: err.to_string(),
        })?;
    Ok(OutgoingMail {
        envelope: message.envelope().clone(),
        bytes: message.formatted(),
        message_id,
    })
}

/// `<128 random bits in hex @ the From domain>`: unique without any host name or content in it.
fn new_message_id(from: &Mailbox) -> String {
    let random: u128 = rand::random();
    format!("<{random:032x}@{}>", from.email.domain())
}

/// Escapes the five characters that matter in HTML text and attribute values. Hand-rolled because
/// it is five replacements and no crate in the tree offers an HTML *encoder*.
pub(crate) fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for ch in text.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            other => out.push(other),
        }
    }
    out
}

/// `2026-12-06` for a time in milliseconds since the epoch (UTC).
pub(super) fn day_of(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .map(|t| t.date().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addressing() -> Addressing {
        Addressing {
            from: "mailsig <mailsig@example.com>".parse().expect("from"),
            to: "owner@example.org".parse().expect("to"),
            public_base_url: "https://mailsig.example.com/".into(),
        }
    }

    fn entry(
        list_id: i64,
        list_name: &str,
        name: Option<&str>,
        company: Option<&str>,
    ) -> DigestEntry {
        DigestEntry {
            list_id,
            list_name: list_name.into(),
            name: name.map(Into::into),
            company: company.map(Into::into),
            unverified_sender: false,
            alert: None,
        }
    }

    #[test]
    fn unverified_senders_and_change_alerts_are_marked() {
        let mut unverified = entry(1, "Sales", Some("Ann"), None);
        unverified.unverified_sender = true;
        assert_eq!(entry_line(&unverified), "Ann (unverified sender)");
        let mut alert = entry(1, "Sales", Some("Jane Doe"), None);
        alert.alert = Some("Jane Doe: new title (authenticated by dmarc, 2026-12-06)".into());
        assert_eq!(
            entry_line(&alert),
            "Change: Jane Doe: new title (authenticated by dmarc, 2026-12-06)"
        );
    }

    fn decoded(mail: &OutgoingMail) -> String {
        let parsed = mail_parser::MessageParser::default()
            .parse(mail.as_bytes())
            .expect("parses");
        let text = parsed.body_text(0).expect("text part").into_owned();
        let html = parsed.body_html(0).expect("html part").into_owned();
        format!("{text}\n=====\n{html}")
    }

    #[test]
    fn digest_groups_by_list_with_links_and_headers() {
        let entries = [
            entry(7, "Sales", Some("Jane Doe"), Some("Acme")),
            entry(9, "Partners", Some("Li Wei"), None),
            entry(7, "Sales", None, Some("Globex")),
        ];
        let mail =
            compose_digest(&addressing(), &entries, SystemTime::UNIX_EPOCH).expect("composes");
        let raw = String::from_utf8_lossy(mail.as_bytes()).into_owned();
        assert!(raw.contains("Auto-Submitted: auto-generated"), "{raw}");
        assert!(
            raw.contains(&format!("Message-ID: {}", mail.message_id)),
            "{raw}"
        );
        assert!(mail.message_id.ends_with("@example.com>"));
        assert!(raw.contains("Date: Thu, 01 Jan 1970"), "{raw}");
        assert!(raw.contains("multipart/alternative"));
        assert!(raw.contains("Subject: 3 new contact suggestions"));
        let body = decoded(&mail);
        assert!(body.contains("Jane Doe, Acme"));
        assert!(body.contains("(no name), Globex"));
        assert!(body.contains("https://mailsig.example.com/lists/7"));
        assert!(body.contains("https://mailsig.example.com/lists/9"));
        assert!(body.contains("List \"Sales\" (2)"));
    }

    #[test]
    fn digest_html_escapes_every_value() {
        let entries = [entry(
            1,
            "<b>list</b>",
            Some("<script>alert(1)</script>"),
            Some("A & \"B\""),
        )];
        let mail = compose_digest(&addressing(), &entries, crate::clock::now()).expect("composes");
        let parsed = mail_parser::MessageParser::default()
            .parse(mail.as_bytes())
            .expect("parses");
        let html = parsed.body_html(0).expect("html").into_owned();
        assert!(!html.contains("<script>"), "{html}");
        assert!(!html.contains("<b>list"), "{html}");
        assert!(
            html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{html}"
        );
        assert!(html.contains("A &amp; &quot;B&quot;"), "{html}");
    }

    #[test]
    fn empty_digest_is_refused() {
        let err = compose_digest(&addressing(), &[], crate::clock::now())
            .err()
            .expect("must fail");
        assert!(err.is_permanent());
    }

    #[test]
    fn attention_notice_links_to_the_mailbox() {
        let notice = AttentionNotice {
            mailbox_id: 42,
            mailbox_label: "bob@example.org".into(),
            reason: "login rejected".into(),
        };
        let mail =
            compose_attention(&addressing(), &notice, crate::clock::now()).expect("composes");
        let body = decoded(&mail);
        assert!(body.contains("https://mailsig.example.com/mailboxes/42"));
        assert!(body.contains("login rejected"));
        assert!(
            String::from_utf8_lossy(mail.as_bytes()).contains("Auto-Submitted: auto-generated")
        );
    }

    #[test]
    fn escape_html_covers_the_five_characters() {
        assert_eq!(
            escape_html(r#"<a href='x'>&"#),
            "&lt;a href=&#39;x&#39;&gt;&amp;"
        );
    }
}
