//! The daemon crate's own integration tests, in one binary: the CLI, the stores, the vault,
//! the layering rule of the module tree, and what the shipped build leaves out.

mod cli;
mod layering;
mod shipped_build;
mod store;
mod vault;
