//! Job title: a cell with a title word (multilingual), before or after the name; failing that,
//! the short line right after the name that is no phone, e-mail, URL, address or company,
//! whatever its language ("Varvschef", "Gas Scheduling"). "Title, Department" stays one title;
//! only a company after the comma (legal form, company word, acronym, the sender's domain) is
//! split off.

use super::{Cell, is_contact_cell};

/// Whether a cell reads as a job title.
pub(crate) fn is_title(text: &str) -> bool {
    let words = text.split_whitespace().count();
    if words == 0 || words > 9 || text.chars().count() > 90 || is_contact_cell(text) {
        return false;
    }
    if text
        .chars()
        .any(|c| c.is_ascii_digit() || matches!(c, ':' | '：' | '?' | '!'))
    {
        return false;
    }
    if text.chars().next().is_some_and(char::is_lowercase) || (words >= 4 && text.ends_with('.')) {
        return false;
    }
    crate::tables::TITLES.matches_lower(text)
}

/// Whether the text after a title's comma names a company ("Tallgrass Design", "Acme GmbH",
/// the sender's domain) rather than a department of one ("Manager, Credit Risk").
fn names_company(tail: &str, domain_label: Option<&str>) -> bool {
    crate::tables::COMPANY_WORDS.matches(&tail.to_lowercase()) || surely_company(tail, domain_label)
}

/// Stricter than [`names_company`]: a legal form, an acronym ("Senior Counsel, ENA") or the
/// sender's domain, not a word that departments share with companies ("Director, Pipeline
/// Capacity", "Manager, Gas Confirmations").
fn surely_company(tail: &str, domain_label: Option<&str>) -> bool {
    let acronym =
        (2..=6).contains(&tail.len()) && tail.chars().all(|c| c.is_ascii_uppercase() || c == '&');
    acronym
        || super::company::has_legal_form(tail)
        || domain_label.is_some_and(|d| super::company::matches_domain(tail, d))
}

/// A sales region or territory after a title's comma ("Logistics Manager, West Coast",
/// "Sales Director, EMEA", "Head of Sales, Northern Europe"): part of the title, never a
/// company, even when the sender's domain is named after it.
fn is_region(tail: &str) -> bool {
    const AREAS: [&str; 16] = [
        "emea",
        "emeia",
        "apac",
        "apj",
        "amer",
        "americas",
        "latam",
        "dach",
        "nordics",
        "benelux",
        "mena",
        "anz",
        "cee",
        "midwest",
        "mid-atlantic",
        "pacific northwest",
    ];
    const COMPASS: [&str; 12] = [
        "north",
        "south",
        "east",
        "west",
        "northern",
        "southern",
        "eastern",
        "western",
        "central",
        "northeast",
        "northwest",
        "southeast",
    ];
    const PLACES: [&str; 14] = [
        "coast",
        "region",
        "europe",
        "america",
        "americas",
        "asia",
        "africa",
        "territory",
        "states",
        "area",
        "zone",
        "us",
        "emea",
        "division",
    ];
    let lower = tail.trim().trim_end_matches('.').to_lowercase();
    let words: Vec<&str> = lower.split_whitespace().collect();
    AREAS.contains(&lower.as_str())
        || (words.len() == 2 && COMPASS.contains(&words[0]) && PLACES.contains(&words[1]))
}

/// The part of a cell a title is read from: before "Title, Company" or "Title at Company".
fn title_part(text: &str) -> &str {
    [", ", " at ", " bei ", " chez "]
        .iter()
        .filter_map(|sep| text.split_once(sep).map(|(head, _)| head))
        .min_by_key(|head| head.len())
        .unwrap_or(text)
}

fn tail_of<'a>(text: &'a str, sep: &str) -> &'a str {
    text.split_once(sep).map_or("", |(_, tail)| tail)
}

/// A department or unit line ("Gas Scheduling", "Terminal Operations") says what the person
/// does as well as a title word would: the short line right after the name that is no phone,
/// e-mail, URL, address or company, whatever its language.
pub(crate) fn structural(
    cells: &[Cell],
    name_line: usize,
    name: &str,
    domain_label: Option<&str>,
) -> Option<(String, usize, Option<String>)> {
    let at = cells
        .iter()
        .position(|c| c.line == name_line && super::name::clean(&c.text) == name)
        .or_else(|| cells.iter().position(|c| c.line == name_line))?;
    // The cell after the name's: on its line ("Martin Dvořák | jednatel | …") or the next one
    // (or first on the next one: "Logistikkansvarlig | Bergen Bryggeri AS").
    let cell = cells.get(at + 1)?;
    if cell.line != name_line && cell.line != name_line + 1 {
        return None;
    }
    // "Laatupäällikkö, Pohjan Maito Oy": the title and the company in one cell.
    // (Not "Westgate Gas Marketing, Inc.": a bare legal form belongs to the name before it.)
    let (t, company) = match cell.text.split_once(", ") {
        Some((head, tail))
            if super::company::has_legal_form(tail)
                && tail.split_whitespace().count() >= 2
                && !super::company::has_legal_form(head) =>
        {
            (head.trim(), Some(tail.trim().to_string()))
        }
        _ => (cell.text.as_str(), None),
    };
    // Name / title / company is the usual order: with a company of its own next ("Banat
    // Logistic S.A."), a line with a company word ("Coordonator Transport") is the title.
    let company_follows = company.is_some()
        || cells
            .get(at + 2)
            .is_some_and(|c| super::company::has_legal_form(&c.text));
    // A unit line right above an institution ("Instytut Chemii" over "Uniwersytet
    // Nadwiślański") is the organisation's first line, not what the person does. (A
    // department above a company, "Sales Department" over "Acme Ltd", still says what the
    // person does.)
    let unit_of_next = crate::tables::ORG_UNITS.matches(&t.to_lowercase())
        && cells.get(at + 2).is_some_and(|c| {
            c.line == cell.line + 1
                && crate::tables::ORG_UNITS.matches(&c.text.to_lowercase())
                && super::company::is_org_line(&c.text)
                && !super::company::has_legal_form(&c.text)
        });
    let n_words = t.split_whitespace().count();
    let first = t.chars().next();
    let capital = first.is_some_and(|c| c.is_alphabetic() && !c.is_lowercase());
    // Many languages write titles in lower case ("jednatel", "юрист", "recepcióvezető").
    let short_lower = first.is_some_and(char::is_lowercase) && n_words <= 3;
    let shaped = (1..=6).contains(&n_words)
        && t.chars().count() <= 60
        && (capital || short_lower)
        && !t
            .chars()
            .any(|c| c.is_numeric() || matches!(c, ':' | '：' | '?' | '!' | '@' | ','))
        && !t.ends_with('.')
        && !is_contact_cell(t)
        && !super::address::is_address(t)
        && !super::company::has_legal_form(t)
        && (company_follows || !names_company(t, domain_label))
        && !unit_of_next
        && !super::name::carries_name_word(t, name)
        && !crate::signature::is_postscript(t)
        && crate::signature::valediction_rest(t).is_none()
        && crate::tables::labels::PHONE_LABELS
            .iter()
            .all(|(l, _)| !t.eq_ignore_ascii_case(l));
    shaped.then(|| (t.to_string(), cell.line, company))
}

/// The title cell, skipping the name's cell: `(title, block line, company written after it)`.
/// "Creative Lead, Tallgrass Design" and "Senior Counsel at Acme" carry the company too.
pub(crate) fn find(
    cells: &[Cell],
    skip: &[&str],
    name: Option<&str>,
    domain_label: Option<&str>,
) -> Option<(String, usize, Option<String>)> {
    // "Partner, White Law LLP": a title and the company in one cell. The loop stops at the
    // first title cell without a legal form, the cell the title is then taken from.
    let mut title_cell = None;
    for c in cells
        .iter()
        .take(14)
        .filter(|c| !skip.contains(&c.text.as_str()))
    {
        for sep in [", ", " at ", " bei ", " chez ", " en ", " presso "] {
            if let Some((head, tail)) = c.text.split_once(sep)
                && is_title(head)
                && super::company::has_legal_form(tail)
                && tail.split_whitespace().count() >= 2
                && !super::company::has_legal_form(head)
            {
                return Some((
                    head.trim().to_string(),
                    c.line,
                    Some(tail.trim().to_string()),
                ));
            }
        }
        if is_title(&c.text)
            && !super::company::has_legal_form(&c.text)
            && !name.is_some_and(|n| super::name::carries_name_word(title_part(&c.text), n))
        {
            title_cell = Some(c);
            break;
        }
    }
    let cell = title_cell?;
    let mut t = cell
        .text
        .trim_matches(|ch: char| matches!(ch, ',' | ';' | '-' | '|'))
        .trim()
        .to_string();
    if let Some(name) = name.filter(|n| !n.is_empty())
        && let Some(stripped) = t.strip_suffix(name).or_else(|| t.strip_prefix(name))
    {
        t = stripped.trim().to_string();
    }
    for sep in [", ", " at ", " bei ", " chez "] {
        // "Attorney at Law" is one title: a one-word tail must name a company.
        let one_word = !tail_of(&t, sep).contains(' ');
        if let Some((head, tail)) = t.split_once(sep)
            && is_title(head)
            && !is_title(tail)
            && !is_region(tail)
            && tail.chars().next().is_some_and(char::is_uppercase)
            && (if sep == ", " || one_word {
                surely_company(tail, domain_label)
            } else {
                true
            })
        {
            return Some((
                head.trim().to_string(),
                cell.line,
                Some(tail.trim().to_string()),
            ));
        }
    }
    Some((t, cell.line, None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles() {
        assert!(is_title("Senior Logistics Coordinator"));
        assert!(is_title("Leiterin Vertrieb"));
        assert!(is_title("営業部 部長"));
        assert!(!is_title("opinion from our inhouse counsel."));
        assert!(!is_title("Tel: 555 0100"));
        let cells = super::super::cells(&crate::mime::text_lines(
            "Ann Lee\nCreative Lead, Tallgrass Design",
        ));
        let found = find(
            &cells,
            &["Ann Lee"],
            Some("Ann Lee"),
            Some("tallgrassdesign"),
        );
        assert_eq!(
            found.map(|t| (t.0, t.2)),
            Some((
                "Creative Lead".to_string(),
                Some("Tallgrass Design".to_string())
            ))
        );
        // A company word alone does not make the part after the comma a company.
        let cells = super::super::cells(&crate::mime::text_lines(
            "Walt Briggs\nDirector, Pipeline Capacity",
        ));
        let found = find(
            &cells,
            &["Walt Briggs"],
            Some("Walt Briggs"),
            Some("harrowenergy"),
        );
        assert_eq!(
            found.map(|t| t.0).as_deref(),
            Some("Director, Pipeline Capacity")
        );
        // A region after the comma stays in the title, even when the domain is named after it.
        for (line, domain) in [
            ("Logistics Manager, West Coast", "westcoast"),
            ("Sales Director, EMEA", "acme"),
        ] {
            let cells =
                super::super::cells(&crate::mime::text_lines(&format!("Rachel Kim\n{line}")));
            let found = find(&cells, &["Rachel Kim"], Some("Rachel Kim"), Some(domain));
            assert_eq!(found.map(|t| (t.0, t.2)), Some((line.to_string(), None)));
        }
        let cells =
            super::super::cells(&crate::mime::text_lines("Owen Park\nManager, Credit Risk"));
        let found = find(&cells, &["Owen Park"], Some("Owen Park"), None);
        assert_eq!(found.map(|t| t.0).as_deref(), Some("Manager, Credit Risk"));
        let cells = super::super::cells(&crate::mime::text_lines(
            "Priya Raman\nGas Scheduling\n3-5290",
        ));
        assert_eq!(
            structural(&cells, 0, "Priya Raman", None)
                .map(|t| t.0)
                .as_deref(),
            Some("Gas Scheduling")
        );
        let cells = super::super::cells(&crate::mime::text_lines("Jim Pruitt\nPruitt Pipe Supply"));
        assert_eq!(structural(&cells, 0, "Jim Pruitt", None), None);
        let cells = super::super::cells(&crate::mime::text_lines(
            "Martin Dvořák | jednatel | Šumava Dřevo s.r.o.",
        ));
        assert_eq!(
            structural(&cells, 0, "Martin Dvořák", None)
                .map(|t| t.0)
                .as_deref(),
            Some("jednatel")
        );
    }
}
