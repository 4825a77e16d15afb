//! Footers that are not the sender's signature: device footers ("Sent from my iPhone"),
//! confidentiality / privacy disclaimers, company registration blocks.

use crate::tables::markers::{DEVICE_FOOTERS, DISCLAIMER_WORDS, REGISTRATION_WORDS};

/// "Sent from my iPhone" and its translations.
pub(crate) fn is_device_footer(text: &str) -> bool {
    if text.len() > 80 {
        return false;
    }
    let lower = text.to_lowercase();
    let lower = lower.trim_start_matches(['-', ' ', '_']);
    DEVICE_FOOTERS.iter().any(|f| lower.starts_with(f))
}

/// Placeholders that mail clients leave for attachments ("<<offer.pdf>>", "- offer.doc").
pub(crate) fn is_attachment_placeholder(text: &str) -> bool {
    let t = text.trim_start_matches(['-', ' ']).trim();
    if t.starts_with("<<") && t.ends_with(">>") {
        return true;
    }
    let lower = t.to_lowercase();
    !t.contains(' ') && [".doc", ".docx", ".xls", ".xlsx", ".pdf", ".ppt", ".pptx", ".zip", ".txt", ".rtf", ".jpg", ".png", ".vcf", ".msg"].iter().any(|e| lower.ends_with(e))
}

/// A line of a confidentiality, privacy or environmental footer.
pub(crate) fn is_disclaimer(text: &str) -> bool {
    let lower = text.to_lowercase();
    DISCLAIMER_WORDS.iter().any(|w| contains_word(&lower, w))
}

/// A line of a company registration block (court, register number, directors, VAT id).
pub(crate) fn is_registration(text: &str) -> bool {
    let lower = text.to_lowercase();
    REGISTRATION_WORDS.iter().any(|w| contains_word(&lower, w.trim()))
}

/// `needle` occurs in `hay` starting at a word boundary (so "avg" does not match "navigate").
pub(crate) fn contains_word(hay: &str, needle: &str) -> bool {
    let mut from = 0;
    while let Some(pos) = hay.get(from..).and_then(|h| h.find(needle)) {
        let at = from + pos;
        let before_ok = hay[..at].chars().next_back().is_none_or(|c| !c.is_alphanumeric());
        let end = at + needle.len();
        let needle_ends_alnum = needle.chars().next_back().is_some_and(char::is_alphanumeric);
        let after_ok = !needle_ends_alnum
            || needle.len() > 5
            || hay[end..].chars().next().is_none_or(|c| !c.is_alphanumeric());
        if before_ok && after_ok {
            return true;
        }
        from = end;
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_footers() {
        assert!(is_device_footer("Sent from my iPhone"));
        assert!(is_device_footer("Von meinem iPhone gesendet"));
        assert!(!is_device_footer("I sent from my desk the files"));
        assert!(is_disclaimer("This e-mail is confidential and may be privileged."));
        assert!(is_registration("Amtsgericht München HRB 12345"));
        assert!(!is_disclaimer("Please navigate to the page"));
        assert!(contains_word("sitz: köln", "sitz:"));
        assert!(!contains_word("crab", "ab"));
    }
}
