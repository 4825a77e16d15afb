//! Searching suggestions for review: the filters of the API and the pages (status, mailbox,
//! free text) with keyset paging by id.

use super::suggestions::{Suggestion, SuggestionStatus};
use super::{Error, ListId, MailboxId, Result, Store, SuggestionId};

/// What [`Store::search_suggestions`] returns.
#[derive(Clone, Debug, Default)]
pub struct ReviewFilter {
    pub status: Option<SuggestionStatus>,
    pub mailbox: Option<MailboxId>,
    /// Case-insensitive substring of the sender's address or of any field value.
    pub text: Option<String>,
    /// Only ids greater than this (the last id of the previous page).
    pub after: Option<SuggestionId>,
    /// Page size, capped at 500.
    pub limit: u32,
}

/// Escapes `%`, `_` and `\` for a `LIKE … ESCAPE '\'` pattern.
fn like_pattern(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    out.push('%');
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out.push('%');
    out
}

impl Store {
    /// Suggestions of `list` matching `filter`, by ascending id.
    pub async fn search_suggestions(
        &self,
        list: ListId,
        filter: &ReviewFilter,
    ) -> Result<Vec<Suggestion>> {
        let pattern = filter
            .text
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(like_pattern);
        let rows = sqlx::query(
            "SELECT id, list_id, mailbox_id, sender_email, fields, confidence, status, created_at, updated_at, \
             auth_result, auth_method \
             FROM suggestions WHERE list_id = $1 AND deleted_at IS NULL \
             AND ($2 IS NULL OR status = $2) AND ($3 IS NULL OR mailbox_id = $3) \
             AND ($4 IS NULL OR LOWER(sender_email) LIKE $4 ESCAPE '\\' OR LOWER(fields) LIKE $4 ESCAPE '\\') \
             AND id > $5 ORDER BY id LIMIT $6",
        )
        .bind(list.0)
        .bind(filter.status.map(|s| s.as_str()))
        .bind(filter.mailbox.map(|m| m.0))
        .bind(pattern)
        .bind(filter.after.map_or(0, |s| s.0))
        .bind(i64::from(filter.limit.clamp(1, 500)))
        .fetch_all(self.reader())
        .await
        .map_err(Error::db("search suggestions", "suggestion"))?;
        rows.iter()
            .map(super::suggestions::suggestion_from_row)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn like_pattern_escapes_wildcards() {
        assert_eq!(super::like_pattern("A_b%c\\"), "%a\\_b\\%c\\\\%");
    }
}
