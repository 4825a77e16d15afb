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
        let own_text = lines.get(from..cut).is_some_and(|ls| ls.iter().any(|l| l.text.chars().any(char::is_alphanumeric)));
        if own_text || cut >= lines.len() {
            break;
        }
        from = history::skip_header(&lines, cut);
        cut = history::start_from(&lines, from);
        unwrapped = true;
    }
    let keep: Vec<bool> = (0..lines.len()).map(|i| i >= from && i < cut && !history::is_inline_quote(&lines, i)).collect();
    let mut out: Vec<Line> = lines.into_iter().zip(keep).filter(|(l, k)| *k && !footer::is_device_footer(&l.text) && !footer::is_attachment_placeholder(&l.text)).map(|(l, _)| l).collect();
    while out.last().is_some_and(Line::is_blank) {
        out.pop();
    }
    (out, unwrapped)
}
