//! Footers that are not the sender's signature: device footers ("Sent from my iPhone"),
//! confidentiality / privacy disclaimers, company registration blocks.

/// "Sent from my iPhone" and its translations.
pub(crate) fn is_device_footer(text: &str) -> bool {
    if text.len() > 80 {
        return false;
    }
    // Trimming before lower-casing is the same: the trimmed characters have no case.
    crate::tables::DEVICE_FOOTERS.starts_lower(text.trim_start_matches(['-', ' ', '_']))
}

/// Placeholders that mail clients leave for attachments ("<<offer.pdf>>", "- offer.doc").
pub(crate) fn is_attachment_placeholder(text: &str) -> bool {
    let t = text.trim_start_matches(['-', ' ']).trim();
    if t.starts_with("<<") && t.ends_with(">>") {
        return true;
    }
    // The extensions are ASCII: compare the tail without lower-casing the whole line.
    let tail = t.as_bytes();
    !t.contains(' ')
        && [
            ".doc", ".docx", ".xls", ".xlsx", ".pdf", ".ppt", ".pptx", ".zip", ".txt", ".rtf",
            ".jpg", ".png", ".vcf", ".msg",
        ]
        .iter()
        .any(|e| {
            tail.len() >= e.len() && tail[tail.len() - e.len()..].eq_ignore_ascii_case(e.as_bytes())
        })
}

/// A line of a confidentiality, privacy or environmental footer, or of a company
/// registration block (court, register number, directors, VAT id): both tables in one search.
pub(crate) fn is_legal_footer(text: &str) -> bool {
    crate::tables::LEGAL_FOOTERS.matches_lower(text) && !lone_title(text)
}

/// "Geschäftsführer" alone on its line is the signer's title; a registration block names the
/// directors after it ("Geschäftsführer: Jan Berg").
fn lone_title(text: &str) -> bool {
    let t = text.trim();
    !t.contains([':', '：'])
        && t.split_whitespace().count() <= 2
        && crate::fields::title::is_title(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_footers() {
        assert!(is_device_footer("Sent from my iPhone"));
        assert!(is_device_footer("Von meinem iPhone gesendet"));
        assert!(!is_device_footer("I sent from my desk the files"));
        assert!(is_legal_footer(
            "This e-mail is confidential and may be privileged."
        ));
        assert!(is_legal_footer("Amtsgericht München HRB 12345"));
        assert!(!is_legal_footer("Please navigate to the page"));
        assert!(!is_legal_footer("Geschäftsführer"));
        assert!(is_legal_footer("Geschäftsführer: Jan Berg"));
    }
}
