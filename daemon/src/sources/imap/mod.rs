//! TODO: imap
