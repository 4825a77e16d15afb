//! The duplicate check against a list's connected address book, as the review page and the API
//! show it: each suggestion's keys (`domain::address_book::keys`) looked up in the book's local
//! index (`store::address_books`), giving the traffic light (exists / possible duplicate / new)
//! with the entry met and why. Lists without a book get no answer (`book` stays `None`).

use crate::books::merge::keys_of;
use crate::books::sync::target_of;
use crate::domain::address_book::{BookContact, BookEntryId};
use crate::store::{Store, Suggestion};

use super::ServiceResult;

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

/// The entry of the list's connected book that an accepted `suggestion` is written into (the
/// one mailsig wrote it to, else the one with one of its addresses), as the index holds it: the
/// merge view offers its values. `None` without a book or such an entry. The caller has checked
/// that the actor may see the suggestion.
pub async fn entry_of(
    store: &Store,
    suggestion: &Suggestion,
) -> ServiceResult<Option<(BookEntryId, BookContact)>> {
    if store.book_of_list(suggestion.list).await?.is_none() {
        return Ok(None);
    }
    let Some(id) = target_of(store, suggestion).await? else {
        return Ok(None);
    };
    Ok(store
        .book_entry(suggestion.list, &id)
        .await?
        .map(|stored| (id, stored.entry.contact)))
}
