//! Payouts, their lines (the balance transactions each one carried), and order settlement.

use sqlx::PgConnection;
use time::OffsetDateTime;

pub struct PayoutRow<'a> {
    pub id: &'a str,
    pub merchant_id: &'a str,
    pub profile_id: &'a str,
    pub amount: i64,
    pub currency: &'a str,
    pub status: &'a str,
    pub arrival_date: Option<OffsetDateTime>,
    pub automatic: bool,
    pub method: Option<&'a str>,
    pub destination: Option<&'a str>,
    pub failure_code: Option<&'a str>,
    pub failure_message: Option<&'a str>,
    pub reconciliation_status: Option<&'a str>,
    pub event_id: &'a str,
    pub event_created: OffsetDateTime,
}

pub struct StoredPayout {
    pub status: String,
    pub last_event_created: OffsetDateTime,
    pub itemized: bool,
}

/// The stored payout, locked for the rest of the transaction.
pub async fn lock_payout(conn: &mut PgConnection, id: &str) -> Result<StoredPayout, sqlx::Error> {
    sqlx::query_as!(
        StoredPayout,
        r#"select status, last_event_created, itemized_at is not null as "itemized!" from payouts where id = $1 for update"#,
        id
    )
    .fetch_one(conn)
    .await
}

pub async fn is_itemized(conn: &mut PgConnection, id: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select exists (select 1 from payouts where id = $1 and itemized_at is not null) as "itemized!""#,
        id
    )
    .fetch_one(conn)
    .await
}

/// Stores a payout seen for the first time; `false` when it is stored already (then lock it
/// with [`lock_payout`] and decide whether the event is newer). Inserting first means two
/// events of a new payout racing each other both find a row to lock.
pub async fn insert_payout_if_absent(
    conn: &mut PgConnection,
    p: &PayoutRow<'_>,
) -> Result<bool, sqlx::Error> {
    let inserted = sqlx::query_scalar!(
        "insert into payouts (id, merchant_id, profile_id, amount, currency, status, arrival_date, automatic,
            method, destination, failure_code, failure_message, reconciliation_status, last_event_id,
            last_event_created)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
         on conflict (id) do nothing
         returning id",
        p.id,
        p.merchant_id,
        p.profile_id,
        p.amount,
        p.currency,
        p.status,
        p.arrival_date,
        p.automatic,
        p.method,
        p.destination,
        p.failure_code,
        p.failure_message,
        p.reconciliation_status,
        p.event_id,
        p.event_created
    )
    .fetch_optional(conn)
    .await?;
    Ok(inserted.is_some())
}

/// Writes the payout's state as the event carries it (the caller locked the row and decided
/// the event is newer). A completed reconciliation stays completed.
pub async fn save_payout(conn: &mut PgConnection, p: &PayoutRow<'_>) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update payouts set
            amount = $2, currency = $3, status = $4, arrival_date = $5, automatic = $6, method = $7,
            destination = $8, failure_code = $9, failure_message = $10,
            reconciliation_status = case when reconciliation_status = 'completed' then 'completed'
                                         else coalesce($11, reconciliation_status) end,
            last_event_id = $12, last_event_created = $13, updated_at = now()
         where id = $1",
        p.id,
        p.amount,
        p.currency,
        p.status,
        p.arrival_date,
        p.automatic,
        p.method,
        p.destination,
        p.failure_code,
        p.failure_message,
        p.reconciliation_status,
        p.event_id,
        p.event_created
    )
    .execute(conn)
    .await
    .map(|_| ())
}

/// Stripe's itemisation reached us whatever the payout's status events say.
pub async fn mark_reconciliation_completed(
    conn: &mut PgConnection,
    id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update payouts set reconciliation_status = 'completed' where id = $1",
        id
    )
    .execute(conn)
    .await
    .map(|_| ())
}

pub async fn note_itemization(
    conn: &mut PgConnection,
    id: &str,
    note: Option<&str>,
    itemized: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update payouts set itemization_note = $2,
            itemized_at = case when $3 then coalesce(itemized_at, now()) else itemized_at end
         where id = $1",
        id,
        note,
        itemized
    )
    .execute(conn)
    .await
    .map(|_| ())
}

pub struct LineRow<'a> {
    pub balance_transaction_id: &'a str,
    pub kind: &'a str,
    pub reporting_category: Option<&'a str>,
    pub amount: i64,
    pub fee: i64,
    pub net: i64,
    pub currency: &'a str,
    pub source_id: Option<&'a str>,
    pub charge_id: Option<&'a str>,
    pub refund_id: Option<&'a str>,
    pub dispute_id: Option<&'a str>,
    pub payment_intent_id: Option<&'a str>,
}

/// Stores one line, with its PaymentIntent (the charge's, when the balance transaction names
/// only a charge). Its order is named by the recompute that follows
/// ([`name_orders_on_lines`]).
pub async fn insert_line(
    conn: &mut PgConnection,
    payout_id: &str,
    l: &LineRow<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "insert into payout_lines (payout_id, balance_transaction_id, type, reporting_category, amount, fee,
            net, currency, source_id, charge_id, refund_id, dispute_id, payment_intent_id)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,
            coalesce($13, (select payment_intent_id from stripe_charges where id = $10)))
         on conflict (payout_id, balance_transaction_id) do nothing",
        payout_id,
        l.balance_transaction_id,
        l.kind,
        l.reporting_category,
        l.amount,
        l.fee,
        l.net,
        l.currency,
        l.source_id,
        l.charge_id,
        l.refund_id,
        l.dispute_id,
        l.payment_intent_id
    )
    .execute(conn)
    .await
    .map(|_| ())
}

/// Names on each line of these PaymentIntents the order the line belongs to: the one the
/// PaymentIntent's `metadata.order_id` names (registered or not), else the registered order
/// that names the PaymentIntent. The caller holds the PaymentIntents' locks
/// ([`crate::db::payments::lock_payment_intents`]), so the last recompute to take them sees
/// the PaymentIntent, the order and the lines, whichever committed first.
pub async fn name_orders_on_lines(
    conn: &mut PgConnection,
    payment_intent_ids: &[String],
) -> Result<(), sqlx::Error> {
    if payment_intent_ids.is_empty() {
        return Ok(());
    }
    sqlx::query!(
        "update payout_lines l set order_id = coalesce(
            (select p.order_id from stripe_payment_intents p where p.id = l.payment_intent_id),
            (select o.order_id from orders o where o.payment_intent_id = l.payment_intent_id
             order by o.payment_intent_id, o.order_id limit 1))
         where l.payment_intent_id = any($1)
           and l.order_id is distinct from coalesce(
            (select p.order_id from stripe_payment_intents p where p.id = l.payment_intent_id),
            (select o.order_id from orders o where o.payment_intent_id = l.payment_intent_id
             order by o.payment_intent_id, o.order_id limit 1))",
        payment_intent_ids
    )
    .execute(conn)
    .await
    .map(|_| ())
}

/// Sum of the lines' net, leaving out the payout's own balance transaction.
pub async fn lines_net(conn: &mut PgConnection, payout_id: &str) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select coalesce(sum(net), 0)::bigint as "net!" from payout_lines where payout_id = $1 and type <> 'payout'"#,
        payout_id
    )
    .fetch_one(conn)
    .await
}

/// The payout that settled an order, and when.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Settlement {
    pub payout_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub settled_at: OffsetDateTime,
}

/// What a payout's lines reach: the orders they name and the PaymentIntents they carry
/// (directly, or through their charge).
pub struct ReachedByLines {
    pub order_ids: Vec<String>,
    pub payment_intent_ids: Vec<String>,
}

pub async fn reached_by_lines(
    conn: &mut PgConnection,
    payout_id: &str,
) -> Result<ReachedByLines, sqlx::Error> {
    sqlx::query_as!(
        ReachedByLines,
        r#"select array(select distinct l.order_id from payout_lines l
                        where l.payout_id = $1 and l.order_id is not null) as "order_ids!",
                  array(select distinct coalesce(l.payment_intent_id, c.payment_intent_id)
                        from payout_lines l left join stripe_charges c on c.id = l.charge_id
                        where l.payout_id = $1
                          and coalesce(l.payment_intent_id, c.payment_intent_id) is not null)
                      as "payment_intent_ids!""#,
        payout_id
    )
    .fetch_one(conn)
    .await
}

/// Names the order on the payout lines that carry its PaymentIntents or charges but were
/// itemised before the order or its payment was known.
pub async fn link_lines_to_order(
    conn: &mut PgConnection,
    order_id: &str,
    named_payment_intent: Option<&str>,
    facts: &crate::reconcile::OrderFacts,
) -> Result<(), sqlx::Error> {
    let payment_intent_ids: Vec<&str> = facts
        .payment_intents
        .iter()
        .map(|pi| pi.id.as_str())
        .chain(named_payment_intent)
        .collect();
    let charge_ids: Vec<&str> = facts
        .charges
        .iter()
        .map(|c| c.id.as_str())
        .chain(
            facts
                .payment_intents
                .iter()
                .filter_map(|pi| pi.latest_charge.as_deref()),
        )
        .collect();
    sqlx::query!(
        "update payout_lines l set order_id = $1,
            payment_intent_id = coalesce(l.payment_intent_id,
                (select c.payment_intent_id from stripe_charges c where c.id = l.charge_id))
         where l.order_id is null and (l.payment_intent_id = any($2) or l.charge_id = any($3))",
        order_id,
        &payment_intent_ids as &[&str],
        &charge_ids as &[&str]
    )
    .execute(conn)
    .await
    .map(|_| ())
}

/// Stores the order's derived settlement (`None`: not settled, or no longer).
pub async fn save_settlement(
    conn: &mut PgConnection,
    order_id: &str,
    settlement: Option<&Settlement>,
) -> Result<(), sqlx::Error> {
    match settlement {
        Some(s) => sqlx::query!(
            "insert into order_settlements (order_id, payout_id, settled_at) values ($1, $2, $3)
             on conflict (order_id) do update set payout_id = excluded.payout_id, settled_at = excluded.settled_at",
            order_id,
            s.payout_id,
            s.settled_at
        )
        .execute(conn)
        .await
        .map(|_| ()),
        None => sqlx::query!("delete from order_settlements where order_id = $1", order_id)
            .execute(conn)
            .await
            .map(|_| ()),
    }
}

/// The merchant's most recent payout status and failure code.
pub async fn latest_payout(
    conn: &mut PgConnection,
    merchant_id: &str,
) -> Result<Option<(String, Option<String>)>, sqlx::Error> {
    let row = sqlx::query!(
        "select status, failure_code from payouts where merchant_id = $1
         order by last_event_created desc, id desc limit 1",
        merchant_id
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| (r.status, r.failure_code)))
}
