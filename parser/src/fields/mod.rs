//! Fields: from the lines of a signature block to the values of a contact.
//!
//! Lines are first split into cells (people separate fields with `|`, `·`, `•` and dashes);
//! every field module reads the cells and reports the line it used for provenance.

pub(crate) mod address;
pub(crate) mod company;
pub(crate) mod email;
pub(crate) mod name;
pub(crate) mod name_match;
pub(crate) mod phone;
pub(crate) mod region;
pub(crate) mod social;
pub(crate) mod title;
pub(crate) mod url;

use crate::line::Line;

/// One field-sized piece of a signature line.
#[derive(Clone)]
pub(crate) struct Cell {
    /// Index of the line in the signature block.
    pub line: usize,
    pub text: String,
}

/// Separators between fields written on one line.
const SEPARATORS: &[&str] = &[
    " | ", "|", " · ", "·", " • ", "•", " ◦ ", " – ", " — ", " - ", " / ", "\t", " ¦ ", " ∙ ",
];

/// Whether `text` may hold one of [`SEPARATORS`]: the only ASCII ones contain `|`, a tab,
/// `-` or `/`, so an ASCII line without those bytes holds none (most lines of a block).
fn may_hold_separator(text: &str) -> bool {
    !text.is_ascii()
        || text
            .bytes()
            .any(|b| matches!(b, b'|' | b'\t' | b'-' | b'/'))
}

/// A cell's text as [`cells`] keeps it: trimmed, without framing commas and semicolons.
fn cell_text(part: &str) -> &str {
    part.trim()
        .trim_matches(|c: char| c == ',' || c == ';')
        .trim()
}

/// Splits every line of the block into cells.
pub(crate) fn cells(lines: &[Line]) -> Vec<Cell> {
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        // No separator: the line is one cell (what the splitting below gives, without copies).
        if !may_hold_separator(&line.text) {
            let t = cell_text(&line.text);
            if !t.is_empty() {
                out.push(Cell {
                    line: i,
                    text: t.to_string(),
                });
            }
            continue;
        }
        let mut parts = vec![line.text.clone()];
        for sep in SEPARATORS {
            // Most lines hold none of the separators: skip the split (and its copies).
            if !parts.iter().any(|p| p.contains(sep)) {
                continue;
            }
            parts = parts
                .iter()
                .flat_map(|p| {
                    // A " - " or " / " between digits belongs to a phone number.
                    if matches!(*sep, " - " | " / ") {
                        split_outside_numbers(p, sep)
                    } else {
                        p.split(sep).map(str::to_string).collect()
                    }
                })
                .collect();
        }
        for p in parts {
            let t = cell_text(&p);
            if !t.is_empty() {
                out.push(Cell {
                    line: i,
                    text: t.to_string(),
                });
            }
        }
    }
    out
}

fn split_outside_numbers(text: &str, sep: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = text;
    let mut acc = String::new();
    while let Some(pos) = rest.find(sep) {
        let before = &rest[..pos];
        let after = &rest[pos + sep.len()..];
        let digit_before = before
            .trim_end()
            .chars()
            .next_back()
            .is_some_and(|c| c.is_ascii_digit() || c == ')');
        let digit_after = after
            .trim_start()
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_digit() || c == '(');
        acc.push_str(before);
        if digit_before && digit_after {
            acc.push_str(sep);
        } else {
            out.push(std::mem::take(&mut acc));
        }
        rest = after;
    }
    acc.push_str(rest);
    out.push(acc);
    out
}

/// The label a domain was registered under, lower-case and without hyphens: "tallgrassdesign"
/// for "mail.tallgrass-design.co.uk", "kargohizli" for "kargohizli.com.tr".
pub(crate) fn registrable_label(domain: &str) -> String {
    let labels: Vec<&str> = domain.split('.').collect();
    let n = labels.len();
    let second_level = n >= 3
        && matches!(
            labels[n - 2],
            "co" | "com" | "org" | "net" | "ac" | "gov" | "ne" | "or" | "edu"
        );
    let idx = if second_level {
        n.saturating_sub(3)
    } else {
        n.saturating_sub(2)
    };
    labels
        .get(idx)
        .copied()
        .unwrap_or_default()
        .to_lowercase()
        .replace('-', "")
}

pub(crate) fn is_cjk(c: char) -> bool {
    matches!(c, '\u{3040}'..='\u{30ff}' | '\u{3400}'..='\u{9fff}' | '\u{ff00}'..='\u{ffef}' | '\u{ac00}'..='\u{d7af}' | '\u{1100}'..='\u{11ff}' | '\u{3130}'..='\u{318f}')
}

/// Cells that carry a phone number, an email address or a URL.
pub(crate) fn is_contact_cell(text: &str) -> bool {
    text.contains('@')
        || text.contains("www.")
        || text.contains("://")
        || text.chars().filter(char::is_ascii_digit).count() >= 6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_cells_but_not_numbers() {
        let lines = crate::mime::text_lines(
            "Ann Lee | CEO · Acme GmbH\nT 030 - 211 84 60 / 0171 12\nSales - North",
        );
        let texts: Vec<String> = cells(&lines).into_iter().map(|c| c.text).collect();
        assert_eq!(
            texts,
            [
                "Ann Lee",
                "CEO",
                "Acme GmbH",
                "T 030 - 211 84 60 / 0171 12",
                "Sales",
                "North"
            ]
        );
    }
}
