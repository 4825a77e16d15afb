//! Fault injection for the tests of panic isolation, compiled into debug builds only: in a
//! release build (`debug-assertions` off) both functions are empty and the variables are never
//! read.
//!
//! - `MAILSIG_TEST_PANIC_MARKER=<text>`: the signature engine panics on every message that
//!   contains `<text>`, with a panic message that quotes the start of the message (so a test can
//!   check that the message never reaches the log).
//! - `MAILSIG_TEST_PANIC_WATCHER=<folder>`: the first IMAP session of a watcher of `<folder>`
//!   panics once per process (so a test can check that the watcher is restarted).
//! - [`arm_graph_panics`] (called by an in-process test): the next Microsoft 365 job and the
//!   next round of a Microsoft 365 mailbox task each panic once.

#[cfg(debug_assertions)]
mod enabled {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn variable(name: &str) -> Option<&'static str> {
        static MARKER: OnceLock<Option<String>> = OnceLock::new();
        static WATCHER: OnceLock<Option<String>> = OnceLock::new();
        let cell = match name {
            "MAILSIG_TEST_PANIC_MARKER" => &MARKER,
            _ => &WATCHER,
        };
        cell.get_or_init(|| std::env::var(name).ok().filter(|v| !v.is_empty()))
            .as_deref()
    }

    pub(crate) fn engine(bytes: &[u8]) {
        let Some(marker) = variable("MAILSIG_TEST_PANIC_MARKER") else {
            return;
        };
        if bytes
            .windows(marker.len())
            .any(|window| window == marker.as_bytes())
        {
            let head = String::from_utf8_lossy(&bytes[..bytes.len().min(600)]);
            panic!("injected engine panic while reading: {head}");
        }
    }

    static GRAPH_JOB: AtomicBool = AtomicBool::new(false);
    static GRAPH_TASK: AtomicBool = AtomicBool::new(false);

    /// Makes the next Graph job and the next Graph mailbox round panic, once each.
    pub fn arm_graph_panics() {
        GRAPH_JOB.store(true, Ordering::Relaxed);
        GRAPH_TASK.store(true, Ordering::Relaxed);
    }

    pub(crate) fn graph_job() {
        if GRAPH_JOB.swap(false, Ordering::Relaxed) {
            panic!("injected graph job panic");
        }
    }

    pub(crate) fn graph_task() {
        if GRAPH_TASK.swap(false, Ordering::Relaxed) {
            panic!("injected graph mailbox task panic");
        }
    }

    pub(crate) fn watcher(folder: &str) {
        static FIRED: AtomicBool = AtomicBool::new(false);
        if variable("MAILSIG_TEST_PANIC_WATCHER") == Some(folder)
            && !FIRED.swap(true, Ordering::Relaxed)
        {
            panic!("injected watcher panic in folder {folder}");
        }
    }
}

#[cfg(debug_assertions)]
pub use enabled::arm_graph_panics;
#[cfg(debug_assertions)]
pub(crate) use enabled::{engine, graph_job, graph_task, watcher};

#[cfg(not(debug_assertions))]
pub(crate) fn engine(_bytes: &[u8]) {}

#[cfg(not(debug_assertions))]
pub(crate) fn watcher(_folder: &str) {}

#[cfg(not(debug_assertions))]
pub(crate) fn graph_job() {}

#[cfg(not(debug_assertions))]
pub(crate) fn graph_task() {}
