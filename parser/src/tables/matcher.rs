//! Fast whole-word lookup of a word table in a line: one Aho-Corasick automaton per table,
//! built once, instead of one substring search per table entry (which dominated the profile).

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, Anchored, Input, MatchKind, StartKind};

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
    matches!(c, '\u{3040}'..='\u{30ff}' | '\u{3400}'..='\u{9fff}' | '\u{ff00}'..='\u{ffef}')
}

impl WordSet {
    pub fn new<S: AsRef<str>>(words: impl IntoIterator<Item = S>, boundary: Boundary) -> WordSet {
        let patterns: Vec<String> = words
            .into_iter()
            .map(|w| w.as_ref().trim().to_string())
            .filter(|w| !w.is_empty())
            .collect();
        let automaton = AhoCorasickBuilder::new()
            .match_kind(MatchKind::Standard)
            .build(&patterns)
            .ok();
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
}

impl PrefixSet {
    pub fn new<S: AsRef<str>>(words: impl IntoIterator<Item = S>) -> PrefixSet {
        let patterns: Vec<String> = words
            .into_iter()
            .map(|w| w.as_ref().to_string())
            .filter(|w| !w.is_empty())
            .collect();
        let automaton = AhoCorasickBuilder::new()
            .match_kind(MatchKind::LeftmostLongest)
            .start_kind(StartKind::Anchored)
            .build(&patterns)
            .ok();
        PrefixSet {
            automaton,
            patterns,
        }
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
        let prefixes = PrefixSet::new(["regards", "kind regards", "best"]);
        assert_eq!(prefixes.longest("kind regards, ann"), Some("kind regards"));
        assert_eq!(prefixes.longest("my kind regards"), None);
    }
}
