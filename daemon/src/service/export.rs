//! Export of a list as vCard 4.0 (RFC 6350) or CSV (RFC 4180), for import into an address book
//! or a spreadsheet. By default only reviewed contacts leave: accepted suggestions and merged
//! ones (accepted with the reviewer's edits); [`Scope::All`] adds the unreviewed ones. Dismissed
//! suggestions are never exported. The change feed ([`super::change_feed`]) uses the same scope.
//!
//! Both formats are written here rather than with a crate: the subset needed (a handful of
//! properties, text escaping, line folding, quoted CSV cells) is small and fully specified, and
//! the escaping rules are exactly what the tests check. CSV cells that a spreadsheet would run
//! as a formula (starting with `=`, `+`, `-`, `@`, tab or carriage return) get a leading `'`.

use crate::domain::{AuditAction, AuditObject};
use crate::store::{
    ListId, ReviewFilter, Role, Store, Suggestion, SuggestionFields, SuggestionStatus,
};

use super::validate::Checker;
use super::{Actor, ServiceResult, audit, require_role};

/// Page size when reading a list for export.
const EXPORT_PAGE: u32 = 500;

/// Which suggestions an export carries (`?include=` in the API and on the pages).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Scope {
    /// Reviewed contacts: accepted or merged.
    #[default]
    Accepted,
    /// Every suggestion that was not dismissed, unreviewed ones included.
    All,
}

impl Scope {
    pub const NAMES: [&'static str; 2] = ["accepted", "all"];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Accepted => "accepted",
            Scope::All => "all",
        }
    }

    /// Whether a suggestion in `status` is part of an export of this scope.
    pub fn includes(self, status: SuggestionStatus) -> bool {
        match status {
            SuggestionStatus::Accepted | SuggestionStatus::Merged => true,
            SuggestionStatus::New => self == Scope::All,
            SuggestionStatus::Dismissed => false,
        }
    }

    /// `include` as typed: absent or empty is the default.
    pub fn parse(c: &mut Checker, include: Option<&str>) -> Scope {
        match include.map(str::trim).filter(|s| !s.is_empty()) {
            None => Scope::default(),
            Some(s) => match c.choice("include", Some(s), &Scope::NAMES) {
                Some("all") => Scope::All,
                _ => Scope::Accepted,
            },
        }
    }

    /// The scope of `include`, or the validation error.
    pub fn from_query(include: Option<&str>) -> ServiceResult<Scope> {
        let mut c = Checker::new();
        let scope = Scope::parse(&mut c, include);
        c.finish()?;
        Ok(scope)
    }
}

/// The suggestions of `list` in `scope`, by id.
async fn exported(
    store: &Store,
    actor: Actor,
    list: ListId,
    scope: Scope,
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
        all.extend(page.into_iter().filter(|s| scope.includes(s.status)));
        if !full {
            break;
        }
    }
    let detail = format!("{format}, {}, {} suggestions", scope.as_str(), all.len());
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

pub async fn vcard(
    store: &Store,
    actor: Actor,
    list: ListId,
    scope: Scope,
) -> ServiceResult<String> {
    let suggestions = exported(store, actor, list, scope, "vcard").await?;
    Ok(suggestions.iter().map(vcard_of).collect())
}

pub async fn csv(store: &Store, actor: Actor, list: ListId, scope: Scope) -> ServiceResult<String> {
    let suggestions = exported(store, actor, list, scope, "csv").await?;
    Ok(csv_of(&suggestions))
}

/// The CSV of `suggestions`: Google Contacts' column names (which HubSpot and Outlook map on
/// import too), one E-mail/Phone/Website column pair per value with its type, as many as the
/// contact with the most needs (at least one).
pub fn csv_of(suggestions: &[Suggestion]) -> String {
    let width = |n: fn(&Suggestion) -> usize| suggestions.iter().map(n).max().unwrap_or(0).max(1);
    let emails = width(|s| csv_emails(s).len());
    let phones = width(|s| s.fields.phones.len());
    let websites = width(|s| s.fields.websites.len() + s.fields.social.len());
    let mut header: Vec<String> = [
        "Name",
        "Given Name",
        "Family Name",
        "Organization 1 - Name",
        "Organization 1 - Title",
    ]
    .map(str::to_owned)
    .to_vec();
    for i in 1..=emails {
        header.push(format!("E-mail {i} - Type"));
        header.push(format!("E-mail {i} - Value"));
    }
    for i in 1..=phones {
        header.push(format!("Phone {i} - Type"));
        header.push(format!("Phone {i} - Value"));
    }
    for i in 1..=websites {
        header.push(format!("Website {i} - Type"));
        header.push(format!("Website {i} - Value"));
    }
    header.extend(
        [
            "Address 1 - Formatted",
            "Address 1 - Street",
            "Address 1 - City",
            "Address 1 - Region",
            "Address 1 - Postal Code",
            "Address 1 - Country",
            "Notes",
            "mailsig Status",
        ]
        .map(str::to_owned),
    );
    let mut out = String::new();
    csv_row(&mut out, &header);
    for s in suggestions {
        let f = &s.fields;
        let (given, family) = name_parts(value(&f.name).unwrap_or_default());
        let mut row = vec![
            value(&f.name).unwrap_or_default().to_owned(),
            given,
            family,
            value(&f.company).unwrap_or_default().to_owned(),
            value(&f.title).unwrap_or_default().to_owned(),
        ];
        let mut pairs = |values: Vec<(&str, &str)>, columns: usize| {
            for i in 0..columns {
                let (kind, text) = values.get(i).copied().unwrap_or_default();
                row.push(kind.to_owned());
                row.push(text.to_owned());
            }
        };
        pairs(
            csv_emails(s).into_iter().map(|e| ("Work", e)).collect(),
            emails,
        );
        pairs(
            f.phones
                .iter()
                .map(|p| (phone_type(&p.kind), p.e164.as_str()))
                .collect(),
            phones,
        );
        pairs(
            f.websites
                .iter()
                .map(|w| ("Work", w.value.as_str()))
                .chain(f.social.iter().map(|w| ("Profile", w.value.as_str())))
                .collect(),
            websites,
        );
        let address = value(&f.address).unwrap_or_default();
        let postal = super::postal::parse(address);
        row.extend([
            address.to_owned(),
            postal.street,
            postal.locality,
            postal.region,
            postal.code,
            postal.country,
            if s.unverified_sender {
                format!("mailsig: {}", sender_word(s))
            } else {
                String::new()
            },
            s.status.as_str().to_owned(),
        ]);
        csv_row(&mut out, &row);
    }
    out
}

/// The sender's address first, then the other extracted ones (each once).
fn csv_emails(s: &Suggestion) -> Vec<&str> {
    let mut emails: Vec<&str> = vec![s.sender_email.as_str()];
    for e in &s.fields.emails {
        if !emails.iter().any(|x| x.eq_ignore_ascii_case(&e.value)) {
            emails.push(&e.value);
        }
    }
    emails
}

/// A phone kind as address books name it.
fn phone_type(kind: &str) -> &'static str {
    match kind {
        "mobile" => "Mobile",
        "fax" => "Work Fax",
        "work" | "direct" => "Work",
        "main" => "Main",
        "home" => "Home",
        _ => "Other",
    }
}

/// Given and family name: the last word is the family name ("Rachel Kim" → "Rachel", "Kim");
/// a single word is a given name.
pub fn name_parts(name: &str) -> (String, String) {
    let words: Vec<&str> = name.split_whitespace().collect();
    match words.as_slice() {
        [] => (String::new(), String::new()),
        [one] => ((*one).to_owned(), String::new()),
        [given @ .., family] => (given.join(" "), (*family).to_owned()),
    }
}

/// The `Content-Disposition` of a list's export named after the list ("Customers 2026.csv"):
/// an ASCII `filename` for old clients and the exact name as RFC 5987 `filename*`.
pub fn content_disposition(list_name: &str, extension: &str) -> String {
    let cleaned: String = list_name
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '/' | '\\' | '"' | ':' | '*' | '?' | '<' | '>' | '|') {
                ' '
            } else {
                c
            }
        })
        .collect();
    let cleaned = cleaned.split_whitespace().collect::<Vec<_>>().join(" ");
    let cleaned = if cleaned.is_empty() {
        "contacts".to_owned()
    } else {
        cleaned
    };
    let ascii: String = cleaned
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String =
        url::form_urlencoded::byte_serialize(format!("{cleaned}.{extension}").as_bytes())
            .collect::<String>()
            .replace('+', "%20");
    format!("attachment; filename=\"{ascii}.{extension}\"; filename*=UTF-8''{encoded}")
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
    // N (family; given; additional; prefixes; suffixes): address books sort and show by it.
    let (given, family) = name_parts(value(&f.name).unwrap_or_default());
    line(format!(
        "N:{};{};;;",
        vcard_escape(&family),
        vcard_escape(&given)
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
        // Structured (street; locality; region; code; country), with the text as written in
        // LABEL for address books that show that.
        let a = super::postal::parse(address);
        line(format!(
            "ADR;TYPE=work;LABEL=\"{}\":;;{};{};{};{};{}",
            address.replace(['\r', '\n'], ", ").replace('"', "'"),
            vcard_escape(&a.street),
            vcard_escape(&a.locality),
            vcard_escape(&a.region),
            vcard_escape(&a.code),
            vcard_escape(&a.country)
        ));
    }
    if s.unverified_sender {
        line(format!("NOTE:{}", sender_word(s)));
    }
    line(format!("UID:urn:mailsig:suggestion:{}", s.id.0));
    line("END:VCARD".into());
    out
}

/// The `sender` cell and the vCard note: whether an authenticated message backs the contact.
fn sender_word(s: &Suggestion) -> &'static str {
    if s.unverified_sender {
        "unverified sender"
    } else {
        "authenticated sender"
    }
}

/// A cell a spreadsheet would not evaluate: a leading `'` before formula triggers. A phone
/// number (`+` and digits, spaces, dashes) is no formula and is written as it is, so that no
/// apostrophe reaches an address book.
pub fn csv_safe(cell: &str) -> String {
    let phone = cell.strip_prefix('+').is_some_and(|rest| {
        !rest.is_empty()
            && rest.starts_with(|c: char| c.is_ascii_digit())
            && rest
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-'))
    });
    if !phone && cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}")
    } else {
        cell.to_owned()
    }
}

/// Appends one record: every cell quoted, quotes doubled, CRLF at the end (RFC 4180 §2).
pub(crate) fn csv_row(out: &mut String, cells: &[String]) {
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
    fn file_names_come_from_the_list_name() {
        assert_eq!(
            content_disposition("Customers 2026", "csv"),
            "attachment; filename=\"Customers 2026.csv\"; filename*=UTF-8''Customers%202026.csv"
        );
        assert_eq!(
            content_disposition("Kunden/Öst \"A\"", "vcf"),
            "attachment; filename=\"Kunden _st A.vcf\"; filename*=UTF-8''Kunden%20%C3%96st%20A.vcf"
        );
        assert!(content_disposition("\u{0}", "vcf").contains("contacts.vcf"));
    }

    #[test]
    fn names_split_into_given_and_family() {
        assert_eq!(
            name_parts("Rachel Kim"),
            ("Rachel".to_owned(), "Kim".to_owned())
        );
        assert_eq!(
            name_parts("Ana María López"),
            ("Ana María".to_owned(), "López".to_owned())
        );
        assert_eq!(name_parts("Cher"), ("Cher".to_owned(), String::new()));
    }

    #[test]
    fn csv_guards_formulas_and_quotes() {
        assert_eq!(csv_safe("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(csv_safe("+4930"), "+4930");
        assert_eq!(csv_safe("+49 30-1"), "+49 30-1");
        assert_eq!(csv_safe("+1+cmd"), "'+1+cmd");
        assert_eq!(csv_safe("+"), "'+");
        assert_eq!(csv_safe("Anna"), "Anna");
        let mut out = String::new();
        csv_row(&mut out, &["a\"b".to_owned(), "c,d".to_owned()]);
        assert_eq!(out, "\"a\"\"b\",\"c,d\"\r\n");
    }
}
