//! HTML body to lines, with html5ever's spec tokenizer and our own token sink.
//!
//! No tree builder: html5ever's tree builder is quadratic in nesting depth (servo/html5ever#788),
//! the tokenizer alone is linear. Block elements and table cells end a line; link targets and
//! image alt text are kept as evidence; `style`, `script` and tracking pixels are dropped.
//! Quote containers (`blockquote`, `gmail_quote`, `divRplyFwdMsg` …) and signature containers
//! (`gmail_signature`, `moz-signature`) become [`Mark`]s on the line where they start.

use std::cell::RefCell;

use html5ever::local_name;
use html5ever::tendril::StrTendril;
use html5ever::tokenizer::states::RawKind;
use html5ever::tokenizer::{
    BufferQueue, Tag, TagKind, Token, TokenSink, TokenSinkResult, Tokenizer, TokenizerOpts,
};

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use once_cell::sync::Lazy;

use crate::line::{Line, Mark, collapse};

/// Elements that end the current line (a `match`, not a table scan: it runs for every tag).
fn is_block(name: &str) -> bool {
    matches!(
        name,
        "address"
            | "article"
            | "blockquote"
            | "br"
            | "caption"
            | "center"
            | "dd"
            | "div"
            | "dl"
            | "dt"
            | "footer"
            | "h1"
            | "h2"
            | "h3"
            | "h4"
            | "h5"
            | "h6"
            | "header"
            | "hr"
            | "li"
            | "ol"
            | "p"
            | "pre"
            | "section"
            | "table"
            | "tbody"
            | "td"
            | "tfoot"
            | "th"
            | "thead"
            | "tr"
            | "ul"
    )
}

/// Class or id fragments that open quoted history.
const QUOTE_MARKERS: &[&str] = &[
    "gmail_quote",
    "divrplyfwdmsg",
    "moz-cite-prefix",
    "appendonsend",
    "outlookmessageheader",
    "yahoo_quoted",
    "ms-outlook-mobile-reference-message",
    "zmail_extra",
    "protonmail_quote",
];

/// Class or id fragments of a mail client's signature container.
const SIGNATURE_MARKERS: &[&str] = &[
    "gmail_signature",
    "moz-signature",
    "x_signature",
    "ms-outlook-signature",
];

/// Class or id fragments, found in any ASCII case without copying the attribute.
struct IdentMarkers(Option<AhoCorasick>);

impl IdentMarkers {
    fn new(markers: &[&str]) -> IdentMarkers {
        IdentMarkers(
            AhoCorasickBuilder::new()
                .ascii_case_insensitive(true)
                .build(markers)
                .ok(),
        )
    }
}

static QUOTE_IDENTS: Lazy<IdentMarkers> = Lazy::new(|| IdentMarkers::new(QUOTE_MARKERS));
static SIGNATURE_IDENTS: Lazy<IdentMarkers> = Lazy::new(|| IdentMarkers::new(SIGNATURE_MARKERS));

/// Most lines kept from one HTML part; beyond that the oldest half is dropped.
const MAX_LINES: usize = 5_000;

#[derive(Default)]
struct State {
    lines: Vec<Line>,
    text: String,
    links: Vec<String>,
    icons: Vec<String>,
    alts: Vec<String>,
    mark: Mark,
    /// Raw-text element being skipped (`style`, `script` …).
    suppress: Option<html5ever::LocalName>,
}

impl State {
    fn push_text(&mut self, t: &str) {
        // Bounded: a line longer than this is content, never a signature.
        if self.text.len() < crate::line::MAX_LINE_BYTES * 2 {
            self.text.push_str(t);
        }
    }

    fn break_line(&mut self, paragraph: bool) {
        // Keep the tail: the signature is at the end of the sender's part.
        if self.lines.len() >= MAX_LINES {
            self.lines.drain(..MAX_LINES / 2);
        }
        let text = collapse(&self.text);
        self.text.clear();
        if text.is_empty() && self.links.is_empty() && self.icons.is_empty() && self.alts.is_empty()
        {
            if paragraph && self.lines.last().is_some_and(|l| !l.is_blank()) {
                self.lines.push(Line::default());
            }
            return;
        }
        self.lines.push(Line {
            text,
            links: std::mem::take(&mut self.links),
            icons: std::mem::take(&mut self.icons),
            alts: std::mem::take(&mut self.alts),
            mark: std::mem::take(&mut self.mark),
            ..Line::default()
        });
    }

    fn set_mark(&mut self, mark: Mark) {
        // A mark belongs to the first line that follows it.
        self.break_line(false);
        if self.mark == Mark::None {
            self.mark = mark;
        }
    }

    fn start_tag(&mut self, tag: &Tag) {
        let name: &str = &tag.name;
        // Interned names: comparing atoms is one integer compare per attribute.
        let attr = |n: html5ever::LocalName| {
            tag.attrs
                .iter()
                .find(|a| a.name.local == n)
                .map(|a| &*a.value)
        };
        let (class, id) = (attr(local_name!("class")), attr(local_name!("id")));
        if name == "blockquote" {
            self.set_mark(Mark::QuoteStart);
        } else if class.is_some() || id.is_some() {
            // (A marker never spans the space that joined class and id before.)
            let has = |markers: &IdentMarkers| {
                [class, id]
                    .into_iter()
                    .flatten()
                    .any(|ident| markers.0.as_ref().is_some_and(|ac| ac.is_match(ident)))
            };
            if has(&QUOTE_IDENTS) {
                self.set_mark(Mark::QuoteStart);
            } else if has(&SIGNATURE_IDENTS) {
                self.set_mark(Mark::SignatureStart);
            }
        }
        if is_block(name) {
            self.break_line(name == "p" || name == "table" || name == "hr");
        }
        match name {
            "img" => self.image(
                attr(local_name!("alt")),
                attr(local_name!("src")),
                attr(local_name!("width")),
                attr(local_name!("height")),
            ),
            "a" => {
                if let Some(href) = attr(local_name!("href"))
                    .map(str::trim)
                    .filter(|h| !h.is_empty())
                    && self.links.len() < 16
                {
                    self.links.push(href.chars().take(500).collect());
                }
            }
            _ => {}
        }
    }

    fn image(
        &mut self,
        alt: Option<&str>,
        src: Option<&str>,
        width: Option<&str>,
        height: Option<&str>,
    ) {
        let tiny =
            |v: Option<&str>| v.is_some_and(|v| matches!(v.trim(), "0" | "1" | "1px" | "0px"));
        if tiny(width) || tiny(height) {
            return; // tracking pixel
        }
        match alt.map(str::trim).filter(|a| !a.is_empty()) {
            Some(alt) => {
                self.push_text(" ");
                self.push_text(alt);
                self.push_text(" ");
                if self.alts.len() < 8 {
                    self.alts.push(collapse(alt));
                }
            }
            None => {
                let stem = src
                    .and_then(|s| s.split(['?', '#']).next())
                    .and_then(|s| s.rsplit('/').next())
                    .map(|s| s.split('.').next().unwrap_or(s).to_ascii_lowercase());
                if let Some(stem) = stem.filter(|s| !s.is_empty() && self.icons.len() < 8) {
                    self.icons.push(stem.chars().take(60).collect());
                }
            }
        }
    }
}

struct Sink(RefCell<State>);

impl TokenSink for Sink {
    type Handle = ();

    fn process_token(&self, token: Token, _line: u64) -> TokenSinkResult<()> {
        let mut s = self.0.borrow_mut();
        match token {
            Token::CharacterTokens(t) if s.suppress.is_none() => s.push_text(&t),
            Token::TagToken(tag) => {
                if let Some(name) = &s.suppress {
                    if tag.kind == TagKind::EndTag && *name == tag.name {
                        s.suppress = None;
                    }
                    return TokenSinkResult::Continue;
                }
                let name: &str = &tag.name;
                if tag.kind == TagKind::StartTag {
                    // Without a tree builder the sink must switch the tokenizer's raw-text states.
                    let raw = match name {
                        "style" | "noscript" | "iframe" | "xmp" | "noembed" | "noframes" => {
                            Some(RawKind::Rawtext)
                        }
                        "script" => Some(RawKind::ScriptData),
                        "title" | "textarea" => Some(RawKind::Rcdata),
                        _ => None,
                    };
                    if let Some(kind) = raw {
                        if tag.self_closing {
                            return TokenSinkResult::Continue;
                        }
                        s.suppress = Some(tag.name.clone());
                        return TokenSinkResult::RawData(kind);
                    }
                    s.start_tag(&tag);
                } else if is_block(name) {
                    s.break_line(name == "p" || name == "table");
                }
            }
            _ => {}
        }
        TokenSinkResult::Continue
    }
}

/// Most HTML bytes tokenized per message: the sender's part ends where quoted history begins,
/// and the signature sits at the end of that part, so the tail of it is what matters. This
/// keeps a 1 MiB or deeply nested document within the per-message time budget.
const MAX_HTML_BYTES: usize = 64 * 1024;

/// Markers of quoted history in raw HTML (lower-case).
fn history_markers() -> impl Iterator<Item = &'static str> {
    ["<blockquote", "-----original message-----"]
        .into_iter()
        .chain(QUOTE_MARKERS.iter().copied())
}

/// The markers as one case-sensitive automaton, searched in lower-cased copies of the
/// document (see [`first_history_marker`]). Case-sensitive literals let aho-corasick use its
/// SIMD prefilter; an ASCII-case-insensitive automaton walks every byte and, over a 1 MiB
/// newsletter, cost as much as the tokenizer.
static HISTORY_MARKER: Lazy<Option<AhoCorasick>> = Lazy::new(|| {
    AhoCorasickBuilder::new()
        .match_kind(MatchKind::LeftmostFirst)
        .build(history_markers())
        .ok()
});

/// Bytes lower-cased and searched at a time (plus the overlap), so the copy stays small.
const MARKER_CHUNK: usize = 64 * 1024;

/// Start of the first history marker in `html`, any ASCII case: one linear scan, chunk by
/// chunk over an ASCII-lower-cased copy of each chunk.
fn first_history_marker(html: &[u8]) -> Option<usize> {
    let ac = HISTORY_MARKER.as_ref()?;
    let overlap = history_markers().map(str::len).max().unwrap_or(0);
    // Sized to the document when it is smaller than a chunk (most are), so the copy stays
    // within the memory budget of a small multiple of the message.
    let mut chunk = Vec::with_capacity(html.len().min(MARKER_CHUNK + overlap));
    let mut start = 0;
    while start < html.len() {
        let end = (start + MARKER_CHUNK + overlap).min(html.len());
        chunk.clear();
        chunk.extend(html.get(start..end)?.iter().map(u8::to_ascii_lowercase));
        // A match that starts in the overlap may hide an earlier one cut off at `end`; it is
        // found again, whole, in the next chunk.
        let own = if end == html.len() {
            end - start
        } else {
            MARKER_CHUNK
        };
        if let Some(m) = ac.find(&chunk[..]).filter(|m| m.start() < own) {
            return Some(start + m.start());
        }
        start += MARKER_CHUNK;
    }
    None
}

/// Byte range of the document worth tokenizing: up to the first history marker, then its
/// last [`MAX_HTML_BYTES`] starting at a tag boundary.
fn sender_part(html: &str) -> (usize, usize) {
    let end = first_history_marker(html.as_bytes())
        // Back up to the '<' of the element that carries the marker.
        .map_or(html.len(), |at| {
            if html.as_bytes().get(at) == Some(&b'<') {
                at
            } else {
                html.get(..at).and_then(|h| h.rfind('<')).unwrap_or(at)
            }
        });
    if end <= MAX_HTML_BYTES {
        return (0, end);
    }
    let mut start = end - MAX_HTML_BYTES;
    while !html.is_char_boundary(start) {
        start += 1;
    }
    let start = html[start..end].find('<').map_or(start, |i| start + i);
    (start, end)
}

/// Converts an HTML document into lines (blank lines separate paragraphs); only the sender's
/// part is tokenized (see [`sender_part`]), with a quote mark where history starts.
pub(crate) fn to_lines(html: &str) -> Vec<Line> {
    let (start, end) = sender_part(html);
    let mut lines = tokenize(html.get(start..end).unwrap_or_default());
    if end < html.len() {
        let own_text = lines
            .iter()
            .any(|l| l.text.chars().any(char::is_alphanumeric));
        if own_text {
            lines.push(Line {
                text: "[quoted history]".to_string(),
                mark: Mark::QuoteStart,
                ..Line::default()
            });
        } else {
            // Nothing above the history (a bare forward): read the forwarded message, whose
            // quote mark lets segmentation unwrap it.
            let mut stop = (end + MAX_HTML_BYTES).min(html.len());
            while !html.is_char_boundary(stop) {
                stop -= 1;
            }
            lines.extend(tokenize(html.get(end..stop).unwrap_or_default()));
        }
    }
    lines
}

fn tokenize(html: &str) -> Vec<Line> {
    let tokenizer = Tokenizer::new(
        Sink(RefCell::new(State::default())),
        TokenizerOpts::default(),
    );
    let input = BufferQueue::default();
    input.push_back(StrTendril::from_slice(html));
    let _ = tokenizer.feed(&input);
    tokenizer.end();
    let mut state = tokenizer.sink.0.borrow_mut();
    state.break_line(false);
    std::mem::take(&mut state.lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(lines: &[Line]) -> Vec<&str> {
        lines
            .iter()
            .map(|l| l.text.as_str())
            .filter(|t| !t.is_empty())
            .collect()
    }

    #[test]
    fn cells_and_breaks_become_lines() {
        let lines = to_lines(
            "<table><tr><td>Ann Lee<br>CEO</td><td>T&nbsp;+1 510</td></tr></table><style>p{x}</style>",
        );
        assert_eq!(texts(&lines), ["Ann Lee", "CEO", "T +1 510"]);
    }

    #[test]
    fn keeps_links_icons_and_alt() {
        let lines = to_lines(
            r#"<p><img src="https://x/icon-mobile.png?v=1" alt=""> 0171</p><p><a href="https://www.acme.de">acme.de</a> <img alt="Acme GmbH" src="logo.png"></p><img src="t.gif" width="1" alt="track">"#,
        );
        assert_eq!(lines[0].icons, ["icon-mobile"]);
        let acme = lines
            .iter()
            .find(|l| l.text.contains("acme.de"))
            .map(|l| (l.links.clone(), l.text.clone()));
        assert_eq!(
            acme,
            Some((
                vec!["https://www.acme.de".to_string()],
                "acme.de Acme GmbH".to_string()
            ))
        );
        assert!(!lines.iter().any(|l| l.text.contains("track")));
    }

    #[test]
    fn marks_quotes_and_signatures() {
        let lines = to_lines(
            r#"<div>Hi</div><div class="gmail_signature">Ann</div><div class="gmail_quote">On Mon wrote:<blockquote>old</blockquote></div>"#,
        );
        let marks: Vec<(Mark, &str)> = lines
            .iter()
            .filter(|l| !l.text.is_empty())
            .map(|l| (l.mark, l.text.as_str()))
            .collect();
        assert_eq!(
            marks,
            [
                (Mark::None, "Hi"),
                (Mark::SignatureStart, "Ann"),
                (Mark::QuoteStart, "[quoted history]")
            ]
        );
    }

    #[test]
    fn history_is_cut_before_tokenizing() {
        let lines = to_lines(
            r#"<p>Hi</p><p>Ann Lee</p><div class="gmail_quote">On Mon Bob wrote:<p>Bob Roe</p></div>"#,
        );
        assert!(!lines.iter().any(|l| l.text.contains("Bob")));
        assert_eq!(lines.last().map(|l| l.mark), Some(Mark::QuoteStart));
        let big = "<p>filler text</p>".repeat(20_000) + "<p>Ann Lee</p>";
        let lines = to_lines(&big);
        assert_eq!(
            lines
                .iter()
                .rev()
                .find(|l| !l.text.is_empty())
                .map(|l| l.text.as_str()),
            Some("Ann Lee")
        );
    }

    #[test]
    fn history_marker_found_in_any_case_and_across_chunks() {
        assert_eq!(first_history_marker(b"<p>x</p><BlockQuote>"), Some(8));
        assert_eq!(first_history_marker(b"<p>x</p>"), None);
        for at in [
            MARKER_CHUNK - 30,
            MARKER_CHUNK - 5,
            MARKER_CHUNK,
            2 * MARKER_CHUNK + 3,
        ] {
            let mut html = "a".repeat(at);
            html.push_str("<div class=\"GMAIL_QUOTE\">-----Original Message-----");
            assert_eq!(first_history_marker(html.as_bytes()), Some(at + 12), "{at}");
            // An earlier marker cut by the chunk's end wins over a later one in the overlap.
            let mut html = "a".repeat(at);
            html.push_str("-----Original Message-----<blockquote>");
            assert_eq!(first_history_marker(html.as_bytes()), Some(at), "{at}");
        }
    }

    #[test]
    fn deep_nesting_is_linear() {
        let html = "<div>".repeat(50_000) + "x" + &"</div>".repeat(50_000) + "<p>Ann Lee</p>";
        let lines = to_lines(&html);
        assert_eq!(texts(&lines), ["Ann Lee"]);
    }
}

#[cfg(test)]
mod raw_text_tests {
    use super::*;

    #[test]
    fn style_and_script_are_skipped() {
        let lines = to_lines(
            "<html><head><style>p{margin:0}</style><script>var a='<td>x</td>';</script></head><body><p>Hallo</p><p>Greta<br>Art</p></body></html>",
        );
        let texts: Vec<&str> = lines
            .iter()
            .map(|l| l.text.as_str())
            .filter(|t| !t.is_empty())
            .collect();
        assert_eq!(texts, ["Hallo", "Greta", "Art"]);
    }
}
