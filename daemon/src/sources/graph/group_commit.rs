//! Group commit: many tasks hand their items to one writer task, which writes everything that
//! has gathered in ONE store transaction and then answers each task.
//!
//! SQLite has one writer at a time, and each transaction costs a round trip to its thread and
//! a log write. Under a notification storm the webhook (jobs to queue) and the job workers
//! (outcomes to record) each produce thousands of tiny writes a second; folding them turns
//! those into a few dozen transactions, which keeps the webhook's time to 202 low. An item is
//! still answered only after its own transaction committed. (tokio has no such primitive and
//! no well-kept crate offers one over an async store, hence this small module.)

use std::future::Future;

use tokio::sync::{mpsc, oneshot};

/// Items queued before `submit` waits for room.
const QUEUE: usize = 4096;

/// The handle tasks submit through; cheap to clone. The writer ends when the last handle is
/// dropped.
pub struct GroupCommit<T> {
    queue: mpsc::Sender<(T, oneshot::Sender<bool>)>,
}

impl<T> Clone for GroupCommit<T> {
    fn clone(&self) -> Self {
        GroupCommit {
            queue: self.queue.clone(),
        }
    }
}

impl<T: Send + 'static> GroupCommit<T> {
    /// Spawns the writer: `write` gets every item waiting (at most `max_items`) and returns
    /// whether they were committed. Must be called inside a tokio runtime.
    pub fn spawn<W, F>(max_items: usize, mut write: W) -> GroupCommit<T>
    where
        W: FnMut(Vec<T>) -> F + Send + 'static,
        F: Future<Output = bool> + Send,
    {
        let (queue, mut waiting) = mpsc::channel::<(T, oneshot::Sender<bool>)>(QUEUE);
        tokio::spawn(async move {
            let max_items = max_items.max(1);
            while let Some(first) = waiting.recv().await {
                let mut group = vec![first];
                while group.len() < max_items {
                    match waiting.try_recv() {
                        Ok(next) => group.push(next),
                        Err(_) => break,
                    }
                }
                let (items, answers): (Vec<T>, Vec<oneshot::Sender<bool>>) =
                    group.into_iter().unzip();
                let committed = write(items).await;
                for answer in answers {
                    // The submitter may have gone (e.g. a client timeout); the write stands.
                    let _ = answer.send(committed);
                }
            }
        });
        GroupCommit { queue }
    }

    /// Queues `item` and waits for its transaction: `true` once committed, `false` when the
    /// write failed or the writer is gone.
    pub async fn submit(&self, item: T) -> bool {
        let (answer, committed) = oneshot::channel();
        if self.queue.send((item, answer)).await.is_err() {
            return false;
        }
        committed.await.unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_items_are_folded_and_each_is_answered() {
        let writes: Arc<Mutex<Vec<usize>>> = Arc::default();
        let seen = Arc::clone(&writes);
        let commit = GroupCommit::spawn(64, move |items: Vec<u32>| {
            let seen = Arc::clone(&seen);
            async move {
                tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                seen.lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .push(items.len());
                !items.contains(&13)
            }
        });
        let tasks: Vec<_> = (0..200u32)
            .map(|i| {
                let commit = commit.clone();
                tokio::spawn(async move { (i, commit.submit(i).await) })
            })
            .collect();
        let mut failed = Vec::new();
        for task in tasks {
            let (i, committed) = task.await.unwrap_or((u32::MAX, true));
            if !committed {
                failed.push(i);
            }
        }
        let writes = writes.lock().unwrap_or_else(|p| p.into_inner()).clone();
        assert_eq!(writes.iter().sum::<usize>(), 200, "every item written once");
        assert!(writes.len() < 200, "items were folded: {writes:?}");
        assert!(
            writes.iter().all(|&n| n <= 64),
            "no group above the cap: {writes:?}"
        );
        // Only the group holding 13 failed, and every item in it was told so.
        assert!(failed.contains(&13));
        assert!(failed.len() <= 64);
    }
}
