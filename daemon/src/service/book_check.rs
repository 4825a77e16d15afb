//! The duplicate check against a list's connected address book, as the review page and the API
//! show it: each suggestion's keys (`domain::address_book::keys`) looked up in the book's local
//! index (`store::address_books`), giving the traffic light (exists / possible duplicate / new)
//! with the entry met and why. Lists without a book get no answer (`book` stays `None`).

use crate::books::merge::keys_of;
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
