//! Workers: RabbitMQ consumers that apply stored Stripe events to the reconciliation tables.
//!
//! [`consumer`] owns delivery, retries and dead letters; each handler module owns what an
//! event means. A handler's effects and the record that it applied the event commit in one
//! transaction, so a redelivery is a no-op (G3).

pub mod accounts;
pub mod consumer;
pub mod dead_letters;
pub mod orders;
pub mod payouts;

use std::sync::Arc;

use secrecy::SecretString;
use serde::de::DeserializeOwned;
use sqlx::{PgConnection, PgPool};

use crate::crypto::SecretBox;
use crate::db;
use crate::profiles::secret_key_context;
use crate::stripe::client::{StripeClient, StripeError};
use crate::stripe::objects::Event;

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

/// What handlers need beyond their transaction: the Stripe API and the keys to call it with.
pub struct WorkerContext {
    pub stripe: StripeClient,
    pub secret_box: Arc<SecretBox>,
}

impl WorkerContext {
    pub async fn has_profile_key(
        &self,
        conn: &mut PgConnection,
        profile_id: &str,
    ) -> Result<bool, HandlerError> {
        let key = db::profiles::secret_key_of(conn, profile_id).await?;
        Ok(key.is_some_and(|k| k.secret_key_ciphertext.is_some()))
    }

    /// The profile's Stripe secret key, opened only in memory.
    pub async fn profile_key(
        &self,
        conn: &mut PgConnection,
        profile_id: &str,
    ) -> Result<SecretString, HandlerError> {
        let sealed = db::profiles::secret_key_of(conn, profile_id)
            .await?
            .and_then(|k| k.secret_key_ciphertext)
            .ok_or_else(|| {
                HandlerError::Permanent(format!(
                    "profile {profile_id} has no Stripe secret key to call the API with"
                ))
            })?;
        self.secret_box
            .open(&sealed, &secret_key_context(profile_id))
            .map_err(|e| HandlerError::Permanent(format!("profile {profile_id}: {e}")))
    }
}

/// Stripe trouble that may pass (network, rate limit, 5xx) is retried; a rejected key or a
/// bad request is not.
pub fn stripe_failure(error: StripeError) -> HandlerError {
    match error {
        StripeError::Network(_) | StripeError::RateLimited { .. } | StripeError::Server { .. } => {
            HandlerError::Retryable(format!("Stripe API: {error}"))
        }
        other => HandlerError::Permanent(format!("Stripe API: {other}")),
    }
}

/// The event's `data.object` as a typed Stripe object.
pub fn object<T: DeserializeOwned>(event: &Event) -> Result<T, HandlerError> {
    serde_json::from_value(event.data.object.clone()).map_err(|e| {
        HandlerError::Permanent(format!(
            "{} carries a malformed object: {e}",
            event.event_type
        ))
    })
}

/// The handlers, one per work queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Handler {
    Orders,
    Payouts,
    Accounts,
}

impl Handler {
    pub const ALL: [Handler; 3] = [Handler::Orders, Handler::Payouts, Handler::Accounts];

    pub fn name(self) -> &'static str {
        match self {
            Handler::Orders => "orders",
            Handler::Payouts => "payouts",
            Handler::Accounts => "accounts",
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
        context: &WorkerContext,
        message: &EventMessage,
    ) -> Result<(), HandlerError> {
        let event: Event = serde_json::from_slice(&message.body)
            .map_err(|e| HandlerError::Permanent(format!("not a Stripe event: {e}")))?;
        match self {
            Handler::Orders => orders::apply(conn, &event, &message.merchant_id).await,
            Handler::Payouts => payouts::apply(conn, context, message, &event).await,
            Handler::Accounts => accounts::apply(conn, context, message, &event).await,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Now,
    /// A redelivery of an event this handler had already applied.
    Before,
}

/// Applies a batch of events in one transaction (one commit for all), each at most once.
/// Any failure rolls the whole batch back; the caller then applies the events one by one, so
/// one bad event never holds up the others.
pub async fn apply_batch(
    pool: &PgPool,
    handler: Handler,
    context: &WorkerContext,
    messages: &[&EventMessage],
) -> Result<Vec<Applied>, HandlerError> {
    let profile_ids: Vec<String> = messages.iter().map(|m| m.profile_id.clone()).collect();
    let event_ids: Vec<String> = messages.iter().map(|m| m.event_id.clone()).collect();
    let mut tx = pool.begin().await?;
    let mut claimed: std::collections::HashSet<(String, String)> =
        db::work::claim_events(&mut tx, handler.name(), &profile_ids, &event_ids)
            .await?
            .into_iter()
            .collect();
    let mut applied = Vec::with_capacity(messages.len());
    for message in messages {
        // The first copy of an event in the batch applies it; later copies are redeliveries.
        if claimed.remove(&(message.profile_id.clone(), message.event_id.clone())) {
            handler.apply(&mut tx, context, message).await?;
            applied.push(Applied::Now);
        } else {
            applied.push(Applied::Before);
        }
    }
    tx.commit().await?;
    Ok(applied)
}

/// Applies the event at most once per handler: the claim and the effects commit together.
pub async fn apply_once(
    pool: &PgPool,
    handler: Handler,
    context: &WorkerContext,
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
    handler.apply(&mut tx, context, message).await?;
    tx.commit().await?;
    Ok(Applied::Now)
}
