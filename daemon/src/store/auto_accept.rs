//! Auto-accept per list: new suggestions whose sender is authenticated and whose every shown
//! field is at least as sure as the list's threshold are accepted as they arrive (`on`), or only
//! marked as what would have been accepted (`dry_run`) so the list's owner can see the effect
//! before turning it on. Off by default.
//!
//! Field confidences are calibrated (`parser/src/calibration.rs`: a value of confidence 0.97 is
//! right 97 times in 100), so the chance that an accepted contact has at least one wrong field is
//! one minus the product of its fields' confidences. The expected error rate at a threshold is
//! the mean of that chance over the list's recent authenticated suggestions that the threshold
//! lets through: what auto-accept at that threshold would have got wrong on this list's own mail.

use super::suggestion::SuggestionFields;
use super::{Error, ListId, Result, Store, SuggestionId, col};
use crate::domain::{AuthResult, SenderAuth, text_enum};

text_enum! {
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
    #[serde(rename_all = "snake_case")]
    pub enum AutoAcceptMode("auto-accept mode") {
        Off => "off",
        DryRun => "dry_run",
        On => "on",
    }
}

/// The lowest threshold a list may set: below it most accepted contacts would need fixing.
pub const MIN_THRESHOLD: f64 = 0.5;
/// The threshold of a list that never chose one.
pub const DEFAULT_THRESHOLD: f64 = 0.95;
/// Recent suggestions the expected error rate is computed over.
const ESTIMATE_WINDOW: i64 = 500;
/// Dry-run marks reported, newest first.
const REPORT_LIMIT: i64 = 100;

/// A list's auto-accept setting.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct AutoAccept {
    pub mode: AutoAcceptMode,
    /// Every shown field's confidence must be at least this (0.5 to 1).
    pub threshold: f64,
}

impl Default for AutoAccept {
    fn default() -> Self {
        AutoAccept {
            mode: AutoAcceptMode::Off,
            threshold: DEFAULT_THRESHOLD,
        }
    }
}

impl AutoAccept {
    /// Whether a new suggestion passes: an authenticated sender and at least one field, each at
    /// or above the threshold (whatever the mode).
    pub fn passes(&self, auth: SenderAuth, fields: &SuggestionFields) -> bool {
        auth.is_authenticated() && lowest_confidence(fields).is_some_and(|c| c >= self.threshold)
    }

    /// What a new suggestion gets in this mode: `None` when auto-accept leaves it alone.
    pub(crate) fn mark(&self, auth: SenderAuth, fields: &SuggestionFields) -> Option<AutoMark> {
        match self.mode {
            AutoAcceptMode::Off => None,
            _ if !self.passes(auth, fields) => None,
            AutoAcceptMode::DryRun => Some(AutoMark::WouldAccept),
            AutoAcceptMode::On => Some(AutoMark::Accepted),
        }
    }
}

/// What auto-accept did to a new suggestion (`suggestions.auto_accept`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum AutoMark {
    Accepted,
    WouldAccept,
}

impl AutoMark {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            AutoMark::Accepted => "accepted",
            AutoMark::WouldAccept => "would_accept",
        }
    }
}

/// The confidences of every shown field.
fn confidences(fields: &SuggestionFields) -> impl Iterator<Item = f64> + '_ {
    let scalars = [
        &fields.name,
        &fields.title,
        &fields.company,
        &fields.address,
    ]
    .into_iter()
    .flatten()
    .map(|f| f.confidence);
    let lists = fields
        .emails
        .iter()
        .chain(&fields.websites)
        .chain(&fields.social)
        .map(|f| f.confidence);
    scalars
        .chain(lists)
        .chain(fields.phones.iter().map(|p| p.confidence))
        .map(f64::from)
}

/// The least sure shown field; `None` without any.
pub fn lowest_confidence(fields: &SuggestionFields) -> Option<f64> {
    confidences(fields).reduce(f64::min)
}

/// The chance that at least one shown field is wrong (the confidences are calibrated).
pub fn error_chance(fields: &SuggestionFields) -> f64 {
    1.0 - confidences(fields).product::<f64>()
}

/// One suggestion the dry run marked.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct WouldAccept {
    pub suggestion: SuggestionId,
    pub sender_email: String,
    pub name: Option<String>,
    /// Its least sure field.
    pub lowest_confidence: f64,
    pub created_at: i64,
}

/// A list's auto-accept setting with what it did and what it is expected to get wrong.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct AutoAcceptReport {
    pub mode: AutoAcceptMode,
    pub threshold: f64,
    /// Expected share of contacts accepted at this threshold with at least one wrong field;
    /// `None` while no recent authenticated suggestion of the list passes it.
    pub expected_error_rate: Option<f64>,
    /// Recent authenticated suggestions of the list that pass the threshold (the estimate's base).
    pub passing: u64,
    /// Recent authenticated suggestions of the list (the window of the estimate).
    pub authenticated: u64,
    /// Suggestions auto-accept accepted so far.
    pub accepted: u64,
    /// What the dry run would have accepted, newest first (at most 100).
    pub would_accept: Vec<WouldAccept>,
}

impl Store {
    pub async fn auto_accept(&self, list: ListId) -> Result<AutoAccept> {
        let row = sqlx::query(
            "SELECT auto_accept, auto_accept_threshold FROM contact_lists \
             WHERE id = $1 AND deleted_at IS NULL",
        )
        .bind(list.0)
        .fetch_optional(self.reader())
        .await
        .map_err(Error::db("read auto-accept setting", "list"))?
        .ok_or(Error::NotFound { what: "list" })?;
        Ok(AutoAccept {
            mode: super::parse_col(&row, "auto_accept", "auto-accept mode")?,
            threshold: col(&row, "auto_accept_threshold")?,
        })
    }

    /// Sets the list's auto-accept mode and threshold (from 0.5 to 1).
    pub async fn set_auto_accept(&self, list: ListId, setting: AutoAccept) -> Result<()> {
        if !(MIN_THRESHOLD..=1.0).contains(&setting.threshold) {
            return Err(Error::Invalid {
                what: "threshold",
                reason: format!("must be from {MIN_THRESHOLD} to 1"),
            });
        }
        let done = sqlx::query(
            "UPDATE contact_lists SET auto_accept = $1, auto_accept_threshold = $2 \
             WHERE id = $3 AND deleted_at IS NULL",
        )
        .bind(setting.mode.as_str())
        .bind(setting.threshold)
        .bind(list.0)
        .execute(self.writer())
        .await
        .map_err(Error::db("set auto-accept setting", "list"))?;
        if done.rows_affected() == 0 {
            return Err(Error::NotFound { what: "list" });
        }
        Ok(())
    }

    /// The setting, the expected error rate at its threshold, and what it did (see the module
    /// docs). `threshold` overrides the list's own for the estimate (to try one before setting it).
    pub async fn auto_accept_report(
        &self,
        list: ListId,
        threshold: Option<f64>,
    ) -> Result<AutoAcceptReport> {
        let setting = self.auto_accept(list).await?;
        let threshold = threshold.unwrap_or(setting.threshold);
        let trial = AutoAccept {
            mode: setting.mode,
            threshold,
        };
        let recent = sqlx::query(
            "SELECT fields FROM suggestions WHERE list_id = $1 AND deleted_at IS NULL \
             AND auth_result = $2 ORDER BY id DESC LIMIT $3",
        )
        .bind(list.0)
        .bind(AuthResult::Authenticated.as_str())
        .bind(ESTIMATE_WINDOW)
        .fetch_all(self.reader())
        .await
        .map_err(Error::db("read suggestions for the estimate", "suggestion"))?;
        let authenticated =
            SenderAuth::new(AuthResult::Authenticated, crate::domain::AuthMethod::Dmarc);
        let mut passing = 0u32;
        let mut chances = 0.0;
        for row in &recent {
            let fields: SuggestionFields = super::json_col(row, "fields", "suggestion fields")?;
            if trial.passes(authenticated, &fields) {
                passing += 1;
                chances += error_chance(&fields);
            }
        }
        let accepted = sqlx::query(
            "SELECT COUNT(*) AS n FROM suggestions WHERE list_id = $1 AND auto_accept = 'accepted' \
             AND deleted_at IS NULL",
        )
        .bind(list.0)
        .fetch_one(self.reader())
        .await
        .map_err(Error::db("count auto-accepted suggestions", "suggestion"))?;
        let marked = sqlx::query(
            "SELECT id, sender_email, fields, created_at FROM suggestions WHERE list_id = $1 \
             AND auto_accept = 'would_accept' AND deleted_at IS NULL ORDER BY id DESC LIMIT $2",
        )
        .bind(list.0)
        .bind(REPORT_LIMIT)
        .fetch_all(self.reader())
        .await
        .map_err(Error::db("read the dry run", "suggestion"))?;
        let would_accept = marked
            .iter()
            .map(|row| {
                let fields: SuggestionFields = super::json_col(row, "fields", "suggestion fields")?;
                Ok(WouldAccept {
                    suggestion: SuggestionId(col(row, "id")?),
                    sender_email: col(row, "sender_email")?,
                    lowest_confidence: lowest_confidence(&fields).unwrap_or(0.0),
                    name: fields.name.map(|f| f.value),
                    created_at: col(row, "created_at")?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        // `passing` is at most ESTIMATE_WINDOW: exact as a float.
        let expected_error_rate = (passing > 0).then(|| chances / f64::from(passing));
        Ok(AutoAcceptReport {
            mode: setting.mode,
            threshold,
            expected_error_rate,
            passing: u64::from(passing),
            authenticated: u64::try_from(recent.len()).unwrap_or(u64::MAX),
            accepted: u64::try_from(col::<i64>(&accepted, "n")?).unwrap_or(0),
            would_accept,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AuthMethod;
    use crate::store::{StoredField, StoredPhone};

    fn field(confidence: f32) -> StoredField {
        StoredField {
            value: "x".into(),
            confidence,
            rule: "test".into(),
        }
    }

    #[test]
    fn every_shown_field_and_the_sender_decide() {
        let pass = SenderAuth::new(AuthResult::Authenticated, AuthMethod::Dmarc);
        let fail = SenderAuth::new(AuthResult::NotAuthenticated, AuthMethod::Dmarc);
        let mut fields = SuggestionFields {
            name: Some(field(0.99)),
            company: Some(field(0.98)),
            ..SuggestionFields::default()
        };
        let on = AutoAccept {
            mode: AutoAcceptMode::On,
            threshold: 0.95,
        };
        assert_eq!(on.mark(pass, &fields), Some(AutoMark::Accepted));
        assert_eq!(on.mark(fail, &fields), None);
        let dry = AutoAccept {
            mode: AutoAcceptMode::DryRun,
            ..on
        };
        assert_eq!(dry.mark(pass, &fields), Some(AutoMark::WouldAccept));
        assert_eq!(AutoAccept::default().mark(pass, &fields), None);
        // One phone below the threshold holds the whole contact back.
        fields.phones.push(StoredPhone {
            kind: "work".into(),
            e164: "+15550100".into(),
            confidence: 0.9,
            rule: "test".into(),
        });
        assert_eq!(on.mark(pass, &fields), None);
        assert!((error_chance(&fields) - (1.0 - 0.99 * 0.98 * 0.9)).abs() < 1e-6);
        assert_eq!(on.mark(pass, &SuggestionFields::default()), None);
    }
}
