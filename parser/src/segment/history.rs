//! Where the quoted or forwarded history starts in a body.
//!
//! Recognises `>` quoting, HTML quote containers, "-----Original Message-----" style separators,
//! "On … wrote:" attributions in many languages, and header blocks ("From: … Sent: …",
//! "Von: … Gesendet: …", Lotus Notes "Name@ORG / date / To: / cc:").

use once_cell::sync::Lazy;
use regex::Regex;

use crate::line::{Line, Mark};
use crate::tables::markers::{FROM_LABELS, HEADER_LABELS, WROTE_SUFFIXES, WROTE_VERBS};

static DATE: Lazy<Option<Regex>> =
    Lazy::new(|| Regex::new(r"\d{1,4}[/.\-]\d{1,2}[/.\-]\d{2,4}|\d{1,2}:\d{2}").ok());

/// Index of the first line of history (`lines.len()` when there is none).
#[cfg(test)]
pub(crate) fn start(lines: &[Line]) -> usize {
    start_from(lines, 0)
}

/// Index of the first line of history at or after `from`. A `>` quote after which the sender
/// writes again (interleaved or bottom-posted replies) is not the start of history; the caller
/// drops its lines with [`is_inline_quote`].
pub(crate) fn start_from(lines: &[Line], from: usize) -> usize {
    let mut i = from;
    while i < lines.len() {
        if lines[i].mark == Mark::QuoteStart || is_history_line(lines, i) {
            if is_quote_run_start(lines, i) {
                let end = quote_run_end(lines, i);
                let sender_continues = lines.get(end).is_some_and(|l| {
                    l.mark == Mark::None && !l.text.is_empty() && !is_history_line(lines, end)
                });
                if sender_continues {
                    i = end;
                    continue;
                }
            }
            return back_up_lotus(lines, i);
        }
        i += 1;
    }
    lines.len()
}

fn is_quote_run_start(lines: &[Line], i: usize) -> bool {
    if lines[i].text.starts_with('>') {
        return true;
    }
    let next = lines.iter().skip(i + 1).find(|l| !l.text.is_empty());
    is_attribution(lines, i) && next.is_some_and(|l| l.text.starts_with('>'))
}

fn quote_run_end(lines: &[Line], i: usize) -> usize {
    let mut j = i;
    if !lines[i].text.starts_with('>') {
        // Skip the (possibly wrapped) attribution.
        while j < lines.len() && !lines[j].text.starts_with('>') && j < i + 3 {
            j += 1;
        }
    }
    while j < lines.len() && (lines[j].text.starts_with('>') || lines[j].text.is_empty()) {
        j += 1;
    }
    j
}

/// Lines of an interleaved quote inside the sender's own text: `>` lines and their attribution.
pub(crate) fn is_inline_quote(lines: &[Line], i: usize) -> bool {
    lines[i].text.starts_with('>') || (is_attribution(lines, i) && is_quote_run_start(lines, i))
}

/// Skips the header block of a quoted or forwarded message that starts at `i`
/// (separator line, "From:/Sent:/To:/Subject:" lines, Lotus Notes name/date lines).
pub(crate) fn skip_header(lines: &[Line], i: usize) -> usize {
    let mut j = i + 1;
    let mut seen_subject = false;
    while j < lines.len() && j < i + 20 {
        let text = lines[j].text.as_str();
        if text.is_empty() {
            j += 1;
            continue;
        }
        let label = label_of(text);
        let header_label = label.as_deref().is_some_and(|l| {
            FROM_LABELS.contains(&l) || HEADER_LABELS.contains(&l) || l == "sent by" || l == "bcc"
        });
        let is_subject = label.as_deref().is_some_and(|l| {
            matches!(
                l,
                "subject"
                    | "betreff"
                    | "objet"
                    | "asunto"
                    | "oggetto"
                    | "onderwerp"
                    | "assunto"
                    | "ämne"
                    | "emne"
                    | "temat"
                    | "件名"
            )
        });
        if is_subject {
            seen_subject = true;
            j += 1;
            continue;
        }
        // After the subject only labelled header lines (Gmail puts To: last) belong to it.
        let header_like = header_label
            || !seen_subject
                && (text.contains('@')
                    || DATE.as_ref().is_some_and(|d| d.is_match(text)) && text.len() < 60
                    || is_separator(text));
        if !header_like {
            break;
        }
        j += 1;
    }
    j
}

fn is_history_line(lines: &[Line], i: usize) -> bool {
    let text = lines[i].text.as_str();
    if text.starts_with('>') {
        return true;
    }
    // Cheap rejections first: every opener below has a colon on this or the next two lines,
    // or is a short separator line.
    let colon_near = lines
        .iter()
        .skip(i)
        .take(3)
        .any(|l| l.text.contains(':') || l.text.contains('：'));
    (is_separator(text)) || (colon_near && (is_attribution(lines, i) || is_header_block(lines, i)))
}

/// "-----Original Message-----", "---------- Forwarded message ---------", "Begin forwarded message:".
fn is_separator(text: &str) -> bool {
    let dashed = text.starts_with(['-', '_', '*', '=']);
    if text.len() > 120 || (!dashed && text.len() > 48) {
        return false;
    }
    let trim = |t: &str| -> String {
        t.trim_matches(|c: char| matches!(c, '-' | '_' | '*' | '=' | ' ' | ':'))
            .to_string()
    };
    let phrase = |core: &str| {
        crate::tables::HISTORY_PHRASES
            .longest(core)
            .is_some_and(|p| dashed || core.len() <= p.len() + 2)
    };
    // The phrase table matches any ASCII case: ASCII lines are not lower-cased first (the
    // trimmed characters have no case, and ASCII lower-casing keeps every length).
    if text.is_ascii() {
        let core = text.trim_matches(|c: char| matches!(c, '-' | '_' | '*' | '=' | ' ' | ':'));
        return phrase(core);
    }
    phrase(&trim(&text.to_lowercase()))
}

/// "On Tue, 3 Mar 2026 at 10:12, Ann <a@b> wrote:", possibly wrapped over two lines.
fn is_attribution(lines: &[Line], i: usize) -> bool {
    let text = lines[i].text.as_str();
    if text.len() > 300 {
        return false;
    }
    // Cheap rejection before lower-casing: most lines neither contain '@' nor start with an
    // opener ("On", "Am", "Le" …), and '@' has no case.
    let opener = text.contains('@') || crate::tables::WROTE_OPENERS.starts_lower(text);
    if !opener {
        return false;
    }
    let lower = text.to_lowercase();
    let ends = |s: &str| {
        let s = s.trim_end();
        WROTE_SUFFIXES.iter().any(|w| s.ends_with(w))
            || (s.ends_with([':', '：']) && WROTE_VERBS.iter().any(|v| s.contains(v)))
    };
    if ends(&lower) {
        return true;
    }
    // "2026年3月9日(月) 14:05 Ann Lee <ann@example.org>:" (clients that write no verb): a date
    // first, the author's address in angle brackets last.
    let dated = text.starts_with(|c: char| c.is_ascii_digit());
    if dated && text.trim_end().ends_with(">:") && text.contains('@') && text.contains('<') {
        return true;
    }
    // Wrapped attribution: the suffix is on one of the next two lines.
    for next in lines.iter().skip(i + 1).take(2) {
        let n = next.text.to_lowercase();
        if n.len() > 200 {
            return false;
        }
        if ends(&n) {
            return true;
        }
    }
    false
}

fn label_of(text: &str) -> Option<String> {
    let (label, _) = text.split_once([':', '：'])?;
    let label = label.trim().trim_matches('*').trim().to_lowercase();
    (label.chars().count() <= 14).then_some(label)
}

/// "From: … / Sent: … / To: …" (any language), or a Lotus Notes "To: … / cc: …" block.
fn is_header_block(lines: &[Line], i: usize) -> bool {
    let Some(label) = label_of(&lines[i].text) else {
        return false;
    };
    // Only a "From:" or "To:" line can open a header block: the following lines' labels are
    // read for those alone (most labelled lines are "Tel:", "Email:" … of a signature).
    let is_from = FROM_LABELS.contains(&label.as_str());
    if !is_from && label != "to" && label != "an" {
        return false;
    }
    let following = lines.iter().skip(i + 1).filter(|l| !l.is_blank()).take(5);
    let n_headers = following
        .filter_map(|l| label_of(&l.text))
        .filter(|l| HEADER_LABELS.contains(&l.as_str()))
        .count();
    if is_from {
        return n_headers >= 1;
    }
    n_headers >= 1 && has_cc_or_subject(lines, i)
}

fn has_cc_or_subject(lines: &[Line], i: usize) -> bool {
    lines
        .iter()
        .skip(i + 1)
        .take(8)
        .filter_map(|l| label_of(&l.text))
        .any(|l| matches!(l.as_str(), "cc" | "subject" | "betreff" | "bcc"))
}

/// A Lotus Notes header starts one or two lines above "To:" ("Name@ORG", a date line).
fn back_up_lotus(lines: &[Line], i: usize) -> usize {
    let is_to = label_of(&lines[i].text).is_some_and(|l| l == "to" || l == "an");
    if !is_to {
        return i;
    }
    let mut start = i;
    let mut j = i;
    let mut steps = 0;
    while j > 0 && steps < 4 {
        j -= 1;
        steps += 1;
        let text = &lines[j].text;
        if text.is_empty() {
            continue;
        }
        let header_like = text.contains('@')
            || DATE.as_ref().is_some_and(|d| d.is_match(text))
            || text.to_lowercase().starts_with("from:");
        if header_like && text.len() < 120 {
            start = j;
        } else {
            break;
        }
    }
    start
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mime::text_lines;

    fn cut(text: &str) -> usize {
        start(&text_lines(text))
    }

    #[test]
    fn finds_history_openers() {
        assert_eq!(cut("Hi\nThanks\n> quoted"), 2);
        assert_eq!(cut("Hi\n\n-----Original Message-----\nFrom: x"), 2);
        assert_eq!(
            cut("Hi\nOn Mon, 2 Mar 2026 at 10:00, Ann Lee <a@b.c>\nwrote:\n> x"),
            1
        );
        assert_eq!(cut("Hallo\nAm 02.03.2026 um 10:00 schrieb Ann Lee:\n"), 1);
        assert_eq!(
            cut("Bonjour\nLe lun. 2 mars 2026 à 10:00, Ann <a@b.c> a écrit :\n"),
            1
        );
        assert_eq!(
            cut("Hi\nFrom: Ann Lee\nSent: Monday\nTo: Bob\nSubject: x"),
            1
        );
        assert_eq!(cut("Hi\nVon: Ann Lee\nGesendet: Montag\nAn: Bob"), 1);
        assert_eq!(
            cut("Hi\n\nAnn Lee@ENRON\n12/07/2000 10:45 AM\nTo: Bob\ncc:\nSubject: x"),
            2
        );
        assert_eq!(
            cut("Hi\n---------------------- Forwarded by Ann/HOU on 12/07/2000"),
            1
        );
        assert_eq!(cut("Hi\nFrom: my desk I send this.\nThanks"), 3);
    }
}
