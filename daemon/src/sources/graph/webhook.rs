//! The webhook's decisions, apart from HTTP: a notification body in, jobs persisted, a verdict
//! out. Nothing here calls Graph: Graph wants a 2xx within 3 seconds, so the only work is a
//! clientState check (constant time) and one store transaction; workers fetch later.
//!
//! The route is open to the internet, so a body's cost is bounded before the store is asked:
//! at most [`MAX_ITEMS_PER_BODY`] notifications, each subscription id resolved once per body,
//! ids longer than a Graph id never looked up, and look-ups of ids not known in memory limited
//! by the [`Registry`] (negative cache, token bucket).
//!
//! Concurrent requests hand their jobs to one [`GroupCommit`] writer, which inserts whatever
//! has gathered in ONE transaction; a request is still answered only after its own jobs are
//! committed.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::Notify;

use super::group_commit::GroupCommit;
use super::registry::{KnownSubscription, Lookup, Registry};
use super::stats::GraphStats;
use crate::store::{GraphJobKind, NewGraphJob, Store};

/// What the HTTP layer answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Persisted (or nothing to persist): 202.
    Accepted,
    /// Not a notification body: 400 (Graph never sends one; a scanner might).
    BadRequest,
    /// The queue could not be written: 503, so Graph delivers again later.
    Unavailable,
}

/// Shared state of the webhook routes. Cheap to clone.
#[derive(Clone)]
pub struct Webhook {
    registry: Registry,
    stats: Arc<GraphStats>,
    /// The group-commit writer: one request's jobs per item.
    writer: GroupCommit<Vec<NewGraphJob>>,
}

/// Requests folded into one transaction at most.
const MAX_BATCHES_PER_COMMIT: usize = 512;

/// Notifications in one body at most; a longer body is refused whole (Graph batches far
/// fewer).
pub const MAX_ITEMS_PER_BODY: usize = 1_000;

/// The longest subscription id looked up (Graph's are 36-character GUIDs).
const MAX_SUBSCRIPTION_ID: usize = 128;

#[derive(serde::Deserialize)]
struct Body {
    value: Vec<Item>,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct Item {
    subscription_id: Option<String>,
    client_state: Option<String>,
    resource: Option<String>,
    resource_data: Option<ResourceData>,
    lifecycle_event: Option<String>,
}

#[derive(serde::Deserialize)]
struct ResourceData {
    id: Option<String>,
}

impl Webhook {
    /// Creates the webhook state and spawns its writer task (it ends when the last clone of
    /// the webhook is dropped). Must be called inside a tokio runtime.
    pub fn new(
        store: Store,
        registry: Registry,
        stats: Arc<GraphStats>,
        wake: Arc<Notify>,
    ) -> Webhook {
        let writer = GroupCommit::spawn(MAX_BATCHES_PER_COMMIT, {
            let stats = Arc::clone(&stats);
            move |requests: Vec<Vec<NewGraphJob>>| {
                let (store, stats, wake) = (store.clone(), Arc::clone(&stats), Arc::clone(&wake));
                async move { persist(&store, &stats, &wake, requests.concat()).await }
            }
        });
        Webhook {
            registry,
            stats,
            writer,
        }
    }

    pub fn stats(&self) -> &Arc<GraphStats> {
        &self.stats
    }

    /// A POST to the notification URL: change notifications, possibly batched.
    pub async fn notifications(&self, body: &[u8]) -> Verdict {
        self.handle(body, false).await
    }

    /// A POST to the lifecycle URL: `reauthorizationRequired`, `subscriptionRemoved`, `missed`.
    pub async fn lifecycle(&self, body: &[u8]) -> Verdict {
        self.handle(body, true).await
    }

    async fn handle(&self, body: &[u8], lifecycle: bool) -> Verdict {
        let Ok(body) = serde_json::from_slice::<Body>(body) else {
            return Verdict::BadRequest;
        };
        if body.value.len() > MAX_ITEMS_PER_BODY {
            return Verdict::BadRequest;
        }
        let mut jobs = Vec::with_capacity(body.value.len());
        // Each subscription id is resolved once per body, however often it repeats.
        let mut resolved: HashMap<String, Option<KnownSubscription>> = HashMap::new();
        for item in body.value {
            let counter = if lifecycle {
                &self.stats.lifecycle_received
            } else {
                &self.stats.notifications_received
            };
            GraphStats::bump(counter);
            let Some(subscription_id) = item.subscription_id.as_deref() else {
                GraphStats::bump(&self.stats.notifications_unknown);
                continue;
            };
            let known = match resolved.get(subscription_id) {
                Some(known) => known.clone(),
                None => {
                    let known = match self.resolve(subscription_id).await {
                        Ok(known) => known,
                        Err(verdict) => return verdict,
                    };
                    resolved.insert(subscription_id.to_owned(), known.clone());
                    known
                }
            };
            let Some(known) = known else {
                GraphStats::bump(&self.stats.notifications_unknown);
                tracing::debug!("graph notification for an unknown subscription ignored");
                continue;
            };
            if !known.client_state_matches(item.client_state.as_deref().unwrap_or_default()) {
                GraphStats::bump(&self.stats.notifications_forged);
                tracing::warn!(mailbox = %known.mailbox, "graph notification with a wrong clientState dropped");
                continue;
            }
            let job = if lifecycle {
                let kind = match item.lifecycle_event.as_deref() {
                    Some("missed") => GraphJobKind::Missed,
                    Some("reauthorizationRequired") => GraphJobKind::Reauthorize,
                    Some("subscriptionRemoved") => GraphJobKind::Removed,
                    _ => continue,
                };
                NewGraphJob {
                    mailbox: known.mailbox,
                    kind,
                    folder: known.folder.clone(),
                    item: subscription_id.to_owned(),
                }
            } else {
                let Some(message_id) = message_id(&item) else {
                    continue;
                };
                NewGraphJob {
                    mailbox: known.mailbox,
                    kind: GraphJobKind::Message,
                    folder: known.folder.clone(),
                    item: message_id,
                }
            };
            jobs.push(job);
        }
        if jobs.is_empty() {
            return Verdict::Accepted;
        }
        if self.writer.submit(jobs).await {
            Verdict::Accepted
        } else {
            GraphStats::bump(&self.stats.webhook_failures);
            Verdict::Unavailable
        }
    }
}

impl Webhook {
    /// The subscription behind `id` (`None`: unknown), or the verdict that ends the request.
    async fn resolve(&self, id: &str) -> Result<Option<KnownSubscription>, Verdict> {
        if id.len() > MAX_SUBSCRIPTION_ID {
            return Ok(None);
        }
        match self.registry.lookup(id).await {
            Ok(Lookup::Known(known)) => Ok(Some(known)),
            Ok(Lookup::Unknown) => Ok(None),
            Ok(Lookup::Busy) => {
                GraphStats::bump(&self.stats.webhook_shed);
                Err(Verdict::Unavailable)
            }
            Err(error) => {
                tracing::warn!(error = %error, "graph webhook: subscription lookup failed");
                GraphStats::bump(&self.stats.webhook_failures);
                Err(Verdict::Unavailable)
            }
        }
    }
}

/// One group of requests' jobs in one transaction; wakes the job workers when any is new.
async fn persist(store: &Store, stats: &GraphStats, wake: &Notify, jobs: Vec<NewGraphJob>) -> bool {
    match store.enqueue_graph_jobs(&jobs).await {
        Ok(queued) => {
            GraphStats::add(&stats.jobs_queued, queued);
            if queued > 0 {
                wake.notify_one();
            }
            true
        }
        Err(error) => {
            tracing::warn!(error = %error, "graph webhook: could not persist jobs");
            false
        }
    }
}

/// The message id: `resourceData.id`, else the last segment of `resource`.
fn message_id(item: &Item) -> Option<String> {
    let from_data = item.resource_data.as_ref().and_then(|d| d.id.clone());
    let from_resource = || {
        item.resource
            .as_deref()
            .and_then(|r| r.rsplit('/').next())
            .map(|s| {
                s.trim_start_matches("Messages('")
                    .trim_start_matches("messages('")
                    .trim_end_matches("')")
                    .to_owned()
            })
    };
    from_data
        .or_else(from_resource)
        .filter(|id| !id.is_empty() && id.len() <= 512)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_id_from_resource_data_or_resource() {
        let item: Item = match serde_json::from_str(
            r#"{"subscriptionId":"s","resource":"Users/u@t/Messages/AAMk1","resourceData":{"id":"AAMk2"}}"#,
        ) {
            Ok(item) => item,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(message_id(&item).as_deref(), Some("AAMk2"));
        let item: Item = match serde_json::from_str(r#"{"resource":"Users/u@t/Messages/AAMk1"}"#) {
            Ok(item) => item,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(message_id(&item).as_deref(), Some("AAMk1"));
    }
}
