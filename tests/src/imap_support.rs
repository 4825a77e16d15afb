//! What the IMAP tests and the IMAP load tool share, so that what the load tool measures is what
//! the tests check: the mailbox row and settings of a watched Dovecot user, and the test message,
//! a short business mail whose sender signs off with a full signature block (name, title, company,
//! postal address, phone, email address), so the parser finds a contact in every one.

use std::path::Path;

use mailsig_daemon::sources::imap::{ImapSettings, Security};
use mailsig_daemon::store::{ListId, MailboxKind, NewMailbox, UserId};

/// Settings that watch `folders` (the INBOX when empty) of `username` on the Dovecot at
/// `127.0.0.1:<port>`, trusting `ca`, with no backfill.
pub fn imap_settings(
    port: u16,
    security: Security,
    username: &str,
    ca: &Path,
    folders: &[&str],
) -> ImapSettings {
    ImapSettings {
        host: "127.0.0.1".into(),
        port,
        security,
        username: username.to_owned(),
        folders: folders.iter().map(|f| (*f).to_owned()).collect(),
        ca_file: Some(ca.to_owned()),
        ca_pem: None,
        backfill: 0,
        // Added as the operator would: the test servers are on loopback.
        operator_trusted: true,
    }
}

/// The row of an IMAP mailbox of `owner` (address `address`) that feeds `list`, with no secret.
pub fn imap_mailbox(
    owner: UserId,
    list: ListId,
    address: &str,
    settings: &ImapSettings,
) -> NewMailbox {
    imap_mailbox_row(owner, list, address, settings.to_json())
}

/// [`imap_mailbox`] with the settings as JSON, for tests that write them by hand; no excluded
/// domains, no secret (set them with struct update syntax).
pub fn imap_mailbox_row(
    owner: UserId,
    list: ListId,
    address: &str,
    settings: serde_json::Value,
) -> NewMailbox {
    NewMailbox {
        owner,
        kind: MailboxKind::Imap,
        address: address.to_owned(),
        display_name: None,
        target_list: list,
        excluded_domains: vec![],
        settings,
        secret: None,
    }
}

/// Senders' names, picked by index.
pub const NAMES: [(&str, &str); 8] = [
    ("Nora", "Whitfield"),
    ("Owen", "Castillo"),
    ("Priya", "Raman"),
    ("Lena", "Vogel"),
    ("Marcus", "Hale"),
    ("Ines", "Duarte"),
    ("Tomas", "Lind"),
    ("Grace", "Okafor"),
];

/// What varies between the messages built from the template.
pub struct SignedMail<'a> {
    pub first: &'a str,
    pub last: &'a str,
    /// The sender's address, in `From:` and in the signature.
    pub address: &'a str,
    /// The owner of the watched mailbox, in `To:`.
    pub to: &'a str,
    pub subject: &'a str,
    /// Without the angle brackets.
    pub message_id: &'a str,
    /// The company line of the signature.
    pub company: &'a str,
    /// The last two digits of the office phone number.
    pub phone_suffix: usize,
}

impl SignedMail<'_> {
    /// The message as delivered (CRLF line ends).
    pub fn bytes(&self) -> Vec<u8> {
        let SignedMail {
            first,
            last,
            address,
            to,
            subject,
            message_id,
            company,
            phone_suffix,
        } = self;
        format!(
            "From: {first} {last} <{address}>\r\n\
             To: Owner <{to}>\r\n\
             Subject: {subject}\r\n\
             Date: Sun, 22 Nov 2026 10:00:00 +0000\r\n\
             Message-ID: <{message_id}>\r\n\
             MIME-Version: 1.0\r\n\
             Content-Type: text/plain; charset=utf-8\r\n\
             \r\n\
             Hi,\r\n\
             \r\n\
             The revised invoice is attached. Let me know if the numbers look wrong.\r\n\
             \r\n\
             Thanks,\r\n\
             {first}\r\n\
             \r\n\
             -- \r\n\
             {first} {last}\r\n\
             Operations Manager\r\n\
             {company}\r\n\
             48 Harbor View Drive\r\n\
             Annapolis, MD 21403\r\n\
             Office: (410) 555-01{phone_suffix:02}\r\n\
             {address}\r\n"
        )
        .into_bytes()
    }
}
