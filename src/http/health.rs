//! Probes and metrics: `/healthz` (the process answers), `/readyz` (its dependencies
//! answer), `/metrics` (Prometheus text). The public listener says only ready or not; which
//! dependency is down, and the metrics, are on the admin listener.

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

use super::AppState;
use crate::amqp::AmqpHealth;
use crate::db;

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

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    let mut body = String::new();
    if let Err(error) = prometheus_client::encoding::text::encode(&mut body, &state.registry) {
        tracing::error!(%error, "encoding metrics failed");
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        body,
    )
        .into_response()
}
