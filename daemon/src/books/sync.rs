//! The two directions of a book's sync, over any [`AddressBook`]:
//!
//! - [`read_back`]: the book's changes since the kept position go into the local index (keys
//!   computed once per entry), so the duplicate check sees the book as it is now;
//! - [`push`]: an accepted contact goes into the book. If mailsig wrote it before, into that
//!   entry; if an entry has one of its addresses, into that one (the book's values stay,
//!   blanks are filled, new addresses and numbers added, or as the reviewer chose in the merge
//!   view: `merge`); else a new entry. A `412`
//!   means the entry changed in the book meanwhile: it is read again, merged again and written
//!   under the new version, a few times at most; never written over.

use crate::domain::address_book::{
    AddressBook, BookEntry, BookEntryId, BookError, BookKeys, Region, Verdict,
};
use crate::store::{IndexedChanges, IndexedEntry, ListId, Store, Suggestion};

use super::merge::{self, keys_of};

/// Writes tried per contact when the entry keeps changing under them.
pub const MAX_CONFLICT_RETRIES: usize = 3;

/// Why a sync step failed: the book's answer, or the store.
#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error(transparent)]
    Book(#[from] BookError),
    #[error("address book index: {0}")]
    Store(#[from] crate::store::Error),
}

fn indexed(entry: BookEntry, region: Option<Region>) -> IndexedEntry {
    let keys = BookKeys::of_contact(&entry.contact, region);
    IndexedEntry { entry, keys }
}

/// What a read-back did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReadBack {
    pub changed: usize,
    pub removed: usize,
    pub complete: bool,
}

/// Reads the book's changes since the list's kept position into the index.
pub async fn read_back(
    store: &Store,
    list: ListId,
    book: &dyn AddressBook,
    region: Option<Region>,
) -> Result<ReadBack, SyncError> {
    let since = store
        .book_of_list(list)
        .await?
        .ok_or(BookError::NotFound)?
        .sync_state;
    let changes = book.changes(&since).await?;
    let summary = ReadBack {
        changed: changes.changed.len(),
        removed: changes.removed.len(),
        complete: changes.complete,
    };
    let changes = IndexedChanges {
        changed: changes
            .changed
            .into_iter()
            .map(|e| indexed(e, region))
            .collect(),
        removed: changes.removed,
        complete: changes.complete,
        state: changes.state,
    };
    store.apply_book_changes(list, &changes).await?;
    Ok(summary)
}

/// What [`push`] did with one contact.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Pushed {
    /// A new entry.
    Created,
    /// Added to the entry that was there (after this many conflicts).
    Updated { conflicts: usize },
    /// The entry already had everything.
    Unchanged,
}

/// The entry of its list's book that `suggestion` is written into: the one mailsig wrote it to
/// before, else the one that has one of its addresses; `None` for a new entry.
pub async fn target_of(
    store: &Store,
    suggestion: &Suggestion,
) -> Result<Option<BookEntryId>, crate::store::Error> {
    Ok(match store.book_link(suggestion.id).await? {
        Some(link) => Some(link.entry),
        None => {
            let found = store
                .book_match(suggestion.list, &keys_of(suggestion))
                .await?;
            (found.verdict == Verdict::Exists)
                .then_some(found.entry)
                .flatten()
        }
    })
}

/// Writes one accepted suggestion into its list's book.
pub async fn push(
    store: &Store,
    book: &dyn AddressBook,
    suggestion: &Suggestion,
    region: Option<Region>,
) -> Result<Pushed, SyncError> {
    let list = suggestion.list;
    let ours = merge::contact_of(suggestion);
    let target = target_of(store, suggestion).await?;
    let Some(target) = target else {
        let entry = book.create(&ours).await?;
        let id = entry.id.clone();
        store
            .record_book_entry(list, &indexed(entry, region), true)
            .await?;
        store
            .link_book_entry(suggestion.id, list, &id, true)
            .await?;
        return Ok(Pushed::Created);
    };
    let created = store
        .book_entry(list, &target)
        .await?
        .is_some_and(|e| e.created_by_mailsig);
    let mut current = match store.book_entry(list, &target).await? {
        Some(stored) => stored.entry,
        None => book.read(&target).await?.ok_or(BookError::NotFound)?,
    };
    // The reviewer's merge-view choice, when it was made against this entry.
    let choice = store
        .book_choice(suggestion.id)
        .await?
        .filter(|c| c.entry == target);
    let mut conflicts = 0;
    loop {
        let Some(merged) = merge::apply(&current.contact, &ours, region, choice.as_ref()) else {
            store
                .link_book_entry(suggestion.id, list, &target, created)
                .await?;
            return Ok(if conflicts == 0 {
                Pushed::Unchanged
            } else {
                Pushed::Updated { conflicts }
            });
        };
        match book.update(&target, &current.etag, &merged).await {
            Ok(etag) => {
                let entry = BookEntry {
                    id: target.clone(),
                    etag,
                    contact: merged,
                };
                store
                    .record_book_entry(list, &indexed(entry, region), false)
                    .await?;
                store
                    .link_book_entry(suggestion.id, list, &target, created)
                    .await?;
                return Ok(Pushed::Updated { conflicts });
            }
            Err(BookError::Conflict) if conflicts < MAX_CONFLICT_RETRIES => {
                conflicts += 1;
                // Re-read what the book has now, index it, and merge again on top of it.
                let Some(fresh) = book.read(&target).await? else {
                    store.forget_book_entry(list, &target).await?;
                    return Err(BookError::NotFound.into());
                };
                store
                    .record_book_entry(list, &indexed(fresh.clone(), region), false)
                    .await?;
                current = fresh;
            }
            Err(e) => return Err(e.into()),
        }
    }
}
