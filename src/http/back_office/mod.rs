//! The `/v1` orders and back-office API, behind the same bearer token as [`super::admin`].
//!
//! - `PUT /v1/orders/{order_id}` registers or updates an order and answers its reconciliation.
//! - `GET /v1/orders/{order_id}` answers it, with every discrepancy that names the order.
//! - `GET /v1/payouts/{payout_id}` answers a payout with every line it carried.
//! - `GET /v1/reconciliation/orders`, `GET /v1/reconciliation/discrepancies`, `GET /v1/payouts`,
//!   `GET /v1/payouts/{payout_id}/lines` and `GET /v1/alerts` list the `back_office` views,
//!   keyset-paginated, as JSON or (with `Accept: text/csv`) as CSV.
//!
//! Every input is validated before the database is touched, so a 400 never stores anything.

pub(crate) mod csv;
pub(crate) mod cursor;
mod orders;

use std::borrow::Cow;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequestParts, MatchedPath, Path, Query, RawPathParams, State};
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{ApiError, AppState};
use crate::db;
use crate::db::back_office::{
    AlertFilter, Discrepancy, DiscrepancyFilter, OrderFilter, OrderReconciliation, Payout,
    PayoutFilter, PayoutLine,
};
use crate::db::orders::NewOrder;
use crate::domain::{
    ALERT_KINDS, ALERT_STATUSES, ORDER_STATUSES, PAYOUT_STATUSES, is_valid_merchant_id,
    is_valid_order_id,
};
use crate::reconcile::DiscrepancyKind;
use csv::*;
use orders::*;

/// Every discrepancy kind, as `discrepancies.kind` stores it.
pub(crate) const DISCREPANCY_KINDS: [DiscrepancyKind; 7] = [
    DiscrepancyKind::AmountMismatch,
    DiscrepancyKind::CurrencyMismatch,
    DiscrepancyKind::UnknownOrder,
    DiscrepancyKind::DuplicatePayment,
    DiscrepancyKind::RefundExceedsPayment,
    DiscrepancyKind::LivemodeMismatch,
    DiscrepancyKind::PayoutSumMismatch,
];

pub const DEFAULT_LIMIT: i64 = 100;
/// Bounds the rows (and the open-discrepancy counts the view computes) one request reads.
pub const MAX_LIMIT: i64 = 1000;
/// An order description is a label for people, not a document.
pub const DESCRIPTION_MAX_CHARS: usize = 1000;

const X_NEXT_CURSOR: HeaderName = HeaderName::from_static("x-next-cursor");
const TEXT_CSV: &str = "text/csv; charset=utf-8";

pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/orders/{order_id}", get(show_order).put(register_order))
        .route("/reconciliation/orders", get(list_orders))
        .route("/reconciliation/discrepancies", get(list_discrepancies))
        .route("/payouts", get(list_payouts))
        .route("/payouts/{payout_id}", get(show_payout))
        .route("/payouts/{payout_id}/lines", get(list_payout_lines))
        .route("/alerts", get(list_alerts))
        .route_layer(axum::middleware::from_fn_with_state(
            state,
            super::auth::require_admin_token,
        ))
}

/// Why a request was refused with 400: each message tells the caller what to send instead.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InvalidRequest {
    #[error("order id must be 1-128 characters of letters, digits, '_', '.', ':' or '-'")]
    OrderId,
    #[error("merchant_id must be 1-128 characters of letters, digits, '_', '.', ':' or '-'")]
    MerchantId,
    #[error(
        "amount must be an integer from 0 to 1000000000000 in the currency's minor unit (e.g. cents)"
    )]
    Amount,
    #[error(
        "currency must be a three-letter lowercase ISO 4217 code, as Stripe writes it (e.g. \"eur\")"
    )]
    Currency,
    #[error(
        "{0} must be an RFC 3339 timestamp with an offset, e.g. 2026-11-27T10:15:00Z (in a query string, write '+' as %2B)"
    )]
    Timestamp(&'static str),
    #[error("description must be at most {DESCRIPTION_MAX_CHARS} characters")]
    Description,
    #[error(
        "payment_intent_id must be a Stripe PaymentIntent id: pi_ followed by letters and digits"
    )]
    PaymentIntentId,
    #[error("payout id must be a Stripe payout id: po_ followed by letters and digits")]
    PayoutId,
    #[error("status must be one of: {}", ORDER_STATUSES.join(", "))]
    Status,
    #[error("status must be one of: {}", PAYOUT_STATUSES.join(", "))]
    PayoutStatus,
    #[error("status must be one of: {}", ALERT_STATUSES.join(", "))]
    AlertStatus,
    #[error("kind must be one of: {}", kind_names().join(", "))]
    Kind,
    #[error("kind must be one of: {}", ALERT_KINDS.join(", "))]
    AlertKind,
    #[error("open must be true or false")]
    Open,
    #[error("limit must be an integer from 1 to {MAX_LIMIT}")]
    Limit,
    #[error("malformed cursor: pass the next_cursor of the previous page unchanged")]
    Cursor,
    #[error("format must be json or csv")]
    Format,
    #[error("separator must be comma or semicolon (semicolon adds a UTF-8 BOM, for Excel)")]
    Separator,
}

impl From<InvalidRequest> for ApiError {
    fn from(e: InvalidRequest) -> Self {
        ApiError::BadRequest(e.to_string())
    }
}

pub(crate) fn kind_names() -> Vec<&'static str> {
    DISCREPANCY_KINDS.iter().map(|k| k.as_str()).collect()
}

fn is_valid_currency(currency: &str) -> bool {
    currency.len() == 3 && currency.bytes().all(|b| b.is_ascii_lowercase())
}

/// A Stripe object id: the prefix naming its type, then letters and digits (which also refuses
/// a PaymentIntent's client secret, `pi_..._secret_...`).
fn is_stripe_id(id: &str, prefix: &str) -> bool {
    id.len() <= 255
        && id
            .strip_prefix(prefix)
            .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric()))
}

pub(crate) fn is_valid_payment_intent_id(id: &str) -> bool {
    is_stripe_id(id, "pi_")
}

pub(crate) fn is_valid_payout_id(id: &str) -> bool {
    is_stripe_id(id, "po_")
}

fn parse_timestamp(value: &str, field: &'static str) -> Result<OffsetDateTime, InvalidRequest> {
    OffsetDateTime::parse(value, &Rfc3339).map_err(|_| InvalidRequest::Timestamp(field))
}

/// An optional list filter: absent, or one of `allowed`.
pub(crate) fn filter_one_of<'a>(
    value: Option<&'a str>,
    allowed: &[&str],
    invalid: InvalidRequest,
) -> Result<Option<&'a str>, InvalidRequest> {
    match value {
        Some(v) if !allowed.contains(&v) => Err(invalid),
        other => Ok(other),
    }
}

pub(crate) fn merchant_filter(merchant_id: Option<&str>) -> Result<Option<&str>, InvalidRequest> {
    match merchant_id {
        Some(m) if !is_valid_merchant_id(m) => Err(InvalidRequest::MerchantId),
        other => Ok(other),
    }
}

/// An optional `from` or `to` bound of a list.
pub(crate) fn time_filter(
    value: Option<&str>,
    field: &'static str,
) -> Result<Option<OffsetDateTime>, InvalidRequest> {
    value.map(|t| parse_timestamp(t, field)).transpose()
}

/// Logs a database failure once and turns it into what the caller may see: 503 when retrying
/// can help (PostgreSQL unreachable or busy), 500 otherwise. The error itself is never shown.
fn database_error(operation: &'static str) -> impl FnOnce(sqlx::Error) -> ApiError {
    move |error| {
        tracing::error!(%error, operation, "database error");
        if is_transient(&error) {
            ApiError::Unavailable
        } else {
            ApiError::Internal
        }
    }
}

pub(crate) fn is_transient(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => true,
        error => db::is_lock_conflict(error),
    }
}

pub(crate) fn parse_limit(limit: Option<&str>) -> Result<i64, InvalidRequest> {
    let Some(limit) = limit else {
        return Ok(DEFAULT_LIMIT);
    };
    limit
        .parse::<i64>()
        .ok()
        .filter(|n| (1..=MAX_LIMIT).contains(n))
        .ok_or(InvalidRequest::Limit)
}

pub(crate) fn query_params<T>(query: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    query
        .map(|Query(q)| q)
        .map_err(|rejection| ApiError::BadRequest(rejection.body_text()))
}

/// Keeps the first `limit` rows; the row after them, fetched only to learn that it exists,
/// means there is a next page, which starts after the last row kept.
pub(crate) fn split_page<T>(
    mut rows: Vec<T>,
    limit: i64,
    cursor_of: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    let limit = usize::try_from(limit).unwrap_or(usize::MAX);
    if rows.len() <= limit {
        return (rows, None);
    }
    rows.truncate(limit);
    let next = rows.last().map(cursor_of);
    (rows, next)
}

#[derive(Debug, Serialize)]
struct Page<T> {
    data: Vec<T>,
    next_cursor: Option<String>,
}

/// The request's own query with `cursor` replaced: the next page keeps every filter as the
/// client wrote (and percent-encoded) it.
fn next_page_link(path: &str, raw_query: Option<&str>, next_cursor: &str) -> String {
    let mut query: Vec<&str> = raw_query
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty() && pair.split('=').next() != Some("cursor"))
        .collect();
    let cursor = format!("cursor={next_cursor}");
    query.push(&cursor);
    format!("<{path}?{}>; rel=\"next\"", query.join("&"))
}

/// A path parameter as it goes back into a URL: every byte but the unreserved ones
/// percent-encoded.
fn encode_path_segment(value: &str) -> Cow<'_, str> {
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
    if value.bytes().all(unreserved) {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len() * 3);
    for b in value.bytes() {
        if unreserved(b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Cow::Owned(out)
}

/// The route's template with its parameters filled in: `/v1/payouts/{payout_id}/lines` for
/// `po_1` is `/v1/payouts/po_1/lines`.
fn fill_path_template<'a>(
    template: &str,
    params: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> String {
    params
        .into_iter()
        .fold(template.to_owned(), |path, (key, value)| {
            path.replace(&format!("{{{key}}}"), &encode_path_segment(value))
        })
}

/// `format` (`json` or `csv`, instead of the `Accept` header) and `separator` (`comma`, or
/// `semicolon` with a UTF-8 BOM: what Excel opens as columns in an Italian locale), read from
/// any list's query; each list's own query names them too, so they pass its
/// `deny_unknown_fields`.
#[derive(Debug, Deserialize)]
struct Representation {
    format: Option<String>,
    separator: Option<String>,
}

/// Where the page goes out: as JSON `{"data","next_cursor"}`, or as CSV with the next cursor
/// in `X-Next-Cursor` and a `Link: <...>; rel="next"` header (a CSV body has nowhere else to
/// put it). Extracted from the request: the representation asked for, and the path and query
/// the next page's link repeats.
pub(crate) struct Listing {
    csv: Option<CsvStyle>,
    path: String,
    raw_query: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for Listing {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let params = RawPathParams::from_request_parts(parts, state)
            .await
            .map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?;
        // Inside the `/v1` nest the request URI has lost its prefix; the matched route's
        // template has not.
        let path = match parts.extensions.get::<MatchedPath>() {
            Some(template) => fill_path_template(template.as_str(), &params),
            None => parts.uri.path().to_owned(),
        };
        let asked = Query::<Representation>::try_from_uri(&parts.uri)
            .map_err(|rejection| ApiError::BadRequest(rejection.body_text()))?
            .0;
        let csv = match asked.format.as_deref() {
            None => wants_csv(&parts.headers),
            Some("csv") => true,
            Some("json") => false,
            Some(_) => return Err(InvalidRequest::Format.into()),
        };
        let style = match asked.separator.as_deref() {
            None | Some("comma") => CsvStyle::RFC_4180,
            Some("semicolon") => CsvStyle {
                separator: ';',
                bom: true,
            },
            Some(_) => return Err(InvalidRequest::Separator.into()),
        };
        Ok(Listing {
            csv: csv.then_some(style),
            path,
            raw_query: parts.uri.query().map(str::to_owned),
        })
    }
}

impl Listing {
    pub(crate) fn respond<T: Serialize + CsvRecord>(
        &self,
        data: Vec<T>,
        next_cursor: Option<String>,
    ) -> Result<Response, ApiError> {
        let vary = [(header::VARY, HeaderValue::from_static("accept"))];
        let Some(style) = self.csv else {
            return Ok((vary, Json(Page { data, next_cursor })).into_response());
        };
        let body = csv_document(&data, style).map_err(|error| {
            tracing::error!(%error, "a timestamp cannot be written as RFC 3339");
            ApiError::Internal
        })?;
        let mut response = (
            vary,
            [
                (header::CONTENT_TYPE, HeaderValue::from_static(TEXT_CSV)),
                // Saved, not opened in place by a browser.
                (
                    header::CONTENT_DISPOSITION,
                    HeaderValue::from_static("attachment"),
                ),
            ],
            body,
        )
            .into_response();
        if let Some(next) = next_cursor {
            let headers = response.headers_mut();
            // A cursor is base64url and the query came from a valid URI: both are valid
            // header values.
            if let Ok(value) = HeaderValue::try_from(next.as_str()) {
                headers.insert(X_NEXT_CURSOR, value);
            }
            let link = next_page_link(&self.path, self.raw_query.as_deref(), &next);
            if let Ok(value) = HeaderValue::try_from(link) {
                headers.insert(header::LINK, value);
            }
        }
        Ok(response)
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct OrdersQuery {
    merchant_id: Option<String>,
    status: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
    /// Read by [`Listing`].
    #[serde(rename = "format")]
    _format: Option<String>,
    #[serde(rename = "separator")]
    _separator: Option<String>,
}

#[tracing::instrument(skip_all)]
async fn list_orders(
    State(state): State<AppState>,
    listing: Listing,
    query: Result<Query<OrdersQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query_params(query)?;
    let filter = OrderFilter {
        merchant_id: merchant_filter(q.merchant_id.as_deref())?,
        status: filter_one_of(q.status.as_deref(), &ORDER_STATUSES, InvalidRequest::Status)?,
        placed_from: time_filter(q.from.as_deref(), "from")?,
        placed_before: time_filter(q.to.as_deref(), "to")?,
    };
    let limit = parse_limit(q.limit.as_deref())?;
    let after = q.cursor.as_deref().map(cursor::parse_order).transpose()?;

    let read = async {
        let mut conn = state.pool.acquire().await?;
        db::back_office::orders_page(
            &mut conn,
            &filter,
            after.as_ref().map(|(t, id)| (*t, id.as_str())),
            limit + 1,
        )
        .await
    };
    let rows = read.await.map_err(database_error("list orders"))?;
    let (data, next) = split_page(rows, limit, |r| cursor::order(r.placed_at, &r.order_id));
    listing.respond(data, next)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DiscrepanciesQuery {
    merchant_id: Option<String>,
    kind: Option<String>,
    open: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
    /// Read by [`Listing`].
    #[serde(rename = "format")]
    _format: Option<String>,
    #[serde(rename = "separator")]
    _separator: Option<String>,
}

#[tracing::instrument(skip_all)]
async fn list_discrepancies(
    State(state): State<AppState>,
    listing: Listing,
    query: Result<Query<DiscrepanciesQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query_params(query)?;
    let open = match q.open.as_deref() {
        None => None,
        Some("true") => Some(true),
        Some("false") => Some(false),
        Some(_) => return Err(InvalidRequest::Open.into()),
    };
    let filter = DiscrepancyFilter {
        merchant_id: merchant_filter(q.merchant_id.as_deref())?,
        kind: filter_one_of(q.kind.as_deref(), &kind_names(), InvalidRequest::Kind)?,
        open,
        opened_from: time_filter(q.from.as_deref(), "from")?,
        opened_before: time_filter(q.to.as_deref(), "to")?,
    };
    let limit = parse_limit(q.limit.as_deref())?;
    let after = q
        .cursor
        .as_deref()
        .map(cursor::parse_discrepancy)
        .transpose()?;

    let read = async {
        let mut conn = state.pool.acquire().await?;
        db::back_office::discrepancies_page(&mut conn, &filter, after, limit + 1).await
    };
    let rows = read.await.map_err(database_error("list discrepancies"))?;
    let (data, next) = split_page(rows, limit, |d| cursor::discrepancy(d.id));
    listing.respond(data, next)
}

// ---------------------------------------------------------------------------------------------
// Payouts and alerts

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PayoutsQuery {
    merchant_id: Option<String>,
    status: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
    /// Read by [`Listing`].
    #[serde(rename = "format")]
    _format: Option<String>,
    #[serde(rename = "separator")]
    _separator: Option<String>,
}

#[tracing::instrument(skip_all)]
async fn list_payouts(
    State(state): State<AppState>,
    listing: Listing,
    query: Result<Query<PayoutsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query_params(query)?;
    let filter = PayoutFilter {
        merchant_id: merchant_filter(q.merchant_id.as_deref())?,
        status: filter_one_of(
            q.status.as_deref(),
            &PAYOUT_STATUSES,
            InvalidRequest::PayoutStatus,
        )?,
        arrival_from: time_filter(q.from.as_deref(), "from")?,
        arrival_before: time_filter(q.to.as_deref(), "to")?,
    };
    let limit = parse_limit(q.limit.as_deref())?;
    let after = q.cursor.as_deref().map(cursor::parse_payout).transpose()?;

    let read = async {
        let mut conn = state.pool.acquire().await?;
        db::back_office::payouts_page(
            &mut conn,
            &filter,
            after.as_ref().map(|(t, id)| (*t, id.as_str())),
            limit + 1,
        )
        .await
    };
    let rows = read.await.map_err(database_error("list payouts"))?;
    let (data, next) = split_page(rows, limit, |p| {
        cursor::payout(p.arrival_date, &p.payout_id)
    });
    listing.respond(data, next)
}

fn valid_payout_id(payout_id: &str) -> Result<(), InvalidRequest> {
    if is_valid_payout_id(payout_id) {
        Ok(())
    } else {
        Err(InvalidRequest::PayoutId)
    }
}

/// A payout's `back_office.payouts` row and every line it carried.
#[derive(Debug, Serialize)]
struct PayoutDetail {
    #[serde(flatten)]
    payout: Payout,
    lines: Vec<PayoutLine>,
}

/// Callers read it in one snapshot, so `line_count` is the number of lines shown.
async fn payout_detail(
    conn: &mut PgConnection,
    payout_id: &str,
) -> Result<Option<PayoutDetail>, sqlx::Error> {
    let Some(payout) = db::back_office::payout(conn, payout_id).await? else {
        return Ok(None);
    };
    let lines = db::back_office::payout_lines(conn, payout_id, None, None).await?;
    Ok(Some(PayoutDetail { payout, lines }))
}

#[tracing::instrument(skip_all, fields(payout_id = %payout_id))]
async fn show_payout(
    State(state): State<AppState>,
    Path(payout_id): Path<String>,
) -> Result<Json<PayoutDetail>, ApiError> {
    valid_payout_id(&payout_id)?;
    let read = async {
        let mut tx = state.pool.begin().await?;
        db::back_office::read_only_snapshot(&mut tx).await?;
        let detail = payout_detail(&mut tx, &payout_id).await?;
        tx.commit().await?;
        Ok(detail)
    };
    read.await
        .map_err(database_error("show payout"))?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no payout {payout_id}")))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PayoutLinesQuery {
    limit: Option<String>,
    cursor: Option<String>,
    /// Read by [`Listing`].
    #[serde(rename = "format")]
    _format: Option<String>,
    #[serde(rename = "separator")]
    _separator: Option<String>,
}

#[tracing::instrument(skip_all, fields(payout_id = %payout_id))]
async fn list_payout_lines(
    State(state): State<AppState>,
    Path(payout_id): Path<String>,
    listing: Listing,
    query: Result<Query<PayoutLinesQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    valid_payout_id(&payout_id)?;
    let q = query_params(query)?;
    let limit = parse_limit(q.limit.as_deref())?;
    let after = q
        .cursor
        .as_deref()
        .map(cursor::parse_payout_line)
        .transpose()?;

    let read = async {
        let mut conn = state.pool.acquire().await?;
        let rows =
            db::back_office::payout_lines(&mut conn, &payout_id, after.as_deref(), Some(limit + 1))
                .await?;
        // An empty page is the end of a payout's lines, or a payout that does not exist.
        if rows.is_empty() && !db::back_office::payout_exists(&mut conn, &payout_id).await? {
            return Ok(None);
        }
        Ok(Some(rows))
    };
    let rows = read
        .await
        .map_err(database_error("list payout lines"))?
        .ok_or_else(|| ApiError::NotFound(format!("no payout {payout_id}")))?;
    let (data, next) = split_page(rows, limit, |l| {
        cursor::payout_line(&l.balance_transaction_id)
    });
    listing.respond(data, next)
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AlertsQuery {
    merchant_id: Option<String>,
    kind: Option<String>,
    status: Option<String>,
    from: Option<String>,
    to: Option<String>,
    limit: Option<String>,
    cursor: Option<String>,
    /// Read by [`Listing`].
    #[serde(rename = "format")]
    _format: Option<String>,
    #[serde(rename = "separator")]
    _separator: Option<String>,
}

#[tracing::instrument(skip_all)]
async fn list_alerts(
    State(state): State<AppState>,
    listing: Listing,
    query: Result<Query<AlertsQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let q = query_params(query)?;
    let filter = AlertFilter {
        merchant_id: merchant_filter(q.merchant_id.as_deref())?,
        kind: filter_one_of(q.kind.as_deref(), &ALERT_KINDS, InvalidRequest::AlertKind)?,
        status: filter_one_of(
            q.status.as_deref(),
            &ALERT_STATUSES,
            InvalidRequest::AlertStatus,
        )?,
        opened_from: time_filter(q.from.as_deref(), "from")?,
        opened_before: time_filter(q.to.as_deref(), "to")?,
    };
    let limit = parse_limit(q.limit.as_deref())?;
    let after = q.cursor.as_deref().map(cursor::parse_alert).transpose()?;

    let read = async {
        let mut conn = state.pool.acquire().await?;
        db::back_office::alerts_page(&mut conn, &filter, after, limit + 1).await
    };
    let rows = read.await.map_err(database_error("list alerts"))?;
    let (data, next) = split_page(rows, limit, |a| cursor::alert(a.opened_at, a.id));
    listing.respond(data, next)
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderMap;

    use super::*;
    use crate::db::back_office::MerchantAlert;

    #[test]
    fn csv_fields_with_commas_quotes_or_line_breaks_are_quoted_and_quotes_doubled() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field(""), "");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field("cr\r"), "\"cr\r\"");
        let mut out = String::new();
        push_record(&mut out, ["x", "1,2", ""]);
        assert_eq!(out, "x,\"1,2\",\r\n");
    }

    #[test]
    fn csv_cells_a_spreadsheet_would_run_as_formulas_are_written_as_text() {
        assert_eq!(csv_field("=cmd|' /C calc'!A0"), "'=cmd|' /C calc'!A0");
        assert_eq!(
            csv_field("=HYPERLINK(\"http://x\",\"y\")"),
            "\"'=HYPERLINK(\"\"http://x\"\",\"\"y\"\")\""
        );
        assert_eq!(csv_field("-2-3"), "'-2-3");
        assert_eq!(csv_field("+1"), "+1");
        assert_eq!(csv_field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_field("\tx"), "'\tx");
        assert_eq!(
            csv_field("-1500"),
            "-1500",
            "a negative amount stays a number"
        );
        assert_eq!(csv_field("o_1-2"), "o_1-2");
    }

    #[test]
    fn order_cursors_round_trip_to_the_nanosecond() {
        let placed_at =
            OffsetDateTime::from_unix_timestamp_nanos(1_795_000_000_123_456_000).expect("in range");
        let encoded = cursor::order(placed_at, "ord:1.a-b_c");
        assert!(
            encoded
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{encoded} is URL-safe"
        );
        assert_eq!(
            cursor::parse_order(&encoded),
            Ok((placed_at, "ord:1.a-b_c".to_owned()))
        );
        assert_eq!(cursor::parse_discrepancy(&cursor::discrepancy(42)), Ok(42));
    }

    #[test]
    fn malformed_or_foreign_cursors_are_refused() {
        let foreign = cursor::discrepancy(7);
        let bad_id = URL_SAFE_NO_PAD.encode("o1:0:not an id");
        let no_time = URL_SAFE_NO_PAD.encode("o1:soon:o_1");
        for bad in ["", "!!!", "bm9wZQ", foreign.as_str(), &bad_id, &no_time] {
            assert_eq!(
                cursor::parse_order(bad),
                Err(InvalidRequest::Cursor),
                "{bad}"
            );
        }
        let order = cursor::order(OffsetDateTime::UNIX_EPOCH, "o_1");
        assert_eq!(
            cursor::parse_discrepancy(&order),
            Err(InvalidRequest::Cursor)
        );
    }

    #[test]
    fn order_fields_are_validated_like_the_schema_checks() {
        assert!(is_valid_order_id("ord_2026-11-27:0001.a"));
        assert!(!is_valid_order_id(""));
        assert!(!is_valid_order_id("has space"));
        assert!(!is_valid_order_id(&"x".repeat(129)));
        assert!(is_valid_currency("eur"));
        assert!(!is_valid_currency("EUR"));
        assert!(!is_valid_currency("euro"));
        assert!(is_valid_payment_intent_id("pi_3MtwBwLkdIwHu7ix28a3tqPa"));
        assert!(!is_valid_payment_intent_id("pi_"));
        assert!(!is_valid_payment_intent_id("ch_123"));
        assert!(!is_valid_payment_intent_id("pi_1_secret_2"));
    }

    #[test]
    fn csv_is_chosen_only_when_asked_for_and_preferred_over_json() {
        let accept = |value: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT, HeaderValue::from_str(value).expect("ascii"));
            wants_csv(&headers)
        };
        assert!(!wants_csv(&HeaderMap::new()));
        assert!(accept("text/csv"));
        assert!(accept("TEXT/CSV; charset=utf-8"));
        assert!(accept("text/csv, application/json;q=0.5"));
        assert!(!accept("*/*"));
        assert!(!accept("application/json"));
        assert!(!accept("application/json, text/csv"));
        assert!(!accept("text/csv;q=0"));
    }

    #[test]
    fn the_next_link_keeps_the_filters_and_replaces_the_cursor() {
        assert_eq!(
            next_page_link(
                "/v1/reconciliation/orders",
                Some("merchant_id=m_1&cursor=old&from=2026-01-01T00:00:00%2B01:00"),
                "NEW"
            ),
            "</v1/reconciliation/orders?merchant_id=m_1&from=2026-01-01T00:00:00%2B01:00&cursor=NEW>; rel=\"next\""
        );
        assert_eq!(
            next_page_link("/v1/x", None, "c"),
            "</v1/x?cursor=c>; rel=\"next\""
        );
    }

    #[test]
    fn payout_line_and_alert_cursors_round_trip_and_refuse_each_other() {
        let arrival =
            OffsetDateTime::from_unix_timestamp_nanos(1_795_000_000_000_000_001).expect("in range");
        for arrival_date in [Some(arrival), None] {
            let encoded = cursor::payout(arrival_date, "po_1Abc");
            assert_eq!(
                cursor::parse_payout(&encoded),
                Ok((arrival_date, "po_1Abc".to_owned()))
            );
        }
        let line = cursor::payout_line("txn_1Abc");
        assert_eq!(cursor::parse_payout_line(&line), Ok("txn_1Abc".to_owned()));
        let alert = cursor::alert(arrival, 42);
        assert_eq!(cursor::parse_alert(&alert), Ok((arrival, 42)));

        let order = cursor::order(arrival, "o_1");
        let payout = cursor::payout(Some(arrival), "po_1");
        assert_eq!(cursor::parse_payout(&order), Err(InvalidRequest::Cursor));
        assert_eq!(
            cursor::parse_payout_line(&payout),
            Err(InvalidRequest::Cursor)
        );
        assert_eq!(cursor::parse_alert(&payout), Err(InvalidRequest::Cursor));
        assert_eq!(cursor::parse_order(&alert), Err(InvalidRequest::Cursor));
        let undated_alert = URL_SAFE_NO_PAD.encode("a1::7");
        let no_payout_id = URL_SAFE_NO_PAD.encode("p1:5:");
        let empty_line = URL_SAFE_NO_PAD.encode("l1:");
        assert_eq!(
            cursor::parse_alert(&undated_alert),
            Err(InvalidRequest::Cursor)
        );
        assert_eq!(
            cursor::parse_payout(&no_payout_id),
            Err(InvalidRequest::Cursor)
        );
        assert_eq!(
            cursor::parse_payout_line(&empty_line),
            Err(InvalidRequest::Cursor)
        );
    }

    #[test]
    fn the_next_link_of_a_route_with_parameters_names_the_request_path() {
        assert_eq!(
            fill_path_template("/v1/payouts/{payout_id}/lines", [("payout_id", "po_1")]),
            "/v1/payouts/po_1/lines"
        );
        assert_eq!(
            fill_path_template("/v1/x/{a}/y/{b}", [("a", "1 2"), ("b", "é/?")]),
            "/v1/x/1%202/y/%C3%A9%2F%3F"
        );
        assert_eq!(
            fill_path_template("/v1/reconciliation/orders", []),
            "/v1/reconciliation/orders"
        );
    }

    #[test]
    fn list_filters_take_only_the_listed_values() {
        assert_eq!(
            filter_one_of(Some("paid"), &PAYOUT_STATUSES, InvalidRequest::PayoutStatus),
            Ok(Some("paid"))
        );
        assert_eq!(
            filter_one_of(None, &PAYOUT_STATUSES, InvalidRequest::PayoutStatus),
            Ok(None)
        );
        assert_eq!(
            filter_one_of(Some("PAID"), &PAYOUT_STATUSES, InvalidRequest::PayoutStatus),
            Err(InvalidRequest::PayoutStatus)
        );
        assert!(kind_names().contains(&"payout_sum_mismatch"));
        assert!(is_valid_payout_id("po_1MtwBwLkdIwHu7ix28a3tqPa"));
        assert!(!is_valid_payout_id("po_"));
        assert!(!is_valid_payout_id("pi_123"));
        assert!(!is_valid_payout_id("po_1/../x"));
    }

    #[test]
    fn every_csv_record_has_as_many_fields_as_its_header() {
        fn check<T: CsvRecord>(row: &T) {
            assert_eq!(row.fields().expect("formats").len(), T::HEADER.len());
        }
        let at = OffsetDateTime::UNIX_EPOCH;
        check(&OrderReconciliation {
            merchant_id: "m".into(),
            order_id: "o".into(),
            amount: 1,
            currency: "eur".into(),
            status: "paid".into(),
            amount_paid: 1,
            amount_refunded: 0,
            amount_disputed: 0,
            payment_intent_id: None,
            charge_id: None,
            last_event_at: None,
            placed_at: at,
            open_discrepancies: 0,
            payout_id: Some("po_1".into()),
            settled_at: Some(at),
            description: None,
        });
        check(&Payout {
            merchant_id: "m".into(),
            payout_id: "po_1".into(),
            amount: 1,
            currency: "eur".into(),
            status: "paid".into(),
            arrival_date: None,
            automatic: true,
            failure_code: None,
            failure_message: None,
            reconciliation_status: None,
            itemization_note: None,
            line_count: 0,
            orders_settled: 0,
            reconciled: false,
        });
        check(&PayoutLine {
            merchant_id: "m".into(),
            payout_id: "po_1".into(),
            balance_transaction_id: "txn_1".into(),
            r#type: "charge".into(),
            reporting_category: None,
            amount: 1,
            fee: 0,
            net: 1,
            currency: "eur".into(),
            source_id: None,
            charge_id: None,
            refund_id: None,
            dispute_id: None,
            payment_intent_id: None,
            order_id: None,
        });
        check(&MerchantAlert {
            id: 1,
            merchant_id: "m".into(),
            kind: "payout_failed".into(),
            status: "open".into(),
            opened_at: at,
            resolved_at: None,
            detail: "d".into(),
            last_notified_at: None,
        });
    }

    #[test]
    fn pages_hold_at_most_limit_rows_and_a_cursor_only_when_more_follow() {
        let (rows, next) = split_page(vec![1, 2, 3], 3, |n| n.to_string());
        assert_eq!((rows, next), (vec![1, 2, 3], None));
        let (rows, next) = split_page(vec![1, 2, 3, 4], 3, |n| n.to_string());
        assert_eq!((rows, next), (vec![1, 2, 3], Some("3".to_owned())));
    }
}
