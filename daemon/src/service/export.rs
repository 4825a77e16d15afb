//! Export of a list as vCard 4.0 (RFC 6350) or CSV (RFC 4180), for import into an address book
//! or a spreadsheet. Every suggestion that was not dismissed is exported.
//!
//! Both formats are written here rather than with a crate: the subset needed (a handful of
//! properties, text escaping, line folding, quoted CSV cells) is small and fully specified, and
//! the escaping rules are exactly what the tests check. CSV cells that a spreadsheet would run
//! as a formula (starting with `=`, `+`, `-`, `@`, tab or carriage return) get a leading `'`.

use crate::domain::{AuditAction, AuditObject};
use crate::store::{
    ListId, ReviewFilter, Role, Store, Suggestion, SuggestionFields, SuggestionStatus,
};

use super::{Actor, ServiceResult, audit, require_role};

/// Page size when reading a list for export.
const EXPORT_PAGE: u32 = 500;

/// Every non-dismissed suggestion of `list`, by id.
async fn exported(
    store: &Store,
    actor: Actor,
    list: ListId,
    format: &str,
) -> ServiceResult<Vec<Suggestion>> {
    require_role(store, actor, list, Role::Viewer).await?;
    let mut all = Vec::new();
    let mut filter = ReviewFilter {
        limit: EXPORT_PAGE,
        ..ReviewFilter::default()
    };
    loop {
        let page = store.search_suggestions(list, &filter).await?;
        let Some(last) = page.last() else { break };
        filter.after = Some(last.id);
        let full = page.len() >= EXPORT_PAGE as usize;
        all.extend(
            page.into_iter()
                .filter(|s| s.status != SuggestionStatus::Dismissed),
        );
        if !full {
            break;
        }
    }
    let detail = format!("{format}, {} suggestions", all.len());
    audit(
        store,
        actor,
        AuditAction::SuggestionExport,
        AuditObject::List,
        Some(list.0),
        Some(&detail),
    )
    .await?;
    Ok(all)
}

pub async fn vcard(store: &Store, actor: Actor, list: ListId) -> ServiceResult<String> {
    let suggestions = exported(store, actor, list, "vcard").await?;
    Ok(suggestions.iter().map(vcard_of).collect())
}

pub async fn csv(store: &Store, actor: Actor, list: ListId) -> ServiceResult<String> {
    let suggestions = exported(store, actor, list, "csv").await?;
    let mut out = String::new();
    csv_row(&mut out, &CSV_HEADER.map(str::to_owned));
    for s in &suggestions {
        csv_row(&mut out, &csv_cells(s));
    }
    Ok(out)
}

/// Escapes a TEXT value (RFC 6350 §3.4): backslash, comma, semicolon and newlines.
pub fn vcard_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push_str("\\\\"),
            ',' => out.push_str("\\,"),
            ';' => out.push_str("\\;"),
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str("\\n");
            }
            '\n' => out.push_str("\\n"),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Folds a content line at 75 octets (RFC 6350 §3.2) without splitting a UTF-8 sequence, and
/// ends it with CRLF.
fn fold_line(out: &mut String, line: &str) {
    let mut width = 0;
    for c in line.chars() {
        let len = c.len_utf8();
        if width + len > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += len;
    }
    out.push_str("\r\n");
}

fn value(field: &Option<crate::store::StoredField>) -> Option<&str> {
    field
        .as_ref()
        .map(|f| f.value.as_str())
        .filter(|v| !v.trim().is_empty())
}

fn vcard_of(s: &Suggestion) -> String {
    let f: &SuggestionFields = &s.fields;
    let mut out = String::new();
    let mut line = |l: String| fold_line(&mut out, &l);
    line("BEGIN:VCARD".into());
    line("VERSION:4.0".into());
    line(format!(
        "FN:{}",
        vcard_escape(value(&f.name).unwrap_or(&s.sender_email))
    ));
    if let Some(company) = value(&f.company) {
        line(format!("ORG:{}", vcard_escape(company)));
    }
    if let Some(title) = value(&f.title) {
        line(format!("TITLE:{}", vcard_escape(title)));
    }
    let mut emails: Vec<&str> = vec![s.sender_email.as_str()];
    for e in &f.emails {
        if !emails.iter().any(|x| x.eq_ignore_ascii_case(&e.value)) {
            emails.push(&e.value);
        }
    }
    for e in emails {
        line(format!("EMAIL:{}", vcard_escape(e)));
    }
    for p in &f.phones {
        let kind = match p.kind.as_str() {
            "mobile" => "cell",
            "fax" => "fax",
            "work" => "work,voice",
            _ => "voice",
        };
        // E.164 is `+` and digits only: a valid tel: URI as it is.
        let e164: String = p
            .e164
            .chars()
            .filter(|c| *c == '+' || c.is_ascii_digit())
            .collect();
        line(format!("TEL;VALUE=uri;TYPE=\"{kind}\":tel:{e164}"));
    }
    for w in f.websites.iter().chain(&f.social) {
        line(format!("URL:{}", vcard_escape(&w.value)));
    }
    if let Some(address) = value(&f.address) {
        // The address is one extracted text: the street component of ADR holds it whole.
        line(format!("ADR:;;{};;;;", vcard_escape(address)));
    }
    if s.unverified_sender {
        line(format!("NOTE:{}", sender_word(s)));
    }
    line(format!("UID:urn:mailsig:suggestion:{}", s.id.0));
    line("END:VCARD".into());
    out
}

pub const CSV_HEADER: [&str; 10] = [
    "name", "title", "company", "email", "emails", "phones", "websites", "address", "status",
    "sender",
];

/// The `sender` cell and the vCard note: whether an authenticated message backs the contact.
fn sender_word(s: &Suggestion) -> &'static str {
    if s.unverified_sender {
        "unverified sender"
    } else {
        "authenticated sender"
    }
}

fn csv_cells(s: &Suggestion) -> [String; 10] {
    let f = &s.fields;
    let join = |values: Vec<&str>| values.join("; ");
    [
        value(&f.name).unwrap_or_default().to_owned(),
        value(&f.title).unwrap_or_default().to_owned(),
        value(&f.company).unwrap_or_default().to_owned(),
        s.sender_email.clone(),
        join(f.emails.iter().map(|e| e.value.as_str()).collect()),
        join(f.phones.iter().map(|p| p.e164.as_str()).collect()),
        join(
            f.websites
                .iter()
                .chain(&f.social)
                .map(|w| w.value.as_str())
                .collect(),
        ),
        value(&f.address).unwrap_or_default().to_owned(),
        s.status.as_str().to_owned(),
        sender_word(s).to_owned(),
    ]
}

/// A cell a spreadsheet would not evaluate: a leading `'` before formula triggers.
pub fn csv_safe(cell: &str) -> String {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    }
}

/// Appends one record: every cell quoted, quotes doubled, CRLF at the end (RFC 4180 §2).
fn csv_row(out: &mut String, cells: &[String]) {
    for (i, cell) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push('"');
        out.push_str(&csv_safe(cell).replace('"', "\"\""));
        out.push('"');
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vcard_text_is_escaped_and_folded() {
        assert_eq!(vcard_escape("a,b;c\\d\r\ne\nf"), "a\\,b\\;c\\\\d\\ne\\nf");
        let mut out = String::new();
        let long = format!("FN:{}", "ä".repeat(60));
        fold_line(&mut out, &long);
        for l in out.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(l.len() <= 75, "line of {} octets", l.len());
        }
        assert_eq!(out.replace("\r\n ", "").trim_end(), long);
    }

    #[test]
    fn csv_guards_formulas_and_quotes() {
        assert_eq!(csv_safe("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(csv_safe("+4930"), "'+4930");
        assert_eq!(csv_safe("Anna"), "Anna");
        let mut out = String::new();
        csv_row(&mut out, &["a\"b".to_owned(), "c,d".to_owned()]);
        assert_eq!(out, "\"a\"\"b\",\"c,d\"\r\n");
    }
}
