//! Reads and writes of the back-office console ([`crate::console`]): its sessions, the
//! overview's counts, an order's events, the dead letters and audit log pages.
//!
//! Every read is bounded by an index whatever the size of the books (G11): counts come from
//! partial indexes of what is open (few rows), or from [`order_counts`]'s summary row; lists
//! are keyset pages.

use serde::{Deserialize, Serialize};
use sqlx::PgConnection;
use time::OffsetDateTime;

/// A console session as stored: the id itself is never stored, only its SHA-256.
#[derive(Debug, Clone)]
pub struct SessionRow {
    pub token_name: String,
    pub role: String,
    pub locale: String,
    pub csrf_secret: Vec<u8>,
    pub last_seen_at: OffsetDateTime,
    pub expires_at: OffsetDateTime,
}

pub struct NewSession<'a> {
    pub id_hash: &'a [u8],
    pub token_name: &'a str,
    pub role: &'a str,
    pub locale: &'a str,
    pub csrf_secret: &'a [u8],
    pub expires_at: OffsetDateTime,
}

pub async fn insert_session(
    conn: &mut PgConnection,
    session: &NewSession<'_>,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "insert into console_sessions (id_hash, token_name, role, locale, csrf_secret, expires_at)
         values ($1, $2, $3, $4, $5, $6)",
        session.id_hash,
        session.token_name,
        session.role,
        session.locale,
        session.csrf_secret,
        session.expires_at
    )
    .execute(conn)
    .await
    .map(|_| ())
}

pub async fn find_session(
    conn: &mut PgConnection,
    id_hash: &[u8],
) -> Result<Option<SessionRow>, sqlx::Error> {
    sqlx::query_as!(
        SessionRow,
        "select token_name, role, locale, csrf_secret, last_seen_at, expires_at
         from console_sessions where id_hash = $1",
        id_hash
    )
    .fetch_optional(conn)
    .await
}

/// Records activity, at most once a minute per session (a page view is not a write).
pub async fn touch_session(conn: &mut PgConnection, id_hash: &[u8]) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update console_sessions set last_seen_at = now()
         where id_hash = $1 and last_seen_at < now() - interval '1 minute'",
        id_hash
    )
    .execute(conn)
    .await
    .map(|_| ())
}

pub async fn set_session_locale(
    conn: &mut PgConnection,
    id_hash: &[u8],
    locale: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update console_sessions set locale = $2 where id_hash = $1",
        id_hash,
        locale
    )
    .execute(conn)
    .await
    .map(|_| ())
}

pub async fn delete_session(conn: &mut PgConnection, id_hash: &[u8]) -> Result<(), sqlx::Error> {
    sqlx::query!("delete from console_sessions where id_hash = $1", id_hash)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Deletes sessions past their absolute end or idle for longer than `idle`; each sign-in does,
/// so the table holds about as many rows as people signed in.
pub async fn delete_expired_sessions(
    conn: &mut PgConnection,
    idle_cutoff: OffsetDateTime,
) -> Result<u64, sqlx::Error> {
    sqlx::query!(
        "delete from console_sessions
         where expires_at < now() or last_seen_at < $1",
        idle_cutoff
    )
    .execute(conn)
    .await
    .map(|r| r.rows_affected())
}

/// Plans the rest of the transaction's queries for their actual parameters (see
/// `console::pages::reader`).
pub async fn custom_plans(conn: &mut PgConnection) -> Result<(), sqlx::Error> {
    sqlx::query!("set local plan_cache_mode = force_custom_plan")
        .execute(conn)
        .await
        .map(|_| ())
}

/// Orders by status placed since the start of today (UTC), in the last 7 and 30 days.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusCounts {
    pub status: String,
    pub today: i64,
    pub week: i64,
    pub month: i64,
}

/// The summary row, with when it was computed.
#[derive(Debug, Clone)]
pub struct OrderCounts {
    pub counts: Vec<StatusCounts>,
    pub computed_at: OffsetDateTime,
}

const ORDER_COUNTS: &str = "order_counts";

/// The stored order counts, if any were computed.
pub async fn order_counts(conn: &mut PgConnection) -> Result<Option<OrderCounts>, sqlx::Error> {
    let row = sqlx::query!(
        "select body, computed_at from console_summaries where name = $1",
        ORDER_COUNTS
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| OrderCounts {
        counts: serde_json::from_value(r.body).unwrap_or_default(),
        computed_at: r.computed_at,
    }))
}

/// Counts the last 30 days of orders by status and stores the result. Only one process at a
/// time does (a transaction-scoped advisory lock; the others return at once): this reads a
/// month of orders, so it runs in the background, never for a page.
pub async fn refresh_order_counts(conn: &mut PgConnection) -> Result<bool, sqlx::Error> {
    let mut tx = sqlx::Connection::begin(conn).await?;
    let locked = sqlx::query_scalar!(
        r#"select pg_try_advisory_xact_lock(hashtext('accredito.console.order_counts')) as "locked!""#
    )
    .fetch_one(&mut *tx)
    .await?;
    if !locked {
        return Ok(false);
    }
    sqlx::query!(
        r#"insert into console_summaries (name, body, computed_at)
           select $1, coalesce(jsonb_agg(c order by c.status), '[]'::jsonb), now()
           from (
               select coalesce(s.status, 'awaiting_payment') as status,
                      count(*) filter (where o.placed_at >= date_trunc('day', now() at time zone 'utc') at time zone 'utc') as today,
                      count(*) filter (where o.placed_at >= now() - interval '7 days') as week,
                      count(*) as month
               from orders o
               left join order_states s on s.order_id = o.order_id
               where o.placed_at >= now() - interval '30 days'
               group by 1
           ) c
           on conflict (name) do update set body = excluded.body, computed_at = excluded.computed_at"#,
        ORDER_COUNTS
    )
    .execute(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(true)
}

/// A count per kind (or handler) of what is open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KindCount {
    pub kind: String,
    pub count: i64,
}

/// At most this many open discrepancies of one kind are counted; the overview shows more as
/// "10000+" (a backlog that size is a fact to act on, not to count exactly).
pub const OPEN_COUNT_CAP: i64 = 10_000;

/// Open discrepancies of each of `kinds`, each counted through the partial index of open
/// ones (`discrepancies_one_open (kind, subject_id)`, walked in its order so that the plan
/// never turns into a scan of the table), up to [`OPEN_COUNT_CAP`]: the cost follows the
/// open ones, never the resolved history. Kinds with none are left out.
pub async fn open_discrepancies_by_kind(
    conn: &mut PgConnection,
    kinds: &[String],
) -> Result<Vec<KindCount>, sqlx::Error> {
    sqlx::query_as!(
        KindCount,
        r#"select k.kind as "kind!", n.count as "count!"
           from unnest($1::text[]) as k (kind)
           cross join lateral (
               select count(*) as count from (
                   select 1 from discrepancies d
                   where d.kind = k.kind and d.resolved_at is null
                   order by d.subject_id
                   limit $2
               ) open
           ) n
           where n.count > 0
           order by k.kind"#,
        kinds,
        OPEN_COUNT_CAP
    )
    .fetch_all(conn)
    .await
}

/// Open alerts by kind, through the partial index of open ones.
pub async fn open_alerts_by_kind(conn: &mut PgConnection) -> Result<Vec<KindCount>, sqlx::Error> {
    sqlx::query_as!(
        KindCount,
        r#"select kind as "kind!", count(*) as "count!" from alerts
           where resolved_at is null group by kind order by kind"#
    )
    .fetch_all(conn)
    .await
}

/// Dead letters not yet redriven (a partial index of exactly those rows), and stored events not
/// yet published (the relay's list).
pub async fn backlog(conn: &mut PgConnection) -> Result<(i64, i64), sqlx::Error> {
    let row = sqlx::query!(
        r#"select (select count(*) from dead_letters where redriven_at is null) as "dead_letters!",
                  (select count(*) from inbox_unpublished) as "unpublished!""#
    )
    .fetch_one(conn)
    .await?;
    Ok((row.dead_letters, row.unpublished))
}

/// A merchant with the time its newest event arrived, over all its profiles.
#[derive(Debug, Clone)]
pub struct MerchantActivity {
    pub merchant_id: String,
    pub name: Option<String>,
    pub stripe_enabled: bool,
    pub last_event_at: Option<OffsetDateTime>,
}

/// Every merchant (a few thousand at most) with its last event: the newest entry of each of
/// its profiles' `(profile_id, received_at)` index range.
pub async fn merchant_activity(
    conn: &mut PgConnection,
) -> Result<Vec<MerchantActivity>, sqlx::Error> {
    sqlx::query_as!(
        MerchantActivity,
        r#"select m.id as "merchant_id!", m.name, m.stripe_enabled as "stripe_enabled!",
                  (select max(last.received_at)
                   from stripe_profiles p
                   cross join lateral (
                       select e.received_at from inbox_events e
                       where e.profile_id = p.id
                       order by e.received_at desc limit 1
                   ) last
                   where p.merchant_id = m.id) as last_event_at
           from merchants m
           order by m.id"#
    )
    .fetch_all(conn)
    .await
}

/// One stored event, as an order's page lists it.
#[derive(Debug, Clone)]
pub struct EventSummary {
    pub profile_id: String,
    pub event_id: String,
    pub event_type: String,
    pub event_created_at: OffsetDateTime,
    pub received_at: OffsetDateTime,
    pub livemode_mismatch: bool,
}

/// Every stored event about the PaymentIntent or one of its charges, refunds and disputes
/// (as the facts know them), by Stripe's `created` (the index `inbox_events_object`).
pub async fn events_of_payment_intent(
    conn: &mut PgConnection,
    payment_intent_id: &str,
) -> Result<Vec<EventSummary>, sqlx::Error> {
    sqlx::query_as!(
        EventSummary,
        // Each branch an index probe, whatever the statistics (an `or` across two columns
        // can be planned as a scan).
        r#"with charges as (select array(select id from stripe_charges
                                         where payment_intent_id = $1) as ids)
           select profile_id, event_id, event_type, event_created_at, received_at, livemode_mismatch
           from inbox_events
           where object_id in (
               select $1::text
               union all select unnest(ids) from charges
               union all select id from stripe_refunds where payment_intent_id = $1
               union all select r.id from charges, unnest(ids) as charge(id)
                   cross join lateral (select id from stripe_refunds where charge_id = charge.id offset 0) r
               union all select id from stripe_disputes where payment_intent_id = $1
               union all select d.id from charges, unnest(ids) as charge(id)
                   cross join lateral (select id from stripe_disputes where charge_id = charge.id offset 0) d)
           order by event_created_at, id
           limit 500"#,
        payment_intent_id
    )
    .fetch_all(conn)
    .await
}

/// A stored event's body, as Stripe sent it.
pub async fn event_body(
    conn: &mut PgConnection,
    profile_id: &str,
    event_id: &str,
) -> Result<Option<Vec<u8>>, sqlx::Error> {
    sqlx::query_scalar!(
        "select raw_body from inbox_events where profile_id = $1 and event_id = $2",
        profile_id,
        event_id
    )
    .fetch_optional(conn)
    .await
}

/// Filters of the dead letters page; `None` means "any".
#[derive(Debug, Default)]
pub struct DeadLetterFilter<'a> {
    pub merchant_id: Option<&'a str>,
    pub handler: Option<&'a str>,
    /// Inclusive lower bound on `last_failed_at`.
    pub failed_from: Option<OffsetDateTime>,
    /// Exclusive upper bound on `last_failed_at`.
    pub failed_before: Option<OffsetDateTime>,
}

/// A parked event with its merchant.
#[derive(Debug, Clone)]
pub struct DeadLetter {
    pub id: i64,
    pub merchant_id: Option<String>,
    pub handler: String,
    pub profile_id: String,
    pub event_id: String,
    pub event_type: String,
    pub error: String,
    pub attempts: i32,
    pub last_failed_at: OffsetDateTime,
}

/// A page of dead letters not yet redriven, by id, after `after_id` (the partial index of
/// pending ones).
pub async fn dead_letters_page(
    conn: &mut PgConnection,
    filter: &DeadLetterFilter<'_>,
    after_id: Option<i64>,
    limit: i64,
) -> Result<Vec<DeadLetter>, sqlx::Error> {
    sqlx::query_as!(
        DeadLetter,
        r#"select d.id, p.merchant_id as "merchant_id?", d.handler, d.profile_id, d.event_id,
                  d.event_type, d.error, d.attempts, d.last_failed_at
           from dead_letters d
           left join stripe_profiles p on p.id = d.profile_id
           where d.redriven_at is null
             and ($1::text is null or p.merchant_id = $1)
             and ($2::text is null or d.handler = $2)
             and ($3::timestamptz is null or d.last_failed_at >= $3)
             and ($4::timestamptz is null or d.last_failed_at < $4)
             and d.id > coalesce($5::bigint, 0)
           order by d.id
           limit $6"#,
        filter.merchant_id,
        filter.handler,
        filter.failed_from,
        filter.failed_before,
        after_id,
        limit
    )
    .fetch_all(conn)
    .await
}

/// Filters of the audit log page; `None` means "any".
#[derive(Debug, Default)]
pub struct AuditFilter<'a> {
    pub merchant_id: Option<&'a str>,
    pub action: Option<&'a str>,
    pub from: Option<OffsetDateTime>,
    pub before: Option<OffsetDateTime>,
}

/// A page of the audit log, newest first, before the entry `before_id`.
pub async fn audit_page(
    conn: &mut PgConnection,
    filter: &AuditFilter<'_>,
    before_id: Option<i64>,
    limit: i64,
) -> Result<Vec<crate::db::merchants::AuditRow>, sqlx::Error> {
    sqlx::query_as!(
        crate::db::merchants::AuditRow,
        r#"select id, at, actor, merchant_id, profile_id, action, detail from audit_log
           where ($1::text is null or merchant_id = $1)
             and ($2::text is null or action = $2)
             and ($3::timestamptz is null or at >= $3)
             and ($4::timestamptz is null or at < $4)
             and id < coalesce($5::bigint, 9223372036854775807)
           order by id desc
           limit $6"#,
        filter.merchant_id,
        filter.action,
        filter.from,
        filter.before,
        before_id,
        limit
    )
    .fetch_all(conn)
    .await
}

/// Filters of the merchants page; `None` means "any".
#[derive(Debug, Default)]
pub struct MerchantFilter<'a> {
    pub merchant_id: Option<&'a str>,
    pub stripe_enabled: Option<bool>,
    /// Inclusive lower bound on `created_at`.
    pub created_from: Option<OffsetDateTime>,
    /// Exclusive upper bound on `created_at`.
    pub created_before: Option<OffsetDateTime>,
}

/// A page of merchants by id, after `after_id`.
pub async fn merchants_page(
    conn: &mut PgConnection,
    filter: &MerchantFilter<'_>,
    after_id: Option<&str>,
    limit: i64,
) -> Result<Vec<crate::db::merchants::MerchantRow>, sqlx::Error> {
    sqlx::query_as!(
        crate::db::merchants::MerchantRow,
        r#"select id, name, stripe_enabled, selected_profile_id, created_at, updated_at
           from merchants
           where ($1::text is null or id = $1)
             and ($2::boolean is null or stripe_enabled = $2)
             and ($3::timestamptz is null or created_at >= $3)
             and ($4::timestamptz is null or created_at < $4)
             and id > coalesce($5::text, '')
           order by id
           limit $6"#,
        filter.merchant_id,
        filter.stripe_enabled,
        filter.created_from,
        filter.created_before,
        after_id,
        limit
    )
    .fetch_all(conn)
    .await
}

/// One step of a merchant's readiness, for several merchants at once.
#[derive(Debug, Clone)]
pub struct MerchantStep {
    pub merchant_id: String,
    pub row: crate::db::merchants::ReadinessRow,
}

/// The readiness steps of these merchants (a page of them), in order.
pub async fn readiness_of(
    conn: &mut PgConnection,
    merchant_ids: &[String],
) -> Result<Vec<MerchantStep>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"select merchant_id as "merchant_id!", position as "position!", step as "step!",
                  state as "state!", at, todo_en, todo_it
           from back_office.merchant_readiness where merchant_id = any($1)
           order by merchant_id, position"#,
        merchant_ids
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| MerchantStep {
            merchant_id: r.merchant_id,
            row: crate::db::merchants::ReadinessRow {
                position: r.position,
                step: r.step,
                state: r.state,
                at: r.at,
                todo_en: r.todo_en,
                todo_it: r.todo_it,
            },
        })
        .collect())
}

/// A profile as the console shows it: the publishable key (public by design) and whether a
/// secret key is set, never the secret key.
#[derive(Debug, Clone)]
pub struct ProfileSummary {
    pub id: String,
    pub merchant_id: String,
    pub name: String,
    pub mode: String,
    pub publishable_key: Option<String>,
    pub secret_key_set: bool,
    pub keys_checked_at: Option<OffsetDateTime>,
    pub webhook_endpoint_status: Option<String>,
}

/// The live (not deleted) profiles of these merchants.
pub async fn profiles_of(
    conn: &mut PgConnection,
    merchant_ids: &[String],
) -> Result<Vec<ProfileSummary>, sqlx::Error> {
    sqlx::query_as!(
        ProfileSummary,
        r#"select id, merchant_id, name, mode, publishable_key,
                  secret_key_ciphertext is not null as "secret_key_set!", keys_checked_at,
                  webhook_endpoint_status
           from stripe_profiles
           where merchant_id = any($1) and deleted_at is null
           order by merchant_id, created_at, id"#,
        merchant_ids
    )
    .fetch_all(conn)
    .await
}
