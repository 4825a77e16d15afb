//! Deterministic generator of realistic email, for the benchmark and the fuzz seeds.
//!
//! Why it exists: the benchmark must run without the labelled development corpus (not
//! part of the project, and partly GPL), so it writes its own mail, seeded and repeatable: plain,
//! HTML-only and multipart/alternative bodies; quoted-printable, base64 and 8bit;
//! UTF-8 and the legacy charsets people still send (Latin-1, windows-1252, Latin-2,
//! ISO-2022-JP); replies quoting earlier messages with *their* signatures (`>` quotes,
//! Outlook blocks, Gmail `gmail_quote`), forwards, device footers, disclaimers,
//! registration blocks, vCard and binary attachments; signatures in twelve locales.

use base64::Engine as _;
use rand::rngs::StdRng;
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};

use super::langs::{LANGS, Lang};

/// One generated message and what it is made of (for reporting the mix).
pub struct Generated {
    pub raw: Vec<u8>,
    pub kind: &'static str,
}

/// Generates messages until their total size reaches `min_bytes`.
pub fn corpus(seed: u64, min_bytes: usize) -> Vec<Generated> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Vec::new();
    let mut total = 0;
    while total < min_bytes {
        let message = message(&mut rng);
        total += message.raw.len();
        out.push(message);
    }
    out
}

/// Generates one random message.
pub fn message(rng: &mut StdRng) -> Generated {
    let lang = pick(rng, LANGS);
    let author = Person::new(rng, lang);
    let recipient_lang = if rng.random_bool(0.8) {
        lang
    } else {
        pick(rng, LANGS)
    };
    let recipient = Person::new(rng, recipient_lang);
    let thread = Thread::new(rng, author, recipient);
    let shape = match rng.random_range(0..100) {
        0..30 => Shape::Plain,
        30..45 => Shape::HtmlOnly,
        45..90 => Shape::Alternative,
        _ => Shape::WithAttachment,
    };
    let raw = assemble(rng, &thread, shape);
    Generated {
        raw,
        kind: shape.name(),
    }
}

#[derive(Clone, Copy)]
enum Shape {
    Plain,
    HtmlOnly,
    Alternative,
    WithAttachment,
}

impl Shape {
    fn name(self) -> &'static str {
        match self {
            Shape::Plain => "text/plain",
            Shape::HtmlOnly => "text/html",
            Shape::Alternative => "multipart/alternative",
            Shape::WithAttachment => "multipart/mixed",
        }
    }
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    // Tables are non-empty constants; an empty one is a bug in the table.
    items
        .choose(rng)
        .unwrap_or_else(|| panic!("empty generator table"))
}

fn digits(rng: &mut StdRng, template: &str) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(i) = rest.find("{d}") {
        out.push_str(&rest[..i]);
        out.push(char::from(b'0' + rng.random_range(0..10u8)));
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    out
}

fn ascii_slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        let mapped = match c {
            'ä' | 'à' | 'á' | 'â' | 'å' | 'ą' | 'ã' => "a",
            'ö' | 'ó' | 'ô' | 'ø' | 'ò' | 'õ' => "o",
            'ü' | 'ú' | 'ù' | 'û' => "u",
            'é' | 'è' | 'ê' | 'ë' | 'ę' => "e",
            'í' | 'ì' | 'î' | 'ï' => "i",
            'ß' => "ss",
            'ç' | 'ć' => "c",
            'ñ' | 'ń' => "n",
            'ł' => "l",
            'ś' => "s",
            'ż' | 'ź' => "z",
            'æ' => "ae",
            c if c.is_ascii_alphanumeric() => {
                out.push(c.to_ascii_lowercase());
                continue;
            }
            _ => continue,
        };
        out.push_str(mapped);
    }
    out
}

/// A fictional person with a full business card.
struct Person {
    lang: &'static Lang,
    first: &'static str,
    last: &'static str,
    email: String,
    title: &'static str,
    company: String,
    domain: String,
    work: String,
    mobile: Option<String>,
    fax: Option<String>,
    street: String,
    city: &'static str,
    social: Option<String>,
    labels: [&'static str; 3],
}

impl Person {
    fn new(rng: &mut StdRng, lang: &'static Lang) -> Person {
        let first = *pick(rng, lang.first);
        let last = *pick(rng, lang.last);
        let stem = *pick(rng, lang.company_stems);
        let form = *pick(rng, lang.legal_forms);
        let company = if lang.code == "ja" {
            format!("{form}{stem}")
        } else {
            format!("{stem} {form}")
        };
        let mut domain = ascii_slug(stem);
        if domain.is_empty() {
            domain = format!("kaisha{}", rng.random_range(1..99));
        }
        let domain = format!("{domain}.{}", lang.tld);
        let local = match (ascii_slug(first), ascii_slug(last)) {
            (f, l) if !f.is_empty() && !l.is_empty() => {
                if rng.random_bool(0.5) {
                    format!("{f}.{l}")
                } else {
                    format!("{}{l}", &f[..1])
                }
            }
            _ => format!("user{}", rng.random_range(100..999)),
        };
        let email = format!("{local}@{domain}");
        let street = pick(rng, lang.streets).replace("{n}", &rng.random_range(1..240).to_string());
        let social = rng.random_bool(0.3).then(|| match rng.random_range(0..4) {
            0 => format!("https://www.linkedin.com/in/{local}"),
            1 => format!("https://www.xing.com/profile/{local}"),
            2 => format!("https://x.com/{}", local.replace('.', "_")),
            _ => format!("https://github.com/{}", local.replace('.', "-")),
        });
        let work_t = *pick(rng, lang.work_phones);
        let work = digits(rng, work_t);
        let mobile_t = *pick(rng, lang.mobile_phones);
        let mobile = rng.random_bool(0.6).then(|| digits(rng, mobile_t));
        let fax = rng.random_bool(0.25).then(|| digits(rng, work_t));
        Person {
            lang,
            first,
            last,
            email,
            title: pick::<&str>(rng, lang.titles),
            company,
            domain,
            work,
            mobile,
            fax,
            street,
            city: pick::<&str>(rng, lang.cities),
            social,
            labels: *pick(rng, lang.labels),
        }
    }

    fn name(&self) -> String {
        if self.lang.code == "ja" {
            format!("{} {}", self.last, self.first)
        } else {
            format!("{} {}", self.first, self.last)
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum SigStyle {
    DashDash,
    Valediction,
    OneLine,
    NameOnly,
    None,
}

/// One person's message: what they wrote and how they signed it.
struct Letter {
    author: Person,
    greeting: String,
    paragraphs: Vec<String>,
    valediction: &'static str,
    style: SigStyle,
    device_footer: bool,
    disclaimer: bool,
    registration: bool,
    date: String,
    subject: &'static str,
}

impl Letter {
    fn new(rng: &mut StdRng, author: Person, to: &Person) -> Letter {
        let lang = author.lang;
        let greeting = pick(rng, lang.greetings).replace("{to}", to.first);
        let paragraphs = (0..rng.random_range(1..5))
            .map(|_| {
                let n = rng.random_range(1..5);
                let sentences: Vec<&str> = (0..n).map(|_| *pick(rng, lang.sentences)).collect();
                sentences.join(if lang.code == "ja" { "" } else { " " })
            })
            .collect();
        let style = match rng.random_range(0..100) {
            0..25 => SigStyle::DashDash,
            25..70 => SigStyle::Valediction,
            70..80 => SigStyle::OneLine,
            80..90 => SigStyle::NameOnly,
            _ => SigStyle::None,
        };
        let date = format!(
            "{}, {} {} 2024 {:02}:{:02}:{:02} +0{}00",
            pick(rng, &["Mon", "Tue", "Wed", "Thu", "Fri"]),
            rng.random_range(1..29),
            pick(
                rng,
                &[
                    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Sep", "Oct", "Nov"
                ]
            ),
            rng.random_range(7..20),
            rng.random_range(0..60),
            rng.random_range(0..60),
            rng.random_range(0..3),
        );
        Letter {
            greeting,
            paragraphs,
            valediction: pick::<&str>(rng, lang.valedictions),
            style,
            device_footer: rng.random_bool(0.08),
            disclaimer: rng.random_bool(0.2),
            registration: lang.registration.is_some() && rng.random_bool(0.25),
            date,
            subject: pick::<&str>(rng, lang.subjects),
            author,
        }
    }

    /// The signature block as lines of (label, value, link target).
    fn card(&self) -> Vec<CardLine> {
        let p = &self.author;
        let mut lines = vec![CardLine::text(p.name())];
        if self.style == SigStyle::NameOnly {
            return lines;
        }
        lines.push(CardLine::text(p.title.to_string()));
        lines.push(CardLine::text(p.company.clone()));
        lines.push(CardLine::text(p.street.clone()));
        lines.push(CardLine::text(p.city.to_string()));
        lines.push(CardLine::link(
            p.labels[0],
            p.work.clone(),
            format!("tel:{}", p.work.replace(' ', "")),
        ));
        if let Some(m) = &p.mobile {
            lines.push(CardLine::link(
                p.labels[1],
                m.clone(),
                format!("tel:{}", m.replace(' ', "")),
            ));
        }
        if let Some(f) = &p.fax {
            lines.push(CardLine {
                label: Some(p.labels[2]),
                value: f.clone(),
                href: None,
            });
        }
        lines.push(CardLine::link(
            "",
            p.email.clone(),
            format!("mailto:{}", p.email),
        ));
        lines.push(CardLine::link(
            "",
            format!("www.{}", p.domain),
            format!("https://www.{}/", p.domain),
        ));
        if let Some(s) = &p.social {
            lines.push(CardLine::link("", s.clone(), s.clone()));
        }
        lines
    }
}

struct CardLine {
    label: Option<&'static str>,
    value: String,
    href: Option<String>,
}

impl CardLine {
    fn text(value: String) -> CardLine {
        CardLine {
            label: None,
            value,
            href: None,
        }
    }
    fn link(label: &'static str, value: String, href: String) -> CardLine {
        CardLine {
            label: (!label.is_empty()).then_some(label),
            value,
            href: Some(href),
        }
    }
    fn plain(&self) -> String {
        match self.label {
            Some(l) => format!("{l} {}", self.value),
            None => self.value.clone(),
        }
    }
}

#[derive(Clone, Copy)]
enum QuoteStyle {
    /// `On … wrote:` then `> ` lines (or `gmail_quote` in HTML).
    Angle,
    /// Outlook `From: / Sent: / To: / Subject:` block, unquoted history.
    Outlook,
    /// Forwarded message header.
    Forward,
}

/// The top message and the history it quotes, newest first.
struct Thread {
    top: Letter,
    history: Vec<(Letter, QuoteStyle)>,
    to: Person,
}

impl Thread {
    fn new(rng: &mut StdRng, author: Person, to: Person) -> Thread {
        let top = Letter::new(rng, author, &to);
        let depth = match rng.random_range(0..100) {
            0..45 => 0,
            45..75 => 1,
            75..92 => 2,
            _ => rng.random_range(3..6),
        };
        let mut history = Vec::new();
        for i in 0..depth {
            let writer = if i % 2 == 0 {
                Person::new(rng, to.lang)
            } else {
                Person::new(rng, top.author.lang)
            };
            let letter = Letter::new(rng, writer, &to);
            let style = match rng.random_range(0..10) {
                0..5 => QuoteStyle::Angle,
                5..9 => QuoteStyle::Outlook,
                _ => QuoteStyle::Forward,
            };
            history.push((letter, style));
        }
        Thread { top, history, to }
    }
}

fn letter_text(l: &Letter) -> String {
    let mut out = String::new();
    out.push_str(&l.greeting);
    out.push_str("\n\n");
    for p in &l.paragraphs {
        out.push_str(p);
        out.push_str("\n\n");
    }
    let card = l.card();
    match l.style {
        SigStyle::DashDash => {
            out.push_str(l.valediction);
            out.push('\n');
            out.push_str(l.author.first);
            out.push_str("\n\n-- \n");
            for c in &card {
                out.push_str(&c.plain());
                out.push('\n');
            }
        }
        SigStyle::Valediction | SigStyle::NameOnly => {
            out.push_str(l.valediction);
            out.push_str("\n\n");
            for c in &card {
                out.push_str(&c.plain());
                out.push('\n');
            }
        }
        SigStyle::OneLine => {
            out.push_str(l.valediction);
            out.push('\n');
            let parts: Vec<String> = card.iter().take(4).map(CardLine::plain).collect();
            out.push_str(&parts.join(" | "));
            out.push('\n');
        }
        SigStyle::None => {
            out.push_str(l.valediction);
            out.push('\n');
            out.push_str(l.author.first);
            out.push('\n');
        }
    }
    if l.registration
        && let Some(r) = l.author.lang.registration
    {
        out.push('\n');
        out.push_str(r);
        out.push('\n');
    }
    if l.device_footer {
        out.push('\n');
        out.push_str(l.author.lang.device_footer);
        out.push('\n');
    }
    if l.disclaimer {
        out.push('\n');
        out.push_str(l.author.lang.disclaimer);
        out.push('\n');
    }
    out
}

fn header_block(l: &Letter, to: &Person, style: QuoteStyle) -> String {
    let lang = l.author.lang;
    match style {
        QuoteStyle::Angle => format!(
            "{}\n",
            lang.quote_header
                .replace("{date}", &l.date)
                .replace("{name}", &l.author.name())
                .replace("{email}", &l.author.email)
        ),
        QuoteStyle::Outlook => format!(
            "-----Original Message-----\n{} {} <{}>\n{} {}\n{} {}\n{} {}\n\n",
            lang.outlook[0],
            l.author.name(),
            l.author.email,
            lang.outlook[1],
            l.date,
            lang.outlook[2],
            to.name(),
            lang.outlook[3],
            l.subject
        ),
        QuoteStyle::Forward => format!(
            "{}\n{} {} <{}>\nDate: {}\n{} {}\n{} {}\n\n",
            lang.forward_header,
            lang.outlook[0],
            l.author.name(),
            l.author.email,
            l.date,
            lang.outlook[3],
            l.subject,
            lang.outlook[2],
            to.name()
        ),
    }
}

fn thread_text(t: &Thread) -> String {
    let mut out = letter_text(&t.top);
    // History is quoted innermost-last: each older message sits inside the newer quote.
    let mut quoted = String::new();
    for (letter, style) in t.history.iter().rev() {
        let mut block = String::from("\n");
        block.push_str(&header_block(letter, &t.to, *style));
        block.push_str(&letter_text(letter));
        block.push_str(&quoted);
        quoted = match style {
            QuoteStyle::Angle => {
                let mut q = String::new();
                let mut lines = block.lines();
                if let Some(first) = lines.next() {
                    q.push_str(first);
                    q.push('\n');
                }
                if let Some(header) = lines.next() {
                    q.push_str(header);
                    q.push('\n');
                }
                for line in lines {
                    q.push_str(if line.starts_with('>') || line.is_empty() {
                        ">"
                    } else {
                        "> "
                    });
                    q.push_str(line);
                    q.push('\n');
                }
                q
            }
            QuoteStyle::Outlook | QuoteStyle::Forward => block,
        };
    }
    out.push_str(&quoted);
    out
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

fn letter_html(rng: &mut StdRng, l: &Letter) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "<p class=\"MsoNormal\">{}<o:p></o:p></p>\n",
        esc(&l.greeting)
    ));
    for p in &l.paragraphs {
        out.push_str(&format!(
            "<p class=\"MsoNormal\" style=\"margin:0cm;font-size:11pt\">{}</p>\n",
            esc(p)
        ));
    }
    out.push_str(&format!("<p>{}<br>\n", esc(l.valediction)));
    if l.style == SigStyle::None {
        out.push_str(&format!("{}</p>\n", esc(l.author.first)));
    } else {
        out.push_str("</p>\n");
        let card = l.card();
        if l.style == SigStyle::DashDash {
            out.push_str("<div class=\"moz-signature\">-- <br>\n");
        } else {
            out.push_str("<div id=\"Signature\">\n");
        }
        out.push_str("<table cellpadding=\"0\" cellspacing=\"0\" border=\"0\" style=\"font-family:Arial,sans-serif;font-size:9pt;color:#333333\"><tbody><tr>\n");
        if rng.random_bool(0.4) {
            out.push_str(&format!(
                "<td style=\"padding-right:12px;border-right:2px solid #0a6\"><img src=\"cid:logo{}@{}\" alt=\"{}\" width=\"96\" height=\"40\"></td>\n",
                rng.random_range(1..999),
                l.author.domain,
                esc(&l.author.company)
            ));
        }
        out.push_str("<td style=\"padding-left:12px\">\n");
        for (i, c) in card.iter().enumerate() {
            let label = c
                .label
                .map(|x| format!("<span style=\"color:#0a6\">{}</span>&nbsp;", esc(x)))
                .unwrap_or_default();
            let value = match &c.href {
                Some(h) => format!(
                    "<a href=\"{}\" style=\"color:#333;text-decoration:none\">{}</a>",
                    esc(h),
                    esc(&c.value)
                ),
                None if i == 0 => format!("<b>{}</b>", esc(&c.value)),
                None => esc(&c.value),
            };
            out.push_str(&format!("{label}{value}<br>\n"));
        }
        out.push_str("</td></tr></tbody></table></div>\n");
    }
    if l.registration
        && let Some(r) = l.author.lang.registration
    {
        out.push_str(&format!(
            "<p style=\"font-size:7pt;color:#999\">{}</p>\n",
            esc(r).replace('\n', "<br>")
        ));
    }
    if l.disclaimer {
        out.push_str(&format!(
            "<p style=\"font-size:7pt;color:#999\">{}</p>\n",
            esc(l.author.lang.disclaimer)
        ));
    }
    if rng.random_bool(0.2) {
        out.push_str(&format!(
            "<img src=\"https://t.mailtrack.example/open?u={}\" width=\"1\" height=\"1\" alt=\"\" style=\"display:none\">\n",
            rng.random_range(100000..999999)
        ));
    }
    out
}

fn thread_html(rng: &mut StdRng, t: &Thread) -> String {
    let mut out = String::from(
        "<html xmlns:o=\"urn:schemas-microsoft-com:office:office\"><head>\n<meta http-equiv=\"Content-Type\" content=\"text/html; charset=utf-8\">\n<style><!--\np.MsoNormal, li.MsoNormal {margin:0cm; font-size:11.0pt; font-family:\"Calibri\",sans-serif;}\na:link {color:#0563C1; text-decoration:underline;}\n.WordSection1 {page:WordSection1;}\n--></style>\n<script>var tracking = 1;</script>\n</head><body lang=\"EN-US\" link=\"#0563C1\"><div class=\"WordSection1\">\n",
    );
    out.push_str(&letter_html(rng, &t.top));
    let mut quoted = String::new();
    for (letter, style) in t.history.iter().rev() {
        let head = esc(&header_block(letter, &t.to, *style)).replace('\n', "<br>\n");
        let body = letter_html(rng, letter);
        quoted = match style {
            QuoteStyle::Angle => format!(
                "<div class=\"gmail_quote\"><div dir=\"ltr\" class=\"gmail_attr\">{head}</div><blockquote class=\"gmail_quote\" style=\"margin:0 0 0 .8ex;border-left:1px #ccc solid;padding-left:1ex\">\n{body}{quoted}</blockquote></div>\n"
            ),
            QuoteStyle::Outlook | QuoteStyle::Forward => format!(
                "<hr style=\"display:inline-block;width:98%\"><div id=\"divRplyFwdMsg\" dir=\"ltr\"><font face=\"Calibri, sans-serif\" style=\"font-size:11pt\" color=\"#000000\">{head}</font></div>\n<div>{body}{quoted}</div>\n"
            ),
        };
    }
    out.push_str(&quoted);
    out.push_str("</div></body></html>\n");
    out
}

/// Text encoded for one MIME part: charset label and bytes.
fn encode_charset(rng: &mut StdRng, lang: &Lang, text: &str) -> (&'static str, Vec<u8>) {
    if rng.random_bool(0.3)
        && let Some(enc) = encoding_rs::Encoding::for_label(lang.legacy_charset.as_bytes())
    {
        let (bytes, _, had_errors) = enc.encode(text);
        if !had_errors {
            return (lang.legacy_charset, bytes.into_owned());
        }
    }
    ("utf-8", text.as_bytes().to_vec())
}

/// Quoted-printable encoding (RFC 2045 §6.7). Hand-rolled because no QP crate is in the
/// dependency set and the generator only needs the encoder side, with CRLF line ends.
fn quoted_printable(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 11 / 10);
    for line in bytes.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let mut col = 0;
        for (i, &b) in line.iter().enumerate() {
            let last = i + 1 == line.len();
            let literal =
                (b == b' ' || b == b'\t') && !last || (33..=126).contains(&b) && b != b'=';
            let width = if literal { 1 } else { 3 };
            if col + width > 75 {
                out.push_str("=\r\n");
                col = 0;
            }
            if literal {
                out.push(char::from(b));
            } else {
                out.push_str(&format!("={b:02X}"));
            }
            col += width;
        }
        out.push_str("\r\n");
    }
    out
}

fn base64_lines(bytes: &[u8]) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut out = String::with_capacity(encoded.len() + encoded.len() / 38);
    for chunk in encoded.as_bytes().chunks(76) {
        out.push_str(std::str::from_utf8(chunk).unwrap_or_default());
        out.push_str("\r\n");
    }
    out
}

fn crlf(text: &str) -> String {
    text.replace("\r\n", "\n").replace('\n', "\r\n")
}

/// One text part: headers and encoded body.
fn text_part(rng: &mut StdRng, lang: &Lang, subtype: &str, text: &str) -> String {
    let (charset, bytes) = encode_charset(rng, lang, text);
    let ascii = bytes.iter().all(u8::is_ascii);
    let (cte, body) = match rng.random_range(0..10) {
        _ if charset == "iso-2022-jp" => ("7bit", crlf(&String::from_utf8_lossy(&bytes))),
        0..5 => ("quoted-printable", quoted_printable(&bytes)),
        5..7 => ("base64", base64_lines(&bytes)),
        _ if ascii => ("7bit", crlf(text)),
        // 8bit in a non-UTF-8 charset cannot be carried in a Rust String; use QP.
        _ if charset != "utf-8" => ("quoted-printable", quoted_printable(&bytes)),
        _ => ("8bit", crlf(text)),
    };
    format!(
        "Content-Type: text/{subtype}; charset=\"{charset}\"\r\nContent-Transfer-Encoding: {cte}\r\n\r\n{body}"
    )
}

fn encoded_word(s: &str) -> String {
    if s.is_ascii() {
        format!("\"{s}\"")
    } else {
        format!(
            "=?UTF-8?B?{}?=",
            base64::engine::general_purpose::STANDARD.encode(s)
        )
    }
}

fn headers(rng: &mut StdRng, t: &Thread, content_type: &str) -> String {
    let a = &t.top.author;
    let mut h = String::new();
    h.push_str(&format!("Return-Path: <{}>\r\n", a.email));
    for i in 0..rng.random_range(1..5) {
        h.push_str(&format!(
            "Received: from mail{i}.{} (mail{i}.{} [203.0.113.{}])\r\n\tby mx.example.net (Postfix) with ESMTPS id 4X{}\r\n\tfor <{}>; {}\r\n",
            a.domain,
            a.domain,
            rng.random_range(1..254),
            rng.random_range(100000..999999),
            t.to.email,
            t.top.date
        ));
    }
    if rng.random_bool(0.6) {
        let sig: Vec<u8> = (0..128).map(|_| rng.random()).collect();
        h.push_str(&format!(
            "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d={}; s=sel1;\r\n\th=from:to:subject:date:message-id; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;\r\n\tb={}\r\n",
            a.domain,
            base64::engine::general_purpose::STANDARD.encode(sig)
        ));
    }
    h.push_str(&format!(
        "From: {} <{}>\r\n",
        encoded_word(&a.name()),
        a.email
    ));
    h.push_str(&format!(
        "To: {} <{}>\r\n",
        encoded_word(&t.to.name()),
        t.to.email
    ));
    let prefix = if t.history.is_empty() { "" } else { "Re: " };
    h.push_str(&format!(
        "Subject: {}\r\n",
        encoded_word(&format!("{prefix}{}", t.top.subject)).trim_matches('"')
    ));
    h.push_str(&format!("Date: {}\r\n", t.top.date));
    let id = rng.random_range(10u64.pow(12)..10u64.pow(13));
    h.push_str(&format!(
        "Message-ID: <{id}.{}@{}>\r\n",
        rng.random_range(1000..9999),
        a.domain
    ));
    if !t.history.is_empty() {
        h.push_str(&format!("In-Reply-To: <{}@{}>\r\n", id - 17, t.to.domain));
        h.push_str(&format!(
            "References: <{}@{}> <{}@{}>\r\n",
            id - 31,
            a.domain,
            id - 17,
            t.to.domain
        ));
    }
    h.push_str(pick::<&str>(
        rng,
        &[
            "X-Mailer: Microsoft Outlook 16.0\r\n",
            "User-Agent: Mozilla Thunderbird\r\n",
            "X-Mailer: iPhone Mail (21F90)\r\n",
            "",
        ],
    ));
    h.push_str("MIME-Version: 1.0\r\n");
    h.push_str(&format!("Content-Type: {content_type}\r\n"));
    h
}

fn vcard(p: &Person) -> String {
    format!(
        "BEGIN:VCARD\r\nVERSION:3.0\r\nN:{};{};;;\r\nFN:{}\r\nORG:{}\r\nTITLE:{}\r\nTEL;TYPE=WORK,VOICE:{}\r\nEMAIL;TYPE=INTERNET:{}\r\nADR;TYPE=WORK:;;{};{};;;\r\nURL:https://www.{}/\r\nEND:VCARD\r\n",
        p.last,
        p.first,
        p.name(),
        p.company,
        p.title,
        p.work,
        p.email,
        p.street,
        p.city,
        p.domain
    )
}

fn assemble(rng: &mut StdRng, t: &Thread, shape: Shape) -> Vec<u8> {
    let lang = t.top.author.lang;
    let text = thread_text(t);
    let boundary = format!(
        "----=_Part_{}_{}",
        rng.random_range(1000..9999),
        rng.random_range(100000..999999)
    );
    let alt_boundary = format!("----=_Alt_{}", rng.random_range(100000..999999));
    let msg = match shape {
        Shape::Plain => {
            let part = text_part(rng, lang, "plain", &text);
            let (ct, rest) = part.split_once("\r\n").unwrap_or((&part, ""));
            let ct = ct.trim_start_matches("Content-Type: ");
            format!("{}{rest}", headers(rng, t, ct))
        }
        Shape::HtmlOnly => {
            let html = thread_html(rng, t);
            let part = text_part(rng, lang, "html", &html);
            let (ct, rest) = part.split_once("\r\n").unwrap_or((&part, ""));
            let ct = ct.trim_start_matches("Content-Type: ");
            format!("{}{rest}", headers(rng, t, ct))
        }
        Shape::Alternative => {
            let html = thread_html(rng, t);
            format!(
                "{}\r\nThis is a multi-part message in MIME format.\r\n\r\n--{boundary}\r\n{}\r\n--{boundary}\r\n{}\r\n--{boundary}--\r\n",
                headers(
                    rng,
                    t,
                    &format!("multipart/alternative; boundary=\"{boundary}\"")
                ),
                text_part(rng, lang, "plain", &text),
                text_part(rng, lang, "html", &html),
            )
        }
        Shape::WithAttachment => {
            let html = thread_html(rng, t);
            let attachment = if rng.random_bool(0.4) {
                format!(
                    "Content-Type: text/vcard; charset=utf-8; name=\"{0}.vcf\"\r\nContent-Disposition: attachment; filename=\"{0}.vcf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{1}",
                    ascii_slug(t.top.author.last),
                    base64_lines(vcard(&t.top.author).as_bytes())
                )
            } else {
                let size = rng.random_range(8_000..120_000);
                let mut blob = b"%PDF-1.4\n".to_vec();
                blob.extend((0..size).map(|_| rng.random::<u8>()));
                format!(
                    "Content-Type: application/pdf; name=\"offer-{0}.pdf\"\r\nContent-Disposition: attachment; filename=\"offer-{0}.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{1}",
                    rng.random_range(1000..9999),
                    base64_lines(&blob)
                )
            };
            format!(
                "{}\r\n--{boundary}\r\nContent-Type: multipart/alternative; boundary=\"{alt_boundary}\"\r\n\r\n--{alt_boundary}\r\n{}\r\n--{alt_boundary}\r\n{}\r\n--{alt_boundary}--\r\n\r\n--{boundary}\r\n{attachment}\r\n--{boundary}--\r\n",
                headers(rng, t, &format!("multipart/mixed; boundary=\"{boundary}\"")),
                text_part(rng, lang, "plain", &text),
                text_part(rng, lang, "html", &html),
            )
        }
    };
    msg.into_bytes()
}
