//! Language data: words and phrases people use around signatures, per language.
//!
//! Data, not code: every list is a plain constant so that adding a language means adding
//! strings. All entries are lower-case; matching code lower-cases the text first.

pub(crate) mod labels;
pub(crate) mod markers;
pub(crate) mod words;
