//! Default region for numbers written without a country code: country names in the
//! signature first, then the sender's domain, then the United States.

use once_cell::sync::Lazy;
use rlibphonenumber::Region;

use crate::tables::matcher::{Boundary, WordSet};

static COUNTRIES: Lazy<WordSet> =
    Lazy::new(|| WordSet::lowercase(COUNTRY_WORDS.iter().map(|(w, _)| *w), Boundary::Word));

/// Country names and adjectives as written in signatures (lower-case) and their region.
const COUNTRY_WORDS: &[(&str, &str)] = &[
    ("germany", "DE"),
    ("deutschland", "DE"),
    ("austria", "AT"),
    ("österreich", "AT"),
    ("switzerland", "CH"),
    ("schweiz", "CH"),
    ("suisse", "CH"),
    ("svizzera", "CH"),
    ("france", "FR"),
    ("united kingdom", "GB"),
    ("england", "GB"),
    ("scotland", "GB"),
    ("uk", "GB"),
    ("spain", "ES"),
    ("españa", "ES"),
    ("italy", "IT"),
    ("italia", "IT"),
    ("netherlands", "NL"),
    ("nederland", "NL"),
    ("belgium", "BE"),
    ("belgique", "BE"),
    ("belgië", "BE"),
    ("poland", "PL"),
    ("polska", "PL"),
    ("sweden", "SE"),
    ("sverige", "SE"),
    ("denmark", "DK"),
    ("danmark", "DK"),
    ("portugal", "PT"),
    ("japan", "JP"),
    ("日本", "JP"),
    ("brazil", "BR"),
    ("brasil", "BR"),
    ("mexico", "MX"),
    ("méxico", "MX"),
    ("canada", "CA"),
    ("india", "IN"),
    ("australia", "AU"),
    ("ireland", "IE"),
    ("norway", "NO"),
    ("norge", "NO"),
    ("finland", "FI"),
    ("suomi", "FI"),
    ("usa", "US"),
    ("u.s.a.", "US"),
    ("united states", "US"),
    ("luxembourg", "LU"),
    ("new zealand", "NZ"),
    ("south africa", "ZA"),
    ("cdmx", "MX"),
    ("são paulo", "BR"),
];

/// Top-level domains that are not countries, or not used as one.
const GENERIC_TLDS: &[&str] = &[
    "com", "net", "org", "edu", "gov", "io", "co", "me", "tv", "ai", "app", "biz", "info", "eu",
    "dev", "xyz",
];

/// Frequent short words per language and the region they suggest (English says nothing).
const STOPWORDS: &[(&str, &[&str])] = &[
    (
        "EN",
        &[
            "the", "and", "to", "of", "you", "is", "for", "we", "it", "that", "with", "this",
        ],
    ),
    (
        "DE",
        &[
            "und", "der", "die", "das", "ich", "nicht", "mit", "für", "wir", "ist", "sie", "ein",
            "eine", "bitte",
        ],
    ),
    (
        "FR",
        &[
            "le", "la", "les", "et", "vous", "nous", "pour", "est", "une", "des", "je", "du", "au",
        ],
    ),
    (
        "ES",
        &[
            "el", "los", "las", "y", "que", "para", "con", "una", "por", "nos", "está", "del", "te",
        ],
    ),
    (
        "IT",
        &[
            "il", "di", "che", "per", "con", "una", "sono", "della", "grazie", "non", "gli", "ci",
        ],
    ),
    (
        "NL",
        &[
            "de", "het", "een", "en", "van", "ik", "je", "niet", "voor", "met", "wij", "graag", "u",
        ],
    ),
    (
        "PT",
        &[
            "o", "os", "que", "para", "com", "uma", "não", "você", "em", "do", "da", "as",
        ],
    ),
    (
        "SE",
        &[
            "och", "att", "det", "som", "för", "med", "inte", "vi", "är", "jag", "på", "till",
        ],
    ),
    (
        "DK",
        &[
            "og", "at", "det", "som", "for", "med", "ikke", "vi", "er", "jeg", "på", "til",
        ],
    ),
    (
        "PL",
        &[
            "i",
            "w",
            "z",
            "na",
            "się",
            "nie",
            "że",
            "do",
            "jest",
            "pozdrawiam",
            "proszę",
            "oraz",
        ],
    ),
    (
        "TR",
        &[
            "ve",
            "bir",
            "bu",
            "için",
            "ile",
            "çok",
            "merhaba",
            "teşekkürler",
            "olarak",
            "size",
            "bilgi",
            "saygılarımla",
        ],
    ),
    (
        "CZ",
        &[
            "je",
            "se",
            "že",
            "pro",
            "dobrý",
            "děkuji",
            "prosím",
            "jsem",
            "jsme",
            "také",
            "bude",
            "pozdravem",
        ],
    ),
    (
        "FI",
        &[
            "ja",
            "ei",
            "että",
            "hei",
            "kiitos",
            "terveisin",
            "tämä",
            "olen",
            "myös",
            "kanssa",
        ],
    ),
    (
        "HU",
        &[
            "az",
            "és",
            "hogy",
            "nem",
            "egy",
            "köszönöm",
            "kérem",
            "üdvözlettel",
            "vagy",
            "van",
            "lesz",
        ],
    ),
    (
        "RO",
        &[
            "și",
            "în",
            "pentru",
            "vă",
            "mulțumesc",
            "este",
            "bună",
            "ziua",
            "sunt",
            "vom",
            "mâine",
        ],
    ),
    (
        "NO",
        &[
            "hei", "takk", "vennlig", "hilsen", "ikke", "blir", "kommer", "med", "jeg", "og", "er",
        ],
    ),
];

/// A small multiplicative hash for the stop-word index: its keys are a few hundred short
/// words looked up up to 400 times per message, where the default SipHash cost more than the
/// rest of the language guess. (Hand-rolled: no hashing crate is a dependency; the keys are
/// constants, so flooding resistance is not needed.)
#[derive(Default)]
struct WordHasher(u64);

impl std::hash::Hasher for WordHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
        }
    }
}

type WordMap<V> =
    std::collections::HashMap<&'static str, V, std::hash::BuildHasherDefault<WordHasher>>;

/// Stop word -> indices of the languages (in [`STOPWORDS`]) that use it.
static STOPWORD_INDEX: Lazy<WordMap<Vec<usize>>> = Lazy::new(|| {
    let mut index: WordMap<Vec<usize>> = WordMap::default();
    for (i, (_, words)) in STOPWORDS.iter().enumerate() {
        for w in *words {
            index.entry(w).or_default().push(i);
        }
    }
    index
});

/// Bytes of text that say enough about the language.
const LANGUAGE_SAMPLE: usize = 2_000;

/// The region a script all but names: Hangul, Han without kana, Hebrew, Greek, Cyrillic
/// (Ukrainian when its own letters are there). Arabic is written in too many countries.
fn script_region(text: &str) -> Option<&'static str> {
    // Only scripts from Greek up (lead byte 0xce and above) count: text in Latin letters with
    // accents, most of the non-ASCII mail, is answered by one pass that looks for none.
    if !text.as_bytes().iter().any(|&b| b >= 0xce) {
        return None;
    }
    // Counted on UTF-8 lead bytes (these scripts have their own): a byte loop, not a decode.
    let (mut hangul, mut han, mut hebrew, mut greek, mut cyrillic, mut ukrainian) =
        (0, 0, 0, 0, 0, 0);
    let mut chars = 0;
    let bytes = text.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b & 0xc0 == 0x80 {
            continue; // continuation byte
        }
        chars += 1;
        if chars > LANGUAGE_SAMPLE {
            break;
        }
        let next = bytes.get(i + 1).copied().unwrap_or(0);
        match b {
            0xea..=0xed => hangul += 1,
            0xe4..=0xe9 => han += 1,
            0xd6 | 0xd7 => hebrew += 1,
            0xce | 0xcf => greek += 1,
            0xd0..=0xd3 => {
                cyrillic += 1;
                // і ї є (U+0456, U+0457, U+0454), ґ Ґ (U+0491, U+0490), І Ї Є (U+0406, …).
                if matches!(
                    (b, next),
                    (0xd1, 0x94 | 0x96 | 0x97) | (0xd2, 0x90 | 0x91) | (0xd0, 0x84 | 0x86 | 0x87)
                ) {
                    ukrainian += 1;
                }
            }
            _ => {}
        }
    }
    let enough = 10;
    if hangul >= enough {
        Some("KR")
    } else if han >= enough {
        Some("CN")
    } else if hebrew >= enough {
        Some("IL")
    } else if greek >= enough {
        Some("GR")
    } else if cyrillic >= enough {
        Some(if ukrainian >= 1 { "UA" } else { "RU" })
    } else {
        None
    }
}

fn has_kana(text: &str) -> bool {
    !text.is_ascii() && text.chars().any(|c| matches!(c, '\u{3040}'..='\u{30ff}'))
}

/// [`language_region`] of the lines joined with newlines, without joining more of them than
/// the sample it reads (kana anywhere still says Japanese).
pub(crate) fn language_of_lines(lines: &[crate::line::Line]) -> Option<&'static str> {
    if lines.iter().any(|l| has_kana(&l.text)) {
        return Some("JP");
    }
    let mut sample = String::with_capacity(LANGUAGE_SAMPLE + 200);
    for (i, line) in lines.iter().enumerate() {
        if sample.len() >= LANGUAGE_SAMPLE {
            break;
        }
        if i > 0 {
            sample.push('\n');
        }
        sample.push_str(&line.text);
    }
    language_region(&sample)
}

/// The region of the language the sender writes in, when it is not English.
pub(crate) fn language_region(text: &str) -> Option<&'static str> {
    if has_kana(text) {
        return Some("JP");
    }
    if let Some(region) = script_region(text) {
        return Some(region);
    }
    // The first couple of thousand characters say enough about the language.
    let mut end = text.len().min(LANGUAGE_SAMPLE);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let sample = &text[..end];
    let mut counts = [0usize; STOPWORDS.len()];
    let mut count = |word: &str| {
        if let Some(langs) = STOPWORD_INDEX.get(word) {
            for &l in langs {
                if let Some(c) = counts.get_mut(l) {
                    *c += 1;
                }
            }
        }
    };
    if sample.is_ascii() {
        // The same words as the general path below (for ASCII, lower-casing and `is_alphabetic`
        // are their ASCII forms), without lower-casing a copy of the whole sample.
        let mut word = [0u8; 64];
        for raw in sample
            .split(|c: char| !c.is_ascii_alphabetic())
            .filter(|w| !w.is_empty())
            .take(400)
        {
            // No stop word is this long; such a word is counted as no match either way.
            let Some(buf) = word.get_mut(..raw.len()) else {
                continue;
            };
            buf.copy_from_slice(raw.as_bytes());
            buf.make_ascii_lowercase();
            if let Ok(w) = std::str::from_utf8(buf) {
                count(w);
            }
        }
    } else {
        // The words of `sample.to_lowercase()`, without lower-casing a copy of the whole
        // sample: each word is lower-cased on its own, ASCII words in place. Lower-casing
        // keeps word boundaries (an alphabetic character lower-cases to alphabetic ones, any
        // other to non-alphabetic ones) except for 'İ', whose lower case ends in a combining
        // mark that splits the word: the split below handles it. The one contextual rule,
        // final sigma, changes only Greek words, which are no stop words either way.
        let mut word = [0u8; 64];
        let mut n = 0;
        'words: for raw in sample
            .split(|c: char| !c.is_alphabetic())
            .filter(|w| !w.is_empty())
        {
            if raw.is_ascii() {
                n += 1;
                if let Some(buf) = word.get_mut(..raw.len()) {
                    buf.copy_from_slice(raw.as_bytes());
                    buf.make_ascii_lowercase();
                    if let Ok(w) = std::str::from_utf8(buf) {
                        count(w);
                    }
                } else {
                    count(&raw.to_ascii_lowercase());
                }
                if n >= 400 {
                    break;
                }
                continue;
            }
            let lower = raw.to_lowercase();
            for w in lower
                .split(|c: char| !c.is_alphabetic())
                .filter(|w| !w.is_empty())
            {
                count(w);
                n += 1;
                if n >= 400 {
                    break 'words;
                }
            }
        }
    }
    let mut best: Option<(&'static str, usize)> = None;
    for ((region, _), &n) in STOPWORDS.iter().zip(counts.iter()) {
        if n >= 3 && best.is_none_or(|(_, b)| n > b) {
            best = Some((region, n));
        }
    }
    best.map(|(r, _)| r).filter(|r| *r != "EN")
}

/// Regions to try, best first (never empty).
pub(crate) fn hints(
    signature_text: &str,
    from_address: Option<&str>,
    language: Option<&str>,
) -> Vec<Region> {
    let mut out: Vec<Region> = Vec::new();
    for id in COUNTRIES.found_lower(signature_text) {
        if let Some((_, code)) = COUNTRY_WORDS.get(id) {
            push(&mut out, code);
        }
    }
    if let Some(domain) = from_address
        .and_then(|a| a.rsplit_once('@'))
        .map(|(_, d)| d)
    {
        let tld = domain.rsplit('.').next().unwrap_or_default();
        if tld == "uk" {
            push(&mut out, "GB");
        } else if !GENERIC_TLDS.contains(&tld) {
            push(&mut out, &tld.to_ascii_uppercase());
        }
    }
    if let Some(code) = language {
        push(&mut out, code);
    }
    push(&mut out, "US");
    out
}

fn push(out: &mut Vec<Region>, code: &str) {
    if let Ok(region) = code.parse::<Region>()
        && !out.contains(&region)
    {
        out.push(region);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scripts_name_regions() {
        assert_eq!(
            language_region("交货期确认为四月十日。请查收附件中的报价单。"),
            Some("CN")
        );
        assert_eq!(
            language_region("견적서 첨부드립니다. 감사합니다. 확인 부탁드립니다."),
            Some("KR")
        );
        assert_eq!(
            language_region("Добрий день, рахунок у вкладенні, дякую"),
            Some("UA")
        );
        assert_eq!(
            language_region("Добрый день, смета во вложении, спасибо"),
            Some("RU")
        );
        assert_eq!(language_region("מצורפת הצעת המחיר, תודה רבה"), Some("IL"));
        assert_eq!(
            language_region("The rates are attached, thanks for your patience."),
            None
        );
    }

    #[test]
    fn hints_in_order() {
        let r = hints(
            "Acme GmbH, Wien, Österreich",
            Some("ann@acme.de"),
            Some("DE"),
        );
        let codes: Vec<String> = r.iter().map(|r| r.to_string()).collect();
        assert_eq!(codes, ["AT", "DE", "US"]);
        assert_eq!(hints("", None, None).len(), 1);
        assert_eq!(
            hints("", Some("a@b.co.uk"), None)
                .first()
                .map(|r| r.to_string())
                .as_deref(),
            Some("GB")
        );
    }

    #[test]
    fn language_of_text() {
        assert_eq!(
            language_region(
                "Hola, te confirmo que el pedido para el lunes está listo con los precios"
            ),
            Some("ES")
        );
        assert_eq!(
            language_region("Hi, the files are in the folder and the team will send them to you"),
            None
        );
        assert_eq!(language_region("よろしくお願いします"), Some("JP"));
    }
}
