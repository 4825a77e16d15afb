//! Postal address: street lines and postcode + city lines (DE AT CH FR UK US CA NL ES IT PL SE
//! DK NO FI PT CZ HU RO GR TR RU UA IL CN JP KR and more), consecutive ones joined with ", " in
//! written order; a one-word label ("地址：", "Address:") is not part of the value.

use once_cell::sync::Lazy;
use regex::Regex;

use super::Cell;
use crate::line::Line;

/// Street patterns (the first three) and postcode / box / building patterns (the rest).
const PATTERNS: &[&str] = &[
    // Number first: "1200 Bay Street", "18 Ropemaker Street", "55 Shuman Boulevard".
    // A suite written first ("#3500, 700 2nd Street SW") and ordinal street names ("2nd Street").
    r"^(?:#\d{1,5},?\s+)?\d{1,5}[A-Za-z]?(?:-\d{1,4})?,?\s+(?:\d{1,3}(?:st|nd|rd|th)\s+)?\p{Lu}[\p{L}.']+(?:\s+\p{L}[\p{L}.']*){0,4}",
    // Street name then number: "Hauptstraße 5", "Keizersgracht 12", "Storgatan 3".
    r"(?i)\p{L}+(?:straße|strasse|str\.|weg|gasse|platz|allee|ring|damm|ufer|straat|laan|plein|gracht|kade|singel|dijk|gatan|vägen|gata|väg|gade|vej|allé|plads|torget)\s+\d{1,4}",
    // Street word then name: "rue de Rivoli 12", "Calle Mayor, 5", "Via Roma 1", "ul. Długa 5",
    // "Str. Lipscani nr. 25", "ул. Тверская", "вул. Хрещатик", "Λεωφ. Συγγρού", "רחוב הרצל".
    r"(?i)^(?:\d{1,4},?\s+)?(?:rue|avenue|av\.|avda\.?|boulevard|bd|chemin|allée|place|quai|impasse|calle|c/|avenida|plaza|paseo|carrer|via|viale|piazza|corso|largo|rua|travessa|praça|alameda|ul\.|al\.|aleja|plac|str\.|strada|calea|bd\.|bulevardul|şos\.|ул\.|улица|пр-т|просп\.|проспект|пер\.|переулок|шоссе|вул\.|вулиця|пров\.|λεωφ\.|λεωφόρος|οδός|οδ\.|רחוב|רח'|שדרות|cad\.|caddesi|sok\.|sokak|mah\.|mahallesi|ulice|nám\.|náměstí|utca|út|г\.|м\.)\s+\p{L}",
    // Postcode + city.
    r"(?-u:\b)(?:[A-Z]{1,2}-)?\d{5}\s+\p{Lu}\p{Ll}",
    r"(?-u:\b)\d{4}\s+(?:[A-Z]{2}\s+)?\p{Lu}\p{Ll}",
    r"(?-u:\b)[A-Z]{1,2}\d[A-Z\d]?\s+\d[A-Z]{2}(?-u:\b)",
    r"(?-u:\b)[A-Z]{2}\.?,?\s+\d{5}(?:-\d{4})?(?-u:\b)",
    r"\p{Lu}\p{Ll}+,?\s+\d{5}(?:-\d{4})?$",
    r"(?-u:\b)\d{3}\s\d{2}\s+\p{Lu}\p{Ll}",
    r"(?-u:\b)\d{2}-\d{3}\s+\p{Lu}\p{Ll}",
    r"(?-u:\b)\d{4}-\d{3}\s+\p{Lu}\p{Ll}",
    r"(?-u:\b)\d{5}-\d{3}(?-u:\b)",
    r"〒\s?\d{3}-\d{4}",
    r"(?-u:\b)[A-Z]\d[A-Z]\s?\d[A-Z]\d(?-u:\b)",
    r"(?i)(?-u:\b)(?:p\.?\s?o\.?\s+box|postfach|apartado|casella postale|caixa postal)(?-u:\b)",
    r"(?i)^(?:suite|ste\.?|floor|unit|room)\s+\w+",
    // Japan, China (province / city, district, road) and Korea (city / province, district).
    r"(?:都|道|府|県)\p{Han}+(?:市|区|町)|\p{Han}{2,}(?:省|市)\p{Han}+(?:区|县|市|路|街|镇)|\p{Hangul}+(?:시|도)\s+\p{Hangul}+(?:구|군|시)",
    // Ireland (Eircode), Australia (state + postcode), India (city + PIN).
    r"(?-u:\b)[AC-FHKNPRTV-Y]\d{2}\s?[AC-FHKNPRTV-Y0-9]{4}(?-u:\b)",
    r"(?-u:\b)(?:NSW|VIC|QLD|WA|SA|TAS|ACT|NT)\s+\d{4}(?-u:\b)",
    r"\p{Lu}\p{Ll}+,?\s+\d{6}(?-u:\b)|(?-u:\b)\d{6}\s+\p{Lu}\p{Ll}",
    r"(?i)^(?:level|plot|floor|etage|piso|andar)\s+\d+",
];

/// How many of [`PATTERNS`] describe a street line.
const N_STREET_PATTERNS: usize = 3;

/// One regex per group, so that a cell is scanned once per group rather than once per pattern.
fn alternation(patterns: &[&str]) -> Option<Regex> {
    let parts: Vec<String> = patterns.iter().map(|p| format!("(?:{p})")).collect();
    Regex::new(&parts.join("|")).ok()
}

static STREET: Lazy<Option<Regex>> =
    Lazy::new(|| alternation(PATTERNS.get(..N_STREET_PATTERNS).unwrap_or_default()));
static POSTAL: Lazy<Option<Regex>> =
    Lazy::new(|| alternation(PATTERNS.get(N_STREET_PATTERNS..).unwrap_or_default()));

/// The patterns above that can match a line without any digit ("rue de Rivoli", "P.O. Box",
/// "Suite A", 東京都港区): the only ones worth running on a digit-free cell, which most
/// signature cells (names, titles, companies) are.
const NO_DIGIT_STREET: &[&str] = &[PATTERNS[2]];
const NO_DIGIT_POSTAL: &[&str] = &[PATTERNS[14], PATTERNS[15], PATTERNS[16]];
static STREET_NO_DIGIT: Lazy<Option<Regex>> = Lazy::new(|| alternation(NO_DIGIT_STREET));
static POSTAL_NO_DIGIT: Lazy<Option<Regex>> = Lazy::new(|| alternation(NO_DIGIT_POSTAL));

/// Whether `text` holds a character that `\d` may match (any Unicode digit).
fn has_digit(text: &str) -> bool {
    text.bytes().any(|b| b.is_ascii_digit())
        || (!text.is_ascii() && text.chars().any(char::is_numeric))
}

static PHONE_LIKE: Lazy<Option<Regex>> = Lazy::new(|| {
    Regex::new(r"\+\d|\(?\d{3}\)?[\s.\-]\d{3}[\s.\-]\d{4}|\d{2,4}[\s/.\-]\d{2,4}[\s/.\-]\d{2,4}[\s/.\-]\d{2,4}").ok()
});

/// Whether a cell reads as part of a postal address.
pub(crate) fn is_address(text: &str) -> bool {
    if text.chars().count() > 120
        || text.contains('@')
        || text.contains("://")
        || text.contains("www.")
    {
        return false;
    }
    let digit = has_digit(text);
    if digit && PHONE_LIKE.as_ref().is_some_and(|re| re.is_match(text)) {
        return false;
    }
    let (postal_re, street_re) = if digit {
        (&POSTAL, &STREET)
    } else {
        (&POSTAL_NO_DIGIT, &STREET_NO_DIGIT)
    };
    // (Lower-cased only when a label or a street word is looked for.)
    if text.contains(':') {
        let lower = text.to_lowercase();
        let label = lower
            .split([':', ' '])
            .next()
            .unwrap_or_default()
            .trim_end_matches('.');
        if crate::tables::labels::PHONE_LABELS
            .iter()
            .any(|(l, _)| *l == label)
        {
            return false;
        }
    }
    let postal = postal_re.as_ref().is_some_and(|re| re.is_match(text));
    if postal {
        return true;
    }
    if street_re.as_ref().is_some_and(|re| re.is_match(text)) {
        // A bare number-first line needs a street word to count ("22 TEU per week" does not).
        let number_first = text.chars().next().is_some_and(|c| c.is_ascii_digit());
        return !number_first || has_street_word(&text.to_lowercase());
    }
    false
}

fn has_street_word(lower: &str) -> bool {
    crate::tables::STREET_WORDS.matches(lower)
}

/// Countries written on their own line after an address.
const COUNTRY_LINE: &[&str] = &[
    "germany",
    "deutschland",
    "austria",
    "österreich",
    "switzerland",
    "schweiz",
    "france",
    "united kingdom",
    "uk",
    "usa",
    "spain",
    "españa",
    "italy",
    "italia",
    "netherlands",
    "nederland",
    "poland",
    "polska",
    "sweden",
    "sverige",
    "denmark",
    "danmark",
    "portugal",
    "japan",
    "brasil",
    "brazil",
    "méxico",
    "mexico",
    "canada",
    "belgium",
    "belgique",
    "ireland",
    "india",
    "australia",
];

static CITY_STATE: Lazy<Option<Regex>> =
    Lazy::new(|| Regex::new(r"^\p{Lu}[\p{L} .'-]{1,40}(?:/|, ?)[A-Z]{2}$").ok());

/// "Campinas/SP", "Houston, TX": a city with its state code.
fn is_city_state(text: &str) -> bool {
    CITY_STATE.as_ref().is_some_and(|re| re.is_match(text))
}

/// A cell without its one-word label ("地址：…", "Address: …", "Adresse : …").
fn without_label(text: &str) -> &str {
    let Some(pos) = text.find([':', '：']) else {
        return text;
    };
    let label = text[..pos].trim();
    let one_word = !label.is_empty()
        && label.chars().count() <= 12
        && !label.contains(' ')
        && label.chars().all(char::is_alphabetic);
    if one_word {
        text[pos..].trim_start_matches([':', '：']).trim_start()
    } else {
        text
    }
}

/// What separates two cells of one line as written, in the address's form: a dash is kept
/// ("Av. Brasil, 1500 - Campinas/SP"), bars and dots become ", ".
fn written_separator(line: Option<&Line>, before: &str, after: &str) -> String {
    let between = line.and_then(|l| {
        let start = l.text.find(before)? + before.len();
        let end = start + l.text.get(start..)?.find(after)?;
        l.text.get(start..end)
    });
    match between.map(str::trim) {
        Some(sep @ ("-" | "–" | "—")) => format!(" {sep} "),
        _ => ", ".to_string(),
    }
}

/// The first run of address cells: `(joined address, first block line)`.
pub(crate) fn find(cells: &[Cell], lines: &[Line]) -> Option<(String, usize)> {
    let start = cells.iter().position(|c| is_address(&c.text))?;
    let first_line = cells[start].line;
    let mut parts: Vec<&str> = vec![without_label(&cells[start].text)];
    let mut separators: Vec<String> = Vec::new();
    let mut last_line = first_line;
    for cell in cells.iter().skip(start + 1) {
        let is_country = COUNTRY_LINE.contains(&cell.text.to_lowercase().trim_end_matches('.'));
        if cell.line > last_line + 1 {
            break;
        }
        if is_address(&cell.text) || is_country {
            separators.push(", ".to_string());
            parts.push(cell.text.as_str());
            last_line = cell.line;
            if is_country {
                break;
            }
        } else if cell.line == last_line && is_city_state(&cell.text) {
            // "Av. Brasil, 1500 - Campinas/SP": the city and state after a dash on the line.
            let before = parts.last().copied().unwrap_or_default();
            separators.push(written_separator(lines.get(cell.line), before, &cell.text));
            parts.push(cell.text.as_str());
        } else if cell.line == last_line {
            continue;
        } else {
            break;
        }
    }
    let mut out = String::new();
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push_str(separators.get(i - 1).map_or(", ", String::as_str));
        }
        out.push_str(part);
    }
    Some((out, first_line))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digit_free_patterns_are_the_right_ones() {
        assert!(NO_DIGIT_STREET[0].contains("rue|avenue"));
        assert!(NO_DIGIT_POSTAL[0].contains("postfach"));
        assert!(NO_DIGIT_POSTAL[1].contains("suite"));
        assert!(NO_DIGIT_POSTAL[2].contains("都"));
        // Every other pattern needs a digit to match.
        for (i, p) in PATTERNS.iter().enumerate() {
            let free = NO_DIGIT_STREET.contains(p) || NO_DIGIT_POSTAL.contains(p);
            assert!(
                free || p.contains("\\d"),
                "pattern {i} matches without a digit"
            );
        }
        for a in ["rue de Rivoli", "P.O. Box A", "Suite B", "東京都港区"] {
            assert!(!has_digit(a) && is_address(a), "{a}");
        }
    }

    #[test]
    fn recognises_addresses() {
        for a in [
            "1200 Bay Street, Suite 410",
            "Oakland, CA 94607",
            "18 Ropemaker Street, London EC2Y 9AR",
            "Hauptstraße 5",
            "80331 München",
            "1010 Wien",
            "ul. Długa 5",
            "00-950 Warszawa",
            "Houston, Texas 77002",
            "P.O. Box 4778",
            "#3500, 700 2nd Street SW",
            "1120 2nd Street",
            "Odessa, TX. 79761",
            "ул. Тверская, д. 12, Москва, 125009",
            "г. Самара, ул. Ленина, д. 5",
            "Str. Lipscani nr. 25, 030031 București",
            "深圳市南山区科技园南路88号",
            "서울특별시 강남구 테헤란로 123",
            "רחוב הרצל 10, תל אביב",
        ] {
            assert!(is_address(a), "{a}");
        }
        for n in [
            "(510) 555-0142",
            "22 TEU/wk",
            "Office: 713-853-5620",
            "Senior Counsel",
        ] {
            assert!(!is_address(n), "{n}");
        }
    }
}
