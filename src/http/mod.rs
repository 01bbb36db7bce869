//! The HTTP surface: Stripe's webhook endpoint, the `/v1` admin API, probes and metrics.

pub mod admin;
pub mod auth;
pub mod back_office;
pub mod error;
pub mod health;
pub mod merchants;
pub mod observability;
pub mod openapi;
pub mod stripe_webhook;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use prometheus_client::registry::Registry;
use secrecy::SecretString;
use sqlx::PgPool;

use crate::amqp::AmqpHealth;
use crate::ingest::writer::InboxWriter;
use crate::metrics::Metrics;
use crate::setup::merchants::Merchants;
use crate::setup::profiles::Profiles;
use crate::setup::profiles::directory::ProfileDirectory;

pub use error::ApiError;

/// Everything a request handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    /// Verified events go here to be stored (group commit).
    pub inbox: InboxWriter,
    /// Profiles with their opened secrets, for verification.
    pub directory: Arc<ProfileDirectory>,
    pub profiles: Profiles,
    pub merchants: Merchants,
    /// The `/v1` bearer tokens, by name.
    pub admin_tokens: Arc<crate::crypto::admin_tokens::AdminTokens>,
    pub signature_tolerance: Duration,
    /// The platform's own signing secret for `POST /webhooks/stripe/connect` (off when unset).
    pub connect_secret: Option<Arc<SecretString>>,
    pub metrics: Metrics,
    pub registry: Arc<Registry>,
    /// One flag per component holding a RabbitMQ connection (none for ingest-only).
    pub amqp_health: Vec<AmqpHealth>,
}

/// `ingest` adds the webhook endpoint and the `/v1` API (profiles, orders, back office) with its
/// OpenAPI document; probes and metrics are always there.
pub fn router(state: AppState, ingest: bool) -> Router {
    let mut router = Router::new().merge(health::routes());
    if ingest {
        router = router
            .merge(stripe_webhook::routes())
            .merge(openapi::routes())
            .nest(
                "/v1",
                admin::routes(state.clone())
                    .merge(back_office::routes(state.clone()))
                    .merge(merchants::routes(state.clone())),
            );
    }
    router
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            observability::count_requests,
        ))
        .with_state(state)
}
