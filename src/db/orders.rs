//! The platform's orders, their derived reconciliation state, and discrepancies.

use sqlx::PgConnection;
use time::OffsetDateTime;

use crate::reconciliation::{DiscrepancyKind, OrderState};

pub struct NewOrder<'a> {
    pub order_id: &'a str,
    pub merchant_id: &'a str,
    pub amount: i64,
    pub currency: &'a str,
    pub placed_at: OffsetDateTime,
    pub description: Option<&'a str>,
    pub payment_intent_id: Option<&'a str>,
}

pub struct OrderRow {
    pub order_id: String,
    pub merchant_id: String,
    pub amount: i64,
    pub currency: String,
    pub payment_intent_id: Option<String>,
}

/// Registers or updates an order; `None` when the order exists under another merchant.
pub async fn upsert_order(
    conn: &mut PgConnection,
    o: &NewOrder<'_>,
) -> Result<Option<OrderRow>, sqlx::Error> {
    sqlx::query_as!(
        OrderRow,
        "insert into orders (order_id, merchant_id, amount, currency, placed_at, description, payment_intent_id)
         values ($1, $2, $3, $4, $5, $6, $7)
         on conflict (order_id) do update set
            amount = excluded.amount, currency = excluded.currency, placed_at = excluded.placed_at,
            description = excluded.description,
            payment_intent_id = coalesce(excluded.payment_intent_id, orders.payment_intent_id),
            updated_at = now()
         where orders.merchant_id = excluded.merchant_id
         returning order_id, merchant_id, amount, currency, payment_intent_id",
        o.order_id,
        o.merchant_id,
        o.amount,
        o.currency,
        o.placed_at,
        o.description,
        o.payment_intent_id
    )
    .fetch_optional(conn)
    .await
}

/// Locks the order so that concurrent reconciliations of it run one after the other.
pub async fn lock_order(
    conn: &mut PgConnection,
    order_id: &str,
) -> Result<Option<OrderRow>, sqlx::Error> {
    sqlx::query_as!(
        OrderRow,
        "select order_id, merchant_id, amount, currency, payment_intent_id from orders where order_id = $1 for update",
        order_id
    )
    .fetch_optional(conn)
    .await
}

pub async fn save_state(
    conn: &mut PgConnection,
    order_id: &str,
    state: &OrderState,
    last_event_at: Option<OffsetDateTime>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "insert into order_states
            (order_id, status, amount_paid, amount_refunded, amount_disputed, payment_intent_id, charge_id, last_event_at)
         values ($1, $2, $3, $4, $5, $6, $7, $8)
         on conflict (order_id) do update set
            status = excluded.status, amount_paid = excluded.amount_paid,
            amount_refunded = excluded.amount_refunded, amount_disputed = excluded.amount_disputed,
            payment_intent_id = excluded.payment_intent_id, charge_id = excluded.charge_id,
            last_event_at = excluded.last_event_at, updated_at = now()",
        order_id,
        state.status,
        state.amount_paid,
        state.amount_refunded,
        state.amount_disputed,
        state.payment_intent_id,
        state.charge_id,
        last_event_at
    )
    .execute(conn)
    .await
    .map(|_| ())
}

/// Opens a discrepancy, or refreshes the detail of the one already open for its subject.
pub async fn open_discrepancy(
    conn: &mut PgConnection,
    kind: DiscrepancyKind,
    subject_id: &str,
    merchant_id: Option<&str>,
    order_id: Option<&str>,
    event_id: Option<&str>,
    detail: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "insert into discrepancies (kind, subject_id, merchant_id, order_id, event_id, detail)
         values ($1, $2, $3, $4, $5, $6)
         on conflict (kind, subject_id) where resolved_at is null
         do update set detail = excluded.detail, order_id = coalesce(excluded.order_id, discrepancies.order_id)",
        kind.as_str(),
        subject_id,
        merchant_id,
        order_id,
        event_id,
        detail
    )
    .execute(conn)
    .await
    .map(|_| ())
}

/// Resolves the open discrepancies about `subject_id` whose kind is in `kinds`.
pub async fn resolve_discrepancies(
    conn: &mut PgConnection,
    subject_id: &str,
    kinds: &[&str],
) -> Result<u64, sqlx::Error> {
    sqlx::query!(
        "update discrepancies set resolved_at = now()
         where subject_id = $1 and kind = any($2) and resolved_at is null",
        subject_id,
        kinds as &[&str]
    )
    .execute(conn)
    .await
    .map(|r| r.rows_affected())
}
