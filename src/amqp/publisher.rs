//! Publishing with publisher confirms: a message counts as sent only once the broker has
//! confirmed it, which for persistent messages on quorum queues means it is replicated.

use lapin::Confirmation;
use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::ShortString;
use lapin::{BasicProperties, Channel, Connection};

use super::Topology;
use crate::crypto::SecretBox;
use crate::domain::StoredEvent;

/// One message to publish.
struct Outgoing<'a> {
    routing_key: String,
    properties: BasicProperties,
    body: &'a [u8],
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PublishOutcome {
    /// Stored by the broker in at least one queue.
    Confirmed,
    /// Confirmed, but no queue is bound to its routing key (nothing consumes that type).
    Unroutable,
    /// The broker refused it; it must be published again.
    Nacked,
}

/// Confirms that have not arrived by then are given up on: the connection is presumed dead
/// and the rows stay unpublished for the next attempt.
const CONFIRM_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Amqp(#[from] lapin::Error),
    #[error("no publisher confirm within {}s", CONFIRM_TIMEOUT.as_secs())]
    ConfirmTimeout,
}

/// A confirm-mode channel on the events exchange.
pub struct ConfirmedPublisher {
    connection: Connection,
    channel: Channel,
    exchange: ShortString,
}

impl ConfirmedPublisher {
    /// Opens a channel, declares the topology and turns on confirms.
    pub async fn open(connection: Connection, topology: &Topology) -> Result<Self, lapin::Error> {
        let channel = connection.create_channel().await?;
        topology.declare(&connection, &channel).await?;
        channel
            .confirm_select(ConfirmSelectOptions::default())
            .await?;
        Ok(ConfirmedPublisher {
            connection,
            channel,
            exchange: topology.exchange().as_str().into(),
        })
    }

    pub fn is_connected(&self) -> bool {
        self.connection.status().connected() && self.channel.status().connected()
    }

    /// Publishes all messages, pipelined, then waits for every confirm. The outcomes are in
    /// the order of `messages`. An `Err` means the channel failed: outcomes are unknown.
    async fn publish_all(
        &self,
        messages: &[Outgoing<'_>],
    ) -> Result<Vec<PublishOutcome>, PublishError> {
        let mut pending = Vec::with_capacity(messages.len());
        for m in messages {
            let confirm = self
                .channel
                .basic_publish(
                    self.exchange.clone(),
                    m.routing_key.as_str().into(),
                    // mandatory: an unroutable message comes back, so we can count it
                    BasicPublishOptions {
                        mandatory: true,
                        ..BasicPublishOptions::default()
                    },
                    m.body,
                    m.properties.clone(),
                )
                .await?;
            pending.push(confirm);
        }
        let mut outcomes = Vec::with_capacity(pending.len());
        let deadline = tokio::time::Instant::now() + CONFIRM_TIMEOUT;
        for confirm in pending {
            let confirmation = tokio::time::timeout_at(deadline, confirm)
                .await
                .map_err(|_| PublishError::ConfirmTimeout)??;
            outcomes.push(outcome_of(confirmation));
        }
        Ok(outcomes)
    }

    /// Publishes stored Stripe events, routing key `stripe.<type>`, as
    /// [`super::message::properties_of`] describes them (signed when `signer` is given).
    pub async fn publish_events(
        &self,
        events: &[&StoredEvent],
        signer: Option<&SecretBox>,
    ) -> Result<Vec<PublishOutcome>, PublishError> {
        let messages: Vec<Outgoing<'_>> = events
            .iter()
            .map(|e| Outgoing {
                routing_key: Topology::routing_key(&e.event_type),
                properties: super::message::properties_of(e, signer),
                body: &e.body,
            })
            .collect();
        self.publish_all(&messages).await
    }

    pub async fn close(self) {
        let _ = self.channel.close(200, "bye".into()).await;
        let _ = self.connection.close(200, "bye".into()).await;
    }
}

/// Publishes one message straight to `queue` (through the default exchange) on a channel in
/// confirm mode, and waits for the broker's answer: `Confirmed` only once the queue took it;
/// `Unroutable` when no such queue exists (mandatory, so it is not silently dropped). The
/// worker's retries and dead letters and the dead-letter redrive all publish this way.
pub async fn publish_to_queue(
    channel: &Channel,
    queue: &str,
    body: &[u8],
    properties: BasicProperties,
) -> Result<PublishOutcome, PublishError> {
    let confirm = channel
        .basic_publish(
            ShortString::from(""),
            queue.into(),
            BasicPublishOptions {
                mandatory: true,
                ..BasicPublishOptions::default()
            },
            body,
            properties,
        )
        .await?;
    let confirmation = tokio::time::timeout(CONFIRM_TIMEOUT, confirm)
        .await
        .map_err(|_| PublishError::ConfirmTimeout)??;
    Ok(outcome_of(confirmation))
}

fn outcome_of(confirmation: Confirmation) -> PublishOutcome {
    match confirmation {
        Confirmation::Ack(None) => PublishOutcome::Confirmed,
        Confirmation::Ack(Some(_returned)) => PublishOutcome::Unroutable,
        Confirmation::Nack(_) | Confirmation::NotRequested => PublishOutcome::Nacked,
    }
}
