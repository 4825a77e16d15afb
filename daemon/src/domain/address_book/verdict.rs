//! The duplicate check's answer for one suggestion against the connected book: the traffic
//! light (exists / possible duplicate / new), which entry it met and why.

use serde::Serialize;

use super::BookEntryId;
use crate::domain::text_enum;

text_enum! {
    /// The traffic light.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
    #[serde(rename_all = "snake_case")]
    pub enum Verdict("duplicate verdict") {
        /// An entry of the book has one of the suggestion's e-mail addresses.
        Exists => "exists",
        /// An entry shares the phone, or the name (spelled alike or sounding alike) and the company.
        PossibleDuplicate => "possible_duplicate",
        /// Nothing in the book resembles it.
        New => "new",
    }
}

text_enum! {
    /// Why an entry was met, strongest first.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
    #[serde(rename_all = "snake_case")]
    pub enum MatchReason("match reason") {
        /// The same e-mail address.
        Email => "email",
        /// The same phone number (E.164).
        Phone => "phone",
        /// The same name (normalised) and the same company.
        NameAndCompany => "name_and_company",
        /// A name that sounds the same, and the same company.
        PhoneticNameAndCompany => "phonetic_name_and_company",
    }
}

impl MatchReason {
    /// The reason in words, for the review page.
    pub fn words(self) -> &'static str {
        match self {
            MatchReason::Email => "same e-mail address",
            MatchReason::Phone => "same phone number",
            MatchReason::NameAndCompany => "same name and company",
            MatchReason::PhoneticNameAndCompany => "similar name, same company",
        }
    }
}

/// The check's answer for one suggestion.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct BookMatch {
    pub verdict: Verdict,
    /// The entry met (the one with the strongest reason), `None` for [`Verdict::New`].
    pub entry: Option<BookEntryId>,
    /// Why that entry was met, strongest first.
    pub reasons: Vec<MatchReason>,
}

impl BookMatch {
    /// Nothing met.
    pub fn new_contact() -> BookMatch {
        BookMatch {
            verdict: Verdict::New,
            entry: None,
            reasons: Vec::new(),
        }
    }

    /// The answer from the index's hits (each an entry and why it was met, in any order): the
    /// entry with the strongest reason wins, ties to the smaller entry id (a stable answer).
    pub fn decide(hits: &[(BookEntryId, MatchReason)]) -> BookMatch {
        let Some((best, _)) = hits.iter().min_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0))) else {
            return BookMatch::new_contact();
        };
        let mut reasons: Vec<MatchReason> = hits
            .iter()
            .filter(|(entry, _)| entry == best)
            .map(|(_, reason)| *reason)
            .collect();
        reasons.sort();
        reasons.dedup();
        let verdict = if reasons.first() == Some(&MatchReason::Email) {
            Verdict::Exists
        } else {
            Verdict::PossibleDuplicate
        };
        BookMatch {
            verdict,
            entry: Some(best.clone()),
            reasons,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(s: &str) -> BookEntryId {
        BookEntryId(s.to_owned())
    }

    #[test]
    fn an_email_hit_wins_over_weaker_hits_on_other_entries() {
        let m = BookMatch::decide(&[
            (id("b"), MatchReason::Phone),
            (id("a"), MatchReason::NameAndCompany),
            (id("c"), MatchReason::Email),
            (id("c"), MatchReason::PhoneticNameAndCompany),
        ]);
        assert_eq!(m.verdict, Verdict::Exists);
        assert_eq!(m.entry, Some(id("c")));
        assert_eq!(
            m.reasons,
            [MatchReason::Email, MatchReason::PhoneticNameAndCompany]
        );
    }

    #[test]
    fn without_an_email_hit_it_is_a_possible_duplicate_or_new() {
        let m = BookMatch::decide(&[(id("a"), MatchReason::NameAndCompany)]);
        assert_eq!(m.verdict, Verdict::PossibleDuplicate);
        assert_eq!(m.reasons, [MatchReason::NameAndCompany]);
        assert_eq!(BookMatch::decide(&[]), BookMatch::new_contact());
    }
}
