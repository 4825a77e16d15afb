//! Worst-case single messages: a 1 MiB HTML message and hostile input
//! (50,000 nested tags, 100,000 quoted lines, a 5 MB line without breaks), plus a few
//! neighbours of those shapes that stress other stages (deep tables, unclosed
//! formatting tags, a huge header, thousands of MIME parts).
//!
//! Each input still carries a plausible sender signature at the top, so the engine
//! has to walk the whole message rather than bail out early.

const HEADER: &str = "From: \"Grace Hopper\" <grace.hopper@navy-labs.example>\r\nTo: <ops@example.net>\r\nSubject: Report\r\nDate: Tue, 3 Dec 2024 10:00:00 +0000\r\nMessage-ID: <hostile.1@navy-labs.example>\r\nMIME-Version: 1.0\r\n";

const SIG_TEXT: &str = "Thanks,\r\n\r\nGrace Hopper\r\nRear Admiral, Navy Labs Inc.\r\nT: +1 202 555 0147\r\nM: +1 202 555 0199\r\nwww.navy-labs.example\r\n";

const SIG_HTML: &str = "<p>Thanks,</p><table><tr><td><b>Grace Hopper</b><br>Rear Admiral, Navy Labs Inc.<br>T: <a href=\"tel:+12025550147\">+1 202 555 0147</a><br><a href=\"https://www.navy-labs.example\">www.navy-labs.example</a></td></tr></table>\r\n";

fn html_message(body: &str) -> Vec<u8> {
    format!("{HEADER}Content-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}").into_bytes()
}

fn text_message(body: &str) -> Vec<u8> {
    format!("{HEADER}Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}").into_bytes()
}

/// A realistic newsletter-like HTML message of `size` bytes: many table rows, links, images.
pub fn large_html(size: usize) -> Vec<u8> {
    let mut body = String::with_capacity(size + 4096);
    body.push_str("<html><head><style>td{font-family:Arial;padding:4px} .x{color:#333}</style></head><body>\r\n");
    body.push_str("<p>Hi team,</p><p>Here is the weekly report.</p>\r\n");
    body.push_str(SIG_HTML);
    body.push_str("<table width=\"100%\" cellpadding=\"0\" cellspacing=\"0\">\r\n");
    let mut i = 0u64;
    while body.len() < size - 200 {
        i += 1;
        body.push_str(&format!(
            "<tr><td class=\"x\"><a href=\"https://shop.example/item/{i}?utm_source=news&amp;utm_medium=email\"><img src=\"https://cdn.example/i/{i}.png\" alt=\"Item {i}\" width=\"80\"></a></td><td><b>Product {i}</b><br>Now only &euro;{}.99 &ndash; order today</td></tr>\r\n",
            i % 97
        ));
    }
    body.push_str("</table></body></html>\r\n");
    html_message(&body)
}

/// `depth` nested `<div>` elements with text at the bottom.
pub fn nested_tags(depth: usize) -> Vec<u8> {
    let mut body = String::with_capacity(depth * 12 + 1024);
    body.push_str("<html><body>");
    body.push_str(SIG_HTML);
    for _ in 0..depth {
        body.push_str("<div>");
    }
    body.push_str("deep text");
    for _ in 0..depth {
        body.push_str("</div>");
    }
    body.push_str("</body></html>\r\n");
    html_message(&body)
}

/// `depth` nested formatting tags, never closed (drives the HTML parser's
/// active-formatting-element reconstruction, the classic quadratic path).
pub fn unclosed_formatting(depth: usize) -> Vec<u8> {
    let mut body = String::with_capacity(depth * 8 + 1024);
    body.push_str("<html><body>");
    body.push_str(SIG_HTML);
    for i in 0..depth {
        body.push_str(["<b>", "<i>", "<font>", "<span>"][i % 4]);
        if i % 100 == 0 {
            body.push_str("<p>x");
        }
    }
    body.push_str("</body></html>\r\n");
    html_message(&body)
}

/// `depth` nested tables (`<table><tr><td>` repeated).
pub fn nested_tables(depth: usize) -> Vec<u8> {
    let mut body = String::with_capacity(depth * 40 + 1024);
    body.push_str("<html><body>");
    body.push_str(SIG_HTML);
    for _ in 0..depth {
        body.push_str("<table><tr><td>");
    }
    body.push_str("cell");
    for _ in 0..depth {
        body.push_str("</td></tr></table>");
    }
    body.push_str("</body></html>\r\n");
    html_message(&body)
}

/// A reply whose quoted history is `lines` lines of `> ` quotes, nesting slowly deeper.
pub fn quoted_lines(lines: usize) -> Vec<u8> {
    let mut body = String::with_capacity(lines * 48 + 1024);
    body.push_str("Sounds good, see below.\r\n\r\n");
    body.push_str(SIG_TEXT);
    body.push_str(
        "\r\nOn Mon, 2 Dec 2024 at 09:00, Alan Turing <alan@bletchley.example> wrote:\r\n",
    );
    for i in 0..lines {
        let depth = 1 + (i / 1000) % 8;
        for _ in 0..depth {
            body.push('>');
        }
        body.push_str(&format!(
            " line {i} of the quoted history, Tel. +44 20 7946 {:04}\r\n",
            i % 10000
        ));
    }
    text_message(&body)
}

/// A plain-text message whose body has one line of `size` bytes: words, no line breaks.
pub fn long_line(size: usize) -> Vec<u8> {
    let words = [
        "signature",
        "Tel.",
        "+49",
        "30",
        "1234567",
        "GmbH",
        "--",
        "Regards,",
        "www.example.com",
        "a@b.example",
    ];
    let mut body = String::with_capacity(size + 1024);
    body.push_str(SIG_TEXT);
    body.push_str("\r\n");
    let mut i = 0;
    while body.len() < size {
        body.push_str(words[i % words.len()]);
        body.push(' ');
        i += 1;
    }
    body.push_str("\r\n");
    text_message(&body)
}

/// A plain-text message whose body has one line of `size` bytes without any whitespace.
pub fn long_token(size: usize) -> Vec<u8> {
    let mut body = String::with_capacity(size + 1024);
    body.push_str(SIG_TEXT);
    body.push_str("\r\n");
    while body.len() < size {
        body.push_str("0123456789abcdef+-.@");
    }
    body.push_str("\r\n");
    text_message(&body)
}

/// `parts` sibling text parts in one multipart/mixed message.
pub fn many_parts(parts: usize) -> Vec<u8> {
    let mut msg = format!("{HEADER}Content-Type: multipart/mixed; boundary=\"b\"\r\n\r\n");
    for i in 0..parts {
        msg.push_str(&format!(
            "--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nPart {i}\r\n{SIG_TEXT}"
        ));
    }
    msg.push_str("--b--\r\n");
    msg.into_bytes()
}

/// The named worst-case inputs, in report order. The first four are the issue's.
pub fn all() -> Vec<(&'static str, Vec<u8>)> {
    vec![
        ("html_1mib", large_html(1 << 20)),
        ("nested_div_50k", nested_tags(50_000)),
        ("quoted_lines_100k", quoted_lines(100_000)),
        ("long_line_5mb", long_line(5_000_000)),
        ("long_token_5mb", long_token(5_000_000)),
        ("unclosed_formatting_50k", unclosed_formatting(50_000)),
        ("nested_table_10k", nested_tables(10_000)),
        ("mime_parts_5k", many_parts(5_000)),
    ]
}
