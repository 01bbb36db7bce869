//! Probes and metrics: `/healthz` (the process answers), `/readyz` (its dependencies
//! answer), `/metrics` (Prometheus text). The public listener says only ready or not; which
//! dependency is down, and the metrics, are on the admin listener.

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

use super::AppState;
use crate::amqp::AmqpHealth;
use crate::db;
use crate::metrics::KindLabels;

pub fn public_routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz_status))
}

pub fn admin_routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

async fn healthz() -> impl IntoResponse {
    axum::Json(json!({ "status": "ok" }))
}

/// Readiness without naming what is down.
async fn readyz_status(State(state): State<AppState>) -> impl IntoResponse {
    let (status, _) = readiness(&state).await;
    let word = if status == StatusCode::OK {
        "ready"
    } else {
        "not_ready"
    };
    (status, axum::Json(json!({ "status": word })))
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let (status, body) = readiness(&state).await;
    (status, axum::Json(body))
}

async fn readiness(state: &AppState) -> (StatusCode, serde_json::Value) {
    let database = db::ping(&state.pool).await.is_ok();
    let schema_current = database && db::schema_is_current(&state.pool).await.unwrap_or(false);
    let rabbitmq = (!state.amqp_health.is_empty())
        .then(|| state.amqp_health.iter().all(AmqpHealth::is_connected));
    let ready = database && schema_current && rabbitmq.unwrap_or(true);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let show = |up: bool| if up { "up" } else { "down" };
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "postgresql": show(database),
        "schema": match (database, schema_current) {
            (false, _) => "unknown",
            (true, true) => "current",
            (true, false) => "migrations pending: run `accredito migrate`",
        },
        "rabbitmq": rabbitmq.map_or("not_used", show),
        // The nodes this process's connections use (one per component; a cluster may differ).
        "rabbitmq_nodes": state
            .amqp_health
            .iter()
            .filter(|h| h.is_connected())
            .filter_map(AmqpHealth::node)
            .collect::<std::collections::BTreeSet<_>>(),
    });
    (status, body)
}

/// How long a reading of the books serves scrapes: several Prometheus replicas scraping every
/// few seconds cost PostgreSQL one reading.
const BOOKS_READING_LIFETIME: std::time::Duration = std::time::Duration::from_secs(10);

/// OpenMetrics, or Prometheus's text format 0.0.4 when the scraper asks for it (`Accept:
/// text/plain`).
async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> impl IntoResponse {
    state.metrics.process.refresh();
    read_books(&state).await;
    let mut body = String::new();
    if let Err(error) = prometheus_client::encoding::text::encode(&mut body, &state.registry) {
        tracing::error!(%error, "encoding metrics failed");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let openmetrics =
        accept.contains("application/openmetrics-text") || !accept.contains("text/plain");
    if openmetrics {
        let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
        return ([(header::CONTENT_TYPE, content_type)], body).into_response();
    }
    let content_type = "text/plain; version=0.0.4; charset=utf-8";
    (
        [(header::CONTENT_TYPE, content_type)],
        crate::metrics::as_text_format(&body),
    )
        .into_response()
}

/// Refreshes the books' gauges unless a recent reading stands. A failed reading leaves the
/// last values (and is logged); `/readyz` reports the database itself.
async fn read_books(state: &AppState) {
    let books = &state.metrics.books;
    {
        let mut read_at = books
            .read_at
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if read_at.is_some_and(|at| at.elapsed() < BOOKS_READING_LIFETIME) {
            return;
        }
        *read_at = Some(std::time::Instant::now());
    }
    let reading = async {
        let mut conn = state.pool.acquire().await?;
        db::health::read(&mut conn).await
    };
    match reading.await {
        Ok(reading) => {
            books.open_discrepancies.clear();
            for (kind, count) in reading.open_discrepancies {
                books
                    .open_discrepancies
                    .get_or_create(&KindLabels { kind })
                    .set(count);
            }
            // Every kind has a series, 0 when none is open, so rules and panels see it.
            for kind in crate::domain::AlertKind::ALL {
                let kind = kind.as_str().to_owned();
                books.open_alerts.get_or_create(&KindLabels { kind }).set(0);
            }
            for (kind, count) in reading.open_alerts {
                books
                    .open_alerts
                    .get_or_create(&KindLabels { kind })
                    .set(count);
            }
            books.dead_letters.set(reading.dead_letters);
            books
                .oldest_unpublished_seconds
                .set(reading.oldest_unpublished_secs);
            books.silent_live_profiles.set(reading.silent_live_profiles);
        }
        Err(error) => tracing::warn!(%error, "reading the books for /metrics failed"),
    }
}
