//! Bearer tokens for the `/v1` API ([`crate::crypto::admin_tokens`]): a request gets through
//! with a known token, carrying the token's name as the actor the audit trail records.

use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;

use super::{ApiError, AppState};
use crate::setup::merchants::Actor;

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
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or(ApiError::Unauthorized)?;
    let actor = state
        .admin_tokens
        .identify(presented)
        .map(Actor::token)
        .ok_or(ApiError::Unauthorized)?;
    request.extensions_mut().insert(actor);
    Ok(next.run(request).await)
}
