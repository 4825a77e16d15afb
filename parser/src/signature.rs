//! Signature detection: where the sender's signature block starts and ends in the top message.
//!
//! Evidence, strongest first: a mail client's signature container, the "-- " delimiter, a
//! valediction in one of the supported languages, a line carrying the sender's name, and
//! finally a trailing block dense in contact evidence. The block ends before disclaimers,
//! registration footers and postscripts. Position, not vocabulary, decides the edge cases: a
//! rule line followed by prose opens a notice, not a signature; a sign-off ending a paragraph
//! too long to be wrapped text starts the block on the next line.

use crate::line::{Line, Mark};

/// Lines examined from the end of the top message.
const SEARCH_WINDOW: usize = 40;
/// Most lines kept in a signature block.
const MAX_BLOCK_LINES: usize = 18;

/// How the start of the block was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Anchor {
    ClientMarker,
    Delimiter,
    Valediction,
    SenderName,
    Trailing,
    /// No typed block; only a vCard attachment.
    VCard,
}

impl Anchor {
    pub fn rule(self) -> &'static str {
        match self {
            Anchor::ClientMarker => "signature.client_marker",
            Anchor::Delimiter => "signature.delimiter",
            Anchor::Valediction => "signature.valediction",
            Anchor::SenderName => "signature.sender_name",
            Anchor::Trailing => "signature.trailing_block",
            Anchor::VCard => "signature.vcard_only",
        }
    }

    /// Every [`Anchor::rule`].
    pub const RULES: [&'static str; 6] = [
        "signature.client_marker",
        "signature.delimiter",
        "signature.valediction",
        "signature.sender_name",
        "signature.trailing_block",
        "signature.vcard_only",
    ];

    pub fn strength(self) -> f32 {
        match self {
            Anchor::ClientMarker | Anchor::Delimiter => 0.9,
            Anchor::Valediction => 0.8,
            Anchor::SenderName => 0.7,
            Anchor::Trailing | Anchor::VCard => 0.5,
        }
    }
}

/// A candidate block: `[start, end)` indices into the top message's lines.
pub(crate) struct Block {
    pub start: usize,
    pub end: usize,
    pub anchor: Anchor,
    /// Text after a valediction on the same line ("Thanks, Ann"), a name candidate.
    pub inline_name: Option<String>,
}

pub(crate) fn is_delimiter(text: &str) -> bool {
    matches!(text, "--" | "-- " | "---" | "—" | "–" | "__" | "___") || is_rule_line(text)
}

/// A line drawn with rule characters ("━━━━", "*****", "=====") that frames a signature.
pub(crate) fn is_rule_line(text: &str) -> bool {
    let n = text.chars().count();
    (5..=80).contains(&n)
        && text.chars().all(|c| {
            matches!(
                c,
                '━' | '─' | '═' | '=' | '*' | '~' | '＝' | '－' | '-' | '_'
            )
        })
}

/// Text after the valediction when `text` is a valediction line, e.g. `Some("")` for
/// "Best regards," and `Some("Ann")` for "Thanks, Ann".
pub(crate) fn valediction_rest(text: &str) -> Option<String> {
    if text.chars().count() > 60 {
        return None;
    }
    // Most lines start with no valediction: reject them before lower-casing (the trimmed
    // characters have no case).
    if !crate::tables::VALEDICTIONS.starts_lower(text.trim_start_matches(['-', ' ', '—'])) {
        return None;
    }
    let lower = text.to_lowercase();
    let lower = lower.trim_start_matches(['-', ' ', '—']);
    if let Some(v) = crate::tables::VALEDICTIONS.longest(lower)
        && let Some(rest) = lower.strip_prefix(v)
    {
        let boundary = rest.chars().next().is_none_or(|c| !c.is_alphanumeric());
        if !boundary {
            return None;
        }
        let rest = rest
            .trim_start_matches([
                ',', '.', '!', ':', ' ', '-', '–', '、', '。', '،', '！', '，',
            ])
            .trim();
        // "Thanks for the files" is a sentence, not a sign-off; "Thanks, Ann" signs.
        if rest.split_whitespace().count() > 3 || rest.contains(['?']) {
            return None;
        }
        // Recover the original casing of the remainder.
        let keep = rest.chars().count();
        let original: String = text
            .trim()
            .chars()
            .rev()
            .take(keep)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        if original.chars().next().is_some_and(char::is_lowercase) {
            return None;
        }
        return Some(original);
    }
    None
}

/// Finds the signature block of the top message, if any.
pub(crate) fn locate(lines: &[Line], is_name_line: &dyn Fn(&str) -> bool) -> Option<Block> {
    let n = lines.len();
    let window_start = n.saturating_sub(SEARCH_WINDOW);
    let mut found: Option<(usize, Anchor, Option<String>)> = None;
    if let Some(i) = (window_start..n)
        .rev()
        .find(|&i| lines[i].mark == Mark::SignatureStart)
    {
        found = Some((i, Anchor::ClientMarker, None));
    }
    if found.is_none() {
        let has_text_after =
            |i: usize| lines.iter().skip(i + 1).take(3).any(|l| !l.text.is_empty());
        // A rule that opens a disclaimer or a notice (prose after it) closes the signature
        // above it rather than opening one.
        let opens_signature = |i: usize| {
            lines
                .iter()
                .skip(i + 1)
                .find(|l| !l.text.is_empty())
                .is_some_and(|l| !l.is_legal_footer() && !is_prose(&l.text))
        };
        let delimiters: Vec<usize> = (window_start..n)
            .filter(|&i| is_delimiter(&lines[i].text) && has_text_after(i) && opens_signature(i))
            .collect();
        // In a framed signature the sender's name follows the opening rule line.
        let with_name = delimiters.iter().rev().find(|&&i| {
            lines
                .iter()
                .skip(i + 1)
                .take_while(|l| !is_rule_line(&l.text))
                .take(8)
                .any(|l| is_name_line(&l.text))
        });
        if let Some(&i) = with_name.or(delimiters.last()) {
            found = Some((i + 1, Anchor::Delimiter, None));
        }
    }
    if found.is_none() {
        // The last valediction wins: an earlier "Thanks" may be part of the text.
        for i in (window_start..n).rev() {
            if let Some(rest) = valediction_rest(&lines[i].text) {
                let rest = Some(rest).filter(|r| !r.is_empty());
                found = Some((i + 1, Anchor::Valediction, rest));
                break;
            }
            // "… before we submit it. Thanks," ending an unwrapped paragraph, the block on the
            // next line.
            if ends_with_valediction(&lines[i].text)
                && lines.get(i + 1).is_some_and(|l| !l.text.is_empty())
            {
                found = Some((i + 1, Anchor::Valediction, None));
                break;
            }
        }
    }
    if found.is_none()
        && let Some(i) =
            (window_start..n).find(|&i| lines[i].text.len() < 80 && is_name_line(&lines[i].text))
    {
        found = Some((i, Anchor::SenderName, None));
    }
    if found.is_none() {
        found = trailing_block(lines).map(|i| (i, Anchor::Trailing, None));
    }
    let (start, anchor, inline_name) = found?;
    let end = block_end(lines, start);
    Some(Block {
        start,
        end,
        anchor,
        inline_name,
    })
}

/// A long line whose last sentence is a bare sign-off ("… if you can. Thanks,").
fn ends_with_valediction(text: &str) -> bool {
    if text.len() < 80 || !text.ends_with([',', '!']) {
        return false;
    }
    let Some(pos) = text
        .char_indices()
        .rev()
        .skip(1)
        .find(|&(i, c)| matches!(c, '.' | '!' | '?') && text[i + 1..].starts_with(' '))
        .map(|(i, _)| i)
    else {
        return false;
    };
    let tail = text.get(pos + 2..).unwrap_or_default().trim();
    tail.split_whitespace().count() <= 3 && valediction_rest(tail).is_some_and(|r| r.is_empty())
}

/// A postscript ("P.S.", "PS:") is text after the signature, never part of it.
pub(crate) fn is_postscript(text: &str) -> bool {
    let head: String = text
        .trim_start()
        .chars()
        .take(8)
        .flat_map(char::to_lowercase)
        .collect();
    ["p.p.s", "pps", "p.s", "ps"].iter().any(|p| {
        head.strip_prefix(p)
            .is_some_and(|rest| rest.starts_with(['.', ':', '-', ' ', ',', ')']))
    })
}

/// The block ends at a disclaimer or registration line, at a postscript, at a long prose paragraph after the
/// block began, or after [`MAX_BLOCK_LINES`] non-blank lines.
fn block_end(lines: &[Line], start: usize) -> usize {
    let mut n_text = 0;
    let mut seen_text = false;
    for (i, line) in lines.iter().enumerate().skip(start) {
        let text = line.text.as_str();
        if text.is_empty() && line.links.is_empty() {
            continue;
        }
        if line.is_legal_footer()
            || is_postscript(text)
            || (is_prose(text) || is_rule_line(text)) && seen_text
        {
            return i;
        }
        seen_text = true;
        n_text += 1;
        if n_text >= MAX_BLOCK_LINES {
            return i + 1;
        }
    }
    lines.len()
}

/// A sentence-like line (long, several words, ends like prose).
pub(crate) fn is_prose(text: &str) -> bool {
    let words: Vec<&str> = text.split_whitespace().collect();
    if words.len() < 10 {
        return false;
    }
    let n_separators = text.matches(['|', '·', '•']).count();
    let n_lower = words
        .iter()
        .filter(|w| w.chars().next().is_some_and(char::is_lowercase))
        .count();
    // A sentence that ends like one is prose even when it names an address or a number
    // ("For urgent matters please contact … at ben@example.com or …").
    let sentence = text.ends_with(['.', '!', '?']) && n_lower * 2 >= words.len();
    if n_separators >= 2
        || (!sentence
            && (text.contains('@') || text.chars().filter(char::is_ascii_digit).count() >= 12))
    {
        return false;
    }
    n_lower * 2 >= words.len() || words.len() >= 20
}

/// Start of the trailing run of short, non-prose lines (Enron-style signatures with no
/// valediction); `None` when there is no such run.
fn trailing_block(lines: &[Line]) -> Option<usize> {
    let mut start = None;
    let mut n_text = 0;
    let mut blank_run = 0;
    for i in (0..lines.len()).rev() {
        let text = lines[i].text.as_str();
        if text.is_empty() {
            blank_run += 1;
            if blank_run >= 2 && n_text > 0 {
                break;
            }
            continue;
        }
        blank_run = 0;
        if is_prose(text) || text.ends_with(['?']) || n_text >= 8 {
            break;
        }
        start = Some(i);
        n_text += 1;
    }
    // A block starts after a blank line: a line that ends a wrapped paragraph is not one. (A
    // line longer than any wrapping is a whole unwrapped paragraph: the block may follow it.)
    let mut s = start?;
    let continues_paragraph = |l: &Line| !l.text.is_empty() && l.text.len() <= 120;
    while s > 0 && lines.get(s - 1).is_some_and(continues_paragraph) {
        s += 1;
        while lines.get(s).is_some_and(|l| !l.text.is_empty()) {
            s += 1;
        }
        while lines.get(s).is_some_and(|l| l.text.is_empty()) {
            s += 1;
        }
        if s >= lines.len() {
            return None;
        }
    }
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valedictions() {
        assert_eq!(valediction_rest("Best regards,").as_deref(), Some(""));
        assert_eq!(valediction_rest("Thanks, Ann").as_deref(), Some("Ann"));
        assert_eq!(
            valediction_rest("Mit freundlichen Grüßen").as_deref(),
            Some("")
        );
        assert_eq!(
            valediction_rest("Thanks for sending the files over to us today"),
            None
        );
        assert_eq!(valediction_rest("Bestellung"), None);
        assert_eq!(valediction_rest("Üdvözlettel:").as_deref(), Some(""));
        assert_eq!(valediction_rest("مع أطيب التحيات،").as_deref(), Some(""));
        assert!(ends_with_valediction(
            "I went through the drawings and they look fine, but the engineer must sign them first. Thanks,"
        ));
        assert!(!ends_with_valediction("Thanks,"));
        assert!(is_postscript("P.S. write to events@example.org"));
        assert!(!is_postscript("Psychologist"));
        assert!(is_postscript("PS - dietary needs to catering@example.org"));
        assert!(is_postscript("P.S.: one more thing"));
        assert!(!is_postscript("Pd. Dr. Ann Lee"));
        assert_eq!(
            valediction_rest("よろしくお願いいたします。").as_deref(),
            Some("")
        );
    }
}
