//! `POST /webhooks/stripe/{profile_id}`: verify the raw bytes, store, then answer (G1, G6).

use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use bytes::Bytes;
use serde::Serialize;
use time::OffsetDateTime;

use super::{ApiError, AppState};
use crate::db::inbox::NewEvent;
use crate::domain::ProfileId;
use crate::intake::Stored;
use crate::metrics::ReasonLabels;
use crate::profiles::directory::SigningProfile;
use crate::stripe::event::parse_envelope;
use crate::stripe::signature::{self, SignatureError};

/// Stripe's own events stay well under this; anything larger is not a Stripe event.
pub const BODY_LIMIT_BYTES: usize = 512 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/webhooks/stripe/{profile_id}", post(receive))
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
}

#[derive(Debug, Serialize)]
pub struct Receipt {
    pub received: bool,
    pub duplicate: bool,
}

#[tracing::instrument(skip_all, fields(profile_id = %profile_id, event_id))]
async fn receive(
    State(state): State<AppState>,
    Path(profile_id): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Receipt>, ApiError> {
    let id = ProfileId::parse(&profile_id).ok_or(ApiError::UnknownProfile)?;
    let profile = state
        .directory
        .get(&id)
        .await?
        .ok_or(ApiError::UnknownProfile)?;
    let body = body.map_err(|rejection| match rejection.status() {
        StatusCode::PAYLOAD_TOO_LARGE => ApiError::PayloadTooLarge {
            limit_kib: BODY_LIMIT_BYTES / 1024,
        },
        _ => ApiError::BadRequest("the request body could not be read".into()),
    })?;
    let header = headers.get("stripe-signature").map(|v| v.as_bytes());

    let profile = match verify(&state, &profile, &body, header) {
        Err(SignatureError::SignatureMismatch) if profile.may_be_stale() => {
            // A secret may have been added since we cached the profile: look once more.
            let fresh = state
                .directory
                .reload(&id)
                .await?
                .ok_or(ApiError::UnknownProfile)?;
            verify(&state, &fresh, &body, header).map(|()| fresh)
        }
        other => other.map(|()| profile),
    }
    .inspect_err(|e| {
        state
            .metrics
            .verification_failures
            .get_or_create(&ReasonLabels { reason: e.reason() })
            .inc();
        tracing::info!(
            reason = e.reason(),
            "webhook refused: signature verification failed"
        );
    })
    .map_err(ApiError::Signature)?;

    let envelope = parse_envelope(&body).map_err(|e| {
        tracing::info!(reason = e.reason(), "webhook refused: not a Stripe event");
        ApiError::NotAnEvent(e)
    })?;
    tracing::Span::current().record("event_id", envelope.id.as_str());
    let livemode_mismatch = !profile.mode.accepts_livemode(envelope.livemode);
    if livemode_mismatch {
        tracing::warn!(livemode = envelope.livemode, mode = %profile.mode, "event livemode disagrees with its profile: stored, not processed");
    }

    let stored = state
        .inbox
        .store(NewEvent {
            profile_id: profile.id.as_str().to_owned(),
            merchant_id: profile.merchant_id.clone(),
            event_id: envelope.id,
            event_type: envelope.event_type,
            livemode: envelope.livemode,
            livemode_mismatch,
            event_created_at: envelope.created,
            raw_body: body,
        })
        .await?;
    Ok(Json(Receipt {
        received: true,
        duplicate: stored == Stored::Duplicate,
    }))
}

fn verify(
    state: &AppState,
    profile: &SigningProfile,
    body: &[u8],
    header: Option<&[u8]>,
) -> Result<(), SignatureError> {
    let now = OffsetDateTime::now_utc();
    let secrets = profile.active_secrets(now);
    signature::verify(
        body,
        header,
        &secrets,
        now.unix_timestamp(),
        state.signature_tolerance.as_secs(),
    )
    .map(|_| ())
}
