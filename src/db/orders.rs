//! The platform's orders, their derived reconciliation state, and discrepancies.

use sqlx::PgConnection;
use time::OffsetDateTime;

use crate::db::payouts::Settlement;
use crate::reconcile::{DiscrepancyKind, OrderState};

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

/// An order's derived state, to be saved.
pub struct NewState<'a> {
    pub order_id: &'a str,
    pub state: &'a OrderState,
    pub last_event_at: Option<OffsetDateTime>,
}

/// Saves the derived states of many orders in one statement.
pub async fn save_states(
    conn: &mut PgConnection,
    states: &[NewState<'_>],
) -> Result<(), sqlx::Error> {
    if states.is_empty() {
        return Ok(());
    }
    let order_ids: Vec<&str> = states.iter().map(|s| s.order_id).collect();
    let statuses: Vec<&str> = states.iter().map(|s| s.state.status).collect();
    let paid: Vec<i64> = states.iter().map(|s| s.state.amount_paid).collect();
    let refunded: Vec<i64> = states.iter().map(|s| s.state.amount_refunded).collect();
    let disputed: Vec<i64> = states.iter().map(|s| s.state.amount_disputed).collect();
    let payment_intents: Vec<Option<&str>> = states
        .iter()
        .map(|s| s.state.payment_intent_id.as_deref())
        .collect();
    let charges: Vec<Option<&str>> = states
        .iter()
        .map(|s| s.state.charge_id.as_deref())
        .collect();
    let last_events: Vec<Option<OffsetDateTime>> = states.iter().map(|s| s.last_event_at).collect();
    sqlx::query!(
        "insert into order_states
            (order_id, status, amount_paid, amount_refunded, amount_disputed, payment_intent_id, charge_id, last_event_at)
         select * from unnest($1::text[], $2::text[], $3::int8[], $4::int8[], $5::int8[], $6::text[],
                              $7::text[], $8::timestamptz[])
         on conflict (order_id) do update set
            status = excluded.status, amount_paid = excluded.amount_paid,
            amount_refunded = excluded.amount_refunded, amount_disputed = excluded.amount_disputed,
            payment_intent_id = excluded.payment_intent_id, charge_id = excluded.charge_id,
            last_event_at = excluded.last_event_at, updated_at = now()",
        &order_ids as &[&str],
        &statuses as &[&str],
        &paid,
        &refunded,
        &disputed,
        &payment_intents as &[Option<&str>],
        &charges as &[Option<&str>],
        &last_events as &[Option<OffsetDateTime>]
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

/// An order, locked, with every Stripe object that concerns it.
pub struct LockedOrderFacts {
    pub order_id: String,
    pub merchant_id: String,
    /// The PaymentIntent the platform registered the order with, if it named one.
    pub named_payment_intent: Option<String>,
    pub facts: crate::reconcile::OrderFacts,
    pub last_event_at: Option<OffsetDateTime>,
    /// What is stored now, so unchanged state is not written again.
    pub saved: Option<SavedState>,
    /// Kinds of the discrepancies open for the order.
    pub open_kinds: Vec<String>,
    /// Payout lines that carry the order's payments but do not name it yet.
    pub unlinked_payout_lines: i64,
    /// The settlement its facts give, and the one stored.
    pub settlement: Option<Settlement>,
    pub saved_settlement: Option<Settlement>,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct SavedState {
    pub status: String,
    pub amount_paid: i64,
    pub amount_refunded: i64,
    pub amount_disputed: i64,
    pub payment_intent_id: Option<String>,
    pub charge_id: Option<String>,
    #[serde(with = "time::serde::rfc3339::option")]
    pub last_event_at: Option<OffsetDateTime>,
}

impl SavedState {
    pub fn matches(&self, state: &OrderState, last_event_at: Option<OffsetDateTime>) -> bool {
        self.status == state.status
            && self.amount_paid == state.amount_paid
            && self.amount_refunded == state.amount_refunded
            && self.amount_disputed == state.amount_disputed
            && self.payment_intent_id == state.payment_intent_id
            && self.charge_id == state.charge_id
            && self.last_event_at == last_event_at
    }
}

/// Locks the orders (so concurrent reconciliations of one order run one after the other) and
/// reads, for each, its payout lines and settlement, and its PaymentIntents (by
/// `metadata.order_id` from its own merchant, or the one it names) and their charges, refunds
/// and disputes. Orders the platform has not registered are left out.
pub async fn lock_with_facts(
    conn: &mut PgConnection,
    order_ids: &[String],
) -> Result<Vec<LockedOrderFacts>, sqlx::Error> {
    if order_ids.is_empty() {
        return Ok(Vec::new());
    }
    // The locks are their own statement: a statement that waits for a row lock still reads the
    // other tables as of its start, so locking and reading in one would miss what the
    // transaction we waited for committed (a refund stored concurrently, lost from the state).
    // Rows are locked in the sort's order, the same in every transaction, so two batches
    // sharing orders cannot deadlock; each is an index probe (`offset 0`, as below).
    let locked = sqlx::query_scalar!(
        r#"select o.order_id as "order_id!"
           from (select distinct order_id from unnest($1::text[]) as asked(order_id) order by order_id) asked
           cross join lateral (
               select order_id from orders where order_id = asked.order_id offset 0 for update
           ) o"#,
        order_ids
    )
    .fetch_all(&mut *conn)
    .await?;
    if locked.is_empty() {
        return Ok(Vec::new());
    }
    // Charges, refunds, disputes, payout lines and payouts are probed one id at a time
    // (`offset 0` keeps each lateral lookup a probe): an `= any(array(...))` planned while a
    // table is small, as in a new database, reads it whole, and a prepared statement keeps
    // that plan as the table grows.
    let rows = sqlx::query!(
        r#"select f.* from unnest($1::text[]) as asked(order_id) cross join lateral (
           with o as (
               select order_id, merchant_id, amount, currency, payment_intent_id
               from orders where order_id = asked.order_id
           ),
           pis as (
               select pi.id, pi.amount_received, pi.currency, pi.status, pi.failed, pi.latest_charge,
                      pi.last_event_created
               from stripe_payment_intents pi, o
               where pi.order_id = o.order_id and pi.merchant_id = o.merchant_id
               union
               select pi.id, pi.amount_received, pi.currency, pi.status, pi.failed, pi.latest_charge,
                      pi.last_event_created
               from stripe_payment_intents pi, o
               where pi.id = o.payment_intent_id
           ),
           chs as (
               select c.id, c.payment_intent_id, c.amount_refunded, c.status, c.last_event_created
               from pis cross join lateral (
                   select id, payment_intent_id, amount_refunded, status, last_event_created
                   from stripe_charges where payment_intent_id = pis.id offset 0) c
           ),
           charge_ids as (
               select id from chs union select latest_charge from pis where latest_charge is not null
           ),
           rfs as (
               select r.id, r.amount, r.status, r.last_event_created from pis
               cross join lateral (select id, amount, status, last_event_created
                                   from stripe_refunds where payment_intent_id = pis.id offset 0) r
               union
               select r.id, r.amount, r.status, r.last_event_created from charge_ids
               cross join lateral (select id, amount, status, last_event_created
                                   from stripe_refunds where charge_id = charge_ids.id offset 0) r
           ),
           dps as (
               select d.id, d.amount, d.status, d.last_event_created from pis
               cross join lateral (select id, amount, status, last_event_created
                                   from stripe_disputes where payment_intent_id = pis.id offset 0) d
               union
               select d.id, d.amount, d.status, d.last_event_created from charge_ids
               cross join lateral (select id, amount, status, last_event_created
                                   from stripe_disputes where charge_id = charge_ids.id offset 0) d
           ),
           lns as (
               select l.payout_id, l.balance_transaction_id, l.type, l.order_id from pis
               cross join lateral (select payout_id, balance_transaction_id, type, order_id
                                   from payout_lines where payment_intent_id = pis.id offset 0) l
               union
               select l.payout_id, l.balance_transaction_id, l.type, l.order_id from charge_ids
               cross join lateral (select payout_id, balance_transaction_id, type, order_id
                                   from payout_lines where charge_id = charge_ids.id offset 0) l
               union
               select l.payout_id, l.balance_transaction_id, l.type, l.order_id from payout_lines l
               where l.payment_intent_id = (select payment_intent_id from o)
               union
               select l.payout_id, l.balance_transaction_id, l.type, l.order_id from payout_lines l
               where l.order_id = asked.order_id
           )
           select o.order_id as "order_id!", o.merchant_id as "merchant_id!", o.amount as "amount!",
                  o.currency as "currency!", o.payment_intent_id as "named_payment_intent?",
                  coalesce((select json_agg(pis order by pis.last_event_created, pis.id) from pis), '[]') as "payment_intents!: sqlx::types::Json<Vec<WirePaymentIntent>>",
                  coalesce((select json_agg(chs order by chs.id) from chs), '[]') as "charges!: sqlx::types::Json<Vec<WireCharge>>",
                  coalesce((select json_agg(rfs order by rfs.id) from rfs), '[]') as "refunds!: sqlx::types::Json<Vec<WireChild>>",
                  coalesce((select json_agg(dps order by dps.id) from dps), '[]') as "disputes!: sqlx::types::Json<Vec<WireChild>>",
                  greatest((select max(last_event_created) from pis), (select max(last_event_created) from chs),
                           (select max(last_event_created) from rfs), (select max(last_event_created) from dps)) as last_event_at,
                  (select json_build_object('status', s.status, 'amount_paid', s.amount_paid,
                          'amount_refunded', s.amount_refunded, 'amount_disputed', s.amount_disputed,
                          'payment_intent_id', s.payment_intent_id, 'charge_id', s.charge_id,
                          'last_event_at', s.last_event_at)
                   from order_states s where s.order_id = o.order_id) as "saved: sqlx::types::Json<SavedState>",
                  array(select d.kind from discrepancies d where d.subject_id = o.order_id and d.resolved_at is null) as "open_kinds!",
                  (select count(*) from lns where lns.order_id is null) as "unlinked_payout_lines!",
                  (select json_build_object('payout_id', p.id, 'settled_at', coalesce(p.arrival_date, p.last_event_created))
                   from (select distinct payout_id from lns where lns.type in ('charge', 'payment')) settling
                   cross join lateral (select id, arrival_date, last_event_created from payouts
                                       where id = settling.payout_id and status not in ('failed', 'canceled')
                                       offset 0) p
                   order by coalesce(p.arrival_date, p.last_event_created), p.id
                   limit 1) as "settlement: sqlx::types::Json<Settlement>",
                  (select json_build_object('payout_id', st.payout_id, 'settled_at', st.settled_at)
                   from order_settlements st where st.order_id = o.order_id) as "saved_settlement: sqlx::types::Json<Settlement>"
           from o) f"#,
        &locked
    )
    .fetch_all(conn)
    .await?;
    use crate::reconcile::{
        ChargeFacts, DisputeFacts, OrderFacts, PaymentIntentFacts, RefundFacts,
    };
    Ok(rows
        .into_iter()
        .map(|row| {
            let facts = OrderFacts {
                amount: row.amount,
                currency: row.currency,
                payment_intents: row
                    .payment_intents
                    .0
                    .into_iter()
                    .map(|p| PaymentIntentFacts {
                        id: p.id,
                        amount_received: p.amount_received,
                        currency: p.currency,
                        status: p.status,
                        failed: p.failed,
                        latest_charge: p.latest_charge,
                        last_event_created: p.last_event_created.unix_timestamp(),
                    })
                    .collect(),
                charges: row
                    .charges
                    .0
                    .into_iter()
                    .map(|c| ChargeFacts {
                        id: c.id,
                        payment_intent_id: c.payment_intent_id,
                        amount_refunded: c.amount_refunded,
                        status: c.status,
                    })
                    .collect(),
                refunds: row
                    .refunds
                    .0
                    .into_iter()
                    .map(|r| RefundFacts {
                        id: r.id,
                        amount: r.amount,
                        status: r.status,
                    })
                    .collect(),
                disputes: row
                    .disputes
                    .0
                    .into_iter()
                    .map(|d| DisputeFacts {
                        id: d.id,
                        amount: d.amount,
                        status: d.status,
                    })
                    .collect(),
            };
            LockedOrderFacts {
                order_id: row.order_id,
                merchant_id: row.merchant_id,
                named_payment_intent: row.named_payment_intent,
                facts,
                last_event_at: row.last_event_at,
                saved: row.saved.map(|s| s.0),
                open_kinds: row.open_kinds,
                unlinked_payout_lines: row.unlinked_payout_lines,
                settlement: row.settlement.map(|s| s.0),
                saved_settlement: row.saved_settlement.map(|s| s.0),
            }
        })
        .collect())
}

/// Rows as `json_agg` renders them.
#[derive(Debug, serde::Deserialize)]
pub struct WirePaymentIntent {
    id: String,
    amount_received: i64,
    currency: String,
    status: String,
    failed: bool,
    latest_charge: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    last_event_created: OffsetDateTime,
}

#[derive(Debug, serde::Deserialize)]
pub struct WireCharge {
    id: String,
    payment_intent_id: Option<String>,
    amount_refunded: i64,
    status: String,
}

#[derive(Debug, serde::Deserialize)]
pub struct WireChild {
    id: String,
    amount: i64,
    status: String,
}
