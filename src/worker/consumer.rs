//! The consumer loop every handler shares: manual acks after the database commit, retries with
//! exponential backoff and jitter through TTL retry queues, and dead letters (G5).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions, ConfirmSelectOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection};
use rand::Rng;
use sqlx::PgPool;
use time::OffsetDateTime;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::key_waits::WAITING_FOR_KEY;
use super::{Applied, Handler, HandlerError, apply_batch, apply_once};
use crate::amqp::message::{self, republished_properties};
use crate::amqp::topology::RETRY_LEVELS;
use crate::amqp::{AmqpHealth, PublishOutcome, Topology, connect_with_backoff, publish_to_queue};
use crate::db;
use crate::domain::StoredEvent;
use crate::metrics::{HandlerLabels, Metrics, WorkerLabels};
use crate::setup::stripe_keys::StripeKeys;

const ATTEMPT_HEADER: &str = "x-accredito-attempt";
/// Most deliveries applied in one transaction.
const MAX_BATCH: usize = 64;
/// Batches applied at once per consumer (each holds a database connection).
const CONCURRENT_BATCHES: usize = 4;
const FIRST_FAILED_HEADER: &str = "x-accredito-first-failed-at";
const ERROR_HEADER: &str = "x-accredito-error";

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Unacknowledged deliveries per consumer: enough for every batch slot to be full, so that
    /// under a backlog a batch finds its deliveries already here when a slot frees.
    pub prefetch: u16,
    /// Attempts before an event is parked in the dead-letter queue.
    pub max_attempts: u32,
    /// Delay before the first retry; each further retry waits four times longer (±25%).
    pub retry_base: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        WorkerSettings {
            prefetch: 256,
            max_attempts: 5,
            retry_base: Duration::from_secs(1),
        }
    }
}

/// How long to wait before retry number `attempt` (the first retry is attempt 2).
pub fn retry_delay(base: Duration, failed_attempt: u32, jitter: f64) -> Duration {
    let exponent = failed_attempt.saturating_sub(1).min(10);
    base.mul_f64(4f64.powi(exponent as i32) * jitter)
}

pub struct Consumer {
    /// The Stripe API and profile keys, for handlers that call Stripe.
    pub worker: Arc<StripeKeys>,
    /// Set while this consumer holds a RabbitMQ connection (for `/readyz`).
    pub health: AmqpHealth,
    pub pool: PgPool,
    pub amqp_url: String,
    pub topology: Topology,
    pub handler: Handler,
    pub settings: WorkerSettings,
    pub metrics: Metrics,
    /// Stops taking deliveries; the ones in hand are finished and acknowledged first.
    pub shutdown: CancellationToken,
}

/// What the per-delivery tasks share.
struct Context {
    worker: Arc<StripeKeys>,
    pool: PgPool,
    topology: Topology,
    handler: Handler,
    settings: WorkerSettings,
    metrics: Metrics,
    /// Confirm-mode channel for retry and dead-letter publishes.
    publisher: Channel,
    acks: Acks,
}

/// The acknowledgements of one consuming channel. A batch whose deliveries follow every one not
/// yet settled is acknowledged with one `multiple` ack (the broker then settles the batch as
/// one command); a batch that finishes before an earlier one is acknowledged delivery by
/// delivery, so a slow batch never holds up another's acks. The lock keeps the frames in
/// the order the decisions were made: a `multiple` ack must not reach the broker after an
/// ack of a tag it already covered.
struct Acks {
    unsettled: tokio::sync::Mutex<BTreeSet<u64>>,
}

impl Acks {
    fn new() -> Self {
        Acks {
            unsettled: tokio::sync::Mutex::new(BTreeSet::new()),
        }
    }

    /// Called for each batch as it is taken, in delivery order.
    async fn received(&self, batch: &[Delivery]) {
        self.unsettled
            .lock()
            .await
            .extend(batch.iter().map(|d| d.delivery_tag));
    }

    /// Acknowledges every delivery of the batch (consecutive deliveries).
    async fn ack_batch(&self, batch: &[Delivery]) {
        let (Some(first), Some(last)) = (batch.first(), batch.last()) else {
            return;
        };
        let mut unsettled = self.unsettled.lock().await;
        for delivery in batch {
            unsettled.remove(&delivery.delivery_tag);
        }
        let settled_before = unsettled
            .first()
            .is_none_or(|oldest| *oldest > first.delivery_tag);
        settle(async {
            if settled_before {
                last.ack(BasicAckOptions { multiple: true }).await
            } else {
                let mut acked = Ok(true);
                for delivery in batch {
                    acked = acked.and(delivery.ack(BasicAckOptions::default()).await);
                }
                acked
            }
        })
        .await;
    }

    async fn ack_one(&self, delivery: &Delivery) {
        let mut unsettled = self.unsettled.lock().await;
        unsettled.remove(&delivery.delivery_tag);
        settle(delivery.ack(BasicAckOptions::default())).await;
    }

    async fn requeue_one(&self, delivery: &Delivery) {
        let mut unsettled = self.unsettled.lock().await;
        unsettled.remove(&delivery.delivery_tag);
        settle(delivery.nack(BasicNackOptions {
            requeue: true,
            ..BasicNackOptions::default()
        }))
        .await;
    }
}

/// How long an acknowledgement (or closing the channel) may take before it is given up. One
/// sent as the connection breaks may never complete, and would keep the consumer (which
/// finishes the batches in hand and closes before it reconnects) from ever reconnecting. A delivery whose
/// acknowledgement is lost is redelivered, and the claim makes that harmless (G3).
const SETTLE_TIMEOUT: Duration = Duration::from_secs(5);

/// Waits for an ack or nack to reach the broker, for at most [`SETTLE_TIMEOUT`].
async fn settle(sent: impl std::future::Future<Output = Result<bool, lapin::Error>>) {
    match tokio::time::timeout(SETTLE_TIMEOUT, sent).await {
        Ok(Ok(_)) => {}
        // The broker will redeliver; the claim makes that harmless.
        Ok(Err(error)) => tracing::warn!(%error, "ack failed"),
        Err(_) => tracing::warn!("ack not sent in time; the broker will redeliver"),
    }
}

impl Consumer {
    pub async fn run(self) {
        loop {
            let Some(connection) =
                connect_with_backoff(&self.amqp_url, &self.health, self.shutdown.cancelled()).await
            else {
                return;
            };
            self.health.set_connected(true);
            let consumed = self.consume(connection).await;
            self.health.set_connected(false);
            match consumed {
                Ok(()) => return,
                Err(error) => {
                    tracing::warn!(handler = self.handler.name(), %error, "consumer lost its connection; reconnecting");
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        }
    }

    async fn consume(&self, connection: Connection) -> Result<(), lapin::Error> {
        let channel = connection.create_channel().await?;
        self.topology.declare(&connection, &channel).await?;
        channel
            .basic_qos(self.settings.prefetch, BasicQosOptions::default())
            .await?;
        let publisher = connection.create_channel().await?;
        publisher
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        let queue = self.topology.queue(self.handler.name());
        let mut deliveries = channel
            .basic_consume(
                queue.as_str().into(),
                "".into(),
                BasicConsumeOptions::default(),
                FieldTable::default(),
            )
            .await?;
        tracing::info!(%queue, "consuming");
        let context = Arc::new(Context {
            worker: self.worker.clone(),
            pool: self.pool.clone(),
            topology: self.topology.clone(),
            handler: self.handler,
            settings: self.settings.clone(),
            metrics: self.metrics.clone(),
            publisher,
            acks: Acks::new(),
        });
        let in_flight = TaskTracker::new();
        let batches = Arc::new(Semaphore::new(CONCURRENT_BATCHES));
        let outcome = loop {
            tokio::select! {
                next = deliveries.next() => match next {
                    Some(Ok(first)) => {
                        // A batch slot first, then whatever else has arrived meanwhile joins
                        // the batch (never waiting for more): a trickle is not delayed, and
                        // under a backlog every batch is as full as what came in while the
                        // others were being applied, so a burst shares few commits.
                        let Ok(permit) = batches.clone().acquire_owned().await else { break Ok(()) };
                        let mut batch = vec![first];
                        let mut failed = None;
                        while batch.len() < MAX_BATCH {
                            match deliveries.next().now_or_never() {
                                Some(Some(Ok(delivery))) => batch.push(delivery),
                                Some(Some(Err(error))) => {
                                    failed = Some(error);
                                    break;
                                }
                                _ => break,
                            }
                        }
                        context.acks.received(&batch).await;
                        let context = context.clone();
                        in_flight.spawn(async move {
                            process_batch(context, batch).await;
                            drop(permit);
                        });
                        if let Some(error) = failed {
                            break Err(error);
                        }
                    }
                    Some(Err(error)) => break Err(error),
                    None => break Err(lapin::Error::from(lapin::ErrorKind::InvalidConnectionState(
                        lapin::ConnectionState::Closed,
                    ))),
                },
                () = self.shutdown.cancelled() => break Ok(()),
            }
        };
        // Deliveries in hand finish and are acknowledged before the channel goes away; any
        // not acknowledged are redelivered to the next consumer.
        in_flight.close();
        in_flight.wait().await;
        // On a connection already lost these may never be answered.
        let closing = async {
            let _ = channel.close(200, "bye".into()).await;
            let _ = connection.close(200, "bye".into()).await;
        };
        let _ = tokio::time::timeout(SETTLE_TIMEOUT, closing).await;
        outcome
    }
}

/// Applies a batch in one transaction; if anything in it fails, each delivery is handled on
/// its own (retries and dead letters are per event).
#[tracing::instrument(skip_all, fields(handler = context.handler.name(), size = batch.len()))]
async fn process_batch(context: Arc<Context>, batch: Vec<Delivery>) {
    let parsed: Vec<Option<StoredEvent>> =
        batch.iter().map(|d| message::event_of(d).ok()).collect();
    let first_attempts = batch
        .iter()
        .all(|d| header_u32(d, ATTEMPT_HEADER).is_none());
    if batch.len() > 1 && first_attempts && parsed.iter().all(Option::is_some) {
        let messages: Vec<&StoredEvent> = parsed.iter().flatten().collect();
        match apply_batch(&context.pool, context.handler, &context.worker, &messages).await {
            Ok(applied) => {
                let handler = context.handler.name();
                for (delivery, applied) in batch.iter().zip(applied) {
                    let outcome = if applied == Applied::Now {
                        "applied"
                    } else {
                        "duplicate"
                    };
                    context
                        .metrics
                        .worker_events
                        .get_or_create(&WorkerLabels { handler, outcome })
                        .inc();
                    observe_lag(&context, delivery);
                }
                context.acks.ack_batch(&batch).await;
                return;
            }
            Err(error) => {
                tracing::debug!(%error, size = batch.len(), "batch failed; applying its events one by one");
            }
        }
    }
    for delivery in batch {
        process(context.clone(), delivery).await;
    }
}

/// One delivery on its own: applied, retried later, or parked. Its span names the handler and
/// the event, so every line logged while handling it does.
#[tracing::instrument(
    skip_all,
    fields(handler = context.handler.name(), event_id = %message::message_id(&delivery))
)]
async fn process(context: Arc<Context>, delivery: Delivery) {
    let handler = context.handler.name();
    let attempt = header_u32(&delivery, ATTEMPT_HEADER).unwrap_or(1);
    let outcome = match message::event_of(&delivery) {
        Err(reason) => Err(HandlerError::Permanent(reason.into())),
        Ok(message) => apply_once(&context.pool, context.handler, &context.worker, &message)
            .await
            .map(|applied| (message, applied)),
    };
    let label = match outcome {
        Ok((_, Applied::Now)) => "applied",
        Ok((_, Applied::Before)) => "duplicate",
        Err(HandlerError::Retryable(_)) if attempt < context.settings.max_attempts => "retried",
        Err(HandlerError::KeyRejected(_)) => "waiting_for_key",
        Err(HandlerError::Refused(_)) => "refused",
        Err(_) => "dead_lettered",
    };
    let settled = match &outcome {
        Ok(_) => Ok(()),
        Err(HandlerError::Retryable(error)) if attempt < context.settings.max_attempts => {
            tracing::warn!(attempt, %error, "handler failed; retrying later");
            schedule_retry(&context, &delivery, attempt, error.message()).await
        }
        Err(HandlerError::KeyRejected(error)) => {
            // Retrying cannot help until someone saves a key Stripe accepts; `key_waits`
            // redrives the event then.
            tracing::warn!(%error, "parking the event until the profile's Stripe key is replaced");
            park(
                &context,
                &delivery,
                attempt,
                error.message(),
                Some(WAITING_FOR_KEY),
            )
            .await
        }
        Err(HandlerError::Refused(error)) => {
            tracing::error!(%error, "a message that is not a stored event; parking it");
            park(&context, &delivery, attempt, error.message(), None).await
        }
        Err(error) => {
            tracing::error!(attempt, %error, "handler failed for good; parking the event");
            park(&context, &delivery, attempt, &error.to_string(), None).await
        }
    };
    match settled {
        Ok(()) => {
            context
                .metrics
                .worker_events
                .get_or_create(&WorkerLabels {
                    handler,
                    outcome: label,
                })
                .inc();
            observe_lag(&context, &delivery);
            context.acks.ack_one(&delivery).await;
        }
        Err(error) => {
            tracing::error!(%error, "could not schedule a retry or park the event; requeueing it");
            context.acks.requeue_one(&delivery).await;
        }
    }
}

fn header_u32(delivery: &Delivery, name: &str) -> Option<u32> {
    message::header_str(delivery, name)?.parse().ok()
}

/// Publishes to one of our own queues and insists the broker took it.
async fn publish_confirmed(
    channel: &Channel,
    queue: &str,
    body: &[u8],
    properties: BasicProperties,
) -> Result<(), String> {
    match publish_to_queue(channel, queue, body, properties).await {
        Ok(PublishOutcome::Confirmed) => Ok(()),
        Ok(PublishOutcome::Unroutable) => Err(format!("queue {queue} does not exist")),
        Ok(PublishOutcome::Nacked) => Err("the broker refused the message".into()),
        Err(error) => Err(error.to_string()),
    }
}

async fn schedule_retry(
    context: &Context,
    delivery: &Delivery,
    attempt: u32,
    error: &str,
) -> Result<(), String> {
    let jitter = rand::rng().random_range(0.75..1.25);
    let delay = retry_delay(context.settings.retry_base, attempt, jitter);
    let level = attempt.clamp(1, RETRY_LEVELS);
    let queue = context.topology.retry_queue(context.handler.name(), level);
    let first_failed =
        message::header_str(delivery, FIRST_FAILED_HEADER).unwrap_or_else(now_rfc3339);
    let properties = republished_properties(
        delivery,
        &[
            (ATTEMPT_HEADER, (attempt + 1).to_string()),
            (FIRST_FAILED_HEADER, first_failed),
            (ERROR_HEADER, truncate(error)),
        ],
    )
    .with_expiration(delay.as_millis().max(1).to_string().as_str().into());
    publish_confirmed(&context.publisher, &queue, &delivery.data, properties).await
}

async fn park(
    context: &Context,
    delivery: &Delivery,
    attempt: u32,
    error: &str,
    waiting_for: Option<&str>,
) -> Result<(), String> {
    let first_failed_at = message::header_str(delivery, FIRST_FAILED_HEADER)
        .and_then(|s| {
            OffsetDateTime::parse(&s, &time::format_description::well_known::Rfc3339).ok()
        })
        .unwrap_or_else(OffsetDateTime::now_utc);
    let event_id = message::message_id(delivery);
    let profile_id = message::header_str(delivery, "profile_id").unwrap_or_default();
    let event_type = message::header_str(delivery, "event_type").unwrap_or_default();
    let mut conn = context.pool.acquire().await.map_err(|e| e.to_string())?;
    db::work::park(
        &mut conn,
        &db::work::DeadLetter {
            handler: context.handler.name(),
            profile_id: &profile_id,
            event_id: &event_id,
            event_type: &event_type,
            error: &truncate(error),
            attempts: i32::try_from(attempt).unwrap_or(i32::MAX),
            first_failed_at,
            waiting_for,
        },
    )
    .await
    .map_err(|e| e.to_string())?;
    let properties = republished_properties(
        delivery,
        &[
            (ATTEMPT_HEADER, attempt.to_string()),
            ("x-accredito-handler", context.handler.name().to_owned()),
            (ERROR_HEADER, truncate(error)),
            ("x-accredito-last-failed-at", now_rfc3339()),
        ],
    );
    publish_confirmed(
        &context.publisher,
        &context.topology.dead_letter_queue(),
        &delivery.data,
        properties,
    )
    .await
}

fn now_rfc3339() -> String {
    OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

/// Errors go into headers and a table; keep them short.
fn truncate(error: &str) -> String {
    error.chars().take(1000).collect()
}

/// From publish to settled (applied, retried or parked), in the handler's lag histogram.
fn observe_lag(context: &Context, delivery: &Delivery) {
    if let Some(age) = message::age_secs(delivery) {
        context
            .metrics
            .worker_lag
            .get_or_create(&HandlerLabels {
                handler: context.handler.name(),
            })
            .observe(age);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delays_grow_fourfold_with_jitter() {
        let base = Duration::from_secs(1);
        assert_eq!(retry_delay(base, 1, 1.0), Duration::from_secs(1));
        assert_eq!(retry_delay(base, 2, 1.0), Duration::from_secs(4));
        assert_eq!(retry_delay(base, 3, 1.0), Duration::from_secs(16));
        assert_eq!(retry_delay(base, 2, 0.75), Duration::from_secs(3));
        assert!(
            retry_delay(base, 1000, 1.0) <= Duration::from_secs(4u64.pow(10)),
            "capped, no overflow"
        );
    }
}
