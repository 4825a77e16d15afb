//! Phone numbers: a cheap candidate regex over the signature cells, then libphonenumber
//! (rlibphonenumber) parse + validity + E.164. The kind comes from the label before or after the
//! number, an icon on the line, or else the number's own type (MOBILE -> mobile, else work).

use once_cell::sync::Lazy;
use regex::Regex;
use rlibphonenumber::{PHONE_NUMBER_UTIL, PhoneNumberFormat, PhoneNumberType, Region};

use super::Cell;
use crate::PhoneKind;
use crate::line::Line;
use crate::tables::labels::{ICON_HINTS, PHONE_LABELS};

static CANDIDATE: Lazy<Option<Regex>> =
    Lazy::new(|| Regex::new(r"(?:\+|(?-u:\b)00)?\(?\+?\d[\d \u{a0}\-./()]{5,24}\d").ok());

/// Identifiers that look like numbers but are not phones (VAT, registers, ship numbers …).
const NOT_PHONE: &[&str] = &[
    "iva", "vat", "imo", "hrb", "krs", "nip", "regon", "cvr", "org.nr", "siret", "siren", "ust",
    "iban", "bic", "swift", "kvk", "btw", "cif", "nif", "abn", "ref", "order", "invoice", "po ",
    "zip", "cep", "plz",
];

/// Words that may sit between a phone label and its number.
const LABEL_FILLERS: &[&str] = &[
    "no",
    "nr",
    "number",
    "num",
    "#",
    "transmission",
    "line",
    "nummer",
    "número",
    "numero",
    "n°",
    "nº",
];

/// A number found in the signature.
pub(crate) struct Found {
    pub e164: String,
    pub kind: PhoneKind,
    pub line: usize,
    pub labelled: bool,
}

/// Numbers already parsed in one message, by their digits: a signature writes most numbers
/// twice (as text and as a `tel:` link, "0151 0934739" and "015109347398"), and parsing is
/// the costliest step of the field search.
#[derive(Default)]
struct Parsed(Vec<(String, Option<(String, bool)>)>);

impl Parsed {
    /// The key of a number written with digits and plain separators only (`+` first): the
    /// parser ignores those separators, so two such spellings with the same digits parse
    /// alike. Other spellings (letters, brackets, extensions) are not cached.
    fn key(text: &str) -> Option<String> {
        let body = text.strip_prefix('+').unwrap_or(text);
        if !body
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b' ' | b'-' | b'.'))
        {
            return None;
        }
        let mut key = String::with_capacity(text.len());
        if text.starts_with('+') {
            key.push('+');
        }
        key.extend(body.chars().filter(char::is_ascii_digit));
        Some(key)
    }

    fn parse(&mut self, candidate: &str, regions: &[Region]) -> Option<(String, bool)> {
        let Some(key) = Self::key(&normalised(candidate)) else {
            return parse(candidate, regions);
        };
        if let Some((_, found)) = self.0.iter().find(|(k, _)| *k == key) {
            return found.clone();
        }
        let found = parse(candidate, regions);
        self.0.push((key, found.clone()));
        found
    }
}

/// The candidate as [`parse`] reads it: trimmed, an international number without "(0)".
/// An internal extension written alone: "x31545", "ext. 224", "Ext 5920", "3-5290".
pub(crate) fn is_extension(text: &str) -> bool {
    let t = text.trim();
    if t.len() > 16 {
        return false;
    }
    let lower = t.to_ascii_lowercase();
    let rest = ["extension", "ext.", "ext", "x"]
        .iter()
        .find_map(|p| lower.strip_prefix(p))
        .map(|r| r.trim_start_matches([' ', ':', '.']));
    let digits = |s: &str| (3..=6).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    if let Some(r) = rest {
        return digits(r);
    }
    // Enron-style internal numbers: one digit, a dash, four digits.
    let b = t.as_bytes();
    b.len() == 6 && b[0].is_ascii_digit() && b[1] == b'-' && digits(&t[2..])
}

fn normalised(candidate: &str) -> String {
    let text = candidate.trim();
    if text.starts_with('+') || text.starts_with("00") {
        text.replace("(0)", "")
    } else {
        text.to_string()
    }
}

fn parse(candidate: &str, regions: &[Region]) -> Option<(String, bool)> {
    let text = normalised(candidate);
    let digits = text.chars().filter(char::is_ascii_digit).count();
    if !(7..=15).contains(&digits) {
        return None;
    }
    for region in regions {
        let Ok(number) = PHONE_NUMBER_UTIL.parse(&text, Some(*region)) else {
            continue;
        };
        // `get_type` is `Unknown` exactly when `is_valid` is false (both match the national
        // number against the region's number patterns), so one call does both.
        let kind = number.get_type();
        if !matches!(kind, PhoneNumberType::Unknown) {
            let mobile = matches!(kind, PhoneNumberType::Mobile);
            return Some((
                number.format_as(PhoneNumberFormat::E164).into_owned(),
                mobile,
            ));
        }
        if text.starts_with('+') {
            return None;
        }
    }
    None
}

/// The label right before a number ("Tel.:", "M", "tel. kom.") or right after it ("(cell)").
fn label_kind(before: &str, after: &str) -> Option<Option<PhoneKind>> {
    let before = before.to_lowercase();
    let before = before.trim_end_matches(|c: char| {
        c.is_whitespace()
            || matches!(
                c,
                ':' | '.' | '-' | '：' | ')' | '(' | '/' | '|' | '·' | '='
            )
    });
    let words: Vec<&str> = before
        .split(|c: char| c.is_whitespace() || matches!(c, ':' | '|' | '·' | ',' | '(' | '/'))
        .filter(|w| !w.is_empty())
        .collect();
    // Two-word labels first ("tel. kom"), then the last word.
    if words.len() >= 2 {
        let two = format!(
            "{} {}",
            words[words.len() - 2].trim_end_matches('.'),
            words[words.len() - 1].trim_end_matches('.')
        );
        if let Some((_, kind)) = PHONE_LABELS.iter().find(|(l, _)| *l == two) {
            return Some(*kind);
        }
    }
    // The label may be followed by filler words ("Facsimile Transmission No.:").
    for word in words.iter().rev().take(4) {
        let word = word.trim_end_matches('.');
        if let Some((_, kind)) = PHONE_LABELS.iter().find(|(l, _)| *l == word) {
            return Some(*kind);
        }
        if !LABEL_FILLERS.contains(&word) {
            break;
        }
    }
    if let Some(last) = words.last() {
        let last = last.trim_end_matches('.');
        // Japanese labels are written without a space: "携帯：090-…", "TEL：03-…".
        for (l, kind) in PHONE_LABELS {
            if l.chars().count() >= 2 && !l.is_ascii() && last.ends_with(l) {
                return Some(*kind);
            }
        }
    }
    let after = after.to_lowercase();
    let after =
        after.trim_start_matches(|c: char| c.is_whitespace() || matches!(c, '(' | '[' | '-' | ','));
    let word: String = after
        .chars()
        .take_while(|c| c.is_alphabetic() || *c == '.')
        .collect();
    let word = word.trim_end_matches('.');
    if !word.is_empty()
        && let Some((_, kind)) = PHONE_LABELS
            .iter()
            .find(|(l, _)| l.len() >= 3 && *l == word)
    {
        return Some(*kind);
    }
    None
}

/// Most characters in a phone label.
static LONGEST_LABEL: Lazy<usize> = Lazy::new(|| {
    PHONE_LABELS
        .iter()
        .map(|(l, _)| l.chars().count())
        .max()
        .unwrap_or(0)
});

/// The kind a cell that is nothing but a phone label ("Fax:") gives the next cell's number.
fn label_cell(text: &str) -> Option<Option<PhoneKind>> {
    let bare = text.trim_end_matches([':', '.', ' ']);
    // Lower-casing never makes a text shorter in characters: a longer cell is no label.
    if bare.chars().count() > *LONGEST_LABEL {
        return None;
    }
    let bare = bare.to_lowercase();
    PHONE_LABELS
        .iter()
        .find(|(l, _)| *l == bare)
        .map(|(_, kind)| *kind)
}

/// A typing label written anywhere in a line ("Call my mobile"), when the line names one kind
/// only; one-letter labels are too ambiguous in running text and are ignored.
fn label_in_text(text: &str) -> Option<Option<PhoneKind>> {
    let lower = text.to_lowercase();
    let kinds: Vec<PhoneKind> = lower
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 3)
        .filter_map(|w| {
            PHONE_LABELS
                .iter()
                .find(|(l, _)| *l == w)
                .and_then(|(_, k)| *k)
        })
        .collect();
    let first = *kinds.first()?;
    kinds.iter().all(|k| *k == first).then_some(Some(first))
}

fn icon_kind(line: &Line, nth: usize) -> Option<PhoneKind> {
    let kinds: Vec<PhoneKind> = line
        .icons
        .iter()
        .filter_map(|icon| {
            ICON_HINTS
                .iter()
                .find(|(h, _)| icon.contains(h))
                .map(|(_, k)| *k)
        })
        .collect();
    kinds.get(nth).or(kinds.first()).copied()
}

/// Whether a `tel:` target is, separators aside, an international number already found: then
/// parsing it (the costliest step) could only give that same number again.
fn is_known_e164(number: &str, found: &[Found]) -> bool {
    let number = number.trim();
    if !number.starts_with('+')
        || !number
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '.' | '(' | ')' | '/'))
        || number.contains("(0)")
    {
        return false;
    }
    let bare: String = number
        .chars()
        .filter(|c| c.is_ascii_digit() || *c == '+')
        .collect();
    found.iter().any(|f| f.e164 == bare)
}

/// Every valid number in the cells, in order of appearance, deduplicated.
pub(crate) fn find(cells: &[Cell], lines: &[Line], regions: &[Region]) -> Vec<Found> {
    let mut out: Vec<Found> = Vec::new();
    let Some(re) = CANDIDATE.as_ref() else {
        return out;
    };
    let mut memo = Parsed::default();
    let mut per_line: Vec<usize> = vec![0; lines.len()];
    // A label split into its own cell ("Fax - 713.345.8100") types the next cell's number.
    let mut pending_label: Option<(usize, Option<PhoneKind>)> = None;
    for cell in cells {
        let text = cell.text.as_str();
        let carried = pending_label
            .take()
            .filter(|(line, _)| *line == cell.line)
            .map(|(_, k)| k);
        if let Some(kind) = label_cell(text) {
            pending_label = Some((cell.line, kind));
            continue;
        }
        if text.contains('@') && !text.contains(' ') {
            continue;
        }
        let mut prev_end = 0;
        for m in re.find_iter(text) {
            let before = text.get(prev_end..m.start()).unwrap_or_default();
            let after = text.get(m.end()..).unwrap_or_default();
            prev_end = m.end();
            let lower_before = before.to_lowercase();
            // (A number written with its "+" country code is a phone whatever precedes it:
            // the Turkish mobile label "Cep" is also the Brazilian postcode's.)
            if !m.as_str().starts_with('+') && NOT_PHONE.iter().any(|w| lower_before.contains(w)) {
                continue;
            }
            // Part of a URL or an address like "Suite 3700"?
            if before.ends_with('/') || before.ends_with('=') || before.ends_with('@') {
                continue;
            }
            let mut parsed: Vec<(String, bool)> = Vec::new();
            if let Some(p) = memo.parse(m.as_str(), regions) {
                parsed.push(p);
            } else {
                for piece in m.as_str().split(" / ").flat_map(|p| p.split("  ")) {
                    if let Some(p) = memo.parse(piece, regions) {
                        parsed.push(p);
                    }
                }
            }
            for (e164, mobile) in parsed {
                if out.iter().any(|f| f.e164 == e164) {
                    continue;
                }
                let nth = per_line.get(cell.line).copied().unwrap_or(0);
                if let Some(slot) = per_line.get_mut(cell.line) {
                    *slot += 1;
                }
                let label = label_kind(before, after).or(carried);
                let icon = lines.get(cell.line).and_then(|l| icon_kind(l, nth));
                let by_type = if mobile {
                    PhoneKind::Mobile
                } else {
                    PhoneKind::Work
                };
                let (kind, labelled) = match (label, icon) {
                    (Some(Some(kind)), _) => (kind, true),
                    (Some(None), _) => (by_type, true),
                    (None, Some(kind)) => (kind, true),
                    (None, None) => (by_type, false),
                };
                out.push(Found {
                    e164,
                    kind,
                    line: cell.line,
                    labelled,
                });
            }
        }
    }
    // Numbers only linked ("Call me" -> tel:+1…): the link target is the number.
    for (i, line) in lines.iter().enumerate() {
        for link in &line.links {
            let Some(number) = link
                .get(..4)
                .filter(|p| p.eq_ignore_ascii_case("tel:"))
                .and(link.get(4..))
            else {
                continue;
            };
            let number = number.split(';').next().unwrap_or(number);
            if is_known_e164(number, &out) {
                continue; // the number was also written out and is already found
            }
            let Some((e164, mobile)) = memo.parse(number, regions) else {
                continue;
            };
            if out.iter().any(|f| f.e164 == e164) {
                continue;
            }
            let label = label_in_text(&line.text);
            let by_type = if mobile {
                PhoneKind::Mobile
            } else {
                PhoneKind::Work
            };
            let (kind, labelled) = match label {
                Some(Some(kind)) => (kind, true),
                Some(None) => (by_type, true),
                None => (by_type, false),
            };
            out.push(Found {
                e164,
                kind,
                line: i,
                labelled,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(text: &str, region: &str) -> Vec<(String, PhoneKind)> {
        let lines = crate::mime::text_lines(text);
        let cells = super::super::cells(&lines);
        let regions = vec![region.parse::<Region>().unwrap_or(Region::US)];
        find(&cells, &lines, &regions)
            .into_iter()
            .map(|f| (f.e164, f.kind))
            .collect()
    }

    #[test]
    fn spellings_with_the_same_digits_share_a_parse() {
        assert_eq!(Parsed::key("0151 09347398"), Parsed::key("015109347398"));
        assert_eq!(
            Parsed::key("+41 44-196.28.14").as_deref(),
            Some("+41441962814")
        );
        assert_ne!(Parsed::key("+4144"), Parsed::key("4144"));
        assert_eq!(Parsed::key("(510) 555-0142"), None);
        assert_eq!(Parsed::key("555 0142 x12"), None);
        let mut memo = Parsed::default();
        let regions = [Region::DE];
        let first = memo.parse("0171 2345678", &regions);
        assert_eq!(memo.parse("01712345678", &regions), first);
        assert_eq!(first, parse("01712345678", &regions));
        assert_eq!(memo.0.len(), 1);
    }

    #[test]
    fn labels_and_types() {
        assert_eq!(
            kinds("Office: (510) 555-0142\nCell: (510) 555-0178", "US"),
            [
                ("+15105550142".into(), PhoneKind::Work),
                ("+15105550178".into(), PhoneKind::Mobile)
            ]
        );
        assert_eq!(
            kinds("Tel. +49 (0)351 123 456 0 · Fax +49 351 1234 5679", "DE")[1].1,
            PhoneKind::Fax
        );
        assert_eq!(
            kinds("0171 2345678", "DE"),
            [("+491712345678".into(), PhoneKind::Mobile)]
        );
        assert_eq!(
            kinds("tel. kom. 601 234 567", "PL"),
            [("+48601234567".into(), PhoneKind::Mobile)]
        );
        assert!(kinds("P.IVA 01234567890", "IT").is_empty());
    }
}
