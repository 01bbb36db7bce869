//! Group commit for the inbox. Each webhook hands its verified event to a writer task and
//! waits; writers insert whatever is waiting in one statement and one commit, then answer
//! every request of the batch. One commit per request caps intake near PostgreSQL's commit
//! rate; batching lets concurrent webhooks share a commit while each is still answered only
//! after its own row is durable (G1).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use sqlx::PgPool;
use tokio::sync::{Mutex, mpsc, oneshot};
use tokio_util::task::TaskTracker;

use crate::db;
use crate::db::inbox::NewEvent;
use crate::metrics::{Metrics, OutcomeLabels};
use crate::relay::{HotQueue, PublishJob};

/// Most events one commit carries.
const MAX_BATCH: usize = 512;
/// Webhooks waiting for a writer before new ones are told 503 (back-pressure, not a queue).
const QUEUE_CAPACITY: usize = 8192;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    New,
    Duplicate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    #[error("the event could not be stored: database unavailable")]
    DatabaseUnavailable,
    #[error("the service is overloaded or shutting down")]
    Unavailable,
}

struct Job {
    event: NewEvent,
    reply: oneshot::Sender<Result<Stored, StoreError>>,
}

/// The handle webhooks store through. Clones share the writers; when the last clone is
/// dropped the writers finish what they hold and stop.
#[derive(Clone)]
pub struct InboxWriter {
    jobs: mpsc::Sender<Job>,
}

impl InboxWriter {
    /// Starts `writers` writer tasks (two let one batch fill while another commits).
    pub fn spawn(
        pool: PgPool,
        hot: Option<HotQueue>,
        metrics: Metrics,
        writers: usize,
        tracker: &TaskTracker,
    ) -> Self {
        let (jobs, rx) = mpsc::channel(QUEUE_CAPACITY);
        let rx = Arc::new(Mutex::new(rx));
        for _ in 0..writers.max(1) {
            let writer = Writer {
                pool: pool.clone(),
                jobs: rx.clone(),
                hot: hot.clone(),
                metrics: metrics.clone(),
            };
            tracker.spawn(writer.run());
        }
        InboxWriter { jobs }
    }

    /// Stores the event and returns once its commit is done (or failed).
    pub async fn store(&self, event: NewEvent) -> Result<Stored, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.jobs
            .try_send(Job { event, reply })
            .map_err(|_| StoreError::Unavailable)?;
        answer.await.map_err(|_| StoreError::Unavailable)?
    }
}

struct Writer {
    pool: PgPool,
    /// Shared by all writers: whoever holds the lock collects the next batch.
    jobs: Arc<Mutex<mpsc::Receiver<Job>>>,
    /// Where new rows go to be published right away; `None` when this process runs no relay.
    hot: Option<HotQueue>,
    metrics: Metrics,
}

impl Writer {
    async fn run(self) {
        let mut batch = Vec::with_capacity(MAX_BATCH);
        loop {
            let received = self
                .jobs
                .lock()
                .await
                .recv_many(&mut batch, MAX_BATCH)
                .await;
            if received == 0 {
                return; // every InboxWriter is gone and the queue is drained
            }
            self.write(&mut batch).await;
        }
    }

    #[tracing::instrument(skip_all, fields(batch = batch.len()))]
    async fn write(&self, batch: &mut Vec<Job>) {
        let events: Vec<&NewEvent> = batch.iter().map(|j| &j.event).collect();
        let result = insert(&self.pool, &events).await;
        let committed_at = Instant::now();
        let inserted = match result {
            Ok(inserted) => inserted,
            Err(error) => {
                tracing::error!(%error, batch = batch.len(), "inbox insert failed; answering 503");
                for job in batch.drain(..) {
                    let _ = job.reply.send(Err(StoreError::DatabaseUnavailable));
                }
                return;
            }
        };
        let mut new_ids: HashMap<(String, String), i64> = inserted
            .into_iter()
            .map(|row| ((row.profile_id, row.event_id), row.id))
            .collect();
        for job in batch.drain(..) {
            let key = (
                job.event.event.profile_id.clone(),
                job.event.event.event_id.to_string(),
            );
            // The first of several copies in one batch is the new one; the rest are duplicates.
            let outcome = match new_ids.remove(&key) {
                Some(inbox_id) => {
                    self.hand_to_relay(inbox_id, &job.event, committed_at);
                    Stored::New
                }
                None => Stored::Duplicate,
            };
            let label = match (outcome, job.event.livemode_mismatch) {
                (Stored::Duplicate, _) => "duplicate",
                (Stored::New, true) => "livemode_mismatch",
                (Stored::New, false) => "stored",
            };
            self.metrics
                .webhook_events
                .get_or_create(&OutcomeLabels { outcome: label })
                .inc();
            let _ = job.reply.send(Ok(outcome));
        }
    }

    fn hand_to_relay(&self, inbox_id: i64, event: &NewEvent, committed_at: Instant) {
        if event.livemode_mismatch {
            return; // stored for inspection, never processed
        }
        if let Some(hot) = &self.hot {
            hot.offer(PublishJob {
                inbox_id,
                event: event.event.clone(),
                committed_at,
            });
        }
    }
}

async fn insert(
    pool: &PgPool,
    events: &[&NewEvent],
) -> Result<Vec<db::inbox::Inserted>, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let inserted = super::store_in(&mut tx, events).await?;
    tx.commit().await?;
    Ok(inserted)
}
