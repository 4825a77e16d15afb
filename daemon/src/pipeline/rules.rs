//! A small cache of each mailbox's filter rules (own domains, exclusions), so that a worker
//! does not read the mailbox and its owner from the store for every message.
//!
//! An entry is used while the store's [`Store::mailbox_settings_generation`] is the one it was
//! loaded under, so a change made in this process (the API, the pages) applies to the next
//! message. Entries also expire after [`RULES_TTL`], for changes made by another process (the
//! CLI, another replica).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use crate::store::{MailboxId, Store};

use super::error::PipelineError;
use super::filter::MailboxRules;

/// How long a mailbox's rules are used before they are read again.
pub const RULES_TTL: Duration = Duration::from_secs(60);

/// Public free-mail domains: a mailbox at one of them does not make the whole provider "own
/// domain" (a Gmail user's contacts at Gmail are still new contacts).
const FREEMAIL_DOMAINS: &[&str] = &[
    "gmail.com",
    "googlemail.com",
    "outlook.com",
    "hotmail.com",
    "live.com",
    "msn.com",
    "yahoo.com",
    "ymail.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "aol.com",
    "gmx.de",
    "gmx.net",
    "gmx.at",
    "gmx.ch",
    "web.de",
    "t-online.de",
    "freenet.de",
    "posteo.de",
    "mailbox.org",
    "proton.me",
    "protonmail.com",
    "tutanota.com",
    "fastmail.com",
    "zoho.com",
    "yandex.ru",
    "mail.ru",
    "orange.fr",
    "free.fr",
    "laposte.net",
    "libero.it",
    "virgilio.it",
    "wp.pl",
    "o2.pl",
    "onet.pl",
    "seznam.cz",
    "qq.com",
    "163.com",
];

#[derive(Debug)]
struct Entry {
    rules: Arc<MailboxRules>,
    loaded: Instant,
    generation: u64,
}

/// Mailbox id → rules, shared by all workers.
#[derive(Debug, Default)]
pub struct RulesCache {
    entries: RwLock<HashMap<MailboxId, Entry>>,
}

impl RulesCache {
    /// The rules of a mailbox, from the cache or the store.
    pub async fn get(
        &self,
        store: &Store,
        mailbox: MailboxId,
    ) -> Result<Arc<MailboxRules>, PipelineError> {
        let generation = store.mailbox_settings_generation();
        if let Some(rules) = self.cached(mailbox, generation) {
            return Ok(rules);
        }
        let rules = Arc::new(load(store, mailbox).await?);
        if let Ok(mut entries) = self.entries.write() {
            entries.insert(
                mailbox,
                Entry {
                    rules: rules.clone(),
                    loaded: Instant::now(),
                    generation,
                },
            );
        }
        Ok(rules)
    }

    fn cached(&self, mailbox: MailboxId, generation: u64) -> Option<Arc<MailboxRules>> {
        let entries = self.entries.read().ok()?;
        let entry = entries.get(&mailbox)?;
        let current = entry.generation == generation;
        (current && entry.loaded.elapsed() < RULES_TTL).then(|| entry.rules.clone())
    }
}

async fn load(store: &Store, mailbox: MailboxId) -> Result<MailboxRules, PipelineError> {
    let settings_error = |source: crate::store::Error| {
        if source.is_not_found() {
            PipelineError::UnknownMailbox { mailbox }
        } else {
            PipelineError::Settings {
                mailbox,
                transient: source.is_transient(),
                source: Box::new(source),
            }
        }
    };
    let record = store.get_mailbox(mailbox).await.map_err(settings_error)?;
    let owner = store.get_user(record.owner).await.map_err(settings_error)?;
    let own_addresses = [record.address.as_str(), owner.email.as_str()]
        .into_iter()
        .filter(|address| !is_freemail(address));
    let mut rules = MailboxRules::new(own_addresses, record.excluded_domains);
    let own = store
        .mailbox_trusted_authserv_ids(mailbox)
        .await
        .map_err(settings_error)?;
    rules.trusted_authserv_ids = trusted_authserv_ids(record.kind, &record.settings, own);
    Ok(rules)
}

/// The authserv-ids a mailbox trusts: its own list when set (an empty list trusts none), else its
/// provider's: Microsoft 365 for Graph mailboxes and Exchange Online IMAP hosts, Google for Gmail's
/// IMAP host, none for any other host.
pub(crate) fn trusted_authserv_ids(
    kind: crate::store::MailboxKind,
    settings: &serde_json::Value,
    own: Option<Vec<String>>,
) -> crate::sender_auth::TrustedIds {
    use crate::sender_auth::{GOOGLE, MICROSOFT_365, TrustedIds};
    if let Some(list) = own {
        return TrustedIds::new(list);
    }
    let host = settings
        .get("host")
        .and_then(|v| v.as_str())
        .unwrap_or("")
        .trim()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    match kind {
        crate::store::MailboxKind::Graph => TrustedIds::new([MICROSOFT_365]),
        _ if host == "outlook.office365.com" || host.ends_with(".outlook.com") => {
            TrustedIds::new([MICROSOFT_365])
        }
        _ if host == "imap.gmail.com" || host == "imap.googlemail.com" => TrustedIds::new([GOOGLE]),
        _ => TrustedIds::default(),
    }
}

fn is_freemail(address: &str) -> bool {
    let domain = address
        .rsplit_once('@')
        .map_or("", |(_, d)| d)
        .trim()
        .to_ascii_lowercase();
    FREEMAIL_DOMAINS.contains(&domain.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freemail_addresses_are_recognised() {
        assert!(is_freemail("someone@GMail.com"));
        assert!(!is_freemail("someone@acme.example"));
    }
}
