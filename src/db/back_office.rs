//! Reads of the `back_office` views for the `/v1` orders, reconciliation, payouts and alerts
//! API.
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
    /// The payout that carried the order's payment to the merchant's bank, once one has.
    pub payout_id: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub settled_at: Option<OffsetDateTime>,
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

/// One row of `back_office.payouts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Payout {
    pub merchant_id: String,
    pub payout_id: String,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    /// Stripe's expected arrival at the bank; a payout without one sorts after all others.
    #[serde(with = "time::serde::rfc3339::option")]
    pub arrival_date: Option<OffsetDateTime>,
    pub automatic: bool,
    pub failure_code: Option<String>,
    pub failure_message: Option<String>,
    pub reconciliation_status: Option<String>,
    pub itemization_note: Option<String>,
    pub line_count: i64,
    pub orders_settled: i64,
    pub reconciled: bool,
}

/// One row of `back_office.payout_lines`: a balance transaction the payout carried.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PayoutLine {
    pub merchant_id: String,
    pub payout_id: String,
    pub balance_transaction_id: String,
    pub r#type: String,
    pub reporting_category: Option<String>,
    pub amount: i64,
    pub fee: i64,
    pub net: i64,
    pub currency: String,
    pub source_id: Option<String>,
    pub charge_id: Option<String>,
    pub refund_id: Option<String>,
    pub dispute_id: Option<String>,
    pub payment_intent_id: Option<String>,
    pub order_id: Option<String>,
}

/// One row of `back_office.merchant_alerts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MerchantAlert {
    pub id: i64,
    pub merchant_id: String,
    pub kind: String,
    pub status: String,
    #[serde(with = "time::serde::rfc3339")]
    pub opened_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub resolved_at: Option<OffsetDateTime>,
    pub detail: String,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_notified_at: Option<OffsetDateTime>,
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
    /// Inclusive lower bound on `opened_at`.
    pub opened_from: Option<OffsetDateTime>,
    /// Exclusive upper bound on `opened_at`.
    pub opened_before: Option<OffsetDateTime>,
}

/// Filters of the payouts list; `None` means "any".
#[derive(Debug, Default)]
pub struct PayoutFilter<'a> {
    pub merchant_id: Option<&'a str>,
    pub status: Option<&'a str>,
    /// Inclusive lower bound on `arrival_date`.
    pub arrival_from: Option<OffsetDateTime>,
    /// Exclusive upper bound on `arrival_date`.
    pub arrival_before: Option<OffsetDateTime>,
}

/// Filters of the alerts list; `None` means "any".
#[derive(Debug, Default)]
pub struct AlertFilter<'a> {
    pub merchant_id: Option<&'a str>,
    pub kind: Option<&'a str>,
    /// `open` or `resolved`.
    pub status: Option<&'a str>,
    /// Inclusive lower bound on `opened_at`.
    pub opened_from: Option<OffsetDateTime>,
    /// Exclusive upper bound on `opened_at`.
    pub opened_before: Option<OffsetDateTime>,
}

/// Makes the reads that follow in this transaction see one snapshot, so an order's
/// `open_discrepancies` agrees with the discrepancies listed with it (and a payout's
/// `line_count` with its lines).
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
                  r.open_discrepancies as "open_discrepancies!", r.payout_id, r.settled_at,
                  o.description
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
    // The page starts at the later of the cursor and `placed_from` (every order id sorts
    // after ""), so the index walk begins there instead of at the oldest order: the generic
    // plan cannot take the optional filter as an index bound, the keyset condition it can.
    let after = match (after, filter.placed_from) {
        (Some((at, id)), Some(from)) if at >= from => Some((at, id)),
        (_, Some(from)) => Some((from, "")),
        (after, None) => after,
    };
    let (after_placed_at, after_order_id) = after.unzip();
    sqlx::query_as!(
        OrderReconciliation,
        r#"select r.merchant_id as "merchant_id!", r.order_id as "order_id!", r.amount as "amount!",
                  r.currency as "currency!", r.status as "status!", r.amount_paid as "amount_paid!",
                  r.amount_refunded as "amount_refunded!", r.amount_disputed as "amount_disputed!",
                  r.payment_intent_id, r.charge_id, r.last_event_at, r.placed_at as "placed_at!",
                  r.open_discrepancies as "open_discrepancies!", r.payout_id, r.settled_at,
                  o.description
           from back_office.order_reconciliation r
           join orders o on o.order_id = r.order_id
           where ($1::text is null or r.merchant_id = $1)
             and ($2::text is null or r.status = $2)
             and ($3::timestamptz is null or r.placed_at >= $3)
             and ($4::timestamptz is null or r.placed_at < $4)
             and (r.placed_at, r.order_id) > (coalesce($5::timestamptz, '-infinity'), coalesce($6::text, ''))
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
             and ($6::timestamptz is null or opened_at >= $6)
             and ($7::timestamptz is null or opened_at < $7)
             and id > coalesce($4::bigint, 0)
           order by id
           limit $5"#,
        filter.merchant_id,
        filter.kind,
        filter.open,
        after_id,
        limit,
        filter.opened_from,
        filter.opened_before
    )
    .fetch_all(conn)
    .await
}

pub async fn payout(
    conn: &mut PgConnection,
    payout_id: &str,
) -> Result<Option<Payout>, sqlx::Error> {
    sqlx::query_as!(
        Payout,
        r#"select merchant_id as "merchant_id!", payout_id as "payout_id!", amount as "amount!",
                  currency as "currency!", status as "status!", arrival_date,
                  automatic as "automatic!", failure_code, failure_message, reconciliation_status,
                  itemization_note, line_count as "line_count!",
                  orders_settled as "orders_settled!", reconciled as "reconciled!"
           from back_office.payouts
           where payout_id = $1"#,
        payout_id
    )
    .fetch_optional(conn)
    .await
}

/// A page of payouts ordered by `(arrival_date, payout_id)`, payouts without an arrival date
/// last, starting after `after`. The cursor is always a range condition on an index (a
/// missing one is the start of the list), so each page is an index range scan.
pub async fn payouts_page(
    conn: &mut PgConnection,
    filter: &PayoutFilter<'_>,
    after: Option<(Option<OffsetDateTime>, &str)>,
    limit: i64,
) -> Result<Vec<Payout>, sqlx::Error> {
    // As for orders: start the index walk at `arrival_from` when the cursor is before it (a
    // payout without an arrival date sorts last, after any `from`).
    let after = match (after, filter.arrival_from) {
        (Some((at, id)), Some(from)) if at.is_none_or(|at| at >= from) => Some((at, id)),
        (_, Some(from)) => Some((Some(from), "")),
        (after, None) => after,
    };
    let (after_arrival, after_payout_id) = after.unzip();
    let after_arrival = after_arrival.flatten();
    // A row comparison with a null arrival date is null, never true: the rows without one
    // follow every dated row, and among themselves go by id.
    sqlx::query_as!(
        Payout,
        r#"select merchant_id as "merchant_id!", payout_id as "payout_id!", amount as "amount!",
                  currency as "currency!", status as "status!", arrival_date,
                  automatic as "automatic!", failure_code, failure_message, reconciliation_status,
                  itemization_note, line_count as "line_count!",
                  orders_settled as "orders_settled!", reconciled as "reconciled!"
           from back_office.payouts
           where ($1::text is null or merchant_id = $1)
             and ($2::text is null or status = $2)
             and ($3::timestamptz is null or arrival_date >= $3)
             and ($4::timestamptz is null or arrival_date < $4)
             and (coalesce(arrival_date, 'infinity'::timestamptz), payout_id)
                 > (case when $6::text is null then '-infinity'::timestamptz
                         else coalesce($5::timestamptz, 'infinity'::timestamptz) end,
                    coalesce($6, ''))
           order by coalesce(arrival_date, 'infinity'::timestamptz), payout_id
           limit $7"#,
        filter.merchant_id,
        filter.status,
        filter.arrival_from,
        filter.arrival_before,
        after_arrival,
        after_payout_id,
        limit
    )
    .fetch_all(conn)
    .await
}

/// The payout's lines ordered by balance transaction id, starting after `after`; every one
/// when `limit` is `None` (a payout carries at most a few thousand).
pub async fn payout_lines(
    conn: &mut PgConnection,
    payout_id: &str,
    after: Option<&str>,
    limit: Option<i64>,
) -> Result<Vec<PayoutLine>, sqlx::Error> {
    // `limit null` is PostgreSQL's `limit all`.
    sqlx::query_as!(
        PayoutLine,
        r#"select merchant_id as "merchant_id!", payout_id as "payout_id!",
                  balance_transaction_id as "balance_transaction_id!", type as "type!",
                  reporting_category, amount as "amount!", fee as "fee!", net as "net!",
                  currency as "currency!", source_id, charge_id, refund_id, dispute_id,
                  payment_intent_id, order_id
           from back_office.payout_lines
           where payout_id = $1
             and ($2::text is null or balance_transaction_id > $2)
           order by balance_transaction_id
           limit $3"#,
        payout_id,
        after,
        limit
    )
    .fetch_all(conn)
    .await
}

pub async fn payout_exists(conn: &mut PgConnection, payout_id: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select exists (select 1 from back_office.payouts where payout_id = $1) as "exists!""#,
        payout_id
    )
    .fetch_one(conn)
    .await
}

/// A page of alerts ordered by `(opened_at, id)`, starting after `after`.
pub async fn alerts_page(
    conn: &mut PgConnection,
    filter: &AlertFilter<'_>,
    after: Option<(OffsetDateTime, i64)>,
    limit: i64,
) -> Result<Vec<MerchantAlert>, sqlx::Error> {
    let (after_opened_at, after_id) = after.unzip();
    sqlx::query_as!(
        MerchantAlert,
        r#"select id as "id!", merchant_id as "merchant_id!", kind as "kind!", status as "status!",
                  opened_at as "opened_at!", resolved_at, detail as "detail!", last_notified_at
           from back_office.merchant_alerts
           where ($1::text is null or merchant_id = $1)
             and ($2::text is null or kind = $2)
             and ($3::text is null or status = $3)
             and ($7::timestamptz is null or opened_at >= $7)
             and ($8::timestamptz is null or opened_at < $8)
             and (opened_at, id) > (coalesce($4::timestamptz, '-infinity'), coalesce($5::bigint, 0))
           order by opened_at, id
           limit $6"#,
        filter.merchant_id,
        filter.kind,
        filter.status,
        after_opened_at,
        after_id,
        limit,
        filter.opened_from,
        filter.opened_before
    )
    .fetch_all(conn)
    .await
}
