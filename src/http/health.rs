//! Probes and metrics: `/healthz` (the process answers), `/readyz` (its dependencies
//! answer), `/metrics` (Prometheus text).

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

use super::AppState;
use crate::amqp::AmqpHealth;
use crate::db;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/healthz",
            get(|| async { axum::Json(json!({ "status": "ok" })) }),
        )
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
}

async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let database = db::ping(&state.pool).await.is_ok();
    let rabbitmq = (!state.amqp_health.is_empty())
        .then(|| state.amqp_health.iter().all(AmqpHealth::is_connected));
    let ready = database && rabbitmq.unwrap_or(true);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let show = |up: bool| if up { "up" } else { "down" };
    let body = json!({
        "status": if ready { "ready" } else { "not_ready" },
        "postgresql": show(database),
        "rabbitmq": rabbitmq.map_or("not_used", show),
    });
    (status, axum::Json(body))
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
