//! The HTTP edge: accepting connections and keeping each client's share of the process bounded.
//!
//! The webhook listener faces the internet, so nothing a client does may hold a connection,
//! a task or memory for long: the request head must arrive within `header_timeout` (hyper also
//! applies it to the idle wait between keep-alive requests), a body within `body_timeout`, and
//! past `max_connections` open connections or `max_in_flight` requests being handled a client
//! is answered 503 with `Retry-After` at once instead of queueing.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use http_body_util::{BodyExt, LengthLimitError, Limited};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::ApiError;

/// How long open requests may take to finish once shutdown begins.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);
/// hyper's read buffer per connection: request heads larger than this are refused (431), and
/// a slow client cannot make one connection hold more.
const READ_BUFFER_BYTES: usize = 64 * 1024;
/// Connections past the cap being answered 503 at the same time; more are simply closed.
const TURN_AWAY_AT_ONCE: usize = 64;
/// Bodies of `/v1` requests; the webhook endpoint has its own, smaller limit.
pub const ADMIN_BODY_LIMIT_BYTES: usize = 1024 * 1024;

/// What one listener allows each client.
#[derive(Debug, Clone)]
pub struct EdgeLimits {
    /// Until the whole request head has arrived, and between requests on a kept-alive
    /// connection.
    pub header_timeout: Duration,
    /// Until the whole request body has arrived.
    pub body_timeout: Duration,
    /// Open connections per listener.
    pub max_connections: usize,
    /// Requests being handled at once per listener.
    pub max_in_flight: usize,
}

impl Default for EdgeLimits {
    fn default() -> Self {
        EdgeLimits {
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(15),
            max_connections: 1024,
            max_in_flight: 256,
        }
    }
}

impl EdgeLimits {
    /// Sheds requests past `max_in_flight` with 503 instead of queueing them.
    pub fn shed_load(&self, router: Router) -> Router {
        let in_flight = Arc::new(Semaphore::new(self.max_in_flight));
        router.layer(axum::middleware::from_fn_with_state(in_flight, shed_load))
    }

    /// Reads every request body within `body_timeout` and `limit` before the handler runs.
    pub fn bounded_bodies(&self, router: Router, limit: usize) -> Router {
        let bounds = BodyBounds {
            limit,
            timeout: self.body_timeout,
        };
        router.layer(axum::middleware::from_fn_with_state(bounds, bounded_body))
    }
}

/// Serves `router` on `listener` until `shutdown` fires, then lets open requests finish.
pub async fn serve(
    name: &'static str,
    listener: TcpListener,
    router: Router,
    limits: EdgeLimits,
    shutdown: CancellationToken,
) {
    let connections = Arc::new(Semaphore::new(limits.max_connections));
    let turning_away = Arc::new(Semaphore::new(TURN_AWAY_AT_ONCE));
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .max_buf_size(READ_BUFFER_BYTES);
    let tracker = TaskTracker::new();
    loop {
        let stream = tokio::select! {
            () = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(error) => {
                    // Out of file descriptors, mostly: wait for some to close rather than spin.
                    tracing::warn!(listener = name, %error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Ok(permit) = connections.clone().try_acquire_owned() else {
            if let Ok(turning) = turning_away.clone().try_acquire_owned() {
                tracker.spawn(async move {
                    turn_away(stream).await;
                    drop(turning);
                });
            }
            continue;
        };
        let _ = stream.set_nodelay(true);
        let connection = http.serve_connection(
            TokioIo::new(stream),
            TowerToHyperService::new(router.clone()),
        );
        let shutdown = shutdown.clone();
        tracker.spawn(async move {
            let mut connection = std::pin::pin!(connection);
            let mut closing = false;
            loop {
                tokio::select! {
                    finished = connection.as_mut() => {
                        if let Err(error) = finished {
                            tracing::debug!(listener = name, %error, "connection closed");
                        }
                        break;
                    }
                    () = shutdown.cancelled(), if !closing => {
                        closing = true;
                        connection.as_mut().graceful_shutdown();
                    }
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    tracker.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait())
        .await
        .is_err()
    {
        tracing::warn!(
            listener = name,
            "requests still open after the grace period were cut off"
        );
    }
}

/// The answer to a connection past the cap (written before its request is read).
const TURN_AWAY_RESPONSE: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
        retry-after: 1\r\n\
        content-type: application/json\r\n\
        content-length: 70\r\n\
        connection: close\r\n\r\n\
        {\"error\":\"overloaded\",\"message\":\"too many connections; retry shortly\"}";

/// A connection past the cap: 503 with `Retry-After`, then closed.
async fn turn_away(mut stream: TcpStream) {
    let answered = async {
        stream.write_all(TURN_AWAY_RESPONSE).await?;
        stream.shutdown().await?;
        // Read what the client already sent, so closing does not reset the connection
        // before it has read the answer.
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<(), io::Error>(())
    };
    let _ = tokio::time::timeout(Duration::from_secs(1), answered).await;
}

async fn shed_load(
    State(in_flight): State<Arc<Semaphore>>,
    request: Request,
    next: Next,
) -> Response {
    match in_flight.try_acquire() {
        Ok(_permit) => next.run(request).await,
        Err(_) => ApiError::Overloaded.into_response(),
    }
}

#[derive(Debug, Clone, Copy)]
struct BodyBounds {
    limit: usize,
    timeout: Duration,
}

async fn bounded_body(
    State(bounds): State<BodyBounds>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let (parts, body) = request.into_parts();
    let bytes = read_within(body, bounds.limit, bounds.timeout).await?;
    Ok(next
        .run(Request::from_parts(parts, Body::from(bytes)))
        .await)
}

/// The whole body, if it is at most `limit` bytes and arrives within `timeout`.
pub async fn read_within(body: Body, limit: usize, timeout: Duration) -> Result<Bytes, ApiError> {
    match tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await {
        Ok(Ok(collected)) => Ok(collected.to_bytes()),
        Ok(Err(error)) if error.is::<LengthLimitError>() => Err(ApiError::PayloadTooLarge {
            limit_kib: limit / 1024,
        }),
        Ok(Err(_)) => Err(ApiError::BadRequest(
            "the request body could not be read".into(),
        )),
        Err(_) => Err(ApiError::RequestTimeout {
            secs: timeout.as_secs(),
        }),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_turn_away_answer_declares_its_length() {
        let response = std::str::from_utf8(super::TURN_AWAY_RESPONSE).expect("ascii");
        let (head, body) = response.split_once("\r\n\r\n").expect("head and body");
        assert!(head.contains(&format!("content-length: {}\r\n", body.len())));
        assert!(head.starts_with("HTTP/1.1 503 "));
        assert!(head.contains("retry-after: 1"));
    }
}
