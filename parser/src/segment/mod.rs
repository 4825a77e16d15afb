//! Segmentation: only the sender's own top message is searched for a signature.
//!
//! Quoted and forwarded history is cut ([`history`]); device footers, legal disclaimers and
//! company registration blocks are recognised ([`footer`]) so that their names and numbers are
//! never taken for the sender's. A message that is nothing but a forward is read as the
//! forwarded message itself (its author is then the one who wrote it).

pub(crate) mod footer;
pub(crate) mod history;

use crate::line::Line;

/// How many forwarded layers are unwrapped when the sender wrote nothing above them.
const MAX_UNWRAP: usize = 4;

/// The lines the sender wrote in this message: history cut, interleaved quotes and device
/// footers removed, trailing blank lines dropped. The flag says whether a forward was
/// unwrapped (the lines are then the forwarded author's, not the sender's).
pub(crate) fn top_message(lines: Vec<Line>) -> (Vec<Line>, bool) {
    let mut from = 0;
    let mut cut = history::start_from(&lines, 0);
    let mut unwrapped = false;
    for _ in 0..MAX_UNWRAP {
        let own_text = lines
            .get(from..cut)
            .is_some_and(|ls| ls.iter().any(|l| l.text.chars().any(char::is_alphanumeric)));
        if own_text || cut >= lines.len() {
            break;
        }
        from = history::skip_header(&lines, cut);
        cut = history::start_from(&lines, from);
        unwrapped = true;
    }
    let keep: Vec<bool> = (0..lines.len())
        .map(|i| i >= from && i < cut && !history::is_inline_quote(&lines, i))
        .collect();
    let mut out: Vec<Line> = lines
        .into_iter()
        .zip(keep)
        .filter(|(l, k)| {
            *k && !footer::is_device_footer(&l.text) && !footer::is_attachment_placeholder(&l.text)
        })
        .map(|(l, _)| l)
        .collect();
    trim_footers(&mut out);
    (out, unwrapped)
}

/// Drops trailing disclaimer and registration paragraphs (and rule lines between them). In a
/// paragraph that starts with other lines, only the part from the first footer line is dropped.
fn trim_footers(lines: &mut Vec<Line>) {
    loop {
        while lines.last().is_some_and(Line::is_blank) {
            lines.pop();
        }
        let end = lines.len();
        let start = lines.iter().rposition(Line::is_blank).map_or(0, |i| i + 1);
        let paragraph = &lines[start..end];
        if paragraph
            .iter()
            .all(|l| crate::signature::is_rule_line(&l.text))
            && !paragraph.is_empty()
        {
            lines.truncate(start);
            continue;
        }
        let first_footer = paragraph.iter().position(Line::is_legal_footer);
        match first_footer {
            Some(0) => lines.truncate(start),
            Some(i) => {
                lines.truncate(start + i);
                break;
            }
            None => break,
        }
    }
    while lines.last().is_some_and(Line::is_blank) {
        lines.pop();
    }
}
