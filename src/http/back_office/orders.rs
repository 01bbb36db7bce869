//! `PUT` and `GET /v1/orders/{order_id}`: registering an order and reading its
//! reconciliation.

use super::*;

/// The order as the platform sends it. Unknown fields are refused so that a misspelt optional
/// field (`descripton`) is reported instead of silently dropped.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct OrderRequest {
    merchant_id: String,
    amount: i64,
    currency: String,
    placed_at: String,
    description: Option<String>,
    payment_intent_id: Option<String>,
}

pub(super) fn validate_order<'a>(
    order_id: &'a str,
    req: &'a OrderRequest,
) -> Result<NewOrder<'a>, InvalidRequest> {
    if !is_valid_order_id(order_id) {
        return Err(InvalidRequest::OrderId);
    }
    if !is_valid_merchant_id(&req.merchant_id) {
        return Err(InvalidRequest::MerchantId);
    }
    if !(0..=crate::domain::MAX_AMOUNT).contains(&req.amount) {
        return Err(InvalidRequest::Amount);
    }
    if !is_valid_currency(&req.currency) {
        return Err(InvalidRequest::Currency);
    }
    let placed_at = parse_timestamp(&req.placed_at, "placed_at")?;
    if req
        .description
        .as_ref()
        .is_some_and(|d| d.chars().count() > DESCRIPTION_MAX_CHARS)
    {
        return Err(InvalidRequest::Description);
    }
    if req
        .payment_intent_id
        .as_deref()
        .is_some_and(|id| !is_valid_payment_intent_id(id))
    {
        return Err(InvalidRequest::PaymentIntentId);
    }
    Ok(NewOrder {
        order_id,
        merchant_id: &req.merchant_id,
        amount: req.amount,
        currency: &req.currency,
        placed_at,
        description: req.description.as_deref(),
        payment_intent_id: req.payment_intent_id.as_deref(),
    })
}

/// An order's reconciliation row and every discrepancy that names it, open or resolved.
#[derive(Debug, Serialize)]
pub(super) struct OrderDetail {
    #[serde(flatten)]
    order: OrderReconciliation,
    discrepancies: Vec<Discrepancy>,
}

pub(super) async fn order_detail(
    conn: &mut PgConnection,
    order_id: &str,
) -> Result<Option<OrderDetail>, sqlx::Error> {
    let Some(order) = db::back_office::order(conn, order_id).await? else {
        return Ok(None);
    };
    let discrepancies = db::back_office::discrepancies_of_order(conn, order_id).await?;
    Ok(Some(OrderDetail {
        order,
        discrepancies,
    }))
}

#[tracing::instrument(skip_all, fields(order_id = %order_id))]
pub(super) async fn register_order(
    State(state): State<AppState>,
    Path(order_id): Path<String>,
    body: Result<Json<OrderRequest>, JsonRejection>,
) -> Result<Json<OrderDetail>, ApiError> {
    let req = crate::http::admin::json_body(body)?;
    let order = validate_order(&order_id, &req)?;
    // The order is stored, then reconciled after its commit (the path every fact takes, see
    // `crate::reconcile::orders`); the answer shows the reconciled row.
    let saved = crate::reconcile::orders::register(&state.pool, &order)
        .await
        .map_err(database_error("register order"))?;
    if saved.is_none() {
        return Err(ApiError::Conflict(format!(
            "order {order_id} is already registered under another merchant; order ids are unique across merchants"
        )));
    }
    let detail = async {
        let mut conn = state.pool.acquire().await?;
        order_detail(&mut conn, &order_id).await
    };
    detail
        .await
        .map_err(database_error("register order"))?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no order {order_id}")))
}

#[tracing::instrument(skip_all, fields(order_id = %order_id))]
pub(super) async fn show_order(
    State(state): State<AppState>,
    Path(order_id): Path<String>,
) -> Result<Json<OrderDetail>, ApiError> {
    if !is_valid_order_id(&order_id) {
        return Err(InvalidRequest::OrderId.into());
    }
    let read = async {
        let mut tx = state.pool.begin().await?;
        db::back_office::read_only_snapshot(&mut tx).await?;
        let detail = order_detail(&mut tx, &order_id).await?;
        tx.commit().await?;
        Ok(detail)
    };
    read.await
        .map_err(database_error("show order"))?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no order {order_id}")))
}
