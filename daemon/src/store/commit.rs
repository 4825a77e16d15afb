//! `commit_message`: the exactly-once step of the pipeline.
//!
//! In ONE transaction: the processed-message guard, the merge of the suggestion into the
//! mailbox's target list (with field history and the message's provenance row,
//! `store::provenance`), the mailbox counters, the folder cursor and
//! the list owner's digest notification. Either all of it happens or none of it.
//!
//! What a message may change depends on whether its sender is authenticated
//! ([`SenderAuth`], decided by `sender_auth` before the commit):
//!
//! - **Not authenticated** (or unknown): it may create a new suggestion, shown as "unverified
//!   sender". It merges only by its own address, and only into a suggestion that is not accepted
//!   and that no authenticated message of its own address backs. It is never matched by name and
//!   company. Anything else is skipped as [`SkipReason::UnverifiedSender`] and changes nothing.
//!   vCard values are dropped.
//! - **Authenticated**: it merges into a suggestion under review as before (by address, else by
//!   name and company, never into an accepted contact by name and company: another address proves
//!   nothing about that contact). When it differs from the **accepted** contact of its own address,
//!   the contact is not changed:
//!   a change suggestion with the field-level difference (old values kept) waits for the list's
//!   editors (`store::changes`), and the list's change alert goes into the digest.
//!
//! A new suggestion of an authenticated sender may be accepted as it arrives, when its list has
//! auto-accept on and every shown field passes the list's threshold (`store::auto_accept`; in a
//! dry run it is only marked). So may a suggestion still under review (`new`) that a merged
//! message makes qualify, when its own address is authenticated.

use sqlx::AnyConnection;

use super::auto_accept::AutoMark;
use super::cursors::advance_cursor;
use super::outbox::enqueue_digest;
use super::provenance::{SightingOutcome, record_sighting};
use super::suggestion::{FieldChange, FieldDiff};
use super::{
    Backend, Cursor, Error, ListId, MailboxId, NewSuggestion, Result, Store, SuggestionFields,
    SuggestionId, UserId, col, to_json,
};
use crate::domain::{AuthResult, SkipReason};

/// One processed message, as the pipeline commits it.
#[derive(Clone, Debug)]
pub struct CommitMessage {
    pub mailbox: MailboxId,
    pub folder: String,
    /// Where the source is after this message.
    pub cursor: Cursor,
    /// Hash of the Message-ID (or of the raw bytes when there is none); never the id itself.
    pub message_id_hash: String,
    pub outcome: Outcome,
    /// The caller's lease fencing token; `None` when leases are not used.
    pub fencing: Option<i64>,
}

/// What processing the message produced.
#[derive(Clone, Debug)]
// One value per message, moved once into the commit: the size difference does not matter
// and an unboxed variant is simpler for callers.
#[allow(clippy::large_enum_variant)]
pub enum Outcome {
    Suggestion(NewSuggestion),
    /// Skipped for this reason (counted as `skipped:<reason>`).
    Skipped(SkipReason),
}

/// What [`Store::commit_message`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CommitResult {
    /// A new suggestion was created.
    Inserted { suggestion: SuggestionId },
    /// An existing suggestion (same e-mail, or same name and company) was updated.
    Merged {
        suggestion: SuggestionId,
        changed_fields: Vec<String>,
    },
    /// An existing suggestion already held everything this message offered.
    Unchanged { suggestion: SuggestionId },
    /// An authenticated message differed from an accepted contact: the contact is unchanged and
    /// a change suggestion (`change`) with these fields waits for review.
    ChangeProposed {
        suggestion: SuggestionId,
        change: i64,
        changed_fields: Vec<String>,
    },
    /// The skip was recorded, for this reason: the pipeline's, or
    /// [`SkipReason::TargetListDeleted`] when the store found the target list gone.
    Skipped(SkipReason),
    /// This message was committed before; only the cursor moved.
    Duplicate,
}

impl CommitResult {
    /// The suggestion this message stands behind and what it did to it (its provenance row,
    /// `store::provenance`); `None` for skips and duplicates.
    fn sighting(&self) -> Option<(SuggestionId, SightingOutcome)> {
        match self {
            CommitResult::Inserted { suggestion } => Some((*suggestion, SightingOutcome::Created)),
            CommitResult::Merged { suggestion, .. } => Some((*suggestion, SightingOutcome::Merged)),
            CommitResult::Unchanged { suggestion } => {
                Some((*suggestion, SightingOutcome::Unchanged))
            }
            CommitResult::ChangeProposed { suggestion, .. } => {
                Some((*suggestion, SightingOutcome::ChangeProposed))
            }
            CommitResult::Skipped(_) | CommitResult::Duplicate => None,
        }
    }
}

/// Counter names (see also `skipped:<reason>`).
pub const COUNTER_PROCESSED: &str = "processed";
pub const COUNTER_SUGGESTED: &str = "suggested";
pub const COUNTER_MERGED: &str = "merged";
pub const COUNTER_DUPLICATE: &str = "skipped:duplicate";
pub const COUNTER_CHANGE_PROPOSED: &str = "change_proposed";

impl Store {
    /// Commits the outcome of one message exactly once (see the module docs). A message
    /// already committed for this mailbox returns [`CommitResult::Duplicate`] and changes
    /// nothing but the cursor.
    pub async fn commit_message(&self, msg: CommitMessage) -> Result<CommitResult> {
        check_commit(&msg)?;
        let now = self.now_ms();
        let mut tx = self.begin_write().await?;
        let result = self.commit_in(&mut tx, &msg, now).await?;
        tx.commit()
            .await
            .map_err(Error::db("commit message", "message"))?;
        Ok(result)
    }

    /// Commits several messages in ONE transaction (group commit): each exactly as
    /// [`Store::commit_message`] would, in the given order, so a later message of a folder sees
    /// what an earlier one wrote. All or nothing: on any error nothing is committed and the
    /// caller commits them one by one to learn which one failed.
    pub async fn commit_messages(&self, messages: &[CommitMessage]) -> Result<Vec<CommitResult>> {
        for msg in messages {
            check_commit(msg)?;
        }
        let now = self.now_ms();
        let mut tx = self.begin_write().await?;
        let mut results = Vec::with_capacity(messages.len());
        for msg in messages {
            results.push(self.commit_in(&mut tx, msg, now).await?);
        }
        tx.commit()
            .await
            .map_err(Error::db("commit messages", "message"))?;
        Ok(results)
    }

    /// The body of a commit, inside the caller's transaction.
    async fn commit_in(
        &self,
        tx: &mut AnyConnection,
        msg: &CommitMessage,
        now: i64,
    ) -> Result<CommitResult> {
        let merges = matches!(msg.outcome, Outcome::Suggestion(_));
        let target = self
            .lock_mailbox(&mut *tx, msg.mailbox, msg.fencing, merges)
            .await?;

        let inserted = sqlx::query(
            "INSERT INTO processed_messages (mailbox_id, message_id_hash, processed_at) VALUES ($1, $2, $3) \
             ON CONFLICT (mailbox_id, message_id_hash) DO NOTHING",
        )
        .bind(msg.mailbox.0)
        .bind(&msg.message_id_hash)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(Error::db("mark message processed", "processed message"))?;

        let result = if inserted.rows_affected() == 0 {
            bump_counters(&mut *tx, msg.mailbox, &[COUNTER_DUPLICATE], now).await?;
            CommitResult::Duplicate
        } else {
            match &msg.outcome {
                Outcome::Skipped(reason) => {
                    let name = format!("skipped:{reason}");
                    bump_counters(&mut *tx, msg.mailbox, &[COUNTER_PROCESSED, &name], now).await?;
                    CommitResult::Skipped(*reason)
                }
                Outcome::Suggestion(_) if target.list_deleted => {
                    let reason = SkipReason::TargetListDeleted;
                    let name = format!("skipped:{reason}");
                    bump_counters(&mut *tx, msg.mailbox, &[COUNTER_PROCESSED, &name], now).await?;
                    CommitResult::Skipped(reason)
                }
                Outcome::Suggestion(_) if !target.owner_may_edit => {
                    let reason = SkipReason::TargetListNotEditable;
                    let name = format!("skipped:{reason}");
                    bump_counters(&mut *tx, msg.mailbox, &[COUNTER_PROCESSED, &name], now).await?;
                    CommitResult::Skipped(reason)
                }
                Outcome::Suggestion(new) => {
                    let result = merge_suggestion(
                        &mut *tx,
                        &target,
                        msg.mailbox,
                        &msg.message_id_hash,
                        new,
                        now,
                    )
                    .await?;
                    if let Some((suggestion, outcome)) = result.sighting() {
                        record_sighting(&mut *tx, suggestion, msg.mailbox, outcome, new.auth, now)
                            .await?;
                    }
                    match &result {
                        CommitResult::Skipped(reason) => {
                            let name = format!("skipped:{reason}");
                            bump_counters(&mut *tx, msg.mailbox, &[COUNTER_PROCESSED, &name], now)
                                .await?;
                        }
                        CommitResult::ChangeProposed { suggestion, .. } => {
                            let names = [COUNTER_PROCESSED, COUNTER_CHANGE_PROPOSED];
                            bump_counters(&mut *tx, msg.mailbox, &names, now).await?;
                            enqueue_digest(
                                self,
                                &mut *tx,
                                target.list_owner,
                                target.list,
                                *suggestion,
                                now,
                            )
                            .await?;
                        }
                        CommitResult::Inserted { suggestion } => {
                            bump_counters(
                                &mut *tx,
                                msg.mailbox,
                                &[COUNTER_PROCESSED, COUNTER_SUGGESTED],
                                now,
                            )
                            .await?;
                            enqueue_digest(
                                self,
                                &mut *tx,
                                target.list_owner,
                                target.list,
                                *suggestion,
                                now,
                            )
                            .await?;
                        }
                        CommitResult::Merged { suggestion, .. } => {
                            let names = [COUNTER_PROCESSED, COUNTER_SUGGESTED, COUNTER_MERGED];
                            bump_counters(&mut *tx, msg.mailbox, &names, now).await?;
                            enqueue_digest(
                                self,
                                &mut *tx,
                                target.list_owner,
                                target.list,
                                *suggestion,
                                now,
                            )
                            .await?;
                        }
                        _ => {
                            bump_counters(
                                &mut *tx,
                                msg.mailbox,
                                &[COUNTER_PROCESSED, COUNTER_SUGGESTED],
                                now,
                            )
                            .await?;
                        }
                    }
                    result
                }
            }
        };
        advance_cursor(tx, msg.mailbox, &msg.folder, &msg.cursor, now).await?;
        Ok(result)
    }

    /// True when the message was already committed for this mailbox (a cheap pre-check
    /// before fetching; `commit_message` is still the authority).
    pub async fn is_processed(&self, mailbox: MailboxId, message_id_hash: &str) -> Result<bool> {
        let row = sqlx::query("SELECT 1 AS one FROM processed_messages WHERE mailbox_id = $1 AND message_id_hash = $2")
            .bind(mailbox.0)
            .bind(message_id_hash)
            .fetch_optional(self.reader())
            .await
            .map_err(Error::db("check processed message", "processed message"))?;
        Ok(row.is_some())
    }

    /// Reads the mailbox's target list (and its owner), whether the mailbox's owner may still
    /// edit that list (its owner, or a member with the editor or owner role, read in this
    /// transaction: an unshare or a downgrade stops deliveries at the next commit), and checks
    /// the fencing token. On
    /// PostgreSQL the mailbox row is share-locked, so a lease cannot change hands before
    /// this transaction ends; when the message may merge into the list (`lock_list`), the
    /// list row is locked too, so concurrent merges into one list are serialised (always
    /// list first, so two commits cannot wait on each other). SQLite transactions are
    /// already serialised by `BEGIN IMMEDIATE`.
    async fn lock_mailbox(
        &self,
        conn: &mut AnyConnection,
        mailbox: MailboxId,
        fencing: Option<i64>,
        lock_list: bool,
    ) -> Result<Target> {
        let sql = match (self.backend, lock_list) {
            (Backend::Postgres, true) => {
                "SELECT m.target_list_id, m.lease_fencing, m.owner_id AS mailbox_owner, l.owner_id, \
                 l.deleted_at, l.auto_accept, l.auto_accept_threshold, lm.role AS member_role FROM mailboxes m \
                 JOIN contact_lists l ON l.id = m.target_list_id \
                 LEFT JOIN list_members lm ON lm.list_id = m.target_list_id AND lm.user_id = m.owner_id \
                 WHERE m.id = $1 AND m.deleted_at IS NULL FOR SHARE OF m FOR NO KEY UPDATE OF l"
            }
            (Backend::Postgres, false) => {
                "SELECT m.target_list_id, m.lease_fencing, m.owner_id AS mailbox_owner, l.owner_id, \
                 l.deleted_at, l.auto_accept, l.auto_accept_threshold, lm.role AS member_role FROM mailboxes m \
                 JOIN contact_lists l ON l.id = m.target_list_id \
                 LEFT JOIN list_members lm ON lm.list_id = m.target_list_id AND lm.user_id = m.owner_id \
                 WHERE m.id = $1 AND m.deleted_at IS NULL FOR SHARE OF m"
            }
            (Backend::Sqlite, _) => {
                "SELECT m.target_list_id, m.lease_fencing, m.owner_id AS mailbox_owner, l.owner_id, \
                 l.deleted_at, l.auto_accept, l.auto_accept_threshold, lm.role AS member_role FROM mailboxes m \
                 JOIN contact_lists l ON l.id = m.target_list_id \
                 LEFT JOIN list_members lm ON lm.list_id = m.target_list_id AND lm.user_id = m.owner_id \
                 WHERE m.id = $1 AND m.deleted_at IS NULL"
            }
        };
        let row = sqlx::query(sql)
            .bind(mailbox.0)
            .fetch_optional(&mut *conn)
            .await
            .map_err(Error::db("read mailbox for commit", "mailbox"))?
            .ok_or(Error::NotFound { what: "mailbox" })?;
        let current: i64 = col(&row, "lease_fencing")?;
        if let Some(fencing) = fencing.filter(|f| *f != current) {
            return Err(Error::Fenced {
                mailbox: mailbox.0,
                fencing,
            });
        }
        let list_owner = UserId(col(&row, "owner_id")?);
        let mailbox_owner = UserId(col(&row, "mailbox_owner")?);
        let member_role = col::<Option<String>>(&row, "member_role")?
            .and_then(|role| role.parse::<super::Role>().ok());
        Ok(Target {
            auto_accept: super::AutoAccept {
                mode: super::parse_col(&row, "auto_accept", "auto-accept mode")?,
                threshold: col(&row, "auto_accept_threshold")?,
            },
            list: ListId(col(&row, "target_list_id")?),
            list_owner,
            list_deleted: col::<Option<i64>>(&row, "deleted_at")?.is_some(),
            owner_may_edit: mailbox_owner == list_owner
                || member_role.is_some_and(|r| r.can_edit()),
        })
    }
}

struct Target {
    list: ListId,
    list_owner: UserId,
    /// The target list was deleted: suggestions are skipped (and counted) rather than
    /// stored where nobody can see them.
    list_deleted: bool,
    /// The mailbox's owner may (still) edit the target list; otherwise suggestions are
    /// skipped (and counted) instead of merged.
    owner_may_edit: bool,
    /// The list's auto-accept setting, for new suggestions.
    auto_accept: super::AutoAccept,
}

/// Adds `by` to a mailbox counter inside the caller's transaction.
pub(crate) async fn bump_counter(
    conn: &mut AnyConnection,
    mailbox: MailboxId,
    name: &str,
    by: i64,
    now: i64,
) -> Result<()> {
    sqlx::query(
        "INSERT INTO mailbox_counters (mailbox_id, name, value, updated_at) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (mailbox_id, name) DO UPDATE SET value = mailbox_counters.value + excluded.value, \
         updated_at = excluded.updated_at",
    )
    .bind(mailbox.0)
    .bind(name)
    .bind(by)
    .bind(now)
    .execute(&mut *conn)
    .await
    .map_err(Error::db("bump counter", "counter"))?;
    Ok(())
}

/// Adds one to each named counter (at most three distinct names per statement, so a commit
/// costs one round trip for its counters).
/// A commit without a message identity would defeat the exactly-once guard.
fn check_commit(msg: &CommitMessage) -> Result<()> {
    if msg.message_id_hash.is_empty() {
        return Err(Error::Invalid {
            what: "message id hash",
            reason: "empty".into(),
        });
    }
    Ok(())
}

async fn bump_counters(
    conn: &mut AnyConnection,
    mailbox: MailboxId,
    names: &[&str],
    now: i64,
) -> Result<()> {
    let sql = match names.len() {
        0 => return Ok(()),
        1 => {
            "INSERT INTO mailbox_counters (mailbox_id, name, value, updated_at) VALUES ($1, $2, 1, $3) \
             ON CONFLICT (mailbox_id, name) DO UPDATE SET \
             value = mailbox_counters.value + excluded.value, updated_at = excluded.updated_at"
        }
        2 => {
            "INSERT INTO mailbox_counters (mailbox_id, name, value, updated_at) VALUES ($1, $2, 1, $4), ($1, $3, 1, $4) \
             ON CONFLICT (mailbox_id, name) DO UPDATE SET \
             value = mailbox_counters.value + excluded.value, updated_at = excluded.updated_at"
        }
        3 => {
            "INSERT INTO mailbox_counters (mailbox_id, name, value, updated_at) \
             VALUES ($1, $2, 1, $5), ($1, $3, 1, $5), ($1, $4, 1, $5) \
             ON CONFLICT (mailbox_id, name) DO UPDATE SET \
             value = mailbox_counters.value + excluded.value, updated_at = excluded.updated_at"
        }
        _ => {
            for name in names {
                bump_counter(conn, mailbox, name, 1, now).await?;
            }
            return Ok(());
        }
    };
    let mut query = sqlx::query(sql).bind(mailbox.0);
    for name in names {
        query = query.bind(*name);
    }
    query
        .bind(now)
        .execute(&mut *conn)
        .await
        .map_err(Error::db("bump counters", "counter"))?;
    Ok(())
}

/// Finds the suggestion this one merges into and applies the policy of the module docs: merge,
/// propose a change to an accepted contact, refuse, or insert a new suggestion.
async fn merge_suggestion(
    conn: &mut AnyConnection,
    target: &Target,
    mailbox: MailboxId,
    message_id_hash: &str,
    new: &NewSuggestion,
    now: i64,
) -> Result<CommitResult> {
    let sender = new.sender_email.trim().to_lowercase();
    if sender.is_empty() {
        return Err(Error::Invalid {
            what: "sender email",
            reason: "empty".into(),
        });
    }
    let authenticated = new.auth.is_authenticated();
    // vCard values count only from an authenticated sender whose address the card lists.
    let offered =
        if authenticated && (!new.fields.has_vcard_values() || new.fields.vcard_lists(&sender)) {
            new.fields.clone()
        } else {
            new.fields.clone().without_vcard()
        };
    let name_key = offered.name_key();
    let company_key = offered.company_key();
    // Two index lookups rather than one OR query, which the planners may answer with a scan
    // of the whole list.
    let mut existing = sqlx::query(
        "SELECT id, fields, confidence, status, auth_result, auth_method FROM suggestions \
         WHERE list_id = $1 AND sender_email = $2 AND deleted_at IS NULL ORDER BY id LIMIT 1",
    )
    .bind(target.list.0)
    .bind(&sender)
    .fetch_optional(&mut *conn)
    .await
    .map_err(Error::db("find suggestion by email", "suggestion"))?;
    // Name and company are no proof of identity: only an authenticated sender is matched by them,
    // and never into an accepted contact (whose change needs its own authenticated address).
    let by_address = existing.is_some();
    if let (None, true, Some(name_key), Some(company_key)) =
        (&existing, authenticated, &name_key, &company_key)
    {
        existing = sqlx::query(
            "SELECT id, fields, confidence, status, auth_result, auth_method FROM suggestions \
             WHERE list_id = $1 AND name_key = $2 AND company_key = $3 AND deleted_at IS NULL \
             AND status <> 'accepted' ORDER BY id LIMIT 1",
        )
        .bind(target.list.0)
        .bind(name_key.as_str())
        .bind(company_key.as_str())
        .fetch_optional(&mut *conn)
        .await
        .map_err(Error::db(
            "find suggestion by name and company",
            "suggestion",
        ))?;
    }

    let Some(row) = existing else {
        let mark = target.auto_accept.mark(new.auth, &offered);
        let status = match mark {
            Some(AutoMark::Accepted) => "accepted",
            _ => "new",
        };
        let row = sqlx::query(
            "INSERT INTO suggestions (list_id, mailbox_id, sender_email, name_key, company_key, fields, confidence, \
             status, message_id_hash, created_at, updated_at, auth_result, auth_method, auto_accept) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $12, $8, $9, $9, $10, $11, $13) RETURNING id",
        )
        .bind(target.list.0)
        .bind(mailbox.0)
        .bind(&sender)
        .bind(name_key.as_deref())
        .bind(company_key.as_deref())
        .bind(to_json(&offered, "suggestion fields")?)
        .bind(new.confidence)
        .bind(message_id_hash)
        .bind(now)
        .bind(new.auth.result.as_str())
        .bind(new.auth.method.as_str())
        .bind(status)
        .bind(mark.map(AutoMark::as_str))
        .fetch_one(&mut *conn)
        .await
        .map_err(Error::db("insert suggestion", "suggestion"))?;
        return Ok(CommitResult::Inserted {
            suggestion: SuggestionId(col(&row, "id")?),
        });
    };

    let id = SuggestionId(col(&row, "id")?);
    let status: String = col(&row, "status")?;
    let backed_by_authenticated =
        col::<String>(&row, "auth_result")? == AuthResult::Authenticated.as_str();
    let accepted = status == "accepted";
    if !authenticated && (accepted || backed_by_authenticated) {
        return Ok(CommitResult::Skipped(SkipReason::UnverifiedSender));
    }
    let mut fields: SuggestionFields = super::json_col(&row, "fields", "suggestion fields")?;
    let old_confidence: f64 = col(&row, "confidence")?;
    if accepted {
        // Nothing accepted is overwritten: the difference waits for the list's editors.
        let mut proposed = fields.clone();
        let changes = proposed.merge_from(&offered);
        if changes.is_empty() {
            return Ok(CommitResult::Unchanged { suggestion: id });
        }
        let change =
            insert_change_suggestion(conn, target.list, id, &offered, &changes, new.auth, now)
                .await?;
        return Ok(CommitResult::ChangeProposed {
            suggestion: id,
            change,
            changed_fields: changes.iter().map(|c| c.field.to_owned()).collect(),
        });
    }
    let changes = fields.merge_from(&offered);
    // Only the suggestion's own address vouches for it: another authenticated address matched by
    // name and company leaves an unverified suggestion unverified.
    let backing = if backed_by_authenticated {
        super::auth_from_row(&row)?
    } else if authenticated && by_address {
        set_auth(conn, id, new.auth).await?;
        new.auth
    } else {
        crate::domain::SenderAuth::UNCHECKED
    };
    if !changes.is_empty() {
        update_fields(
            conn,
            id,
            &fields,
            old_confidence.max(new.confidence),
            Some(message_id_hash),
            &changes,
            now,
        )
        .await?;
    }
    // A suggestion nobody reviewed yet may now qualify for the list's auto-accept: more or surer
    // fields, or the first authenticated message of its own address.
    if status == "new"
        && let Some(mark) = target.auto_accept.mark(backing, &fields)
    {
        apply_auto_mark(conn, id, mark, now).await?;
    }
    if changes.is_empty() {
        return Ok(CommitResult::Unchanged { suggestion: id });
    }
    Ok(CommitResult::Merged {
        suggestion: id,
        changed_fields: changes.iter().map(|c| c.field.to_owned()).collect(),
    })
}

/// Auto-accept of a suggestion under review that a merged message made qualify: accepted (its
/// status change kept in the history, like a reviewer's), or marked as what a dry run would
/// have accepted.
async fn apply_auto_mark(
    conn: &mut AnyConnection,
    id: SuggestionId,
    mark: AutoMark,
    now: i64,
) -> Result<()> {
    match mark {
        AutoMark::Accepted => {
            sqlx::query(
                "UPDATE suggestions SET status = 'accepted', auto_accept = $1, updated_at = $2                  WHERE id = $3 AND status = 'new'",
            )
            .bind(mark.as_str())
            .bind(now)
            .bind(id.0)
            .execute(&mut *conn)
            .await
            .map_err(Error::db("auto-accept suggestion", "suggestion"))?;
            sqlx::query(
                "INSERT INTO suggestion_history (suggestion_id, field, old_value, new_value, at)                  VALUES ($1, 'status', 'new', 'accepted', $2)",
            )
            .bind(id.0)
            .bind(now)
            .execute(&mut *conn)
            .await
            .map_err(Error::db("record suggestion history", "suggestion history"))?;
        }
        AutoMark::WouldAccept => {
            sqlx::query(
                "UPDATE suggestions SET auto_accept = $1 WHERE id = $2                  AND (auto_accept IS NULL OR auto_accept <> $1)",
            )
            .bind(mark.as_str())
            .bind(id.0)
            .execute(&mut *conn)
            .await
            .map_err(Error::db("mark suggestion for the dry run", "suggestion"))?;
        }
    }
    Ok(())
}

/// Records that an authenticated message now backs the suggestion.
async fn set_auth(
    conn: &mut AnyConnection,
    id: SuggestionId,
    auth: crate::domain::SenderAuth,
) -> Result<()> {
    sqlx::query("UPDATE suggestions SET auth_result = $1, auth_method = $2 WHERE id = $3")
        .bind(auth.result.as_str())
        .bind(auth.method.as_str())
        .bind(id.0)
        .execute(&mut *conn)
        .await
        .map_err(Error::db("record sender authentication", "suggestion"))?;
    Ok(())
}

/// Writes new field values and one history row per changed field.
pub(crate) async fn update_fields(
    conn: &mut AnyConnection,
    id: SuggestionId,
    fields: &SuggestionFields,
    confidence: f64,
    message_id_hash: Option<&str>,
    changes: &[FieldChange],
    now: i64,
) -> Result<()> {
    sqlx::query(
        "UPDATE suggestions SET fields = $1, name_key = $2, company_key = $3, confidence = $4, \
         message_id_hash = COALESCE($5, message_id_hash), updated_at = $6 WHERE id = $7",
    )
    .bind(to_json(fields, "suggestion fields")?)
    .bind(fields.name_key())
    .bind(fields.company_key())
    .bind(confidence)
    .bind(message_id_hash)
    .bind(now)
    .bind(id.0)
    .execute(&mut *conn)
    .await
    .map_err(Error::db("update suggestion", "suggestion"))?;
    for change in changes {
        sqlx::query(
            "INSERT INTO suggestion_history (suggestion_id, field, old_value, new_value, at) VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(id.0)
        .bind(change.field)
        .bind(change.old.as_deref())
        .bind(change.new.as_deref())
        .bind(now)
        .execute(&mut *conn)
        .await
        .map_err(Error::db("record suggestion history", "suggestion history"))?;
    }
    Ok(())
}

/// Keeps a proposed change of an accepted contact (`store::changes`); returns its id.
async fn insert_change_suggestion(
    conn: &mut AnyConnection,
    list: ListId,
    suggestion: SuggestionId,
    proposed: &SuggestionFields,
    changes: &[FieldChange],
    auth: crate::domain::SenderAuth,
    now: i64,
) -> Result<i64> {
    let diff: Vec<FieldDiff> = changes
        .iter()
        .map(|c| FieldDiff {
            field: c.field.to_owned(),
            old: c.old.clone(),
            new: c.new.clone(),
        })
        .collect();
    let row = sqlx::query(
        "INSERT INTO change_suggestions (list_id, suggestion_id, proposed, diff, auth_result, auth_method, \
         status, created_at) VALUES ($1, $2, $3, $4, $5, $6, 'open', $7) RETURNING id",
    )
    .bind(list.0)
    .bind(suggestion.0)
    .bind(to_json(proposed, "proposed fields")?)
    .bind(to_json(&diff, "change diff")?)
    .bind(auth.result.as_str())
    .bind(auth.method.as_str())
    .bind(now)
    .fetch_one(&mut *conn)
    .await
    .map_err(Error::db("insert change suggestion", "change suggestion"))?;
    col(&row, "id")
}
