//! One line per request in the log, and request counts for `/metrics`. Each request carries a
//! request id, the client's `X-Request-Id` when it sends a sensible one, else a fresh one,
//! echoed in the answer's `X-Request-Id` so a client's report can be found in the log.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use rand::Rng;

use super::AppState;
use crate::metrics::{RequestLabels, RouteLabels};

pub const REQUEST_ID: &str = "x-request-id";

pub async fn count_requests(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().clone();
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|id| is_sensible_id(id))
        .map_or_else(fresh_id, str::to_owned);
    let mut response = next.run(request).await;
    let status = response.status().as_u16();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    // Failures at info; successes at debug, so a busy webhook endpoint does not drown the log.
    if status >= 400 {
        tracing::info!(%method, route, status, latency_ms, request_id, "request");
    } else {
        tracing::debug!(%method, route, status, latency_ms, request_id, "request");
    }
    state
        .metrics
        .request_duration
        .get_or_create(&RouteLabels {
            route: route.clone(),
        })
        .observe(latency_ms / 1000.0);
    state
        .metrics
        .http_requests
        .get_or_create(&RequestLabels { route, status })
        .inc();
    response
}

/// At most 64 letters, digits, '-', '_' or '.': anything else is replaced, so a client cannot
/// write arbitrary text into the log.
fn is_sensible_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn fresh_id() -> String {
    format!("{:032x}", rand::rng().random::<u128>())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_short_plain_request_ids_are_kept() {
        assert!(is_sensible_id("req-2026_12.03"));
        assert!(!is_sensible_id(""));
        assert!(!is_sensible_id(&"a".repeat(65)));
        assert!(!is_sensible_id("evil\nline"));
        assert_eq!(fresh_id().len(), 32);
    }
}
