//! The panic hook. Rust's default hook prints a panic's message, and a message can quote the
//! data being processed (an `expect` text, a string slice out of range, a value in an assert).
//! This hook logs only where the panic happened and on which thread, as one `error` line under
//! the log policy; the payload is never formatted. Installed by [`super::init`].
//!
//! Panics are caught where one message or one source task is at stake (the pipeline's engine
//! call, the IMAP watcher's supervisor), so the daemon goes on; the release profile unwinds.

use std::sync::atomic::{AtomicU64, Ordering};

static PANICS: AtomicU64 = AtomicU64::new(0);

/// Replaces the default panic hook (see the module doc).
pub fn install_hook() {
    std::panic::set_hook(Box::new(|info| {
        PANICS.fetch_add(1, Ordering::Relaxed);
        let location = info.location().map_or_else(
            || "unknown".to_owned(),
            |l| format!("{}:{}", l.file(), l.line()),
        );
        let thread = std::thread::current();
        let thread = thread.name().unwrap_or("unnamed");
        tracing::error!(
            location = %location, thread,
            "panic caught (its message is not logged: it can quote the data being processed)"
        );
    }));
}

/// Panics seen by the hook since the start.
pub fn count() -> u64 {
    PANICS.load(Ordering::Relaxed)
}
