//! Bearer tokens for the `/v1` API ([`crate::crypto::admin_tokens`]): a request gets through
//! with a known token, carrying the token's name as the actor the audit trail records. A
//! viewer token reads (`GET`, `HEAD`) and is refused anything else with 403.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{Request, State};
use axum::http::{Method, header};
use axum::middleware::Next;
use axum::response::Response;

use super::{ApiError, AppState};
use crate::crypto::admin_tokens::Role;
use crate::metrics::ReasonLabels;
use crate::setup::merchants::Actor;

/// Refusals are counted in the metric each time, but logged at most this often, so a client
/// guessing tokens cannot flood the log.
const LOG_REFUSALS_EVERY: Duration = Duration::from_secs(10);

/// When a refusal was last logged, and how many went unlogged since.
static REFUSALS_LOGGED: Mutex<Option<(Instant, u64)>> = Mutex::new(None);

/// Lets a request through with a known token, and puts the token's name in it as the
/// [`Actor`] the audit trail records.
pub(super) async fn require_admin_token(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let presented = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(presented) = presented else {
        return Err(refused(&state, &request, "missing"));
    };
    let Some((name, role)) = state.admin_tokens.identify_with_role(presented) else {
        return Err(refused(&state, &request, "unknown"));
    };
    if role == Role::Viewer && !matches!(*request.method(), Method::GET | Method::HEAD) {
        state
            .metrics
            .admin_auth_failures
            .get_or_create(&ReasonLabels {
                reason: "read_only",
            })
            .inc();
        return Err(ApiError::Forbidden(format!(
            "token {name} is read-only (a viewer token): it may only read (GET); {} needs an admin token",
            request.method()
        )));
    }
    let actor = Actor::token(name);
    request.extensions_mut().insert(actor);
    Ok(next.run(request).await)
}

/// Counts the refusal and logs it (never the token), at most once per [`LOG_REFUSALS_EVERY`].
fn refused(state: &AppState, request: &Request, reason: &'static str) -> ApiError {
    state
        .metrics
        .admin_auth_failures
        .get_or_create(&ReasonLabels { reason })
        .inc();
    let mut logged = REFUSALS_LOGGED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    match logged.as_mut() {
        Some((at, unlogged)) if at.elapsed() < LOG_REFUSALS_EVERY => *unlogged += 1,
        _ => {
            let unlogged = logged.map_or(0, |(_, n)| n);
            tracing::warn!(
                reason,
                method = %request.method(),
                path = request.uri().path(),
                refused_since_last_logged = unlogged,
                "admin API request refused: bearer token {reason}"
            );
            *logged = Some((Instant::now(), 0));
        }
    }
    ApiError::Unauthorized
}
