//! The org-wide sender blocklist as the running pipeline applies it: a value the workers read
//! once per message, swapped whole when the list changes ([`SharedBlocklist::replace`]).
//!
//! The list itself lives in the store (`store::blocklist`); `service::org::blocklist` swaps a
//! new value in at once after a change made in this process, and the supervisor's poll of the
//! list's version does it for changes made elsewhere (another replica, the CLI). A message being
//! filtered while the list changes finishes with the value it started with.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, PoisonError, RwLock};

use crate::store::{BlocklistKind, BlocklistSnapshot};

use super::domains::normalise_domain;

/// Domains (with their subdomains) and single addresses whose mail is skipped for every
/// mailbox, as [`crate::domain::SkipReason::ExcludedDomain`] and
/// [`crate::domain::SkipReason::BlockedAddress`].
///
/// Kept as hash sets so that a message costs one look-up per label of its sender's domain and
/// one for its address, however long the list: `mail.spam.example` is looked up as itself, then
/// `spam.example`, then `example`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Blocklist {
    /// Normalised domains (see [`normalise_domain`]).
    domains: HashSet<String>,
    /// Normalised domain -> lower-case local parts listed at it.
    addresses: HashMap<String, HashSet<String>>,
}

/// Which kind of entry blocked a sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BlockedBy {
    /// The sender's domain is a listed domain or under one.
    Domain,
    /// The sender's whole address is listed.
    Address,
}

impl Blocklist {
    /// A list of domains only (the configuration's `[filters] excluded_domains`, for a pipeline
    /// that runs without the store's list, e.g. built in code).
    pub fn of_domains(domains: &[String]) -> Blocklist {
        Blocklist::of_entries(domains.iter().map(|d| (BlocklistKind::Domain, d.as_str())))
    }

    /// The store's entries.
    pub fn of_entries<'a>(entries: impl IntoIterator<Item = (BlocklistKind, &'a str)>) -> Self {
        let mut list = Blocklist::default();
        for (kind, value) in entries {
            match kind {
                BlocklistKind::Domain => {
                    let domain = normalise_domain(value);
                    if !domain.is_empty() {
                        list.domains.insert(domain);
                    }
                }
                BlocklistKind::Address => {
                    if let Some((local, domain)) = value.trim().rsplit_once('@') {
                        list.addresses
                            .entry(normalise_domain(domain))
                            .or_default()
                            .insert(local.to_ascii_lowercase());
                    }
                }
            }
        }
        list
    }

    /// Whether mail from `local@domain` is blocked: its domain is a listed domain or under one,
    /// or the whole address is listed (case-insensitively).
    pub fn blocks(&self, local: &str, domain: &str) -> bool {
        self.verdict(local, domain).is_some()
    }

    /// What blocks mail from `local@domain`, if anything (a listed domain before a listed
    /// address).
    pub fn verdict(&self, local: &str, domain: &str) -> Option<BlockedBy> {
        if self.is_empty() {
            return None;
        }
        // The pipeline passes a domain already normalised: no allocation per message then.
        let domain: std::borrow::Cow<'_, str> = if is_normalised(domain) {
            domain.into()
        } else {
            normalise_domain(domain).into()
        };
        if parent_domains(&domain).any(|candidate| self.domains.contains(candidate)) {
            return Some(BlockedBy::Domain);
        }
        let locals = self.addresses.get(domain.as_ref())?;
        let listed = if local.bytes().any(|b| b.is_ascii_uppercase()) {
            locals.contains(&local.to_ascii_lowercase())
        } else {
            locals.contains(local)
        };
        listed.then_some(BlockedBy::Address)
    }

    /// How many entries it has.
    pub fn len(&self) -> usize {
        self.domains.len() + self.addresses.values().map(HashSet::len).sum::<usize>()
    }

    /// Whether it has none.
    pub fn is_empty(&self) -> bool {
        self.domains.is_empty() && self.addresses.is_empty()
    }
}

/// Whether `domain` is already in the form [`normalise_domain`] gives.
fn is_normalised(domain: &str) -> bool {
    !domain.starts_with(['@', '.'])
        && !domain.ends_with('.')
        && domain.trim() == domain
        && !domain.bytes().any(|b| b.is_ascii_uppercase())
}

/// `domain` and each domain above it: `a.b.c`, `b.c`, `c`.
fn parent_domains(domain: &str) -> impl Iterator<Item = &str> {
    std::iter::successors(Some(domain), |d| {
        d.split_once('.').map(|(_, parent)| parent)
    })
    .filter(|d| !d.is_empty())
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
        assert!(!list.blocks("boss", "sub.partner.example"));
        assert!(!list.blocks("a", "example"));
        assert_eq!(
            list.verdict("a", "x.spam.example."),
            Some(BlockedBy::Domain)
        );
        assert_eq!(
            list.verdict("BOSS", "partner.example"),
            Some(BlockedBy::Address)
        );
        assert_eq!(list.len(), 2);
    }

    #[test]
    fn a_rule_never_matches_a_mere_suffix_or_an_empty_domain() {
        let list = Blocklist::of_domains(&["@Example.COM.".to_owned(), " ".to_owned()]);
        assert_eq!(list.len(), 1);
        assert!(list.blocks("a", "example.com"));
        assert!(list.blocks("a", "deep.mail.example.com"));
        assert!(!list.blocks("a", "badexample.com"));
        assert!(!list.blocks("a", "com"));
        assert!(!list.blocks("a", ""));
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
