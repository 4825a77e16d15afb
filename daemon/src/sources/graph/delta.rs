//! Delta catch-up per mailbox folder: the net under the notifications.
//!
//! The deltaLink of each folder is kept in `folder_cursors.delta_link`. A round pages from it
//! (`@odata.nextLink`) to the next deltaLink; the new message ids become jobs and the link
//! advances in one transaction, so a crash repeats a round (harmless: jobs are unique per
//! message) and never skips one. The first round of a new link is the baseline: the messages
//! already in the folder are recorded as seen, not processed.
//!
//! Rounds run at start-up, after a subscription is (re)created, on `missed`, and every
//! `delta_interval` as a safety net. A deltaLink Graph no longer accepts (410) starts a new
//! baseline.
//!
//! Both commits carry the task's fencing token: a replica that lost the mailbox
//! neither moves its link nor queues jobs.

use super::error::GraphError;
use super::runtime::MailboxRuntime;
use super::stats::GraphStats;

/// A round follows at most this many pages (a guard against a link that never ends).
const MAX_PAGES: usize = 10_000;

impl MailboxRuntime {
    /// The baseline of a folder that has no delta link yet. Returns how many existing
    /// messages were recorded as seen (0 when the folder already had a link).
    pub(crate) async fn ensure_baseline(&self, folder: &str) -> Result<usize, GraphError> {
        let cursor = self
            .shared
            .store
            .get_cursor(self.mailbox.id, folder)
            .await?;
        if cursor.and_then(|c| c.delta_link).is_some() {
            return Ok(0);
        }
        let (ids, link) = self.page_through(folder, None).await?;
        self.shared
            .store
            .commit_delta_baseline(self.mailbox.id, folder, &ids, &link, self.fencing)
            .await?;
        Ok(ids.len())
    }

    /// One delta round from the stored link; returns how many new jobs it queued.
    pub(crate) async fn delta_round(&self, folder: &str) -> Result<u64, GraphError> {
        let cursor = self
            .shared
            .store
            .get_cursor(self.mailbox.id, folder)
            .await?;
        let Some(link) = cursor.and_then(|c| c.delta_link) else {
            self.ensure_baseline(folder).await?;
            return Ok(0);
        };
        let (ids, next) = match self.page_through(folder, Some(link)).await {
            Ok(round) => round,
            Err(GraphError::Status { status: 410, .. }) => {
                tracing::warn!(mailbox = %self.mailbox.id, "graph delta link expired; starting a new baseline");
                let (ids, link) = self.page_through(folder, None).await?;
                self.shared
                    .store
                    .commit_delta_baseline(self.mailbox.id, folder, &ids, &link, self.fencing)
                    .await?;
                return Ok(0);
            }
            Err(e) => return Err(e),
        };
        let queued = self
            .shared
            .store
            .commit_delta_round(self.mailbox.id, folder, &ids, &next, self.fencing)
            .await?;
        GraphStats::bump(&self.shared.stats.delta_rounds);
        if queued > 0 {
            GraphStats::add(&self.shared.stats.jobs_queued, queued);
            self.shared.wake.notify_one();
            tracing::info!(mailbox = %self.mailbox.id, queued, "graph delta round queued messages");
        }
        Ok(queued)
    }

    /// A resync requested by a lifecycle event (`missed`), serialised with the mailbox task.
    pub(crate) async fn resync(&self, folder: &str) -> Result<u64, GraphError> {
        let _control = self.lock_control().await?;
        self.unless_lease_lost(self.delta_round(folder).await)
    }

    /// Follows pages from `link` (or the folder's first delta request) to the deltaLink.
    async fn page_through(
        &self,
        folder: &str,
        link: Option<String>,
    ) -> Result<(Vec<String>, String), GraphError> {
        let mut ids = Vec::new();
        let mut next = link;
        for _ in 0..MAX_PAGES {
            let page = self.api.delta_page(folder, next.as_deref()).await?;
            ids.extend(page.ids);
            if let Some(delta_link) = page.delta_link {
                ids.sort();
                ids.dedup();
                return Ok((ids, delta_link));
            }
            next = page.next_link;
        }
        Err(GraphError::Protocol {
            op: "delta",
            reason: format!("no deltaLink after {MAX_PAGES} pages"),
        })
    }
}
