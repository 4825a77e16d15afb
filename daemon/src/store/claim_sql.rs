//! The claim statements (outbox rows, Graph jobs, mailbox leases) differ between the backends
//! in one clause only: PostgreSQL locks the chosen rows with `FOR UPDATE … SKIP LOCKED`, so
//! concurrent claimers take disjoint sets without waiting; SQLite has one writer and no row
//! locks. sqlx takes only static SQL, so [`locked_select`] builds both statements at compile
//! time from one text instead of keeping two near-identical copies in step by hand.

/// `locked_select!(backend, "…subquery up to LIMIT…", "FOR UPDATE OF x SKIP LOCKED", "…rest")`:
/// the PostgreSQL statement with the lock clause, the SQLite one without, as `&'static str`.
macro_rules! locked_select {
    ($backend:expr, $before_lock:literal, $lock:literal, $after_lock:literal $(,)?) => {
        match $backend {
            $crate::store::Backend::Postgres => concat!($before_lock, " ", $lock, $after_lock),
            $crate::store::Backend::Sqlite => concat!($before_lock, $after_lock),
        }
    };
}

pub(crate) use locked_select;
