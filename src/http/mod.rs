//! The HTTP surface: Stripe's webhook endpoint, the `/v1` admin API, probes and metrics.

pub mod admin;
pub mod auth;
pub mod back_office;
pub mod edge;
pub mod error;
pub mod health;
pub mod merchants;
pub mod observability;
pub mod openapi;
pub mod stripe_webhook;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{Method, Uri};
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
    /// How long a webhook body may take to arrive (read only once its profile is known).
    pub body_timeout: Duration,
    /// The platform's own signing secret for `POST /webhooks/stripe/connect` (off when unset).
    pub connect_secret: Option<Arc<SecretString>>,
    pub metrics: Metrics,
    pub registry: Arc<Registry>,
    /// One flag per component holding a RabbitMQ connection (none for ingest-only).
    pub amqp_health: Vec<AmqpHealth>,
    /// The console's session limits and where it redrives dead letters.
    pub console: Arc<crate::console::ConsoleConfig>,
}

/// The public listener: Stripe's webhook endpoints (with `ingest`) and bare probes.
pub fn public_router(state: AppState, ingest: bool, limits: &edge::EdgeLimits) -> Router {
    let mut router = Router::new().merge(health::public_routes());
    if ingest {
        router = router.merge(stripe_webhook::routes());
    }
    finish(router.with_state(state.clone()), state, limits)
}

/// The admin listener, kept off the internet: the `/v1` API (with `ingest`: profiles, orders,
/// back office) and its OpenAPI document, the back-office console under `/console`,
/// `/metrics`, and probes with details.
pub fn admin_router(state: AppState, ingest: bool, limits: &edge::EdgeLimits) -> Router {
    let mut router = Router::new().merge(health::admin_routes());
    if ingest {
        let api = admin::routes(state.clone())
            .merge(back_office::routes(state.clone()))
            .merge(merchants::routes(state.clone()));
        router = router
            .merge(openapi::routes())
            .nest("/v1", api)
            .merge(crate::console::routes());
    }
    let router = limits.bounded_bodies(
        router.with_state(state.clone()),
        edge::ADMIN_BODY_LIMIT_BYTES,
    );
    finish(router, state, limits)
}

/// Answers unknown paths and methods with the JSON error body, counts every request, and sheds
/// those past the listener's in-flight cap before anything else runs.
fn finish(router: Router, state: AppState, limits: &edge::EdgeLimits) -> Router {
    let router = router
        .fallback(no_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state,
            observability::count_requests,
        ));
    limits.shed_load(router)
}

async fn no_route(method: Method, uri: Uri) -> ApiError {
    ApiError::NoRoute(format!("no route {method} {}", uri.path()))
}

async fn method_not_allowed(method: Method, uri: Uri) -> ApiError {
    ApiError::MethodNotAllowed(format!("{} does not take {method}", uri.path()))
}
