//! Language data: words and phrases people use around signatures, per language.
//!
//! Data, not code: every list is a plain constant so that adding a language means adding
//! strings. All entries are lower-case; matching code lower-cases the text first. The word
//! sets below compile each table once into a [`matcher::WordSet`].

pub(crate) mod labels;
pub(crate) mod markers;
pub(crate) mod matcher;
pub(crate) mod words;

use once_cell::sync::Lazy;

use matcher::{Boundary, PrefixSet, WordSet};

fn has_cjk(w: &str) -> bool {
    w.chars().any(|c| matches!(c, '\u{3040}'..='\u{30ff}' | '\u{3400}'..='\u{9fff}' | '\u{ff00}'..='\u{ffef}' | '\u{ac00}'..='\u{d7af}' | '\u{1100}'..='\u{11ff}' | '\u{3130}'..='\u{318f}'))
}

/// Short legal forms that are also ordinary words somewhere; they count only as written by
/// companies (capitals, or the mixed-case spellings below).
pub(crate) const AMBIGUOUS_FORMS: &[&str] = &[
    "ag", "sa", "as", "ab", "se", "kg", "me", "sc", "sl", "lp", "ug", "ev", "kk", "oy", "spa",
    "sas", "bv", "nv", "aps", "co", "asa", "ohg", "vof", "sci", "srl", "gbr",
];
const MIXED_CASE_FORMS: &[&str] = &["ApS", "SpA", "GbR", "eV", "Oy"];

pub(crate) static TITLES: Lazy<WordSet> =
    Lazy::new(|| WordSet::lowercase(words::TITLE_WORDS, Boundary::Word));
pub(crate) static LEGAL: Lazy<WordSet> = Lazy::new(|| {
    WordSet::lowercase(
        words::LEGAL_FORMS
            .iter()
            .filter(|f| !AMBIGUOUS_FORMS.contains(f)),
        Boundary::Word,
    )
});
pub(crate) static LEGAL_AMBIGUOUS: Lazy<WordSet> = Lazy::new(|| {
    WordSet::new(
        AMBIGUOUS_FORMS
            .iter()
            .map(|f| f.to_uppercase())
            .chain(MIXED_CASE_FORMS.iter().map(|f| f.to_string())),
        Boundary::Word,
    )
});
pub(crate) static COMPANY_WORDS: Lazy<WordSet> =
    Lazy::new(|| WordSet::lowercase(words::COMPANY_WORDS, Boundary::Word));
/// Title words (Latin script), legal forms longer than two letters and company words in one automaton: a line
/// with any of them is not a person's name, and one overlapping search costs a third of three.
pub(crate) static NOT_A_PERSON: Lazy<WordSet> = Lazy::new(|| {
    WordSet::lowercase(
        words::TITLE_WORDS
            .iter()
            .filter(|w| !has_cjk(w))
            .chain(words::LEGAL_FORMS.iter().filter(|f| f.len() > 2))
            .chain(words::COMPANY_WORDS),
        Boundary::Word,
    )
});
pub(crate) static ORG_UNITS: Lazy<WordSet> =
    Lazy::new(|| WordSet::lowercase(words::ORG_UNIT_WORDS, Boundary::Word));
pub(crate) static STREET_WORDS: Lazy<WordSet> =
    Lazy::new(|| WordSet::lowercase(words::STREET_WORDS, Boundary::Word));
/// Disclaimer and registration words in one automaton: every footer check asks for either,
/// and one overlapping search costs half of two.
pub(crate) static LEGAL_FOOTERS: Lazy<WordSet> = Lazy::new(|| {
    WordSet::lowercase(
        markers::DISCLAIMER_WORDS
            .iter()
            .chain(markers::REGISTRATION_WORDS),
        Boundary::Start,
    )
});
pub(crate) static VALEDICTIONS: Lazy<PrefixSet> = Lazy::new(|| {
    PrefixSet::lowercase(
        markers::VALEDICTIONS
            .iter()
            .map(|v| v.trim_end_matches([',', '.'])),
    )
});
pub(crate) static DEVICE_FOOTERS: Lazy<PrefixSet> =
    Lazy::new(|| PrefixSet::lowercase(markers::DEVICE_FOOTERS));
pub(crate) static HISTORY_PHRASES: Lazy<PrefixSet> =
    Lazy::new(|| PrefixSet::lowercase(markers::HISTORY_PHRASES));
pub(crate) static WROTE_OPENERS: Lazy<PrefixSet> =
    Lazy::new(|| PrefixSet::lowercase(markers::WROTE_OPENERS));
