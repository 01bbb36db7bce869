//! Reads of the `back_office` views for the `/v1` orders and reconciliation API.
//!
//! The views are the contract shared with SQL users, so the API shows their rows as they are
//! (plus the order's description, which the view leaves out). sqlx reports every view column
//! as nullable; the `"col!"` overrides mark the ones the view cannot make null (they come from
//! `not null` columns, a `coalesce` with a constant, or a `count`).
//!
//! Lists are keyset-paginated: a page starts strictly after the last row of the previous one,
//! so rows inserted or updated meanwhile never shift later pages, and a deep page costs as much
//! as the first. Callers ask for one row more than a page holds, to learn whether a next page
//! exists without a second query.

use serde::Serialize;
use sqlx::PgConnection;
use time::OffsetDateTime;

/// One row of `back_office.order_reconciliation`, with the order's description.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OrderReconciliation {
    pub merchant_id: String,
    pub order_id: String,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    pub amount_paid: i64,
    pub amount_refunded: i64,
    pub amount_disputed: i64,
    pub payment_intent_id: Option<String>,
    pub charge_id: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_event_at: Option<OffsetDateTime>,
    #[serde(with = "time::serde::rfc3339")]
    pub placed_at: OffsetDateTime,
    pub open_discrepancies: i64,
    pub description: Option<String>,
}

/// One row of `back_office.discrepancies`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Discrepancy {
    pub id: i64,
    pub kind: String,
    pub merchant_id: Option<String>,
    pub order_id: Option<String>,
    pub subject_id: String,
    pub event_id: Option<String>,
    pub detail: String,
    #[serde(with = "time::serde::rfc3339")]
    pub opened_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub resolved_at: Option<OffsetDateTime>,
    pub open: bool,
}

/// Filters of the orders list; `None` means "any".
#[derive(Debug, Default)]
pub struct OrderFilter<'a> {
    pub merchant_id: Option<&'a str>,
    pub status: Option<&'a str>,
    /// Inclusive lower bound on `placed_at`.
    pub placed_from: Option<OffsetDateTime>,
    /// Exclusive upper bound on `placed_at`.
    pub placed_before: Option<OffsetDateTime>,
}

/// Filters of the discrepancies list; `None` means "any".
#[derive(Debug, Default)]
pub struct DiscrepancyFilter<'a> {
    pub merchant_id: Option<&'a str>,
    pub kind: Option<&'a str>,
    pub open: Option<bool>,
}

/// Makes the reads that follow in this transaction see one snapshot, so an order's
/// `open_discrepancies` agrees with the discrepancies listed with it.
pub async fn read_only_snapshot(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query!("set transaction isolation level repeatable read, read only")
        .execute(conn)
        .await
        .map(|_| ())
}

pub async fn order(
    conn: &mut PgConnection,
    order_id: &str,
) -> Result<Option<OrderReconciliation>, sqlx::Error> {
    sqlx::query_as!(
        OrderReconciliation,
        r#"select r.merchant_id as "merchant_id!", r.order_id as "order_id!", r.amount as "amount!",
                  r.currency as "currency!", r.status as "status!", r.amount_paid as "amount_paid!",
                  r.amount_refunded as "amount_refunded!", r.amount_disputed as "amount_disputed!",
                  r.payment_intent_id, r.charge_id, r.last_event_at, r.placed_at as "placed_at!",
                  r.open_discrepancies as "open_discrepancies!", o.description
           from back_office.order_reconciliation r
           join orders o on o.order_id = r.order_id
           where r.order_id = $1"#,
        order_id
    )
    .fetch_optional(conn)
    .await
}

/// A page of orders ordered by `(placed_at, order_id)`, starting after `after`.
pub async fn orders_page(
    conn: &mut PgConnection,
    filter: &OrderFilter<'_>,
    after: Option<(OffsetDateTime, &str)>,
    limit: i64,
) -> Result<Vec<OrderReconciliation>, sqlx::Error> {
    let (after_placed_at, after_order_id) = after.unzip();
    sqlx::query_as!(
        OrderReconciliation,
        r#"select r.merchant_id as "merchant_id!", r.order_id as "order_id!", r.amount as "amount!",
                  r.currency as "currency!", r.status as "status!", r.amount_paid as "amount_paid!",
                  r.amount_refunded as "amount_refunded!", r.amount_disputed as "amount_disputed!",
                  r.payment_intent_id, r.charge_id, r.last_event_at, r.placed_at as "placed_at!",
                  r.open_discrepancies as "open_discrepancies!", o.description
           from back_office.order_reconciliation r
           join orders o on o.order_id = r.order_id
           where ($1::text is null or r.merchant_id = $1)
             and ($2::text is null or r.status = $2)
             and ($3::timestamptz is null or r.placed_at >= $3)
             and ($4::timestamptz is null or r.placed_at < $4)
             and ($5::timestamptz is null or (r.placed_at, r.order_id) > ($5, $6::text))
           order by r.placed_at, r.order_id
           limit $7"#,
        filter.merchant_id,
        filter.status,
        filter.placed_from,
        filter.placed_before,
        after_placed_at,
        after_order_id,
        limit
    )
    .fetch_all(conn)
    .await
}

/// Every discrepancy (open and resolved) that names the order, oldest first.
pub async fn discrepancies_of_order(
    conn: &mut PgConnection,
    order_id: &str,
) -> Result<Vec<Discrepancy>, sqlx::Error> {
    sqlx::query_as!(
        Discrepancy,
        r#"select id as "id!", kind as "kind!", merchant_id, order_id, subject_id as "subject_id!",
                  event_id, detail as "detail!", opened_at as "opened_at!", resolved_at,
                  open as "open!"
           from back_office.discrepancies
           where order_id = $1
           order by id"#,
        order_id
    )
    .fetch_all(conn)
    .await
}

/// A page of discrepancies ordered by id, starting after `after_id`.
pub async fn discrepancies_page(
    conn: &mut PgConnection,
    filter: &DiscrepancyFilter<'_>,
    after_id: Option<i64>,
    limit: i64,
) -> Result<Vec<Discrepancy>, sqlx::Error> {
    sqlx::query_as!(
        Discrepancy,
        r#"select id as "id!", kind as "kind!", merchant_id, order_id, subject_id as "subject_id!",
                  event_id, detail as "detail!", opened_at as "opened_at!", resolved_at,
                  open as "open!"
           from back_office.discrepancies
           where ($1::text is null or merchant_id = $1)
             and ($2::text is null or kind = $2)
             and ($3::boolean is null or open = $3)
             and ($4::bigint is null or id > $4)
           order by id
           limit $5"#,
        filter.merchant_id,
        filter.kind,
        filter.open,
        after_id,
        limit
    )
    .fetch_all(conn)
    .await
}
