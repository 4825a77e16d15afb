//! The duplicate check against a list's connected address book, as the review page and the API
//! show it: each suggestion's keys (`domain::address_book::keys`) looked up in the book's local
//! index (`store::address_books`), giving the traffic light (exists / possible duplicate / new)
//! with the entry met and why. Lists without a book get no answer (`book` stays `None`).

use crate::domain::address_book::BookKeys;
use crate::store::{Store, Suggestion};

use super::ServiceResult;

/// The keys of a suggestion: its name, company, e-mail addresses (the sender's among them) and
/// phones (already E.164).
pub fn keys_of(suggestion: &Suggestion) -> BookKeys {
    let f = &suggestion.fields;
    let emails = std::iter::once(suggestion.sender_email.as_str())
        .chain(f.emails.iter().map(|e| e.value.as_str()));
    BookKeys::new(
        f.name.as_ref().map(|n| n.value.as_str()),
        f.company.as_ref().map(|c| c.value.as_str()),
        emails,
        f.phones.iter().map(|p| p.e164.as_str()),
        None,
    )
}

/// Fills `book` on each suggestion whose list has a connected book. The caller has checked
/// that the actor may see them.
pub async fn check(store: &Store, suggestions: &mut [Suggestion]) -> ServiceResult<()> {
    let mut book_of: Vec<(crate::store::ListId, bool)> = Vec::new();
    for s in suggestions.iter_mut() {
        let connected = match book_of.iter().find(|(l, _)| *l == s.list) {
            Some((_, c)) => *c,
            None => {
                let c = store.book_of_list(s.list).await?.is_some();
                book_of.push((s.list, c));
                c
            }
        };
        if connected {
            s.book = Some(store.book_match(s.list, &keys_of(s)).await?);
        }
    }
    Ok(())
}
