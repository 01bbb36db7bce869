//! Exchange, queues and bindings, all named from one prefix (`accredito` in production, a
//! unique one per test). Declaring is idempotent, so every process does it at start.

use lapin::options::{ExchangeDeclareOptions, QueueBindOptions, QueueDeclareOptions};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection, ExchangeKind};

use crate::domain::WorkQueue;

#[derive(Debug, Clone)]
pub struct Topology {
    prefix: String,
    /// Tests set this so their queues vanish once unused (`x-expires`, milliseconds), and the
    /// exchange is then auto-deleted with its last binding.
    pub ephemeral_after_ms: Option<u32>,
    pub queue_type: QueueType,
    /// `x-quorum-initial-group-size` of the quorum queues declared.
    pub quorum_group_size: u32,
}

/// Quorum queues in production. Tests that create and drop a topology each use classic
/// queues: every quorum queue is a Raft group, and creating hundreds a minute stalls a
/// single-node broker for seconds at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QueueType {
    Quorum,
    Classic,
}

impl QueueType {
    fn as_str(self) -> &'static str {
        match self {
            QueueType::Quorum => "quorum",
            QueueType::Classic => "classic",
        }
    }
}

/// Retry queues per work queue; later attempts than this many reuse the last one.
pub const RETRY_LEVELS: u32 = 4;

/// The routing keys a work queue is bound with: every event of the Stripe objects it takes
/// ([`crate::domain::HANDLED_EVENTS`]).
pub fn bindings(queue: WorkQueue) -> Vec<String> {
    queue
        .objects()
        .into_iter()
        .map(|object| format!("stripe.{object}.#"))
        .collect()
}

impl Topology {
    pub fn new(prefix: impl Into<String>) -> Self {
        Topology {
            prefix: prefix.into(),
            ephemeral_after_ms: None,
            queue_type: QueueType::Quorum,
            quorum_group_size: 3,
        }
    }

    /// The topology `settings` name: its prefix and quorum group size.
    pub fn of(settings: &crate::config::Settings) -> Self {
        Topology {
            quorum_group_size: settings.quorum_group_size,
            ..Topology::new(settings.amqp_prefix.clone())
        }
    }

    pub fn exchange(&self) -> String {
        format!("{}.events", self.prefix)
    }

    pub fn queue(&self, suffix: &str) -> String {
        format!("{}.{suffix}", self.prefix)
    }

    pub fn dead_letter_queue(&self) -> String {
        self.queue("dead")
    }

    /// Where a message waits before its `level`-th retry; it expires back into `work_queue`.
    pub fn retry_queue(&self, work_queue_suffix: &str, level: u32) -> String {
        format!("{}.{work_queue_suffix}.retry.{level}", self.prefix)
    }

    /// The routing key of a Stripe event type.
    pub fn routing_key(event_type: &str) -> String {
        format!("stripe.{event_type}")
    }

    /// Declares the exchange, the queues and the bindings on `channel`; `connection` gives each
    /// quorum queue's declaration a channel of its own (see `declare_queue`).
    pub async fn declare(
        &self,
        connection: &Connection,
        channel: &Channel,
    ) -> Result<(), lapin::Error> {
        channel
            .exchange_declare(
                self.exchange().as_str().into(),
                ExchangeKind::Topic,
                ExchangeDeclareOptions {
                    durable: true,
                    auto_delete: self.ephemeral_after_ms.is_some(),
                    ..ExchangeDeclareOptions::default()
                },
                FieldTable::default(),
            )
            .await?;
        for work_queue in WorkQueue::ALL {
            let queue = self.queue(work_queue.name());
            self.declare_queue(connection, channel, &queue, FieldTable::default())
                .await?;
            for level in 1..=RETRY_LEVELS {
                // Retry delays are per-message TTLs (RabbitMQ 3.10 has no delayed-message
                // plugin); an expired message dead-letters straight back to its work queue.
                let mut args = FieldTable::default();
                args.insert(
                    "x-dead-letter-exchange".into(),
                    AMQPValue::LongString("".into()),
                );
                args.insert(
                    "x-dead-letter-routing-key".into(),
                    AMQPValue::LongString(queue.as_str().into()),
                );
                if self.queue_type == QueueType::Quorum {
                    // Quorum queues dead-letter at most once unless told otherwise.
                    args.insert(
                        "x-dead-letter-strategy".into(),
                        AMQPValue::LongString("at-least-once".into()),
                    );
                    args.insert(
                        "x-overflow".into(),
                        AMQPValue::LongString("reject-publish".into()),
                    );
                }
                self.declare_queue(
                    connection,
                    channel,
                    &self.retry_queue(work_queue.name(), level),
                    args,
                )
                .await?;
            }
            for key in bindings(work_queue) {
                channel
                    .queue_bind(
                        queue.as_str().into(),
                        self.exchange().as_str().into(),
                        key.as_str().into(),
                        QueueBindOptions::default(),
                        FieldTable::default(),
                    )
                    .await?;
            }
        }
        self.declare_queue(
            connection,
            channel,
            &self.dead_letter_queue(),
            FieldTable::default(),
        )
        .await
    }

    async fn declare_queue(
        &self,
        connection: &Connection,
        channel: &Channel,
        name: &str,
        mut args: FieldTable,
    ) -> Result<(), lapin::Error> {
        // Quorum queues replicate through Raft: a broker restart or node loss keeps messages.
        args.insert(
            "x-queue-type".into(),
            AMQPValue::LongString(self.queue_type.as_str().into()),
        );
        if let Some(ms) = self.ephemeral_after_ms {
            args.insert("x-expires".into(), AMQPValue::LongUInt(ms));
        }
        let options = QueueDeclareOptions {
            durable: true,
            ..QueueDeclareOptions::default()
        };
        if self.queue_type == QueueType::Quorum {
            // RabbitMQ refuses to declare an existing queue with an argument it was not made
            // with (PRECONDITION_FAILED, which closes the channel), and quorum queues made
            // before the group size was set have none. So the declaration with the group size
            // goes on a channel of its own; refused, the queue exists and is left as it is.
            let mut with_group_size = args.clone();
            with_group_size.insert(
                "x-quorum-initial-group-size".into(),
                AMQPValue::LongUInt(self.quorum_group_size),
            );
            let probe = connection.create_channel().await?;
            let declared = probe
                .queue_declare(name.into(), options, with_group_size)
                .await;
            return match declared {
                Ok(_) => {
                    let _ = probe.close(200, "declared".into()).await;
                    Ok(())
                }
                Err(error) if refuses_only_the_group_size(&error) => {
                    tracing::debug!(
                        queue = name,
                        "quorum queue declared before its group size was set; kept"
                    );
                    Ok(())
                }
                Err(error) => Err(error),
            };
        }
        channel
            .queue_declare(name.into(), options, args)
            .await
            .map(|_| ())
    }
}

/// PRECONDITION_FAILED over the group size alone. Any other inequivalence (a classic queue
/// left under the name, another dead-letter setting) is a misconfiguration and stays an error.
fn refuses_only_the_group_size(error: &lapin::Error) -> bool {
    matches!(
        error.kind(),
        lapin::ErrorKind::ProtocolError(e)
            if e.get_id() == 406
                && e.get_message().as_str().contains("'x-quorum-initial-group-size'")
    )
}
