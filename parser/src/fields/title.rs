//! Job title: a cell with a title word (multilingual), before or after the name.

use super::{Cell, has_word, is_cjk, is_contact_cell};
use crate::tables::words::TITLE_WORDS;

/// Whether a cell reads as a job title.
pub(crate) fn is_title(text: &str) -> bool {
    let words = text.split_whitespace().count();
    if words == 0 || words > 9 || text.chars().count() > 90 || is_contact_cell(text) {
        return false;
    }
    if text.chars().any(|c| c.is_ascii_digit()) {
        return false;
    }
    let lower = text.to_lowercase();
    TITLE_WORDS.iter().any(|w| {
        if w.chars().any(is_cjk) {
            lower.contains(w)
        } else {
            has_word(&lower, w)
        }
    })
}

/// The title cell, skipping the name's and the company's cells.
pub(crate) fn find(cells: &[Cell], skip: &[&str]) -> Option<(String, usize)> {
    cells.iter().take(14).find(|c| !skip.contains(&c.text.as_str()) && is_title(&c.text) && !super::company::has_legal_form(&c.text)).map(|c| {
        let t = c.text.trim_matches(|ch: char| matches!(ch, ',' | ';' | '-' | '|')).trim().to_string();
        (t, c.line)
    })
}
