//! Connecting to RabbitMQ with exponential backoff and jitter, and a shared flag telling
//! `/readyz` whether we are connected, and to which node.
//!
//! `AMQP_URL` may list several URLs, comma-separated (the nodes of a cluster): each attempt
//! tries them in turn, starting after the one used last, so a process whose node went away
//! reconnects to another at once, and processes spread over the nodes as they reconnect.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use lapin::Connection;

/// Whether one component's RabbitMQ connection is up, and the node it is connected to.
#[derive(Clone, Default)]
pub struct AmqpHealth {
    connected: Arc<AtomicBool>,
    node: Arc<Mutex<Option<String>>>,
}

impl AmqpHealth {
    pub fn set_connected(&self, up: bool) {
        self.connected.store(up, Ordering::Relaxed);
    }

    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    /// The node (`host:port`) of the last connection made.
    pub fn node(&self) -> Option<String> {
        self.node
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    fn set_node(&self, node: String) {
        *self
            .node
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(node);
    }
}

/// The URLs of `AMQP_URL`, which may list several nodes, comma-separated.
pub fn urls(amqp_url: &str) -> Vec<&str> {
    amqp_url
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .collect()
}

/// `host:port` of a URL, for logs and `/readyz` (never the credentials).
pub fn node_of(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(parsed) => {
            let port = parsed.port().unwrap_or(if parsed.scheme() == "amqps" {
                5671
            } else {
                5672
            });
            format!("{}:{port}", parsed.host_str().unwrap_or("?"))
        }
        Err(_) => "an unparsable URL".to_owned(),
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

/// Opens a connection to the first of `amqp_url`'s nodes that answers, once (for commands that
/// run and end: they report an outage rather than wait it out).
pub async fn open_any(amqp_url: &str) -> lapin::Result<Connection> {
    let mut last_error = None;
    for url in urls(amqp_url) {
        match super::tls::open(url).await {
            Ok(connection) => return Ok(connection),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| std::io::Error::other("AMQP_URL names no broker").into()))
}

/// Where the next connection attempt starts in the list of URLs, shared by every component,
/// so that after a node is lost the next attempt begins with another one.
static NEXT_URL: AtomicUsize = AtomicUsize::new(0);

/// Connects to one of `amqp_url`'s nodes, trying each in turn and then retrying forever with
/// backoff; `None` once `give_up` resolves first. Records the node in `health`.
pub async fn connect_with_backoff(
    amqp_url: &str,
    health: &AmqpHealth,
    give_up: impl Future<Output = ()>,
) -> Option<Connection> {
    let urls = urls(amqp_url);
    let backoff = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(5))
        .with_jitter()
        .without_max_times();
    let attempt = || async {
        let start = NEXT_URL.load(Ordering::Relaxed);
        let mut last_error = ConnectError::TimedOut;
        for offset in 0..urls.len() {
            let index = (start + offset) % urls.len();
            let url = urls[index];
            let opened = tokio::time::timeout(CONNECT_TIMEOUT, super::tls::open(url))
                .await
                .map_err(|_| ConnectError::TimedOut)
                .and_then(|c| c.map_err(ConnectError::from));
            match opened {
                Ok(connection) => {
                    // The next reconnect (this node lost) begins with the following one.
                    NEXT_URL.store(index + 1, Ordering::Relaxed);
                    let node = node_of(url);
                    tracing::info!(node = %node, "connected to RabbitMQ");
                    health.set_node(node);
                    return Ok(connection);
                }
                Err(error) => {
                    if urls.len() > 1 {
                        tracing::warn!(node = %node_of(url), %error, "RabbitMQ node unreachable; trying the next");
                    }
                    last_error = error;
                }
            }
        }
        Err(last_error)
    };
    let connect = attempt.retry(backoff).notify(|error, delay| {
        tracing::warn!(%error, retry_in = ?delay, "RabbitMQ unreachable");
    });
    tokio::select! {
        conn = connect => conn.ok(),
        () = give_up => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_of_urls_gives_each_node() {
        let list = "amqp://u:p@mq-1:5672/v, amqps://u:p@mq-2/v,,amqp://u:p@mq-3:5673/v";
        assert_eq!(urls(list).len(), 3);
        let nodes: Vec<String> = urls(list).into_iter().map(node_of).collect();
        assert_eq!(nodes, ["mq-1:5672", "mq-2:5671", "mq-3:5673"]);
    }

    #[test]
    fn a_node_is_named_without_its_credentials() {
        assert_eq!(
            node_of("amqp://guest:secret@127.0.0.1:5672/%2f"),
            "127.0.0.1:5672"
        );
    }
}
