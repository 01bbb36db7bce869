//! Replay: stored events published again to the exchange, as the relay first did. Handlers
//! record what they applied, so a replay never applies anything twice (G3); it re-runs what a
//! handler did not apply (after a fix, or into a new handler).

use sqlx::PgPool;
use time::OffsetDateTime;

use crate::amqp::{ConfirmedPublisher, PublishError, PublishOutcome, Topology};
use crate::crypto::SecretBox;
use crate::db;
use crate::domain::StoredEvent;
use crate::progress::Progress;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("RabbitMQ: {0}")]
    Broker(#[from] lapin::Error),
    #[error("RabbitMQ: {0}")]
    Publish(#[from] PublishError),
    #[error("{0} events were not confirmed by the broker")]
    Refused(usize),
}

/// Which stored events to replay.
#[derive(Debug, Default)]
pub struct Selection<'a> {
    pub event_id: Option<&'a str>,
    pub profile_id: Option<&'a str>,
    pub since: Option<OffsetDateTime>,
    pub until: Option<OffsetDateTime>,
    pub event_type: Option<&'a str>,
}

/// Publishes every selected event with confirms, reporting progress batch by batch; returns
/// how many.
pub async fn replay(
    pool: &PgPool,
    amqp_url: &str,
    topology: &Topology,
    selection: &Selection<'_>,
    signer: Option<&SecretBox>,
    progress: Progress<'_>,
) -> Result<usize, ReplayError> {
    let rows = {
        let mut conn = pool.acquire().await?;
        db::inbox::for_replay(
            &mut conn,
            selection.event_id,
            selection.profile_id,
            selection.since,
            selection.until,
            selection.event_type,
        )
        .await?
    };
    if rows.is_empty() {
        return Ok(0);
    }
    let connection = crate::amqp::connection::open_any(amqp_url).await?;
    let publisher = ConfirmedPublisher::open(connection, topology).await?;
    let mut refused = 0;
    let mut done = 0;
    for chunk in rows.chunks(500) {
        let events: Vec<&StoredEvent> = chunk.iter().map(|r| &r.event).collect();
        let outcomes = publisher.publish_events(&events, signer).await?;
        refused += outcomes
            .iter()
            .filter(|o| **o == PublishOutcome::Nacked)
            .count();
        done += chunk.len();
        progress(done, rows.len());
    }
    publisher.close().await;
    if refused > 0 {
        return Err(ReplayError::Refused(refused));
    }
    Ok(rows.len())
}
