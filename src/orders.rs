//! Orders: registering them, and recomputing an order's reconciliation from the Stripe objects
//! stored for it. Used by the `/v1/orders` API and by the orders worker, always inside the
//! caller's transaction.

use sqlx::PgConnection;

use crate::db;
use crate::reconciliation::{DiscrepancyKind, derive_order_state};

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
    let Some(locked) = db::orders::lock_with_facts(conn, order_id).await? else {
        return Ok(());
    };
    let state = derive_order_state(&locked.facts);
    let last_event_at = locked.last_event_at;
    // Redeliveries and events that change nothing write nothing.
    if !locked
        .saved
        .as_ref()
        .is_some_and(|saved| saved.matches(&state, last_event_at))
    {
        db::orders::save_state(conn, order_id, &state, last_event_at).await?;
    }
    for (kind, detail) in &state.discrepancies {
        db::orders::open_discrepancy(
            conn,
            *kind,
            order_id,
            Some(&locked.merchant_id),
            Some(order_id),
            event_id,
            detail,
        )
        .await?;
    }
    let cleared: Vec<&str> = DiscrepancyKind::ORDER_SCOPED
        .iter()
        .filter(|kind| !state.discrepancies.iter().any(|(open, _)| open == *kind))
        .map(|kind| kind.as_str())
        .filter(|kind| locked.open_kinds.iter().any(|open| open == kind))
        .collect();
    if !cleared.is_empty() {
        db::orders::resolve_discrepancies(conn, order_id, &cleared).await?;
    }
    Ok(())
}

/// Opens or resolves `unknown_order` for a PaymentIntent: money moving for no registered
/// order of its merchant.
/// Returns the registered orders the PaymentIntent concerns.
pub async fn check_payment_owner(
    conn: &mut PgConnection,
    payment_intent_id: &str,
    event_id: Option<&str>,
) -> Result<Vec<String>, sqlx::Error> {
    let Some(owner) = db::payments::ownership_of(conn, payment_intent_id).await? else {
        return Ok(Vec::new());
    };
    let kind = DiscrepancyKind::UnknownOrder;
    if owner.matched || !MONEY_MOVING.contains(&owner.status.as_str()) {
        if owner.flagged {
            db::orders::resolve_discrepancies(conn, payment_intent_id, &[kind.as_str()]).await?;
        }
        return Ok(owner.order_ids);
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
    .await?;
    Ok(owner.order_ids)
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
