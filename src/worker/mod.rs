//! Workers: RabbitMQ consumers that apply stored Stripe events to the reconciliation tables.
//!
//! [`consumer`] owns delivery, retries and dead letters; each handler module owns what an
//! event means. A handler's effects and the record that it applied the event commit in one
//! transaction, so a redelivery is a no-op (G3).

pub mod consumer;
pub mod dead_letters;
pub mod orders;

use sqlx::{PgConnection, PgPool};

use crate::db;

#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Worth trying again later (database or network trouble).
    #[error("{0}")]
    Retryable(String),
    /// The event cannot be applied as it is; retrying will not help.
    #[error("{0}")]
    Permanent(String),
}

impl From<sqlx::Error> for HandlerError {
    fn from(e: sqlx::Error) -> Self {
        HandlerError::Retryable(format!("database: {e}"))
    }
}

/// A stored event as the relay published it.
#[derive(Debug, Clone)]
pub struct EventMessage {
    pub event_id: String,
    pub profile_id: String,
    pub merchant_id: String,
    pub event_type: String,
    pub body: Vec<u8>,
}

/// The handlers, one per work queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Handler {
    Orders,
}

impl Handler {
    pub const ALL: [Handler; 1] = [Handler::Orders];

    pub fn name(self) -> &'static str {
        match self {
            Handler::Orders => "orders",
        }
    }

    /// The work queue it consumes, relative to the topology prefix.
    pub fn queue_suffix(self) -> &'static str {
        self.name()
    }

    pub fn by_name(name: &str) -> Option<Handler> {
        Handler::ALL.into_iter().find(|h| h.name() == name)
    }

    async fn apply(
        self,
        conn: &mut PgConnection,
        message: &EventMessage,
    ) -> Result<(), HandlerError> {
        match self {
            Handler::Orders => orders::apply(conn, message).await,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Now,
    /// A redelivery of an event this handler had already applied.
    Before,
}

/// Applies the event at most once per handler: the claim and the effects commit together.
pub async fn apply_once(
    pool: &PgPool,
    handler: Handler,
    message: &EventMessage,
) -> Result<Applied, HandlerError> {
    let mut tx = pool.begin().await?;
    if !db::work::claim_event(
        &mut tx,
        handler.name(),
        &message.profile_id,
        &message.event_id,
    )
    .await?
    {
        return Ok(Applied::Before);
    }
    handler.apply(&mut tx, message).await?;
    tx.commit().await?;
    Ok(Applied::Now)
}
