//! The org-wide sender blocklist as an org admin (or the operator) manages it: list, add a
//! domain or an address, remove one. Every change is audited with the admin as the actor, and is
//! applied to the running pipelines at once:
//! - in this process, by swapping the new list into the pipeline's [`SharedBlocklist`] right
//!   after the change's transaction;
//! - everywhere else (other replicas, a daemon when the CLI made the change), by the list's
//!   version, which the change bumps in the same transaction and which every daemon polls
//!   ([`refresh`], run by the supervisor every [`POLL_INTERVAL`]).
//!
//! The configuration file's `[filters] excluded_domains` is the list's initial value
//! ([`apply_file`]): at the first start the whole file's list is added; later, at a start or a
//! reload, only entries the file gained since it was last applied (an entry removed here stays
//! removed while the file still names it).

use std::time::Duration;

use crate::domain::{AuditAction, AuditObject};
use crate::pipeline::SharedBlocklist;
use crate::store::{BlocklistEntry, BlocklistKind, Store};

use super::super::validate::{Checker, FieldCode};
use super::super::{ServiceError, ServiceResult, audit};
use super::AdminActor;

/// How often a daemon reads the list's version to pick up changes made elsewhere.
pub const POLL_INTERVAL: Duration = Duration::from_secs(2);

/// Most entries the list may hold (the filter checks every domain per message).
pub const MAX_ENTRIES: usize = 10_000;

/// Every entry, domains first, each kind by value.
pub async fn list(store: &Store, _admin: AdminActor) -> ServiceResult<Vec<BlocklistEntry>> {
    Ok(store.blocklist().await?.entries)
}

/// Reads `value` as an entry: `user@example.com` is an address, `example.com` (or
/// `@example.com`) a domain with its subdomains. Lower-cased; a field error names `field`.
pub fn parse_entry(field: &str, value: &str) -> ServiceResult<(BlocklistKind, String)> {
    let mut c = Checker::new();
    let parsed = parse_into(&mut c, field, value);
    c.finish()?;
    parsed.ok_or_else(|| ServiceError::Internal("blocklist entry without an error".to_owned()))
}

fn parse_into(c: &mut Checker, field: &str, value: &str) -> Option<(BlocklistKind, String)> {
    let value = value.trim().to_lowercase();
    if value.is_empty() {
        c.push(field, FieldCode::Required, "is required");
        return None;
    }
    let (kind, domain, local) = match value.rsplit_once('@') {
        Some(("", domain)) => (BlocklistKind::Domain, domain, None),
        Some((local, domain)) => (BlocklistKind::Address, domain, Some(local)),
        None => (BlocklistKind::Domain, value.as_str(), None),
    };
    let domain = domain.trim_start_matches('.').trim_end_matches('.');
    let domain_ok = !domain.is_empty()
        && domain.len() <= 253
        && domain.contains('.')
        && domain.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|ch| ch.is_alphanumeric() || ch == '-' || ch == '_')
        });
    let local_ok = local.is_none_or(|l| {
        l.len() <= 64
            && !l.contains(['@', '<', '>', ',', ';', '"'])
            && !l.contains(char::is_whitespace)
    });
    if !domain_ok || !local_ok {
        c.push(
            field,
            FieldCode::Text,
            "is not a domain (example.com) or an e-mail address (name@example.com)",
        );
        return None;
    }
    let normalised = match local {
        Some(local) => format!("{local}@{domain}"),
        None => domain.to_owned(),
    };
    Some((kind, normalised))
}

/// What an audit entry keeps of an entry: its kind, and a domain's name (an organisation's, not
/// a person's); never an address.
fn audit_detail(entry: &BlocklistEntry) -> String {
    match entry.kind {
        BlocklistKind::Domain => format!("domain {}", entry.value),
        BlocklistKind::Address => "address".to_owned(),
    }
}

/// Adds `value` (a domain or an address) and applies the new list to `live` at once. A value
/// already listed is a `Conflict`.
pub async fn add(
    store: &Store,
    admin: AdminActor,
    live: Option<&SharedBlocklist>,
    value: &str,
) -> ServiceResult<BlocklistEntry> {
    let (kind, value) = parse_entry("value", value)?;
    let entry = match store.add_blocklist_entry(kind, &value, MAX_ENTRIES).await {
        Err(e) if e.is_conflict() => {
            return Err(ServiceError::Conflict {
                what: "blocklist entry",
            });
        }
        Err(crate::store::Error::Invalid { reason, .. }) => {
            return Err(ServiceError::Validation(vec![
                super::super::FieldError::new("value", FieldCode::Number, reason),
            ]));
        }
        other => other?,
    };
    audit(
        store,
        admin.actor(),
        AuditAction::BlocklistAdd,
        AuditObject::Blocklist,
        Some(entry.id),
        Some(&audit_detail(&entry)),
    )
    .await?;
    apply_now(store, live).await;
    Ok(entry)
}

/// Removes the entry `id` and applies the new list to `live` at once.
pub async fn remove(
    store: &Store,
    admin: AdminActor,
    live: Option<&SharedBlocklist>,
    id: i64,
) -> ServiceResult<BlocklistEntry> {
    let entry = store.remove_blocklist_entry(id).await?;
    audit(
        store,
        admin.actor(),
        AuditAction::BlocklistRemove,
        AuditObject::Blocklist,
        Some(entry.id),
        Some(&audit_detail(&entry)),
    )
    .await?;
    apply_now(store, live).await;
    Ok(entry)
}

/// Applies the configuration file's `[filters] excluded_domains` as the list's initial value
/// (see the module docs). Entries added are audited as the daemon's (no actor). A file entry
/// that is not a domain is skipped (the configuration's own check refuses those first).
pub async fn apply_file(
    store: &Store,
    live: Option<&SharedBlocklist>,
    excluded_domains: &[String],
) -> ServiceResult<Vec<BlocklistEntry>> {
    let mut file = Vec::new();
    for (i, value) in excluded_domains.iter().enumerate() {
        let mut c = Checker::new();
        if let Some(entry) = parse_into(&mut c, &format!("excluded_domains[{i}]"), value)
            && !file.contains(&entry)
        {
            file.push(entry);
        }
    }
    let added = store.apply_blocklist_file(&file).await?;
    for entry in &added {
        store
            .record_audit(
                None,
                AuditAction::BlocklistAdd,
                AuditObject::Blocklist,
                Some(entry.id),
                Some(&format!("{} (configuration file)", audit_detail(entry))),
            )
            .await?;
    }
    if let Some(live) = live {
        refresh(store, live).await?;
    }
    Ok(added)
}

/// Puts the store's list in force in `live` when its version moved. Returns whether it did.
pub async fn refresh(store: &Store, live: &SharedBlocklist) -> ServiceResult<bool> {
    if live.version() == Some(store.blocklist_version().await?) {
        return Ok(false);
    }
    Ok(live.replace(&store.blocklist().await?))
}

/// After a change: in force in this process now. A failed read is logged and left to the poll
/// (the change itself is committed and audited).
async fn apply_now(store: &Store, live: Option<&SharedBlocklist>) {
    if let Some(live) = live
        && let Err(error) = refresh(store, live).await
    {
        tracing::warn!(error = %error, "blocklist changed; applying it waits for the next poll");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_read_as_domains_or_addresses() {
        let ok = |v: &str| parse_entry("value", v).ok();
        assert_eq!(
            ok(" Spam.Example "),
            Some((BlocklistKind::Domain, "spam.example".to_owned()))
        );
        assert_eq!(
            ok("@news.example."),
            Some((BlocklistKind::Domain, "news.example".to_owned()))
        );
        assert_eq!(
            ok("Boss@Partner.example"),
            Some((BlocklistKind::Address, "boss@partner.example".to_owned()))
        );
        for bad in [
            "",
            "localhost",
            "a b.example",
            "x@",
            "<a@b.example>",
            "a..b",
            "@",
        ] {
            assert!(ok(bad).is_none(), "{bad:?} accepted");
        }
    }
}
