//! Mail sources: every source yields message references into the pipeline's bounded queue.
pub mod changed;
pub mod graph;
pub mod host_guard;
pub mod imap;
pub mod oauth;
pub mod ownership;
