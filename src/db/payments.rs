//! Stripe payment objects (PaymentIntents, charges, refunds, disputes) at their latest state.
//!
//! Each upsert inserts a first sighting, or locks the stored row and lets
//! [`crate::reconcile::supersedes`] decide whether the event's state replaces it. Amounts
//! that only grow (received, captured, refunded) keep their maximum either way.

use sqlx::PgConnection;
use time::OffsetDateTime;

use crate::reconcile::{
    Stage, charge_stage, dispute_stage, payment_intent_stage, refund_stage, supersedes,
};

/// Who saw the object, and when the event that carried it was created.
pub struct Sighting<'a> {
    pub merchant_id: &'a str,
    pub event_id: &'a str,
    pub event_created: OffsetDateTime,
}

pub struct PaymentIntentRow<'a> {
    pub id: &'a str,
    pub order_id: Option<&'a str>,
    pub amount: i64,
    pub amount_received: i64,
    pub currency: &'a str,
    pub status: &'a str,
    pub failed: bool,
    pub latest_charge: Option<&'a str>,
}

struct StoredState {
    status: String,
    last_event_created: OffsetDateTime,
}

fn replaces(
    stored: &StoredState,
    stage_of: fn(&str) -> Stage,
    status: &str,
    created: OffsetDateTime,
) -> bool {
    supersedes(
        stage_of(&stored.status),
        stored.last_event_created.unix_timestamp(),
        stage_of(status),
        created.unix_timestamp(),
    )
}

/// First sightings of PaymentIntents, in one statement. Returns the ids inserted; a
/// PaymentIntent already stored is left for [`update_payment_intent`]. The ids must be
/// distinct.
pub async fn insert_payment_intents(
    conn: &mut PgConnection,
    rows: &[(PaymentIntentRow<'_>, Sighting<'_>)],
) -> Result<Vec<String>, sqlx::Error> {
    if rows.is_empty() {
        return Ok(Vec::new());
    }
    let ids: Vec<&str> = rows.iter().map(|(pi, _)| pi.id).collect();
    let merchants: Vec<&str> = rows.iter().map(|(_, seen)| seen.merchant_id).collect();
    let orders: Vec<Option<&str>> = rows.iter().map(|(pi, _)| pi.order_id).collect();
    let amounts: Vec<i64> = rows.iter().map(|(pi, _)| pi.amount).collect();
    let received: Vec<i64> = rows.iter().map(|(pi, _)| pi.amount_received).collect();
    let currencies: Vec<&str> = rows.iter().map(|(pi, _)| pi.currency).collect();
    let statuses: Vec<&str> = rows.iter().map(|(pi, _)| pi.status).collect();
    let ranks: Vec<i32> = rows
        .iter()
        .map(|(pi, _)| payment_intent_stage(pi.status).rank)
        .collect();
    let failed: Vec<bool> = rows.iter().map(|(pi, _)| pi.failed).collect();
    let charges: Vec<Option<&str>> = rows.iter().map(|(pi, _)| pi.latest_charge).collect();
    let events: Vec<&str> = rows.iter().map(|(_, seen)| seen.event_id).collect();
    let created: Vec<OffsetDateTime> = rows.iter().map(|(_, seen)| seen.event_created).collect();
    sqlx::query_scalar!(
        "insert into stripe_payment_intents
            (id, merchant_id, order_id, amount, amount_received, currency, status, status_rank,
             failed, latest_charge, last_event_id, last_event_created)
         select * from unnest($1::text[], $2::text[], $3::text[], $4::int8[], $5::int8[],
                              $6::text[], $7::text[], $8::int4[], $9::bool[], $10::text[],
                              $11::text[], $12::timestamptz[])
         on conflict (id) do nothing
         returning id",
        &ids as &[&str],
        &merchants as &[&str],
        &orders as &[Option<&str>],
        &amounts,
        &received,
        &currencies as &[&str],
        &statuses as &[&str],
        &ranks,
        &failed,
        &charges as &[Option<&str>],
        &events as &[&str],
        &created
    )
    .fetch_all(conn)
    .await
}

/// A later sighting of a stored PaymentIntent: locks its row, and the event's state replaces
/// the stored one if [`crate::reconcile::supersedes`] says so.
pub async fn update_payment_intent(
    conn: &mut PgConnection,
    pi: &PaymentIntentRow<'_>,
    seen: &Sighting<'_>,
) -> Result<(), sqlx::Error> {
    let rank = payment_intent_stage(pi.status).rank;
    let stored = sqlx::query_as!(
        StoredState,
        "select status, last_event_created from stripe_payment_intents where id = $1 for update",
        pi.id
    )
    .fetch_one(&mut *conn)
    .await?;
    let newer = replaces(&stored, payment_intent_stage, pi.status, seen.event_created);
    sqlx::query!(
        "update stripe_payment_intents set
            amount_received = greatest(amount_received, $2),
            order_id = coalesce(order_id, $3),
            latest_charge = case when $5 then coalesce($4, latest_charge) else coalesce(latest_charge, $4) end,
            amount = case when $5 then $6 else amount end,
            currency = case when $5 then $7 else currency end,
            status = case when $5 then $8 else status end,
            status_rank = case when $5 then $9 else status_rank end,
            failed = case when $5 then $10 else failed end,
            last_event_id = case when $5 then $11 else last_event_id end,
            last_event_created = case when $5 then $12 else last_event_created end,
            updated_at = now()
         where id = $1",
        pi.id,
        pi.amount_received,
        pi.order_id,
        pi.latest_charge,
        newer,
        pi.amount,
        pi.currency,
        pi.status,
        rank,
        pi.failed,
        seen.event_id,
        seen.event_created
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub struct ChargeRow<'a> {
    pub id: &'a str,
    pub payment_intent_id: Option<&'a str>,
    pub amount: i64,
    pub amount_captured: i64,
    pub amount_refunded: i64,
    pub currency: &'a str,
    pub status: &'a str,
}

pub async fn upsert_charge(
    conn: &mut PgConnection,
    c: &ChargeRow<'_>,
    seen: &Sighting<'_>,
) -> Result<(), sqlx::Error> {
    let inserted = sqlx::query_scalar!(
        "insert into stripe_charges
            (id, merchant_id, payment_intent_id, amount, amount_captured, amount_refunded, currency,
             status, last_event_id, last_event_created)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
         on conflict (id) do nothing
         returning id",
        c.id,
        seen.merchant_id,
        c.payment_intent_id,
        c.amount,
        c.amount_captured,
        c.amount_refunded,
        c.currency,
        c.status,
        seen.event_id,
        seen.event_created
    )
    .fetch_optional(&mut *conn)
    .await?;
    if inserted.is_some() {
        return Ok(());
    }
    let stored = sqlx::query_as!(
        StoredState,
        "select status, last_event_created from stripe_charges where id = $1 for update",
        c.id
    )
    .fetch_one(&mut *conn)
    .await?;
    let newer = replaces(&stored, charge_stage, c.status, seen.event_created);
    sqlx::query!(
        "update stripe_charges set
            amount_captured = greatest(amount_captured, $2),
            amount_refunded = greatest(amount_refunded, $3),
            payment_intent_id = coalesce(payment_intent_id, $4),
            status = case when $5 then $6 else status end,
            last_event_id = case when $5 then $7 else last_event_id end,
            last_event_created = case when $5 then $8 else last_event_created end,
            updated_at = now()
         where id = $1",
        c.id,
        c.amount_captured,
        c.amount_refunded,
        c.payment_intent_id,
        newer,
        c.status,
        seen.event_id,
        seen.event_created
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A refund or a dispute: both belong to a charge (and through it to a PaymentIntent).
pub struct ChargeChildRow<'a> {
    pub id: &'a str,
    pub charge_id: Option<&'a str>,
    pub payment_intent_id: Option<&'a str>,
    pub amount: i64,
    pub currency: &'a str,
    pub status: &'a str,
}

pub async fn upsert_refund(
    conn: &mut PgConnection,
    r: &ChargeChildRow<'_>,
    seen: &Sighting<'_>,
) -> Result<(), sqlx::Error> {
    let inserted = sqlx::query_scalar!(
        "insert into stripe_refunds
            (id, merchant_id, charge_id, payment_intent_id, amount, currency, status, last_event_id,
             last_event_created)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         on conflict (id) do nothing
         returning id",
        r.id,
        seen.merchant_id,
        r.charge_id,
        r.payment_intent_id,
        r.amount,
        r.currency,
        r.status,
        seen.event_id,
        seen.event_created
    )
    .fetch_optional(&mut *conn)
    .await?;
    if inserted.is_some() {
        return Ok(());
    }
    let stored = sqlx::query_as!(
        StoredState,
        "select status, last_event_created from stripe_refunds where id = $1 for update",
        r.id
    )
    .fetch_one(&mut *conn)
    .await?;
    let newer = replaces(&stored, refund_stage, r.status, seen.event_created);
    sqlx::query!(
        "update stripe_refunds set
            charge_id = coalesce(charge_id, $2),
            payment_intent_id = coalesce(payment_intent_id, $3),
            status = case when $4 then $5 else status end,
            last_event_id = case when $4 then $6 else last_event_id end,
            last_event_created = case when $4 then $7 else last_event_created end,
            updated_at = now()
         where id = $1",
        r.id,
        r.charge_id,
        r.payment_intent_id,
        newer,
        r.status,
        seen.event_id,
        seen.event_created
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

pub async fn upsert_dispute(
    conn: &mut PgConnection,
    d: &ChargeChildRow<'_>,
    seen: &Sighting<'_>,
) -> Result<(), sqlx::Error> {
    let inserted = sqlx::query_scalar!(
        "insert into stripe_disputes
            (id, merchant_id, charge_id, payment_intent_id, amount, currency, status, last_event_id,
             last_event_created)
         values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         on conflict (id) do nothing
         returning id",
        d.id,
        seen.merchant_id,
        d.charge_id,
        d.payment_intent_id,
        d.amount,
        d.currency,
        d.status,
        seen.event_id,
        seen.event_created
    )
    .fetch_optional(&mut *conn)
    .await?;
    if inserted.is_some() {
        return Ok(());
    }
    let stored = sqlx::query_as!(
        StoredState,
        "select status, last_event_created from stripe_disputes where id = $1 for update",
        d.id
    )
    .fetch_one(&mut *conn)
    .await?;
    let newer = replaces(&stored, dispute_stage, d.status, seen.event_created);
    sqlx::query!(
        "update stripe_disputes set
            charge_id = coalesce(charge_id, $2),
            payment_intent_id = coalesce(payment_intent_id, $3),
            amount = case when $4 then $5 else amount end,
            status = case when $4 then $6 else status end,
            last_event_id = case when $4 then $7 else last_event_id end,
            last_event_created = case when $4 then $8 else last_event_created end,
            updated_at = now()
         where id = $1",
        d.id,
        d.charge_id,
        d.payment_intent_id,
        newer,
        d.amount,
        d.status,
        seen.event_id,
        seen.event_created
    )
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// The PaymentIntent a charge belongs to, when we have seen the charge.
pub async fn payment_intent_of_charge(
    conn: &mut PgConnection,
    charge_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar!(
        "select payment_intent_id from stripe_charges where id = $1",
        charge_id
    )
    .fetch_optional(conn)
    .await
    .map(Option::flatten)
}

/// Orders the PaymentIntents concern: the ones their metadata names, and any that names one.
pub async fn orders_of_payment_intents(
    conn: &mut PgConnection,
    payment_intent_ids: &[String],
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select pi.order_id as "order_id!"
           from unnest($1::text[]) as asked(id)
           cross join lateral (
               select order_id from stripe_payment_intents where id = asked.id and order_id is not null
               union all
               select order_id from orders where payment_intent_id = asked.id
           ) pi
           group by pi.order_id"#,
        payment_intent_ids
    )
    .fetch_all(conn)
    .await
}

/// Serializes the derivations that have no row of their own to lock (`unknown_order` checks
/// and which order a payout line names) for these PaymentIntents with every other
/// transaction's (see [`crate::reconcile::orders`]): transaction-scoped advisory locks, taken in one
/// global order so that two transactions never wait for each other in a cycle.
pub async fn lock_payment_intents(
    conn: &mut PgConnection,
    payment_intent_ids: &[String],
) -> Result<(), sqlx::Error> {
    if payment_intent_ids.is_empty() {
        return Ok(());
    }
    // Not a checked macro: `pg_advisory_xact_lock` returns `void`, which has no Rust type.
    sqlx::query(
        "select pg_advisory_xact_lock(k)
         from (select hashtextextended('accredito.payment_intent:' || id, 0) as k
               from unnest($1::text[]) as id order by 1) as sorted",
    )
    .bind(payment_intent_ids)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Facts for the unknown-order check of one PaymentIntent.
pub struct PaymentIntentOwnership {
    pub payment_intent_id: String,
    pub merchant_id: String,
    pub order_id: Option<String>,
    pub status: String,
    /// The named order exists and belongs to the PaymentIntent's merchant, or an order of
    /// that merchant names this PaymentIntent.
    pub matched: bool,
    /// An `unknown_order` discrepancy is open for it.
    pub flagged: bool,
    /// The event its stored state came from.
    pub event_id: Option<String>,
    /// Registered orders it concerns (any merchant's), to reconcile after a change.
    pub order_ids: Vec<String>,
}

/// The ownership facts of each stored PaymentIntent among these, in one statement. Each fact
/// is a lateral lookup, so it is an index probe per PaymentIntent: as `exists` tests in the
/// select list the planner may hash every order or every open `unknown_order` instead. The
/// PaymentIntents themselves are probed one id at a time (`offset 0` keeps the lateral lookup
/// a probe): `id = any($1)` planned while the table is nearly empty, as on a new database,
/// reads it whole, and a prepared statement keeps that plan as it grows.
pub async fn ownership_of(
    conn: &mut PgConnection,
    payment_intent_ids: &[String],
) -> Result<Vec<PaymentIntentOwnership>, sqlx::Error> {
    sqlx::query_as!(
        PaymentIntentOwnership,
        r#"select pi.id as payment_intent_id, pi.merchant_id, pi.order_id, pi.status,
                  coalesce(owners.matched, false) as "matched!",
                  flag.open > 0 as "flagged!",
                  pi.last_event_id as "event_id?",
                  coalesce(owners.order_ids, '{}') as "order_ids!"
           from unnest($1::text[]) as asked(id)
           cross join lateral (
               select id, merchant_id, order_id, status, last_event_id
               from stripe_payment_intents where id = asked.id offset 0
           ) pi
           cross join lateral (
               select array_agg(distinct o.order_id) as order_ids,
                      bool_or(o.merchant_id = pi.merchant_id) as matched
               from (select order_id, merchant_id from orders where order_id = pi.order_id
                     union all
                     select order_id, merchant_id from orders where payment_intent_id = pi.id) o
           ) owners
           cross join lateral (
               select count(*) as open from discrepancies d
               where d.kind = 'unknown_order' and d.subject_id = pi.id and d.resolved_at is null
           ) flag
           order by pi.id"#,
        payment_intent_ids
    )
    .fetch_all(conn)
    .await
}

/// PaymentIntents that name the order (of any merchant), and the one the order names.
pub async fn payment_intents_of_order(
    conn: &mut PgConnection,
    order_id: &str,
) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select id as "id!" from stripe_payment_intents where order_id = $1
           union
           select payment_intent_id from orders where order_id = $1 and payment_intent_id is not null"#,
        order_id
    )
    .fetch_all(conn)
    .await
}
