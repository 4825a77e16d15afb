//! Company: a cell with a legal form (GmbH, Ltd, S.A., sp. z o.o., 株式会社 …), a logo's alt
//! text, or the plain line that follows name and title. An organisation may span lines
//! ("Department of Civil Engineering" above "Lakeshore State University") or carry its unit on
//! its line ("Enron Corp. - Global Finance"): [`extend`] joins them in written order.

use super::{Cell, is_contact_cell};
use crate::line::Line;

/// Whether the text carries a legal form. Short forms (AG, SA, AB …) must be written in
/// capitals, as companies write them, so that "ab" or "as" in prose do not count.
pub(crate) fn has_legal_form(text: &str) -> bool {
    if text.chars().count() > 90 {
        return false;
    }
    crate::tables::LEGAL.matches_lower(text) || crate::tables::LEGAL_AMBIGUOUS.matches(text)
}

/// A unit written after the company on its line ("Enron Corp. - Global Finance", "Acme -
/// West Desk"): a unit word, or at most two capitalised words; a tagline ("Menuiserie &
/// agencement", "Ihr Partner für Bau") is neither.
fn is_unit_tail(tail: &str) -> bool {
    let words: Vec<&str> = tail.split_whitespace().collect();
    let capitalised = words.len() <= 2
        && words
            .iter()
            .all(|w| w.chars().next().is_some_and(char::is_uppercase));
    !words.is_empty()
        && words.len() <= 4
        && !tail.chars().any(|c| c.is_ascii_digit() || c == '@')
        && !super::title::is_title(tail)
        && (capitalised || crate::tables::ORG_UNITS.matches(&tail.to_lowercase()))
}

/// Cuts a tagline after the company ("Acme SARL – Menuiserie").
fn trim_tagline(text: &str) -> String {
    for sep in [" – ", " — ", " - ", " | "] {
        if let Some((head, tail)) = text.split_once(sep)
            && has_legal_form(head)
            && !(sep != " | " && is_unit_tail(tail))
        {
            return head.trim().to_string();
        }
    }
    text.trim().to_string()
}

/// What the company finder knows besides the cells.
pub(crate) struct Hints<'a> {
    pub name_line: Option<usize>,
    pub title_line: Option<usize>,
    pub name: Option<&'a str>,
    pub title: Option<&'a str>,
    /// Company written in the title cell ("Creative Lead, Tallgrass Design").
    pub from_title: Option<String>,
    /// Main label of the sender's domain ("tallgrassdesign" for ann@tallgrassdesign.com).
    pub domain_label: Option<String>,
}

fn squash(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .map(|c| match c {
            'ä' | 'á' | 'à' | 'â' | 'ã' | 'å' => 'a',
            'ö' | 'ó' | 'ò' | 'ô' | 'õ' | 'ø' => 'o',
            'ü' | 'ú' | 'ù' | 'û' => 'u',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ç' => 'c',
            'ñ' => 'n',
            c => c,
        })
        .collect()
}

/// The cell's words spell (the start of) the sender's domain: "Northfield Roofing" for
/// northfieldroofing.com, "Copperleaf Communications" for copperleaf.co.uk.
pub(crate) fn matches_domain(text: &str, domain_label: &str) -> bool {
    if domain_label.len() < 4 {
        return false;
    }
    let words: Vec<String> = text
        .split_whitespace()
        .map(squash)
        .filter(|w| !w.is_empty())
        .collect();
    let Some(first) = words.first() else {
        return false;
    };
    let all = words.concat();
    // The words in another order ("Camping De Groot" for degrootcamping.nl).
    let every_word = all.len() >= 8
        && words.len() >= 2
        && words.iter().all(|w| domain_label.contains(w.as_str()))
        && words.iter().map(String::len).sum::<usize>() >= domain_label.len();
    all.starts_with(domain_label)
        || domain_label.starts_with(&all)
        || (first.len() >= 4 && domain_label.starts_with(first.as_str()))
        || (all.len() >= 6 && domain_label.contains(&all))
        || every_word
}

/// A line that names a unit of an organisation or an organisation ("Department of Civil
/// Engineering", "Saudi Arabia Gas Resources").
pub(crate) fn is_org_line(text: &str) -> bool {
    let lower = text.to_lowercase();
    text.split_whitespace().count() <= 8
        && text.chars().count() <= 80
        && text
            .chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() && !c.is_lowercase())
        && !text
            .chars()
            .any(|c| c.is_ascii_digit() || matches!(c, ':' | '@'))
        && !is_contact_cell(text)
        && !super::address::is_address(text)
        && !super::title::is_title(text)
        && (crate::tables::ORG_UNITS.matches(&lower)
            || crate::tables::COMPANY_WORDS.matches(&lower)
            || has_legal_form(text))
}

/// A short capitalised line that is nothing else (no number, address, title or person).
fn plain_unit_line(text: &str) -> bool {
    (1..=5).contains(&text.split_whitespace().count())
        && text
            .chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() && !c.is_lowercase())
        && !text
            .chars()
            .any(|c| c.is_ascii_digit() || matches!(c, ':' | '@' | ','))
        && !is_contact_cell(text)
        && !super::address::is_address(text)
        && !super::title::is_title(text)
}

/// An organisation written on several lines: the unit lines right above or below the company
/// line (never the name's or the title's line) join it in written order.
pub(crate) fn extend(
    cells: &[Cell],
    company: &str,
    line: usize,
    taken: &[Option<usize>],
) -> String {
    let alone = |l: usize| {
        let mut on_line = cells.iter().filter(|c| c.line == l);
        match (on_line.next(), on_line.next()) {
            (Some(c), None) if !taken.contains(&Some(l)) && is_org_line(&c.text) => {
                Some(c.text.as_str())
            }
            _ => None,
        }
    };
    let on_line: Vec<&Cell> = cells.iter().filter(|c| c.line == line).collect();
    if let [first, second] = on_line.as_slice()
        && first.text == company
        && is_unit_tail(&second.text)
    {
        return format!("{company} - {}", second.text);
    }
    if on_line.len() != 1 {
        return company.to_string();
    }
    // A plain line between the title (or name) and the company names a unit too.
    let sandwiched = |l: usize| {
        let mut on = cells.iter().filter(|c| c.line == l);
        match (on.next(), on.next()) {
            (Some(c), None)
                if l >= 1
                    && !taken.contains(&Some(l))
                    && taken.contains(&Some(l - 1))
                    && plain_unit_line(&c.text) =>
            {
                Some(c.text.as_str())
            }
            _ => None,
        }
    };
    let mut parts = Vec::new();
    if let Some(above) = line
        .checked_sub(1)
        .and_then(|l| alone(l).or_else(|| sandwiched(l)))
    {
        parts.push(above);
    }
    parts.push(company);
    if let Some(below) = alone(line + 1) {
        parts.push(below);
    }
    parts.join(", ")
}

/// `(company, block line, rule)`.
pub(crate) fn find(
    cells: &[Cell],
    lines: &[Line],
    hints: &Hints<'_>,
) -> Option<(String, usize, &'static str)> {
    let name = hints.name;
    let candidate = |t: &str| {
        !is_contact_cell(t)
            && !super::address::is_address(t)
            && Some(t) != name
            && !t.contains([':', '：'])
            && t.chars().count() <= 80
    };
    if let (Some(company), Some(line)) = (&hints.from_title, hints.title_line)
        && has_legal_form(company)
    {
        return Some((trim_tagline(company), line, "company.after_title_comma"));
    }
    for (i, line) in lines.iter().enumerate().take(16) {
        let t = line.text.as_str();
        // "Ufficio Tecnico – Bianchi S.p.A." is a title and a company: the cells decide.
        // (Asked last: most lines carry no legal form.)
        let title_first = || {
            [" – ", " — ", " - ", ", "].iter().any(|sep| {
                t.split_once(sep)
                    .is_some_and(|(head, _)| super::title::is_title(head))
            })
        };
        if has_legal_form(t)
            && candidate(t)
            && !super::title::is_title(t)
            && !t.contains(['|', '·', '•'])
            && !title_first()
        {
            return Some((trim_tagline(t), i, "company.legal_form"));
        }
    }
    let legal_cells: Vec<&Cell> = cells
        .iter()
        .take(16)
        .filter(|c| has_legal_form(&c.text) && candidate(&c.text))
        .collect();
    let at_end = legal_cells.iter().find(|c| {
        c.text
            .split_whitespace()
            .next_back()
            .is_some_and(has_legal_form)
    });
    if let Some(cell) = at_end.or(legal_cells.first()) {
        return Some((trim_tagline(&cell.text), cell.line, "company.legal_form"));
    }
    if let (Some(company), Some(line)) = (&hints.from_title, hints.title_line) {
        return Some((company.clone(), line, "company.after_title_comma"));
    }
    for (i, line) in lines.iter().enumerate() {
        for alt in &line.alts {
            let lower = alt.to_lowercase();
            let label_like = alt.chars().count() < 4
                || [
                    "icon",
                    "phone",
                    "mobile",
                    "mail",
                    "tel",
                    "fax",
                    "linkedin",
                    "twitter",
                    "facebook",
                    "instagram",
                    "xing",
                    "github",
                    "cel",
                    "whatsapp",
                    "web",
                ]
                .iter()
                .any(|w| lower.contains(w));
            if !label_like && Some(alt.as_str()) != name && !alt.chars().any(|c| c.is_ascii_digit())
            {
                let alt = alt
                    .trim_end_matches(" logo")
                    .trim_end_matches(" Logo")
                    .trim()
                    .to_string();
                return Some((alt, i, "company.logo_alt"));
            }
        }
    }
    if let Some(label) = hints.domain_label.as_deref() {
        for cell in cells.iter().take(12) {
            let t = cell.text.as_str();
            if candidate(t)
                && Some(cell.line) != hints.name_line
                && Some(t) != hints.title
                && t.split_whitespace().count() <= 6
                && matches_domain(t, label)
                && !t.contains('.')
                && !t.chars().any(|c| c.is_ascii_digit())
            {
                return Some((t.to_string(), cell.line, "company.domain_match"));
            }
        }
    }
    // Name / Title / Company: the plain line right after the name and title.
    let after = hints.title_line.or(hints.name_line)?;
    let cell = cells
        .iter()
        .find(|c| c.line > after && c.line <= after + 2)?;
    let text = cell.text.as_str();
    let lower = text.to_lowercase();
    let company_word = crate::tables::COMPANY_WORDS.matches(&lower);
    // (A script without case gives a person's shape to any two words: there the position
    // decides.)
    let caseless = text
        .chars()
        .next()
        .is_some_and(|c| c.is_alphabetic() && !c.is_lowercase() && !c.is_uppercase());
    // A line with the person's surname under the name is the business named after them
    // ("Zieliński Meble", "Cantina Marini"), though it has a person's shape.
    let named_after = name.is_some_and(|n| super::name::carries_name_word(text, n));
    let unit = crate::tables::ORG_UNITS.matches(&lower);
    let plain = candidate(text)
        && (named_after || !super::title::is_title(text))
        && (company_word || caseless || named_after || unit || !super::name::person_shaped(text))
        && text.split_whitespace().count() <= 6
        && text
            .chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() && !c.is_lowercase())
        && !text.chars().any(|c| c.is_ascii_digit());
    plain.then(|| (text.to_string(), cell.line, "company.after_title"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legal_forms() {
        assert!(has_legal_form("Northwind Cargo Partners, Inc."));
        assert!(has_legal_form("Müller Heizungsbau GmbH"));
        assert!(has_legal_form("Kowalski Logistyka sp. z o.o."));
        assert!(has_legal_form("Nordlys AB"));
        assert!(!has_legal_form("we can ab test it"));
        assert_eq!(
            trim_tagline("Atelier Roux SARL – Menuiserie & agencement"),
            "Atelier Roux SARL"
        );
    }
}
