//! Orders: registering them, and recomputing an order's reconciliation from the Stripe objects
//! stored for it. Used by the `/v1/orders` API and by the orders worker, always inside the
//! caller's transaction.

use sqlx::PgConnection;

use crate::db;
use crate::reconciliation::{DiscrepancyKind, OrderFacts, derive_order_state};

/// PaymentIntent statuses that mean money is moving: a payment in these states must belong to
/// a registered order of its merchant.
const MONEY_MOVING: [&str; 3] = ["processing", "requires_capture", "succeeded"];

/// Recomputes the order's state and its order-level discrepancies. A no-op for an order the
/// platform has not registered (yet): registering it runs this again.
pub async fn reconcile_order(
    conn: &mut PgConnection,
    order_id: &str,
    event_id: Option<&str>,
) -> Result<(), sqlx::Error> {
    let Some(order) = db::orders::lock_order(conn, order_id).await? else {
        return Ok(());
    };
    let payment_intents = db::payments::payment_intents_of_order(
        conn,
        order_id,
        &order.merchant_id,
        order.payment_intent_id.as_deref(),
    )
    .await?;
    let pi_ids: Vec<String> = payment_intents.iter().map(|pi| pi.id.clone()).collect();
    let charges = db::payments::charges_of(conn, &pi_ids).await?;
    let mut charge_ids: Vec<String> = charges.iter().map(|c| c.id.clone()).collect();
    charge_ids.extend(
        payment_intents
            .iter()
            .filter_map(|pi| pi.latest_charge.clone()),
    );
    let refunds = db::payments::refunds_of(conn, &pi_ids, &charge_ids).await?;
    let disputes = db::payments::disputes_of(conn, &pi_ids, &charge_ids).await?;
    let last_event_at = db::payments::last_event_at(conn, &pi_ids, &charge_ids).await?;

    let state = derive_order_state(&OrderFacts {
        amount: order.amount,
        currency: order.currency.clone(),
        payment_intents,
        charges,
        refunds,
        disputes,
    });
    db::orders::save_state(conn, order_id, &state, last_event_at).await?;

    let open: Vec<DiscrepancyKind> = state.discrepancies.iter().map(|(kind, _)| *kind).collect();
    for (kind, detail) in &state.discrepancies {
        db::orders::open_discrepancy(
            conn,
            *kind,
            order_id,
            Some(&order.merchant_id),
            Some(order_id),
            event_id,
            detail,
        )
        .await?;
    }
    let cleared: Vec<&str> = DiscrepancyKind::ORDER_SCOPED
        .iter()
        .filter(|k| !open.contains(k))
        .map(|k| k.as_str())
        .collect();
    db::orders::resolve_discrepancies(conn, order_id, &cleared).await?;
    Ok(())
}

/// Opens or resolves `unknown_order` for a PaymentIntent: money moving for no registered
/// order of its merchant.
pub async fn check_payment_owner(
    conn: &mut PgConnection,
    payment_intent_id: &str,
    event_id: Option<&str>,
) -> Result<(), sqlx::Error> {
    let Some(owner) = db::payments::ownership_of(conn, payment_intent_id).await? else {
        return Ok(());
    };
    let kind = DiscrepancyKind::UnknownOrder;
    if owner.matched || !MONEY_MOVING.contains(&owner.status.as_str()) {
        db::orders::resolve_discrepancies(conn, payment_intent_id, &[kind.as_str()]).await?;
        return Ok(());
    }
    let detail = match &owner.order_id {
        Some(order) => format!(
            "PaymentIntent {payment_intent_id} ({}) names order {order}, which merchant {} has not registered",
            owner.status, owner.merchant_id
        ),
        None => format!(
            "PaymentIntent {payment_intent_id} ({}) names no order (metadata.order_id is missing)",
            owner.status
        ),
    };
    db::orders::open_discrepancy(
        conn,
        kind,
        payment_intent_id,
        Some(&owner.merchant_id),
        owner.order_id.as_deref(),
        event_id,
        &detail,
    )
    .await
}

/// Everything that may change when an order is registered or updated.
pub async fn after_order_saved(
    conn: &mut PgConnection,
    order: &db::orders::OrderRow,
) -> Result<(), sqlx::Error> {
    reconcile_order(conn, &order.order_id, None).await?;
    for pi in db::payments::payment_intents_naming(
        conn,
        &order.order_id,
        order.payment_intent_id.as_deref(),
    )
    .await?
    {
        check_payment_owner(conn, &pi, None).await?;
    }
    Ok(())
}
