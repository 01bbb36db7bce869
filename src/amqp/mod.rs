//! RabbitMQ: the topology every process declares, connecting with backoff, and publishing
//! with confirms.

pub mod connection;
pub mod message;
pub mod publisher;
pub mod tls;
pub mod topology;

pub use connection::{AmqpHealth, connect_with_backoff};
pub use publisher::{ConfirmedPublisher, PublishError, PublishOutcome, publish_to_queue};
pub use topology::{QueueType, Topology};
