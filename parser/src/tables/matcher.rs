//! Fast whole-word lookup of a word table in a line: one Aho-Corasick automaton per table,
//! built once, instead of one substring search per table entry (which dominated the profile).

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, Anchored, Input, MatchKind, StartKind};

/// Runs `f` on `text` lower-cased. Tables of lower-case entries are built ASCII-case-
/// insensitive, so for ASCII text (most lines) the search runs on the text itself and the
/// copy `str::to_lowercase` makes is skipped; other text is lower-cased first as before.
fn on_lower<R>(text: &str, f: impl FnOnce(&str) -> R) -> R {
    if text.is_ascii() {
        f(text)
    } else {
        f(&text.to_lowercase())
    }
}

/// The automaton of a table. (aho-corasick picks its kind; a DFA was measured no faster here:
/// its larger tables cost cache misses on a busy machine.)
fn automaton<S: AsRef<[u8]>>(
    patterns: &[S],
    kind: MatchKind,
    start: StartKind,
    lowercase: bool,
) -> Option<AhoCorasick> {
    AhoCorasickBuilder::new()
        .match_kind(kind)
        .start_kind(start)
        .ascii_case_insensitive(lowercase)
        .build(patterns)
        .ok()
}

/// How a match must sit in the text.
#[derive(Clone, Copy)]
pub(crate) enum Boundary {
    /// Not inside a word on either side (CJK entries match anywhere).
    Word,
    /// Word start required; the end only for short entries ("avg" but "confidential…").
    Start,
}

pub(crate) struct WordSet {
    automaton: Option<AhoCorasick>,
    patterns: Vec<String>,
    boundary: Boundary,
}

fn is_cjk(c: char) -> bool {
    matches!(c, '\u{3040}'..='\u{30ff}' | '\u{3400}'..='\u{9fff}' | '\u{ff00}'..='\u{ffef}' | '\u{ac00}'..='\u{d7af}' | '\u{1100}'..='\u{11ff}' | '\u{3130}'..='\u{318f}')
}

impl WordSet {
    pub fn new<S: AsRef<str>>(words: impl IntoIterator<Item = S>, boundary: Boundary) -> WordSet {
        Self::build(words, boundary, false)
    }

    /// A table of lower-case entries, searched with [`WordSet::matches_lower`] in any text.
    pub fn lowercase<S: AsRef<str>>(
        words: impl IntoIterator<Item = S>,
        boundary: Boundary,
    ) -> WordSet {
        Self::build(words, boundary, true)
    }

    fn build<S: AsRef<str>>(
        words: impl IntoIterator<Item = S>,
        boundary: Boundary,
        lowercase: bool,
    ) -> WordSet {
        let patterns: Vec<String> = words
            .into_iter()
            .map(|w| w.as_ref().trim().to_string())
            .filter(|w| !w.is_empty())
            .collect();
        let automaton = automaton(
            &patterns,
            MatchKind::Standard,
            StartKind::Unanchored,
            lowercase,
        );
        WordSet {
            automaton,
            patterns,
            boundary,
        }
    }

    fn accept(&self, hay: &str, start: usize, end: usize, pattern: &str) -> bool {
        let cjk = pattern.chars().next().is_some_and(is_cjk);
        if cjk {
            return true;
        }
        let before_ok = hay
            .get(..start)
            .and_then(|h| h.chars().next_back())
            .is_none_or(|c| !c.is_alphanumeric());
        let after_needed = match self.boundary {
            Boundary::Word => pattern
                .chars()
                .next_back()
                .is_some_and(char::is_alphanumeric),
            Boundary::Start => {
                pattern
                    .chars()
                    .next_back()
                    .is_some_and(char::is_alphanumeric)
                    && pattern.len() <= 5
            }
        };
        let after_ok = !after_needed
            || hay
                .get(end..)
                .and_then(|h| h.chars().next())
                .is_none_or(|c| !c.is_alphanumeric());
        before_ok && after_ok
    }

    /// Indices (into the table) of the entries found as words in `hay`, in table order.
    pub fn found(&self, hay: &str) -> Vec<usize> {
        let Some(ac) = &self.automaton else {
            return Vec::new();
        };
        let mut ids: Vec<usize> = ac
            .find_overlapping_iter(hay)
            .filter(|m| {
                self.patterns
                    .get(m.pattern().as_usize())
                    .is_some_and(|p| self.accept(hay, m.start(), m.end(), p))
            })
            .map(|m| m.pattern().as_usize())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    /// [`WordSet::found`] in `text` lower-cased, without the copy for ASCII text. Only for
    /// tables built with [`WordSet::lowercase`].
    pub fn found_lower(&self, text: &str) -> Vec<usize> {
        on_lower(text, |lower| self.found(lower))
    }

    /// Whether any entry occurs as a word in `text` lower-cased (same as
    /// `self.matches(&text.to_lowercase())`, without the copy for ASCII text). Only for tables
    /// built with [`WordSet::lowercase`].
    pub fn matches_lower(&self, text: &str) -> bool {
        on_lower(text, |lower| self.matches(lower))
    }

    /// Whether any entry occurs as a word in `hay`.
    pub fn matches(&self, hay: &str) -> bool {
        let Some(ac) = &self.automaton else {
            return false;
        };
        ac.find_overlapping_iter(hay).any(|m| {
            self.patterns
                .get(m.pattern().as_usize())
                .is_some_and(|p| self.accept(hay, m.start(), m.end(), p))
        })
    }
}

/// The longest table entry that starts a text, in one anchored automaton search.
pub(crate) struct PrefixSet {
    automaton: Option<AhoCorasick>,
    patterns: Vec<String>,
    /// Length of the longest entry in characters.
    max_chars: usize,
}

impl PrefixSet {
    /// A table of lower-case entries, searched with [`PrefixSet::starts_lower`] in any text.
    pub fn lowercase<S: AsRef<str>>(words: impl IntoIterator<Item = S>) -> PrefixSet {
        Self::build(words, true)
    }

    fn build<S: AsRef<str>>(words: impl IntoIterator<Item = S>, lowercase: bool) -> PrefixSet {
        let patterns: Vec<String> = words
            .into_iter()
            .map(|w| w.as_ref().to_string())
            .filter(|w| !w.is_empty())
            .collect();
        let automaton = automaton(
            &patterns,
            MatchKind::LeftmostLongest,
            StartKind::Anchored,
            lowercase,
        );
        let max_chars = patterns
            .iter()
            .map(|p| p.chars().count())
            .max()
            .unwrap_or(0);
        PrefixSet {
            automaton,
            patterns,
            max_chars,
        }
    }

    /// Whether `text` lower-cased starts with an entry (same as
    /// `self.longest(&text.to_lowercase()).is_some()`, without the copy for ASCII text).
    /// Only for tables built with [`PrefixSet::lowercase`].
    pub fn starts_lower(&self, text: &str) -> bool {
        // Lower-casing never shortens a character, so an entry of n characters can only
        // match within the first n characters of the text (one more keeps the context of a
        // word-final sigma): only that head is lower-cased.
        let head = match text.char_indices().nth(self.max_chars + 1) {
            Some((end, _)) => text.get(..end).unwrap_or(text),
            None => text,
        };
        on_lower(head, |lower| self.longest(lower).is_some())
    }

    /// The longest entry that `hay` starts with.
    pub fn longest(&self, hay: &str) -> Option<&str> {
        let ac = self.automaton.as_ref()?;
        let m = ac.find(Input::new(hay).anchored(Anchored::Yes))?;
        self.patterns
            .get(m.pattern().as_usize())
            .map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whole_words_only() {
        let set = WordSet::new(["ag", "manager", "部長"], Boundary::Word);
        assert!(set.matches("acme ag"));
        assert!(!set.matches("agenda"));
        assert!(set.matches("sales manager, acme"));
        assert!(set.matches("営業部長"));
        let start = WordSet::new(["avg", "confidential"], Boundary::Start);
        assert!(start.matches("strictly confidentiality applies"));
        assert!(!start.matches("navigate"));
        assert_eq!(
            WordSet::new(["b", "a"], Boundary::Word).found("a b"),
            [0, 1]
        );
        let prefixes = PrefixSet::lowercase(["regards", "kind regards", "best"]);
        assert_eq!(prefixes.longest("kind regards, ann"), Some("kind regards"));
        assert_eq!(prefixes.longest("my kind regards"), None);
    }

    #[test]
    fn lowercase_tables_match_any_case() {
        let set = WordSet::lowercase(["geschäftsführer", "manager"], Boundary::Word);
        for text in ["Sales MANAGER", "GESCHÄFTSFÜHRER", "Geschäftsführer: Ann"] {
            assert!(set.matches_lower(text), "{text}");
        }
        assert!(!set.matches_lower("Managers"));
        let prefixes = PrefixSet::lowercase(["sent from my", "von meinem"]);
        assert!(prefixes.starts_lower("Sent from my iPhone"));
        assert!(prefixes.starts_lower("VON MEINEM iPad"));
        assert!(!prefixes.starts_lower("I sent from my desk"));
        assert!(prefixes.starts_lower("VON MEINEM iPhone gesendet – ÜBER ALLES"));
        assert!(!prefixes.starts_lower("VON MEINE"));
    }
}
