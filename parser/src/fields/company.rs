//! Company: a cell with a legal form (GmbH, Ltd, S.A., sp. z o.o., 株式会社 …), a logo's alt
//! text, or the plain line that follows name and title.

use super::{Cell, has_word, is_contact_cell};
use crate::line::Line;
use crate::tables::words::LEGAL_FORMS;

/// Whether the text carries a legal form. Short forms (AG, SA, AB …) must be written in
/// capitals, as companies write them, so that "ab" or "as" in prose do not count.
pub(crate) fn has_legal_form(text: &str) -> bool {
    if text.chars().count() > 90 {
        return false;
    }
    let lower = text.to_lowercase();
    LEGAL_FORMS.iter().any(|f| {
        if f.chars().count() <= 3 && f.chars().all(|c| c.is_ascii_alphabetic()) {
            let upper = f.to_uppercase();
            has_word(text, &upper)
        } else if !f.is_ascii() {
            lower.contains(f)
        } else {
            has_word(&lower, f)
        }
    })
}

/// Cuts a tagline after the company ("Acme SARL – Menuiserie").
fn trim_tagline(text: &str) -> String {
    for sep in [" – ", " — ", " - ", " | "] {
        if let Some((head, _)) = text.split_once(sep) {
            if has_legal_form(head) {
                return head.trim().to_string();
            }
        }
    }
    text.trim().to_string()
}

/// `(company, block line, rule, confidence)`.
pub(crate) fn find(cells: &[Cell], lines: &[Line], name_line: Option<usize>, title_line: Option<usize>, name: Option<&str>) -> Option<(String, usize, &'static str, f32)> {
    for cell in cells.iter().take(16) {
        if has_legal_form(&cell.text) && !is_contact_cell(&cell.text) && !super::address::is_address(&cell.text) && Some(cell.text.as_str()) != name {
            return Some((trim_tagline(&cell.text), cell.line, "company.legal_form", 0.85));
        }
    }
    for (i, line) in lines.iter().enumerate() {
        for alt in &line.alts {
            let lower = alt.to_lowercase();
            let label_like = alt.chars().count() < 4 || ["icon", "phone", "mobile", "mail", "tel", "fax", "linkedin", "twitter", "facebook", "instagram", "xing", "github", "cel", "whatsapp", "web"].iter().any(|w| lower.contains(w));
            if !label_like && !super::name::person_shaped(alt) {
                let alt = alt.trim_end_matches(" logo").trim_end_matches(" Logo").trim().to_string();
                return Some((alt, i, "company.logo_alt", 0.7));
            }
        }
    }
    // Name / Title / Company: the plain line right after the name and title.
    let after = title_line.or(name_line)?;
    let cell = cells.iter().find(|c| c.line > after && c.line <= after + 2)?;
    let text = cell.text.as_str();
    let plain = !is_contact_cell(text)
        && !super::address::is_address(text)
        && !super::title::is_title(text)
        && !super::name::person_shaped(text)
        && text.split_whitespace().count() <= 6
        && text.chars().next().is_some_and(|c| c.is_uppercase())
        && !text.chars().any(|c| c.is_ascii_digit());
    plain.then(|| (text.to_string(), cell.line, "company.after_title", 0.5))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legal_forms() {
        assert!(has_legal_form("Harborline Freight Solutions, Inc."));
        assert!(has_legal_form("Müller Heizungsbau GmbH"));
        assert!(has_legal_form("Kowalski Logistyka sp. z o.o."));
        assert!(has_legal_form("Nordlys AB"));
        assert!(!has_legal_form("we can ab test it"));
        assert_eq!(trim_tagline("Atelier Roux SARL – Menuiserie & agencement"), "Atelier Roux SARL");
    }
}
