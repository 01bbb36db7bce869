//! `/v1/merchants`: create, rename, list, show, enable and disable Stripe, and readiness.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Extension, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;

use super::admin::json_body;
use super::auth::require_admin_token;
use super::back_office::{Listing, cursor, parse_limit, query_params, split_page};
use super::{ApiError, AppState};
use crate::setup::merchants::{Actor, MerchantView};
use crate::setup::readiness::{self, Language, Readiness};

pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/merchants", post(create).get(list))
        .route("/merchants/{merchant_id}", get(show).patch(rename))
        .route(
            "/merchants/{merchant_id}/enable-stripe",
            post(enable_stripe),
        )
        .route(
            "/merchants/{merchant_id}/disable-stripe",
            post(disable_stripe),
        )
        .route("/merchants/{merchant_id}/readiness", get(show_readiness))
        .route_layer(axum::middleware::from_fn_with_state(
            state,
            require_admin_token,
        ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRequest {
    id: String,
    name: Option<String>,
}

async fn create(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    body: Result<Json<CreateRequest>, JsonRejection>,
) -> Result<(StatusCode, Json<MerchantView>), ApiError> {
    let req = json_body(body)?;
    let view = state
        .merchants
        .create(&req.id, req.name.as_deref(), &actor)
        .await?;
    Ok((StatusCode::CREATED, Json(view)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ListQuery {
    limit: Option<String>,
    cursor: Option<String>,
    /// Read by [`Listing`].
    #[serde(rename = "format")]
    _format: Option<String>,
    #[serde(rename = "separator")]
    _separator: Option<String>,
}

/// Merchants in id order, keyset-paged like every `/v1` list.
async fn list(
    State(state): State<AppState>,
    listing: Listing,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query_params(query)?;
    let limit = parse_limit(q.limit.as_deref())?;
    let after = q
        .cursor
        .as_deref()
        .map(cursor::parse_merchant)
        .transpose()?;
    let rows = state.merchants.list(after.as_deref(), limit + 1).await?;
    let (data, next) = split_page(rows, limit, |m| cursor::merchant(&m.id));
    listing.respond(data, next)
}

async fn show(
    State(state): State<AppState>,
    Path(merchant_id): Path<String>,
) -> Result<Json<MerchantView>, ApiError> {
    Ok(Json(state.merchants.show(&merchant_id).await?))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RenameRequest {
    name: String,
}

async fn rename(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(merchant_id): Path<String>,
    body: Result<Json<RenameRequest>, JsonRejection>,
) -> Result<Json<MerchantView>, ApiError> {
    let req = json_body(body)?;
    Ok(Json(
        state
            .merchants
            .rename(&merchant_id, &req.name, &actor)
            .await?,
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EnableRequest {
    profile_id: String,
}

async fn enable_stripe(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(merchant_id): Path<String>,
    body: Result<Json<EnableRequest>, JsonRejection>,
) -> Result<Json<MerchantView>, ApiError> {
    let req = json_body(body)?;
    Ok(Json(
        state
            .merchants
            .enable_stripe(&merchant_id, &req.profile_id, &actor)
            .await?,
    ))
}

async fn disable_stripe(
    State(state): State<AppState>,
    Extension(actor): Extension<Actor>,
    Path(merchant_id): Path<String>,
) -> Result<Json<MerchantView>, ApiError> {
    Ok(Json(
        state.merchants.disable_stripe(&merchant_id, &actor).await?,
    ))
}

/// Messages in the language `Accept-Language` prefers (Italian for `it`, else English).
async fn show_readiness(
    State(state): State<AppState>,
    Path(merchant_id): Path<String>,
    headers: HeaderMap,
) -> Result<Json<Readiness>, ApiError> {
    let language = Language::from_accept_language(
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    );
    match readiness::of_merchant(&state.pool, &merchant_id, language).await {
        Ok(Some(readiness)) => Ok(Json(readiness)),
        Ok(None) => Err(ApiError::NotFound("no such merchant".into())),
        Err(error) => {
            tracing::error!(%error, "readiness query failed");
            Err(ApiError::Unavailable)
        }
    }
}
