//! The duplicate check's traffic light on a suggestion card (`templates/book_light.html`):
//! green "new", amber "possible duplicate" with the reason, red "already in the address book"
//! (accepting updates that entry rather than adding one). The colour is never the only signal:
//! the verdict and the reason are in words.

use crate::domain::address_book::{BookMatch, Verdict};

/// What the card shows.
pub struct BookLight {
    /// `exists`, `possible_duplicate` or `new` (the CSS class).
    pub key: &'static str,
    pub label: &'static str,
    /// The reasons in words, joined ("same phone number, same name and company").
    pub reasons: String,
}

impl BookLight {
    pub fn of(book: &BookMatch) -> BookLight {
        let label = match book.verdict {
            Verdict::Exists => "Already in the address book",
            Verdict::PossibleDuplicate => "Possible duplicate in the address book",
            Verdict::New => "New to the address book",
        };
        BookLight {
            key: book.verdict.as_str(),
            label,
            reasons: book
                .reasons
                .iter()
                .map(|r| r.words())
                .collect::<Vec<_>>()
                .join(", "),
        }
    }
}
