//! Segmentation: only the sender's own top message is searched for a signature.
//!
//! Quoted and forwarded history is cut ([`history`]); device footers, legal disclaimers and
//! company registration blocks are recognised ([`footer`]) so that their names and numbers are
//! never taken for the sender's.

pub(crate) mod footer;
pub(crate) mod history;

use crate::line::Line;

/// The lines the sender wrote in this message: history cut, device footers removed,
/// trailing blank lines dropped.
pub(crate) fn top_message(mut lines: Vec<Line>) -> Vec<Line> {
    let cut = history::start(&lines);
    lines.truncate(cut);
    lines.retain(|l| !footer::is_device_footer(&l.text));
    while lines.last().is_some_and(Line::is_blank) {
        lines.pop();
    }
    lines
}
