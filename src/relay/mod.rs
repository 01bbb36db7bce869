//! The relay: stored events to RabbitMQ (G2). New rows arrive straight from the inbox writers
//! (the hot path, published within milliseconds of their commit); a catch-up pass publishes
//! whatever the hot path missed (a crash, a broker outage, a full hot queue), oldest first. A
//! row is marked published only after the broker confirmed it, so every stored event is
//! published at least once; consumers make redeliveries harmless (G3).

pub mod replay;

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::amqp::{
    AmqpHealth, ConfirmedPublisher, PublishError, PublishOutcome, Topology, connect_with_backoff,
};
use crate::crypto::SecretBox;
use crate::db;
use crate::domain::StoredEvent;
use crate::metrics::{Metrics, OutcomeLabels};

/// Rows the hot path may hold before new ones are left to the catch-up pass.
const HOT_CAPACITY: usize = 16_384;
/// Most messages in flight (published, confirm pending) at once.
const PUBLISH_BATCH: usize = 512;
/// The periodic catch-up pass leaves younger rows to the hot path, so the two rarely publish
/// the same row (which would be harmless, only wasteful).
const CATCH_UP_MIN_AGE: Duration = Duration::from_secs(5);
/// Rows younger than this, at connect, are left to the hot path (a writer hands a row over
/// just after its commit).
const HOT_PATH_GRACE: Duration = Duration::from_secs(1);

/// How long a catch-up pass holds the rows it took: far longer than publishing a batch with
/// confirms takes, and short enough that a relay that died lets another publish them soon.
const CATCH_UP_CLAIM: Duration = Duration::from_secs(60);

/// How long a relay that is not connected keeps trying once shutdown is requested.
const SHUTDOWN_CONNECT_GRACE: Duration = Duration::from_secs(5);

/// A committed inbox row on its way to the broker.
#[derive(Debug, Clone)]
pub struct PublishJob {
    pub inbox_id: i64,
    pub event: StoredEvent,
    pub committed_at: Instant,
}

/// The writers' side of the hot path.
#[derive(Clone)]
pub struct HotQueue {
    tx: mpsc::Sender<PublishJob>,
}

impl HotQueue {
    /// Never waits: when the relay is behind, the row stays unpublished in the inbox and the
    /// catch-up pass takes it.
    pub fn offer(&self, job: PublishJob) {
        let _ = self.tx.try_send(job);
    }
}

/// Where and how the relay publishes.
pub struct RelayTarget {
    pub amqp_url: String,
    pub topology: Topology,
    /// Signs every message, so that workers need not read its event back (G9).
    pub signer: Arc<SecretBox>,
}

pub struct Relay {
    pool: PgPool,
    amqp_url: String,
    topology: Topology,
    /// Closed when every inbox writer has stopped; the relay stops once it is closed and
    /// `shutdown` has fired, so everything handed over is published first.
    hot: mpsc::Receiver<PublishJob>,
    metrics: Metrics,
    health: AmqpHealth,
    catch_up_every: Duration,
    signer: Arc<SecretBox>,
    /// Stops reconnecting and catching up; publishing what the hot path holds still finishes.
    shutdown: CancellationToken,
}

impl Relay {
    pub fn new(
        pool: PgPool,
        target: RelayTarget,
        metrics: Metrics,
        health: AmqpHealth,
        catch_up_every: Duration,
        shutdown: CancellationToken,
    ) -> (Self, HotQueue) {
        let (tx, hot) = mpsc::channel(HOT_CAPACITY);
        let RelayTarget {
            amqp_url,
            topology,
            signer,
        } = target;
        let relay = Relay {
            pool,
            amqp_url,
            topology,
            hot,
            metrics,
            health,
            catch_up_every,
            signer,
            shutdown,
        };
        (relay, HotQueue { tx })
    }

    pub async fn run(mut self) {
        let mut publisher: Option<ConfirmedPublisher> = None;
        let mut tick = tokio::time::interval(self.catch_up_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut batch = Vec::with_capacity(PUBLISH_BATCH);
        let mut hot_open = true;
        loop {
            let current = match publisher.take() {
                Some(p) if p.is_connected() => p,
                stale => {
                    if let Some(p) = stale {
                        p.close().await;
                    }
                    self.health.set_connected(false);
                    let Some(p) = self.connect().await else {
                        tracing::info!(
                            "relay stopped while RabbitMQ was unreachable; unpublished rows wait in the inbox"
                        );
                        return;
                    };
                    self.health.set_connected(true);
                    // After an outage or a restart, publish everything left but the rows of
                    // the last moment: those may still be on their way to the hot path, and
                    // taking them here would publish them twice. The periodic pass gets any
                    // a stopped process left.
                    if let Err(error) = self.catch_up(&p, HOT_PATH_GRACE).await {
                        tracing::warn!(%error, "catch-up after connecting failed");
                        continue;
                    }
                    p
                }
            };
            tokio::select! {
                received = self.hot.recv_many(&mut batch, PUBLISH_BATCH), if hot_open => {
                    if received == 0 {
                        // No writer will hand over anything more (they stopped, or this
                        // process runs no ingest): only the catch-up pass remains.
                        hot_open = false;
                        publisher = Some(current);
                        continue;
                    }
                    let published = self.publish_jobs(&current, &batch).await;
                    batch.clear();
                    match published {
                        Ok(()) => publisher = Some(current),
                        Err(error) => tracing::warn!(%error, "publish failed; the catch-up pass will retry"),
                    }
                }
                _ = tick.tick(), if !self.shutdown.is_cancelled() => {
                    match self.catch_up(&current, CATCH_UP_MIN_AGE).await {
                        Ok(()) => publisher = Some(current),
                        Err(error) => tracing::warn!(%error, "catch-up failed; reconnecting"),
                    }
                }
                () = self.shutdown.cancelled(), if !hot_open => {
                    tracing::info!("relay drained");
                    self.health.set_connected(false);
                    current.close().await;
                    return;
                }
            }
        }
    }

    /// Connects and declares the topology. After shutdown is requested it keeps trying only
    /// for a short grace period, so a relay that was still connecting can flush its rows.
    async fn connect(&self) -> Option<ConfirmedPublisher> {
        let give_up = async {
            self.shutdown.cancelled().await;
            tokio::time::sleep(SHUTDOWN_CONNECT_GRACE).await;
        };
        tokio::pin!(give_up);
        loop {
            let connection =
                connect_with_backoff(&self.amqp_url, &self.health, &mut give_up).await?;
            match ConfirmedPublisher::open(connection, &self.topology).await {
                Ok(p) => {
                    tracing::info!(exchange = %self.topology.exchange(), "relay connected to RabbitMQ");
                    return Some(p);
                }
                Err(error) => {
                    tracing::warn!(%error, "declaring the RabbitMQ topology failed");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => {}
                        () = &mut give_up => return None,
                    }
                }
            }
        }
    }

    #[tracing::instrument(skip_all, fields(events = jobs.len()))]
    async fn publish_jobs(
        &self,
        publisher: &ConfirmedPublisher,
        jobs: &[PublishJob],
    ) -> Result<(), RelayError> {
        let events: Vec<&StoredEvent> = jobs.iter().map(|j| &j.event).collect();
        let outcomes = publisher
            .publish_events(&events, Some(&self.signer))
            .await?;
        let confirmed_at = Instant::now();
        for job in jobs {
            self.metrics
                .publish_latency
                .observe(confirmed_at.duration_since(job.committed_at).as_secs_f64());
        }
        let rows = self.count_and_collect(jobs.iter().map(|j| j.inbox_id), &outcomes);
        let mut conn = self.pool.acquire().await?;
        db::inbox::mark_published(&mut conn, &rows).await?;
        Ok(())
    }

    /// Publishes every unpublished row older than `min_age`, in id order, batch by batch.
    #[tracing::instrument(skip_all)]
    async fn catch_up(
        &mut self,
        publisher: &ConfirmedPublisher,
        min_age: Duration,
    ) -> Result<(), RelayError> {
        // What the hot path already holds goes first, so the pass below does not repeat it.
        let mut held = Vec::new();
        while let Ok(job) = self.hot.try_recv() {
            held.push(job);
        }
        for chunk in held.chunks(PUBLISH_BATCH) {
            self.publish_jobs(publisher, chunk).await?;
        }
        loop {
            // Claimed in one short statement, published with no transaction open (G10), then
            // taken off the list; what the broker did not take waits for the claim to run out.
            let rows = {
                let mut conn = self.pool.acquire().await?;
                db::inbox::claim_unpublished(
                    &mut conn,
                    min_age.as_secs_f64(),
                    CATCH_UP_CLAIM.as_secs_f64(),
                    PUBLISH_BATCH as i64,
                )
                .await?
            };
            let events: Vec<&StoredEvent> = rows.iter().map(|r| &r.event).collect();
            let claimed: Vec<i64> = rows.iter().map(|r| r.id).collect();
            let outcomes = match publisher.publish_events(&events, Some(&self.signer)).await {
                Ok(outcomes) => outcomes,
                Err(error) => {
                    // The next connection's pass takes them again, without waiting the claim out.
                    self.release(&claimed).await;
                    return Err(error.into());
                }
            };
            let published = self.count_and_collect(claimed.iter().copied(), &outcomes);
            let mut conn = self.pool.acquire().await?;
            db::inbox::mark_published(&mut conn, &published).await?;
            let refused: Vec<i64> = claimed
                .into_iter()
                .filter(|id| !published.contains(id))
                .collect();
            db::inbox::release_claims(&mut conn, &refused).await?;
            if !published.is_empty() {
                tracing::info!(
                    published = published.len(),
                    "catch-up published stored events"
                );
            }
            if rows.len() < PUBLISH_BATCH {
                break;
            }
        }
        let mut conn = self.pool.acquire().await?;
        let unpublished = db::inbox::count_unpublished(&mut conn).await?;
        self.metrics.inbox_unpublished.set(unpublished);
        Ok(())
    }

    /// Best effort: a claim that is not released runs out by itself.
    async fn release(&self, ids: &[i64]) {
        let released = async {
            let mut conn = self.pool.acquire().await?;
            db::inbox::release_claims(&mut conn, ids).await
        };
        if let Err(error) = released.await {
            tracing::warn!(%error, "could not release claimed rows; they wait for the claim to run out");
        }
    }

    /// Counts outcomes and returns the ids the broker took (confirmed or unroutable).
    fn count_and_collect<Row>(
        &self,
        ids: impl Iterator<Item = Row>,
        outcomes: &[PublishOutcome],
    ) -> Vec<Row> {
        let mut taken = Vec::with_capacity(outcomes.len());
        for (id, outcome) in ids.zip(outcomes) {
            let label = match outcome {
                PublishOutcome::Confirmed => "confirmed",
                PublishOutcome::Unroutable => "unroutable",
                PublishOutcome::Nacked => "nacked",
            };
            self.metrics
                .published
                .get_or_create(&OutcomeLabels { outcome: label })
                .inc();
            if *outcome != PublishOutcome::Nacked {
                taken.push(id);
            }
        }
        taken
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    #[error("RabbitMQ: {0}")]
    Broker(#[from] PublishError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
}
