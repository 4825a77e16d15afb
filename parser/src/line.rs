//! The unit every later stage works on: one visual line of the chosen body, with the evidence
//! that HTML carries beside the text (link targets, icon names) and structural marks.

use std::cell::OnceCell;

/// A structural hint found in the HTML markup (plain text has none).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Mark {
    #[default]
    None,
    /// Quoted history starts here (`<blockquote>`, `gmail_quote`, `divRplyFwdMsg` …).
    QuoteStart,
    /// A mail client's own signature container starts here (`gmail_signature`, `moz-signature`).
    SignatureStart,
}

/// One line of body text. Never logged and never serialised: it is message content.
#[derive(Clone, Default)]
pub(crate) struct Line {
    /// Whitespace-collapsed, trimmed text.
    pub text: String,
    /// Link targets (`href`) of anchors that start on this line.
    pub links: Vec<String>,
    /// Icon hints: file stems of images without alt text (`icon-mobile`).
    pub icons: Vec<String>,
    /// Alt texts of images on this line (also part of `text`): logos name companies.
    pub alts: Vec<String>,
    pub mark: Mark,
    /// Whether `text` is a line of a legal footer: segmentation asks it of the last
    /// paragraphs and the signature's end of the block's lines, mostly the same lines, so the
    /// answer is kept (lines are never changed once made). Read it through
    /// [`Line::is_legal_footer`]; new lines leave it empty (`..Line::default()`).
    pub(crate) legal_footer: OnceCell<bool>,
}

impl Line {
    pub fn plain(text: &str) -> Line {
        Line {
            text: collapse(text),
            ..Line::default()
        }
    }

    /// A line of a confidentiality or registration footer
    /// ([`crate::segment::footer::is_legal_footer`] of its text), computed once per line.
    pub fn is_legal_footer(&self) -> bool {
        *self
            .legal_footer
            .get_or_init(|| crate::segment::footer::is_legal_footer(&self.text))
    }

    pub fn is_blank(&self) -> bool {
        self.text.is_empty() && self.links.is_empty()
    }
}

/// Longest line (in bytes) kept: beyond that a line is content, not a signature, and is cut
/// (at a char boundary) so that a 5 MB line without breaks costs nothing downstream.
pub(crate) const MAX_LINE_BYTES: usize = 2_000;

/// Whether `text` has no leading or trailing whitespace, no two spaces in a row and no
/// whitespace but the ASCII space. ASCII text is checked byte by byte (its only whitespace
/// characters are ASCII); other text char by char.
fn is_clean(text: &str) -> bool {
    if text.is_ascii() {
        let bytes = text.as_bytes();
        let (Some(first), Some(last)) = (bytes.first(), bytes.last()) else {
            return true;
        };
        return !first.is_ascii_whitespace()
            && !last.is_ascii_whitespace()
            // (`u8::is_ascii_whitespace` leaves out the vertical tab, which `char` counts.)
            && !bytes
                .iter()
                .any(|b| matches!(b, b'\t' | b'\n' | b'\x0b' | b'\x0c' | b'\r'))
            && !bytes.windows(2).any(|w| w == b"  ");
    }
    !text.starts_with(char::is_whitespace)
        && !text.ends_with(char::is_whitespace)
        && !text.contains("  ")
        && !text.contains(|c: char| (c.is_whitespace() && c != ' ') || is_direction_mark(c))
}

/// Invisible direction and width marks (right-to-left mail carries them around names and
/// numbers): they are not text, and would keep a name from matching.
fn is_direction_mark(c: char) -> bool {
    matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

/// Collapses runs of whitespace to one space, trims, and bounds the length.
pub(crate) fn collapse(text: &str) -> String {
    // Fast path: most lines are already clean.
    let clean = text.len() <= MAX_LINE_BYTES && is_clean(text);
    if clean {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len().min(MAX_LINE_BYTES));
    let marks = !text.is_ascii() && text.contains(is_direction_mark);
    for word in text.split_whitespace() {
        if out.len() + word.len() + 1 > MAX_LINE_BYTES {
            break;
        }
        if marks && word.chars().all(is_direction_mark) {
            continue;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        if marks && word.contains(is_direction_mark) {
            out.extend(word.chars().filter(|c| !is_direction_mark(*c)));
        } else {
            out.push_str(word);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collapse_trims_and_bounds() {
        assert_eq!(collapse("  a \t b\u{a0}c  "), "a b c");
        assert_eq!(collapse("\u{200f}أحمد \u{200e} الفارسي"), "أحمد الفارسي");
        let long = "é".repeat(10_000);
        assert!(collapse(&long).len() <= MAX_LINE_BYTES);
        let words = "ab ".repeat(10_000);
        assert!(collapse(&words).len() <= MAX_LINE_BYTES);
    }
}
