//! Entry points to the single stages of the pipeline, for fuzzing and benchmarks. They return
//! counts only, never content, and are not part of the supported API.

use crate::fields::{self, name::Sender};
use crate::{html, mime, segment, signature};

/// HTML to lines; returns the number of lines.
pub fn html_lines(html: &str) -> usize {
    html::to_lines(html).len()
}

/// MIME decoding of a raw message; returns the number of body lines.
pub fn mime_lines(raw: &[u8]) -> usize {
    let mut diagnostics = Vec::new();
    mime::read(raw, &mut diagnostics).map_or(0, |b| b.lines.len())
}

/// Segmentation of a plain-text body; returns the number of lines of the top message.
pub fn top_message_lines(text: &str) -> usize {
    segment::top_message(mime::text_lines(text)).0.len()
}

/// Signature location in a plain-text body; returns the block's line count.
pub fn signature_lines(text: &str) -> usize {
    let lines = mime::text_lines(text);
    let sender = Sender::default();
    signature::locate(&lines, &|t| sender.is_name_line(t))
        .map_or(0, |b| b.end.saturating_sub(b.start))
}

/// Field extraction over a plain-text block; returns the number of cells, phones and URLs found.
pub fn field_count(text: &str) -> usize {
    let lines = mime::text_lines(text);
    let cells = fields::cells(&lines);
    let regions = fields::region::hints(text, None, None);
    let phones = fields::phone::find(&cells, &lines, &regions).len();
    let urls = fields::url::all(&cells, &lines).len();
    let emails = fields::email::find(&cells, &lines).len();
    let address = usize::from(fields::address::find(&cells, &lines).is_some());
    cells.len() + phones + urls + emails + address
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stages_run_on_small_input() {
        assert_eq!(html_lines("<p>a</p><p>b</p>"), 3);
        assert!(mime_lines(b"From: a@b.c\n\nhello\nworld\n") >= 2);
        assert_eq!(top_message_lines("hi\n> quoted"), 1);
        assert_eq!(signature_lines("text\n\n-- \nAnn Lee\n555"), 2);
        assert!(field_count("Ann Lee | +1 510 555 0142 | www.acme.com") >= 5);
    }
}
