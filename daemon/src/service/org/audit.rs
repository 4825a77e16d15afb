//! The audit log as an org admin (or the operator) reads it: filtered by actor, action, object
//! and time range, newest first, in pages; and exported as CSV with the same filters (the export
//! itself is audited). Entries are purged after `[retention] audit_days` by the retention task.
//!
//! The filters arrive as text (a page's query, the API's query, the CLI's flags) and are read
//! here once, into the store's [`AuditFilter`], so the three ways in accept and refuse the same
//! input with the same field errors.

use time::format_description::well_known::Rfc3339;
use time::{Date, OffsetDateTime, Time};

use crate::domain::{AuditAction, AuditObject};
use crate::store::{AuditActorFilter, AuditEntry, AuditFilter, Store, UserId};

use super::super::validate::{Checker, FieldCode};
use super::super::{ServiceResult, audit};
use super::AdminActor;

/// Entries per page unless asked otherwise.
pub const PAGE_SIZE: u32 = 50;
/// Most entries one page returns.
pub const MAX_PAGE: u32 = 500;
/// Most entries one export holds (the newest; narrow the filters for older ones).
pub const MAX_EXPORT: u32 = 100_000;
/// What the actor filter says for entries that name no user.
pub const NO_USER: &str = "operator";

/// The filters as typed; every one optional.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct AuditQuery {
    /// A user's e-mail or id, or `operator` (the command line and the daemon itself).
    #[serde(default)]
    pub actor: Option<String>,
    /// An action, e.g. `blocklist.add`.
    #[serde(default)]
    pub action: Option<String>,
    /// The kind of object, e.g. `user`, `blocklist`.
    #[serde(default)]
    pub object: Option<String>,
    /// The object's id.
    #[serde(default)]
    pub object_id: Option<String>,
    /// From this day (`2026-12-01`, UTC) or instant (RFC 3339) on.
    #[serde(default)]
    pub from: Option<String>,
    /// Up to this day (inclusive) or before this instant.
    #[serde(default)]
    pub to: Option<String>,
    /// The page cursor: entries older than this entry id.
    #[serde(default)]
    pub before: Option<String>,
    /// Entries per page (1 to 500).
    #[serde(default)]
    pub limit: Option<String>,
}

/// One entry, with the actor's address when the account still exists.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AuditRecord {
    pub id: i64,
    pub at: i64,
    /// `None` for the operator's command line and the daemon itself.
    pub actor: Option<UserId>,
    pub actor_email: Option<String>,
    pub action: &'static str,
    pub object_kind: &'static str,
    pub object_id: Option<i64>,
    pub detail: Option<String>,
}

/// One page of entries and the cursor of the next (older) one.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct AuditPage {
    pub entries: Vec<AuditRecord>,
    /// Pass as `before` for the next page; `None` on the last page.
    pub next_before: Option<i64>,
}

fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// Reads `query` into a filter and a page size; field errors for what cannot be read.
pub async fn filter_of(store: &Store, query: &AuditQuery) -> ServiceResult<(AuditFilter, u32)> {
    let mut c = Checker::new();
    let mut filter = AuditFilter::default();
    if let Some(actor) = given(&query.actor) {
        filter.actor = if actor.eq_ignore_ascii_case(NO_USER) {
            Some(AuditActorFilter::NoUser)
        } else if let Ok(id) = actor.parse::<i64>() {
            Some(AuditActorFilter::User(UserId(id)))
        } else {
            match store.user_by_email(&actor.to_lowercase()).await {
                Ok(user) => Some(AuditActorFilter::User(user.id)),
                Err(e) if e.is_not_found() => {
                    c.push(
                        "actor",
                        FieldCode::Choice,
                        "is not a user's e-mail or id, nor \"operator\"",
                    );
                    None
                }
                Err(e) => return Err(e.into()),
            }
        };
    }
    if let Some(action) = given(&query.action) {
        filter.action = AuditAction::from_stored(action);
        if filter.action.is_none() {
            c.push(
                "action",
                FieldCode::Choice,
                "is not an action of the audit log",
            );
        }
    }
    if let Some(object) = given(&query.object) {
        filter.object_kind = object.parse().ok();
        if filter.object_kind.is_none() {
            let kinds: Vec<&str> = AuditObject::ALL.iter().map(|k| k.as_str()).collect();
            c.push(
                "object",
                FieldCode::Choice,
                format!("is not one of {}", kinds.join(", ")),
            );
        }
    }
    filter.object_id = number(&mut c, "object_id", given(&query.object_id), 1, i64::MAX);
    filter.before_id = number(&mut c, "before", given(&query.before), 1, i64::MAX);
    filter.from = instant(&mut c, "from", given(&query.from), false);
    filter.to = instant(&mut c, "to", given(&query.to), true);
    if let (Some(from), Some(to)) = (filter.from, filter.to)
        && from >= to
    {
        c.push("to", FieldCode::Text, "is not after \"from\"");
    }
    let limit = number(&mut c, "limit", given(&query.limit), 1, i64::from(MAX_PAGE))
        .map_or(PAGE_SIZE, |n| u32::try_from(n).unwrap_or(PAGE_SIZE));
    c.finish()?;
    Ok((filter, limit))
}

fn number(c: &mut Checker, field: &str, value: Option<&str>, min: i64, max: i64) -> Option<i64> {
    let value = value?;
    match value.parse::<i64>() {
        Ok(n) if (min..=max).contains(&n) => Some(n),
        _ => {
            c.push(
                field,
                FieldCode::Number,
                format!("is not a whole number from {min} to {max}"),
            );
            None
        }
    }
}

/// A day (`2026-12-01`, midnight UTC; with `end`, the midnight after it, so the day is
/// included) or an RFC 3339 instant, as epoch ms.
fn instant(c: &mut Checker, field: &str, value: Option<&str>, end: bool) -> Option<i64> {
    let value = value?;
    let day = match value.split('-').collect::<Vec<_>>()[..] {
        [y, m, d] if y.len() == 4 && m.len() == 2 && d.len() == 2 => {
            match (y.parse(), m.parse::<u8>(), d.parse()) {
                (Ok(y), Ok(m), Ok(d)) => time::Month::try_from(m)
                    .ok()
                    .and_then(|m| Date::from_calendar_date(y, m, d).ok()),
                _ => None,
            }
        }
        _ => None,
    };
    let at = if let Some(day) = day {
        let day = if end { day.next_day() } else { Some(day) };
        day.map(|d| d.with_time(Time::MIDNIGHT).assume_utc())
    } else {
        OffsetDateTime::parse(value, &Rfc3339).ok()
    };
    match at {
        Some(at) => Some(i64::try_from(at.unix_timestamp_nanos() / 1_000_000).unwrap_or(i64::MAX)),
        None => {
            c.push(
                field,
                FieldCode::Text,
                "is not a day (2026-12-01) or a time (2026-12-01T09:30:00Z)",
            );
            None
        }
    }
}

async fn records(store: &Store, entries: Vec<AuditEntry>) -> ServiceResult<Vec<AuditRecord>> {
    let members = if entries.iter().any(|e| e.actor.is_some()) {
        store.org_members().await?
    } else {
        Vec::new()
    };
    Ok(entries
        .into_iter()
        .map(|e| AuditRecord {
            id: e.id,
            at: e.at,
            actor_email: e
                .actor
                .and_then(|a| members.iter().find(|m| m.id == a).map(|m| m.email.clone())),
            actor: e.actor,
            action: e.action.as_str(),
            object_kind: e.object_kind.as_str(),
            object_id: e.object_id,
            detail: e.detail,
        })
        .collect())
}

/// One page of the entries `query` asks for, newest first.
pub async fn page(
    store: &Store,
    _admin: AdminActor,
    query: &AuditQuery,
) -> ServiceResult<AuditPage> {
    let (filter, limit) = filter_of(store, query).await?;
    // One more than asked tells whether an older page exists.
    let mut entries = store.audit_entries(&filter, limit + 1).await?;
    let more = entries.len() > limit as usize;
    entries.truncate(limit as usize);
    let next_before = if more {
        entries.last().map(|e| e.id)
    } else {
        None
    };
    Ok(AuditPage {
        entries: records(store, entries).await?,
        next_before,
    })
}

/// Every entry `query` asks for (paging ignored; at most [`MAX_EXPORT`], newest first) as CSV:
/// id, time (UTC, RFC 3339), actor id, actor e-mail (or `operator`), action, object kind,
/// object id, detail. Audited as an export, with the filters as its detail.
pub async fn export_csv(
    store: &Store,
    admin: AdminActor,
    query: &AuditQuery,
) -> ServiceResult<String> {
    let (mut filter, _) = filter_of(store, query).await?;
    filter.before_id = None;
    let entries = records(store, store.audit_entries(&filter, MAX_EXPORT).await?).await?;
    let mut out = String::new();
    let header = [
        "id",
        "at",
        "actor_id",
        "actor",
        "action",
        "object_kind",
        "object_id",
        "detail",
    ]
    .map(str::to_owned);
    super::super::export::csv_row(&mut out, &header);
    for e in &entries {
        let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(e.at) * 1_000_000)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_default();
        let row = [
            e.id.to_string(),
            at,
            e.actor.map(|a| a.0.to_string()).unwrap_or_default(),
            match (&e.actor, &e.actor_email) {
                (None, _) => NO_USER.to_owned(),
                (Some(_), Some(email)) => email.clone(),
                (Some(id), None) => format!("deleted user {}", id.0),
            },
            e.action.to_owned(),
            e.object_kind.to_owned(),
            e.object_id.map(|i| i.to_string()).unwrap_or_default(),
            e.detail.clone().unwrap_or_default(),
        ];
        super::super::export::csv_row(&mut out, &row);
    }
    audit(
        store,
        admin.actor(),
        AuditAction::AuditExport,
        AuditObject::Audit,
        None,
        Some(&format!("{} entries", entries.len())),
    )
    .await?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_instants_are_read_in_utc() {
        let mut c = Checker::new();
        assert_eq!(
            instant(&mut c, "from", Some("2026-12-01"), false),
            Some(1_796_083_200_000)
        );
        assert_eq!(
            instant(&mut c, "to", Some("2026-12-01"), true),
            Some(1_796_083_200_000 + 86_400_000)
        );
        assert_eq!(
            instant(&mut c, "from", Some("2026-12-01T01:00:00+01:00"), false),
            Some(1_796_083_200_000)
        );
        assert!(c.finish().is_ok());
        let mut c = Checker::new();
        assert_eq!(instant(&mut c, "from", Some("yesterday"), false), None);
        assert!(c.finish().is_err());
    }
}
