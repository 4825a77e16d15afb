//! The daemon crate's own integration tests, in one binary: the CLI, the stores, the vault,
//! and the layering rule of the module tree.

mod cli;
mod layering;
mod store;
mod vault;
