//! Dead letters: listing parked events and putting them back on their work queue.

use sqlx::PgPool;

use super::Handler;
use crate::amqp::{PublishError, PublishOutcome, Topology, message, publish_to_queue};
use crate::db;
use crate::db::work::DeadLetterRow;
use crate::progress::Progress;

#[derive(Debug, thiserror::Error)]
pub enum RedriveError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("RabbitMQ: {0}")]
    Broker(#[from] lapin::Error),
    #[error("RabbitMQ: {0}")]
    Publish(#[from] PublishError),
    #[error("the broker did not take the redriven event {0} (is the work queue declared?)")]
    NotConfirmed(String),
}

/// Parked events not yet redriven (one event, or all).
pub async fn list(
    pool: &PgPool,
    event_id: Option<&str>,
) -> Result<Vec<DeadLetterRow>, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    db::work::parked(&mut conn, event_id).await
}

/// Publishes each parked event's stored body straight to its handler's queue (not the
/// exchange, so other handlers do not see it again), with a fresh attempt count, and marks it
/// redriven once confirmed. Returns what was redriven.
pub async fn redrive(
    pool: &PgPool,
    amqp_url: &str,
    topology: &Topology,
    event_id: Option<&str>,
    progress: Progress<'_>,
) -> Result<Vec<DeadLetterRow>, RedriveError> {
    let parked = list(pool, event_id).await?;
    redrive_rows(pool, amqp_url, topology, parked, progress).await
}

/// Redrives these parked events (see [`redrive`]).
pub async fn redrive_rows(
    pool: &PgPool,
    amqp_url: &str,
    topology: &Topology,
    parked: Vec<DeadLetterRow>,
    progress: Progress<'_>,
) -> Result<Vec<DeadLetterRow>, RedriveError> {
    if parked.is_empty() {
        return Ok(parked);
    }
    let connection = crate::amqp::connection::open_any(amqp_url).await?;
    let channel = connection.create_channel().await?;
    channel.confirm_select(Default::default()).await?;
    let mut conn = pool.acquire().await?;
    let mut redriven = Vec::with_capacity(parked.len());
    let total = parked.len();
    for (done, row) in parked.into_iter().enumerate() {
        progress(done, total);
        let Some(handler) = Handler::by_name(&row.handler) else {
            tracing::warn!(handler = %row.handler, "dead letter of an unknown handler left alone");
            continue;
        };
        let Some(event) = db::inbox::find(&mut conn, &row.profile_id, &row.event_id).await? else {
            tracing::warn!(event_id = %row.event_id, "dead letter without a stored event left alone");
            continue;
        };
        // Unsigned: a redriven event is read back from the inbox, as every rare path is.
        let properties = message::properties_of(&event.event, None);
        let queue = topology.queue(handler.name());
        // If the work queue does not exist the message comes back instead of vanishing, and
        // the dead letter stays parked.
        let outcome = publish_to_queue(&channel, &queue, &event.event.body, properties).await?;
        if outcome != PublishOutcome::Confirmed {
            return Err(RedriveError::NotConfirmed(row.event_id));
        }
        db::work::mark_redriven(&mut conn, row.id).await?;
        redriven.push(row);
    }
    progress(total, total);
    let _ = connection.close(200, "bye".into()).await;
    Ok(redriven)
}
