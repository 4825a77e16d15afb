//! The org-wide sender blocklist as the running pipeline applies it: a value the workers read
//! once per message, swapped whole when the list changes ([`SharedBlocklist::replace`]).
//!
//! The list itself lives in the store (`store::blocklist`); `service::org::blocklist` swaps a
//! new value in at once after a change made in this process, and the supervisor's poll of the
//! list's version does it for changes made elsewhere (another replica, the CLI). A message being
//! filtered while the list changes finishes with the value it started with.

use std::sync::{Arc, PoisonError, RwLock};

use crate::store::{BlocklistKind, BlocklistSnapshot};

use super::domains::{domain_matches, normalise_domain};

/// Domains (with their subdomains) and single addresses whose mail is skipped for every
/// mailbox, as [`crate::domain::SkipReason::ExcludedDomain`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Blocklist {
    domains: Vec<String>,
    addresses: Vec<String>,
}

impl Blocklist {
    /// A list of domains only (the configuration's `[filters] excluded_domains`, for a pipeline
    /// that runs without the store's list, e.g. built in code).
    pub fn of_domains(domains: &[String]) -> Blocklist {
        Blocklist {
            domains: domains.iter().map(|d| normalise_domain(d)).collect(),
            addresses: Vec::new(),
        }
    }

    /// The store's entries.
    pub fn of_entries<'a>(entries: impl IntoIterator<Item = (BlocklistKind, &'a str)>) -> Self {
        let mut list = Blocklist::default();
        for (kind, value) in entries {
            match kind {
                BlocklistKind::Domain => list.domains.push(normalise_domain(value)),
                BlocklistKind::Address => list.addresses.push(value.trim().to_ascii_lowercase()),
            }
        }
        list
    }

    /// Whether mail from `local@domain` is blocked: its domain is a listed domain or under one,
    /// or the whole address is listed (case-insensitively).
    pub fn blocks(&self, local: &str, domain: &str) -> bool {
        if self.domains.iter().any(|rule| domain_matches(domain, rule)) {
            return true;
        }
        !self.addresses.is_empty() && {
            let address = format!(
                "{}@{}",
                local.to_ascii_lowercase(),
                normalise_domain(domain)
            );
            self.addresses.contains(&address)
        }
    }

    /// How many entries it has.
    pub fn len(&self) -> usize {
        self.domains.len() + self.addresses.len()
    }

    /// Whether it has none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The blocklist in force and the store version it came from (`None`: not from the store).
#[derive(Clone, Debug, Default)]
pub struct SharedBlocklist {
    inner: Arc<RwLock<(Option<i64>, Arc<Blocklist>)>>,
}

impl SharedBlocklist {
    /// A cell holding `list`, from no store version.
    pub fn new(list: Blocklist) -> SharedBlocklist {
        SharedBlocklist {
            inner: Arc::new(RwLock::new((None, Arc::new(list)))),
        }
    }

    /// The list in force.
    pub fn current(&self) -> Arc<Blocklist> {
        Arc::clone(&self.inner.read().unwrap_or_else(PoisonError::into_inner).1)
    }

    /// The store version the list in force came from.
    pub fn version(&self) -> Option<i64> {
        self.inner.read().unwrap_or_else(PoisonError::into_inner).0
    }

    /// Puts the store's list in force, unless a newer version already is (two refreshes may
    /// finish out of order). Returns whether it changed what is in force.
    pub fn replace(&self, snapshot: &BlocklistSnapshot) -> bool {
        let mut slot = self.inner.write().unwrap_or_else(PoisonError::into_inner);
        if slot.0.is_some_and(|held| held >= snapshot.version) {
            return false;
        }
        let list =
            Blocklist::of_entries(snapshot.entries.iter().map(|e| (e.kind, e.value.as_str())));
        *slot = (Some(snapshot.version), Arc::new(list));
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::BlocklistEntry;

    fn entry(id: i64, kind: BlocklistKind, value: &str) -> BlocklistEntry {
        BlocklistEntry {
            id,
            kind,
            value: value.to_owned(),
            created_at: 0,
        }
    }

    #[test]
    fn domains_cover_subdomains_and_addresses_match_whole() {
        let list = Blocklist::of_entries([
            (BlocklistKind::Domain, "spam.example"),
            (BlocklistKind::Address, "boss@partner.example"),
        ]);
        assert!(list.blocks("a", "spam.example"));
        assert!(list.blocks("a", "Mail.SPAM.example"));
        assert!(!list.blocks("a", "notspam.example"));
        assert!(list.blocks("Boss", "partner.EXAMPLE"));
        assert!(!list.blocks("colleague", "partner.example"));
    }

    #[test]
    fn an_older_version_never_replaces_a_newer_one() {
        let cell = SharedBlocklist::new(Blocklist::of_domains(&["file.example".to_owned()]));
        assert!(cell.current().blocks("a", "file.example"));
        let newer = BlocklistSnapshot {
            version: 3,
            entries: vec![entry(1, BlocklistKind::Domain, "new.example")],
        };
        assert!(cell.replace(&newer));
        assert!(!cell.current().blocks("a", "file.example"));
        assert!(cell.current().blocks("a", "new.example"));
        let older = BlocklistSnapshot {
            version: 2,
            entries: vec![],
        };
        assert!(!cell.replace(&older));
        assert!(!cell.replace(&newer));
        assert_eq!(cell.version(), Some(3));
        assert!(cell.current().blocks("a", "new.example"));
    }
}
