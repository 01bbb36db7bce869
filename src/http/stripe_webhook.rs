//! `POST /webhooks/stripe/{profile_id}`: verify the raw bytes, store, then answer (G1, G6).

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::routing::post;
use axum::{Json, Router};
use bytes::Bytes;
use serde::Serialize;
use time::OffsetDateTime;

use super::{ApiError, AppState, edge};
use crate::db;
use crate::domain::ProfileId;
use crate::ingest;
use crate::ingest::writer::Stored;
use crate::metrics::{OutcomeLabels, ReasonLabels};
use crate::setup::profiles::directory::SigningProfile;
use crate::stripe::event::{EventEnvelope, parse_envelope};
use crate::stripe::signature::{self, SignatureError};
use secrecy::ExposeSecret;

/// Stripe's own events stay well under this; anything larger is not a Stripe event.
pub const BODY_LIMIT_BYTES: usize = 512 * 1024;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/webhooks/stripe/{profile_id}", post(receive))
        .route("/webhooks/stripe/connect", post(receive_connect))
}

#[derive(Debug, Serialize)]
pub struct Receipt {
    pub received: bool,
    pub duplicate: bool,
    /// `livemode_mismatch`: stored and flagged, never processed (a test-mode event sent to a
    /// live profile, or the reverse).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub flagged: Option<&'static str>,
}

#[tracing::instrument(skip_all, fields(profile_id = %profile_id, event_id))]
async fn receive(
    State(state): State<AppState>,
    Path(profile_id): Path<String>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Receipt>, ApiError> {
    // The profile first: a request for no profile is answered without reading its body.
    let id = ProfileId::parse(&profile_id).ok_or(ApiError::UnknownProfile)?;
    let profile = state
        .directory
        .get(&id)
        .await?
        .ok_or(ApiError::UnknownProfile)?;
    let body = read_body(&state, body).await?;
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
    .map_err(|e| refused(&state, e))?;

    let envelope = envelope_of(&body)?;
    store(&state, &profile, envelope, body).await
}

/// `POST /webhooks/stripe/connect`: one endpoint for a platform on Stripe Connect, verified
/// with the platform's own signing secret; each event goes to the profile whose Stripe
/// account it names. An event for an account no profile has is kept, not lost.
#[tracing::instrument(skip_all, fields(account, event_id))]
async fn receive_connect(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<Receipt>, ApiError> {
    let secret = state.connect_secret.clone().ok_or_else(|| {
        ApiError::NotFound(
            "the Connect endpoint is off (ACCREDITO_CONNECT_WEBHOOK_SECRET is not set)".into(),
        )
    })?;
    let body = read_body(&state, body).await?;
    let header = headers.get("stripe-signature").map(|v| v.as_bytes());
    let now = OffsetDateTime::now_utc().unix_timestamp();
    signature::verify(
        &body,
        header,
        &[secret.expose_secret()],
        now,
        state.signature_tolerance.as_secs(),
    )
    .map_err(|e| refused(&state, e))?;
    let envelope = envelope_of(&body)?;
    let account = envelope.account.clone().ok_or_else(|| {
        ApiError::BadRequest("the event names no `account`: it is not a Connect event".into())
    })?;
    tracing::Span::current().record("account", account.as_str());
    let routed = async {
        let mut conn = state.pool.acquire().await?;
        db::profiles::profile_of_account(&mut conn, &account).await
    }
    .await
    .map_err(|error| {
        tracing::error!(%error, "connect routing lookup failed");
        ApiError::StorageUnavailable
    })?;
    let profile = match routed.and_then(|id| ProfileId::parse(&id)) {
        Some(id) => state.directory.get(&id).await?,
        None => None,
    };
    match profile {
        Some(profile) => store(&state, &profile, envelope, body).await,
        None => {
            let mut conn = state
                .pool
                .acquire()
                .await
                .map_err(|_| ApiError::StorageUnavailable)?;
            let new = db::inbox::keep_unrouted(
                &mut conn,
                &account,
                &envelope.id,
                &envelope.event_type,
                &body,
            )
            .await
            .map_err(|error| {
                tracing::error!(%error, "storing an unrouted event failed");
                ApiError::StorageUnavailable
            })?;
            if new {
                tracing::warn!(%account, event_id = %envelope.id, "Connect event for an account no profile has: kept in unrouted_events");
                let unrouted = OutcomeLabels {
                    outcome: "unrouted",
                };
                state.metrics.webhook_events.get_or_create(&unrouted).inc();
            }
            Ok(Json(Receipt {
                received: true,
                duplicate: !new,
                flagged: None,
            }))
        }
    }
}

async fn read_body(state: &AppState, body: Body) -> Result<Bytes, ApiError> {
    edge::read_within(body, BODY_LIMIT_BYTES, state.body_timeout).await
}

fn refused(state: &AppState, e: SignatureError) -> ApiError {
    state
        .metrics
        .verification_failures
        .get_or_create(&ReasonLabels { reason: e.reason() })
        .inc();
    tracing::info!(
        reason = e.reason(),
        "webhook refused: signature verification failed"
    );
    ApiError::Signature(e)
}

fn envelope_of(body: &[u8]) -> Result<EventEnvelope, ApiError> {
    let envelope = parse_envelope(body).map_err(|e| {
        tracing::info!(reason = e.reason(), "webhook refused: not a Stripe event");
        ApiError::NotAnEvent(e)
    })?;
    tracing::Span::current().record("event_id", envelope.id.as_str());
    Ok(envelope)
}

/// Stores a verified event for its profile; answered only after the commit (G1).
async fn store(
    state: &AppState,
    profile: &SigningProfile,
    envelope: EventEnvelope,
    body: Bytes,
) -> Result<Json<Receipt>, ApiError> {
    let event = ingest::new_event(
        profile.id.as_str(),
        &profile.merchant_id,
        profile.mode,
        envelope,
        body,
    );
    let flagged = event.livemode_mismatch.then_some("livemode_mismatch");
    let stored = state.inbox.store(event).await?;
    Ok(Json(Receipt {
        received: true,
        duplicate: stored == Stored::Duplicate,
        flagged,
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
