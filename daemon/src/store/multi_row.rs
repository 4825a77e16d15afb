//! Multi-row statements for the Graph job queue and the webhook outbox: one statement for up to
//! [`ROWS_PER_STATEMENT`] rows instead of one per row.
//!
//! Every statement is a round trip to SQLite's connection thread (two thread wake-ups) or to
//! PostgreSQL; under a notification storm the per-row statements were most of the store's CPU
//! time. sqlx only takes `'static` SQL text unless a dynamic string is audited, so the text
//! for each row count is built once, from constants only, and kept in a static.

use std::sync::LazyLock;

/// Rows in one statement at most (PostgreSQL and SQLite both allow far more parameters).
pub(crate) const ROWS_PER_STATEMENT: usize = 32;

/// `INSERT` of message jobs: `$1` is the time; each row binds mailbox, kind, folder, item.
/// A job already queued is left alone (the notification was delivered twice).
pub(crate) fn insert_message_jobs(rows: usize) -> &'static str {
    static TEXT: LazyLock<Vec<String>> = LazyLock::new(|| {
        (1..=ROWS_PER_STATEMENT)
            .map(|rows| {
                let values: Vec<String> = (0..rows)
                    .map(|row| {
                        let p = 2 + row * 4;
                        format!("(${}, ${}, ${}, ${}, $1, $1)", p, p + 1, p + 2, p + 3)
                    })
                    .collect();
                format!(
                    "INSERT INTO graph_jobs (mailbox_id, kind, folder, item, next_attempt_at, created_at) VALUES {} \
                     ON CONFLICT (mailbox_id, kind, item) DO NOTHING",
                    values.join(", ")
                )
            })
            .collect()
    });
    pick(&TEXT, rows)
}

/// `INSERT` of webhook deliveries: `$1` is the time, `$2` the endpoint; each row binds event,
/// suggestion, payload.
pub(crate) fn insert_webhook_deliveries(rows: usize) -> &'static str {
    static TEXT: LazyLock<Vec<String>> = LazyLock::new(|| {
        (1..=ROWS_PER_STATEMENT)
            .map(|rows| {
                let values: Vec<String> = (0..rows)
                    .map(|row| {
                        let p = 3 + row * 3;
                        format!("($2, ${}, ${}, ${}, $1, $1)", p, p + 1, p + 2)
                    })
                    .collect();
                format!(
                    "INSERT INTO webhook_deliveries (webhook_id, event, suggestion_id, payload, \
                     next_attempt_at, created_at) VALUES {}",
                    values.join(", ")
                )
            })
            .collect()
    });
    pick(&TEXT, rows)
}

/// Marks jobs done: `$1` is the time, then one id per row.
pub(crate) fn finish_jobs(rows: usize) -> &'static str {
    static TEXT: LazyLock<Vec<String>> = LazyLock::new(|| {
        by_ids(
            "UPDATE graph_jobs SET status = 'done', done_at = $1, claimed_by = NULL, claim_until = NULL, \
             last_error = NULL WHERE id IN",
            2,
        )
    });
    pick(&TEXT, rows)
}

/// Marks jobs failed: `$1` the time, `$2` the error class, then one id per row.
pub(crate) fn fail_jobs(rows: usize) -> &'static str {
    static TEXT: LazyLock<Vec<String>> = LazyLock::new(|| {
        by_ids(
            "UPDATE graph_jobs SET status = 'failed', done_at = $1, last_error = $2, claimed_by = NULL, \
             claim_until = NULL WHERE id IN",
            3,
        )
    });
    pick(&TEXT, rows)
}

/// `prefix (…ids…)` for every row count, ids numbered from `first`.
fn by_ids(prefix: &str, first: usize) -> Vec<String> {
    (1..=ROWS_PER_STATEMENT)
        .map(|rows| {
            let ids: Vec<String> = (first..first + rows).map(|p| format!("${p}")).collect();
            format!("{prefix} ({})", ids.join(", "))
        })
        .collect()
}

fn pick(texts: &'static [String], rows: usize) -> &'static str {
    texts[rows.clamp(1, ROWS_PER_STATEMENT) - 1].as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_number_every_parameter_once() {
        let two = insert_message_jobs(2);
        assert!(
            two.contains("($2, $3, $4, $5, $1, $1), ($6, $7, $8, $9, $1, $1)"),
            "{two}"
        );
        assert!(finish_jobs(3).ends_with("WHERE id IN ($2, $3, $4)"));
        assert!(fail_jobs(1).ends_with("WHERE id IN ($3)"));
        assert!(
            insert_webhook_deliveries(2)
                .ends_with("($2, $3, $4, $5, $1, $1), ($2, $6, $7, $8, $1, $1)"),
            "{}",
            insert_webhook_deliveries(2)
        );
        let all = insert_message_jobs(ROWS_PER_STATEMENT);
        assert!(all.contains(&format!("${}, $1, $1)", 1 + ROWS_PER_STATEMENT * 4)));
        // Out-of-range counts are clamped, never a panic.
        assert_eq!(insert_message_jobs(0), insert_message_jobs(1));
        assert_eq!(
            finish_jobs(ROWS_PER_STATEMENT + 5),
            finish_jobs(ROWS_PER_STATEMENT)
        );
    }
}
