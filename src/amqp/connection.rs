//! Connecting to RabbitMQ with exponential backoff and jitter, and a shared flag telling
//! `/readyz` whether we are connected.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use lapin::Connection;

/// Whether one component's RabbitMQ connection is up.
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

/// A connection attempt that hangs (a half-open socket, a stalled handshake) is abandoned.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
enum ConnectError {
    #[error(transparent)]
    Amqp(#[from] lapin::Error),
    #[error("timed out")]
    TimedOut,
}

/// Connects, retrying forever with backoff; `None` once `give_up` resolves first.
pub async fn connect_with_backoff(
    url: &str,
    give_up: impl Future<Output = ()>,
) -> Option<Connection> {
    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(5))
        .with_jitter()
        .without_max_times();
    let attempt = || async {
        tokio::time::timeout(CONNECT_TIMEOUT, super::tls::open(url))
            .await
            .map_err(|_| ConnectError::TimedOut)?
            .map_err(ConnectError::from)
    };
    let connect = attempt.retry(backoff).notify(|error, delay| {
        tracing::warn!(%error, retry_in = ?delay, "RabbitMQ unreachable");
    });
    tokio::select! {
        conn = connect => conn.ok(),
        () = give_up => None,
    }
}
