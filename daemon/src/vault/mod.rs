//! TODO: vault
