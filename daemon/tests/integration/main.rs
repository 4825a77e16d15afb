//! The daemon crate's own integration tests, in one binary: the CLI, the stores, the vault,
//! the layering rule of the module tree, and the text of operator log lines.

mod cli;
mod layering;
mod log_text;
mod store;
mod vault;
