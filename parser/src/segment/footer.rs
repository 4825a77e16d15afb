//! Footers that are not the sender's signature: device footers ("Sent from my iPhone"),
//! confidentiality / privacy disclaimers, company registration blocks.

/// "Sent from my iPhone" and its translations.
pub(crate) fn is_device_footer(text: &str) -> bool {
    if text.len() > 80 {
        return false;
    }
    let lower = text.to_lowercase();
    let lower = lower.trim_start_matches(['-', ' ', '_']);
    crate::tables::DEVICE_FOOTERS.longest(lower).is_some()
}

/// Placeholders that mail clients leave for attachments ("<<offer.pdf>>", "- offer.doc").
pub(crate) fn is_attachment_placeholder(text: &str) -> bool {
    let t = text.trim_start_matches(['-', ' ']).trim();
    if t.starts_with("<<") && t.ends_with(">>") {
        return true;
    }
    let lower = t.to_lowercase();
    !t.contains(' ')
        && [
            ".doc", ".docx", ".xls", ".xlsx", ".pdf", ".ppt", ".pptx", ".zip", ".txt", ".rtf",
            ".jpg", ".png", ".vcf", ".msg",
        ]
        .iter()
        .any(|e| lower.ends_with(e))
}

/// A line of a confidentiality, privacy or environmental footer.
pub(crate) fn is_disclaimer(text: &str) -> bool {
    crate::tables::DISCLAIMERS.matches(&text.to_lowercase())
}

/// A line of a company registration block (court, register number, directors, VAT id).
pub(crate) fn is_registration(text: &str) -> bool {
    crate::tables::REGISTRATION.matches(&text.to_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_footers() {
        assert!(is_device_footer("Sent from my iPhone"));
        assert!(is_device_footer("Von meinem iPhone gesendet"));
        assert!(!is_device_footer("I sent from my desk the files"));
        assert!(is_disclaimer(
            "This e-mail is confidential and may be privileged."
        ));
        assert!(is_registration("Amtsgericht München HRB 12345"));
        assert!(!is_disclaimer("Please navigate to the page"));
    }
}
