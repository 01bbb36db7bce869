//! The `/v1` profile API, behind a bearer token (see [`super::auth`]).

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use secrecy::SecretString;
use serde::Deserialize;
use time::OffsetDateTime;

use super::back_office::{Listing, cursor, merchant_filter, parse_limit, query_params, split_page};
use super::{ApiError, AppState};
use crate::domain::ProfileId;
use crate::setup::merchants::Actor;
use crate::setup::profiles::{
    EndpointRegistered, KeysSaved, NewProfile, ProfileDeleted, ProfileView, SecretView,
};

pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/profiles", post(create_profile).get(list_profiles))
        .route(
            "/profiles/{profile_id}",
            get(show_profile).delete(delete_profile),
        )
        .route("/profiles/{profile_id}/webhook-secrets", post(add_secret))
        .route(
            "/profiles/{profile_id}/secret-key",
            axum::routing::put(set_secret_key),
        )
        .route("/profiles/{profile_id}/keys", axum::routing::put(set_keys))
        .route(
            "/profiles/{profile_id}/webhook-endpoint",
            post(register_webhook_endpoint),
        )
        .route(
            "/profiles/{profile_id}/webhook-secrets/{secret_id}/expire",
            post(expire_secret),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state,
            super::auth::require_admin_token,
        ))
}

pub(super) fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(v)| v)
        .map_err(|rejection| ApiError::BadRequest(rejection.body_text()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateProfileRequest {
    merchant_id: String,
    name: String,
    webhook_secret: SecretString,
}

async fn create_profile(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    body: Result<Json<CreateProfileRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<ProfileView>), ApiError> {
    let req = json_body(body)?;
    let view = state
        .profiles
        .create(
            NewProfile {
                merchant_id: req.merchant_id,
                name: req.name,
                webhook_secret: req.webhook_secret,
            },
            &actor,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    merchant_id: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
    /// Read by [`Listing`].
    #[serde(rename = "format")]
    _format: Option<String>,
    #[serde(rename = "separator")]
    _separator: Option<String>,
}

/// Live profiles in the order they were created, of one merchant or all, keyset-paged.
async fn list_profiles(
    State(state): State<AppState>,
    listing: Listing,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query_params(query)?;
    let merchant_id = merchant_filter(q.merchant_id.as_deref())?;
    let limit = parse_limit(q.limit.as_deref())?;
    let after = q.cursor.as_deref().map(cursor::parse_profile).transpose()?;
    let after = after.as_ref().map(|(at, id)| (*at, id.as_str()));
    let rows = state.profiles.list(merchant_id, after, limit + 1).await?;
    let (data, next) = split_page(rows, limit, |p| cursor::profile(p.created_at, &p.id));
    listing.respond(data, next)
}

async fn show_profile(
    State(state): State<AppState>,
    Path(profile_id): Path<String>,
) -> Result<Json<ProfileView>, ApiError> {
    Ok(Json(state.profiles.show(&profile_id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AddSecretRequest {
    webhook_secret: SecretString,
    #[serde(default, with = "time::serde::rfc3339::option")]
    expires_at: Option<OffsetDateTime>,
}

async fn add_secret(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(profile_id): Path<String>,
    body: Result<Json<AddSecretRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<SecretView>), ApiError> {
    let req = json_body(body)?;
    let view = state
        .profiles
        .add_secret(&profile_id, &req.webhook_secret, req.expires_at, &actor)
        .await?;
    forget_cached(&state, &profile_id);
    Ok((StatusCode::CREATED, Json(view)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretKeyRequest {
    secret_key: SecretString,
}

/// Rotates the key accredito calls Stripe with, keeping the publishable key, once Stripe
/// accepts it; answers as [`set_keys`] does (the key is never returned).
async fn set_secret_key(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(profile_id): Path<String>,
    body: Result<Json<SecretKeyRequest>, JsonRejection>,
) -> Result<Json<KeysSaved>, ApiError> {
    let req = json_body(body)?;
    let saved = state
        .profiles
        .set_secret_key(&profile_id, &req.secret_key, &actor)
        .await?;
    Ok(Json(saved))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeysRequest {
    publishable_key: String,
    secret_key: SecretString,
}

/// Saves (or rotates) the profile's publishable and secret keys once Stripe accepts them;
/// answers the profile (the secret key never) and any warnings.
async fn set_keys(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(profile_id): Path<String>,
    body: Result<Json<KeysRequest>, JsonRejection>,
) -> Result<Json<KeysSaved>, ApiError> {
    let req = json_body(body)?;
    let saved = state
        .profiles
        .set_keys(&profile_id, &req.publishable_key, &req.secret_key, &actor)
        .await?;
    Ok(Json(saved))
}

/// Creates (or replaces) the profile's webhook endpoint on Stripe and stores its secret.
async fn register_webhook_endpoint(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(profile_id): Path<String>,
) -> Result<(StatusCode, Json<EndpointRegistered>), ApiError> {
    let registered = state
        .profiles
        .register_webhook_endpoint(&profile_id, &actor)
        .await?;
    forget_cached(&state, &profile_id);
    Ok((StatusCode::CREATED, Json(registered)))
}

/// Deletes the profile and the webhook endpoint accredito registered for it on Stripe: 200,
/// or 202 when the profile is deleted but Stripe could not be reached to remove the endpoint
/// yet (deleting again, or the account sweep, retries).
async fn delete_profile(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(profile_id): Path<String>,
) -> Result<(StatusCode, Json<ProfileDeleted>), ApiError> {
    let deleted = state.profiles.delete(&profile_id, &actor).await;
    forget_cached(&state, &profile_id);
    let deleted = deleted?;
    let status = match deleted.webhook_endpoint_pending {
        Some(_) => StatusCode::ACCEPTED,
        None => StatusCode::OK,
    };
    Ok((status, Json(deleted)))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ExpireSecretRequest {
    #[serde(default, with = "time::serde::rfc3339::option")]
    at: Option<OffsetDateTime>,
}

async fn expire_secret(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path((profile_id, secret_id)): Path<(String, i64)>,
    body: Option<Json<ExpireSecretRequest>>,
) -> Result<Json<SecretView>, ApiError> {
    let at = body
        .and_then(|Json(b)| b.at)
        .unwrap_or_else(OffsetDateTime::now_utc);
    let view = state
        .profiles
        .expire_secret(&profile_id, secret_id, at, &actor)
        .await?;
    forget_cached(&state, &profile_id);
    Ok(Json(view))
}

/// Secret changes made here take effect at once for this process's webhooks.
fn forget_cached(state: &AppState, profile_id: &str) {
    if let Some(id) = ProfileId::parse(profile_id) {
        state.directory.invalidate(&id);
    }
}
