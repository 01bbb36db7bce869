//! Connecting to RabbitMQ with exponential backoff and jitter, and a shared flag telling
//! `/readyz` whether we are connected.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use lapin::{Connection, ConnectionProperties};
use tokio_util::sync::CancellationToken;

/// Whether the process's RabbitMQ connection is up; `None` inside when it uses none.
#[derive(Clone, Default)]
pub struct AmqpHealth {
    connected: Arc<AtomicBool>,
}

impl AmqpHealth {
    pub fn set_connected(&self, up: bool) {
        self.connected.store(up, Ordering::Relaxed);
    }

    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }
}

/// Connects, retrying forever with backoff; `None` once `cancel` fires first.
pub async fn connect_with_backoff(url: &str, cancel: &CancellationToken) -> Option<Connection> {
    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(5))
        .with_jitter()
        .without_max_times();
    let attempt = || async { Connection::connect(url, ConnectionProperties::default()).await };
    let connect = attempt.retry(backoff).notify(|error, delay| {
        tracing::warn!(%error, retry_in = ?delay, "RabbitMQ unreachable");
    });
    tokio::select! {
        conn = connect => conn.ok(),
        () = cancel.cancelled() => None,
    }
}
