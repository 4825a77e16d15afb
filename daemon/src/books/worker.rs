//! The sync worker: every `[address_books] interval`, each connected book gets one round, by one
//! replica at a time (a claim on the book's row, taken for the round and given back after it,
//! expiring by itself if the replica dies):
//!
//! 1. the book is opened afresh (a CardDAV book: password from the vault, host checked by the
//!    SSRF guard; an Outlook book: its mailbox's Graph adapter);
//! 2. its changes since the kept sync token are read into the local index (`sync::read_back`),
//!    so the duplicate check sees the book as it is now; the token is kept with them, so a
//!    restart goes on from there;
//! 3. accepted contacts the book does not hold yet, or that changed since they were written,
//!    are written into it (`sync::push`: create, or fill-blanks update under `If-Match`).
//!
//! A round also starts at once when the replica's [`Wake`] is poked: the service pokes it when a
//! contact is accepted, merged or changed and when a book is connected, so an accepted contact
//! reaches the book within one round instead of one interval. The poke reaches the worker of
//! the replica that served the request; on the other replicas the interval still covers it.
//!
//! A failure marks the book as needing attention with a fixed word (`BookError::as_str`) and is
//! logged with the list's id and that word only; the next successful read clears it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use crate::domain::address_book::BookError;
use crate::sources::graph::GraphConfig;
use crate::store::{ConnectedBook, ListId, Store};
use crate::vault::Vault;

use super::BookSettings;
use super::connected::{self, Openers};
use super::sync::{self, Pushed, ReadBack, SyncError};

/// Accepted contacts read per batch of the write-back.
const PUSH_BATCH: u32 = 200;

/// What one round did with one book.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Synced {
    pub read: ReadBack,
    pub created: usize,
    pub updated: usize,
    pub unchanged: usize,
}

/// Starts a round of the replica's worker before its interval is up. Pokes made while a round
/// runs are kept as one: the worker runs one more round after it. A handle that no worker
/// listens on (the CLI, another process) is harmless: the interval covers it.
#[derive(Clone, Debug, Default)]
pub struct Wake(Arc<Notify>);

impl Wake {
    /// Asks for a round now.
    pub fn poke(&self) {
        self.0.notify_one();
    }

    async fn poked(&self) {
        self.0.notified().await;
    }
}

/// The sync worker of one replica.
pub struct Worker {
    store: Store,
    vault: Vault,
    settings: BookSettings,
    /// `[graph]`, for books that are Outlook contact folders; `None` without Microsoft 365.
    graph: Option<Arc<GraphConfig>>,
    replica: String,
    wake: Wake,
}

impl Worker {
    pub fn new(store: Store, vault: Vault, settings: BookSettings, replica: &str) -> Worker {
        Worker {
            store,
            vault,
            settings,
            graph: None,
            replica: replica.to_owned(),
            wake: Wake::default(),
        }
    }

    /// Lets the worker open Outlook books through the Graph adapter configured by `[graph]`.
    pub fn with_graph(mut self, graph: Option<Arc<GraphConfig>>) -> Worker {
        self.graph = graph;
        self
    }

    /// The handle that starts this worker's next round at once.
    pub fn wake(&self) -> Wake {
        self.wake.clone()
    }

    /// How long a claim lasts: a round that takes longer (a very large first write-back) may
    /// be joined by another replica, whose writes then meet `If-Match` and `If-None-Match`.
    fn claim_for(&self) -> Duration {
        (self.settings.interval * 2).max(Duration::from_secs(600))
    }

    /// Runs rounds every `interval`, and whenever [`Wake::poke`] is called, until `shutdown`.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut tick = tokio::time::interval(self.settings.interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = tick.tick() => {}
                () = self.wake.poked() => {
                    // The round starts now: the next timed one is a whole interval away.
                    tick.reset();
                }
            }
            if let Err(e) = self.round().await {
                tracing::warn!(error = %e, "address book round failed; retrying next round");
            }
        }
    }

    /// One round over every connected book this replica can claim; returns how many it synced.
    pub async fn round(&self) -> crate::store::Result<usize> {
        let mut synced = 0;
        for book in self.store.connected_books().await? {
            if !self
                .store
                .claim_book(book.list, &self.replica, self.claim_for())
                .await?
            {
                continue;
            }
            let outcome = self.sync(&book).await;
            self.store.release_book(book.list, &self.replica).await?;
            match outcome {
                Ok(_) => synced += 1,
                Err(e) => self.failed(book.list, &e).await?,
            }
        }
        Ok(synced)
    }

    async fn failed(&self, list: ListId, e: &SyncError) -> crate::store::Result<()> {
        match e {
            SyncError::Book(kind) => {
                tracing::warn!(
                    list = list.0,
                    reason = kind.as_str(),
                    "address book sync failed"
                );
                self.store.set_book_status(list, Some(kind.as_str())).await
            }
            SyncError::Store(e) => {
                tracing::warn!(list = list.0, error = %e, "address book sync failed in the store");
                Ok(())
            }
        }
    }

    /// One book's round: read its changes, then write the accepted contacts it lacks.
    pub async fn sync(&self, book: &ConnectedBook) -> Result<Synced, SyncError> {
        let openers = Openers {
            graph: self.graph.as_deref(),
        };
        let adapter =
            connected::open(&self.store, &self.vault, &self.settings, openers, book).await?;
        let adapter = adapter.as_ref();
        let list = book.list;
        let mut synced = Synced {
            read: sync::read_back(&self.store, list, adapter, None).await?,
            ..Synced::default()
        };
        loop {
            let due = self.store.book_pushes_due(list, PUSH_BATCH).await?;
            for id in &due {
                let suggestion = match self.store.get_suggestion(*id).await {
                    Ok(s) => s,
                    // Erased meanwhile.
                    Err(e) if e.is_not_found() => continue,
                    Err(e) => return Err(e.into()),
                };
                match sync::push(&self.store, adapter, &suggestion, None).await? {
                    Pushed::Created => synced.created += 1,
                    Pushed::Updated { .. } => synced.updated += 1,
                    Pushed::Unchanged => synced.unchanged += 1,
                }
            }
            if due.len() < PUSH_BATCH as usize {
                break;
            }
        }
        Ok(synced)
    }

    /// The round of one list's book now (the CLI's `book sync`, tests); `NotFound` when the
    /// list has none.
    pub async fn sync_list(&self, list: ListId) -> Result<Synced, SyncError> {
        let book = self
            .store
            .book_of_list(list)
            .await?
            .ok_or(BookError::NotFound)?;
        let outcome = self.sync(&book).await;
        if let Err(e) = &outcome {
            self.failed(list, e).await?;
        }
        outcome
    }
}
