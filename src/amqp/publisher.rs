//! Publishing with publisher confirms: a message counts as sent only once the broker has
//! confirmed it, which for persistent messages on quorum queues means it is replicated.

use lapin::Confirmation;
use std::time::Duration;

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::types::{AMQPValue, FieldTable, ShortString};
use lapin::{BasicProperties, Channel, Connection};

use super::Topology;

/// A stored Stripe event to publish.
pub struct EventRef<'a> {
    pub profile_id: &'a str,
    pub merchant_id: &'a str,
    pub event_id: &'a str,
    pub event_type: &'a str,
    pub body: &'a [u8],
}

/// One message to publish.
pub struct Outgoing<'a> {
    pub routing_key: String,
    pub message_id: &'a str,
    pub headers: &'a [(&'static str, &'a str)],
    pub body: &'a [u8],
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
        topology.declare(&channel).await?;
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
    pub async fn publish_all(
        &self,
        messages: &[Outgoing<'_>],
    ) -> Result<Vec<PublishOutcome>, PublishError> {
        let mut pending = Vec::with_capacity(messages.len());
        for m in messages {
            let mut headers = FieldTable::default();
            for (k, v) in m.headers {
                headers.insert((*k).into(), AMQPValue::LongString((*v).into()));
            }
            let properties = BasicProperties::default()
                .with_message_id(m.message_id.into())
                .with_content_type("application/json".into())
                .with_delivery_mode(2) // persistent
                .with_headers(headers);
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
                    properties,
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
            outcomes.push(match confirmation {
                Confirmation::Ack(None) => PublishOutcome::Confirmed,
                Confirmation::Ack(Some(_returned)) => PublishOutcome::Unroutable,
                Confirmation::Nack(_) | Confirmation::NotRequested => PublishOutcome::Nacked,
            });
        }
        Ok(outcomes)
    }

    /// Publishes stored Stripe events: routing key `stripe.<type>`, the event id as message
    /// id, and the profile, merchant and type as headers (what consumers route and dedupe by).
    pub async fn publish_events(
        &self,
        events: &[EventRef<'_>],
    ) -> Result<Vec<PublishOutcome>, PublishError> {
        let headers: Vec<[(&'static str, &str); 3]> = events
            .iter()
            .map(|e| {
                [
                    ("profile_id", e.profile_id),
                    ("merchant_id", e.merchant_id),
                    ("event_type", e.event_type),
                ]
            })
            .collect();
        let messages: Vec<Outgoing<'_>> = events
            .iter()
            .zip(&headers)
            .map(|(e, h)| Outgoing {
                routing_key: Topology::routing_key(e.event_type),
                message_id: e.event_id,
                headers: h,
                body: e.body,
            })
            .collect();
        self.publish_all(&messages).await
    }

    pub async fn close(self) {
        let _ = self.channel.close(200, "bye".into()).await;
        let _ = self.connection.close(200, "bye".into()).await;
    }
}
