//! Workers' bookkeeping: which events each handler has applied (G3), and the dead letters.

use sqlx::PgConnection;
use time::OffsetDateTime;

/// Claims many events (profile id, event id, Stripe's `created`) at once; returns the
/// (profile id, event id) pairs that were new.
pub async fn claim_events(
    conn: &mut PgConnection,
    handler: &str,
    profile_ids: &[String],
    event_ids: &[String],
    created: &[OffsetDateTime],
) -> Result<Vec<(String, String)>, sqlx::Error> {
    let rows = sqlx::query!(
        "insert into processed_events (handler, profile_id, event_id, event_created_at)
         select $1, p, e, c from unnest($2::text[], $3::text[], $4::timestamptz[]) as claimed(p, e, c)
         on conflict do nothing
         returning profile_id, event_id",
        handler,
        profile_ids,
        event_ids,
        created
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.profile_id, r.event_id))
        .collect())
}

/// Which of these events (profile id, event id, Stripe's `created`) `handler` has already
/// claimed, as (profile id, event id): one probe of the record each, in its `created`'s partition.
pub async fn claimed_before(
    conn: &mut PgConnection,
    handler: &str,
    profile_ids: &[String],
    event_ids: &[String],
    created: &[OffsetDateTime],
) -> Result<Vec<(String, String)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"select asked.profile_id as "profile_id!", asked.event_id as "event_id!"
           from unnest($2::text[], $3::text[], $4::timestamptz[]) as asked(profile_id, event_id, created)
           cross join lateral (
               select true from processed_events p
               where p.handler = $1 and p.profile_id = asked.profile_id
                 and p.event_id = asked.event_id and p.event_created_at = asked.created
               limit 1
           ) h"#,
        handler,
        profile_ids,
        event_ids,
        created
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (r.profile_id, r.event_id))
        .collect())
}

pub struct DeadLetter<'a> {
    pub handler: &'a str,
    pub profile_id: &'a str,
    pub event_id: &'a str,
    pub event_type: &'a str,
    pub error: &'a str,
    pub attempts: i32,
    pub first_failed_at: OffsetDateTime,
    /// What the event waits for before it is redriven by itself (`stripe_key`), if anything.
    pub waiting_for: Option<&'a str>,
}

/// Parks an event; a later failure of the same event (after a redrive) updates its row.
pub async fn park(conn: &mut PgConnection, d: &DeadLetter<'_>) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "insert into dead_letters
            (handler, profile_id, event_id, event_type, error, attempts, first_failed_at, last_failed_at,
             waiting_for)
         values ($1, $2, $3, $4, $5, $6, $7, now(), $8)
         on conflict (handler, profile_id, event_id) do update set
            error = excluded.error, attempts = dead_letters.attempts + excluded.attempts,
            last_failed_at = now(), redriven_at = null, waiting_for = excluded.waiting_for",
        d.handler,
        d.profile_id,
        d.event_id,
        d.event_type,
        d.error,
        d.attempts,
        d.first_failed_at,
        d.waiting_for
    )
    .execute(conn)
    .await
    .map(|_| ())
}

#[derive(Debug, serde::Serialize)]
pub struct DeadLetterRow {
    pub id: i64,
    pub handler: String,
    pub profile_id: String,
    pub event_id: String,
    pub event_type: String,
    pub error: String,
    pub attempts: i32,
    #[serde(with = "time::serde::rfc3339")]
    pub first_failed_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub last_failed_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub redriven_at: Option<OffsetDateTime>,
}

/// Parked events not yet redriven, oldest first; `event_id` narrows to one event.
pub async fn parked(
    conn: &mut PgConnection,
    event_id: Option<&str>,
) -> Result<Vec<DeadLetterRow>, sqlx::Error> {
    sqlx::query_as!(
        DeadLetterRow,
        "select id, handler, profile_id, event_id, event_type, error, attempts, first_failed_at,
                last_failed_at, redriven_at
         from dead_letters
         where redriven_at is null and ($1::text is null or event_id = $1)
         order by id",
        event_id
    )
    .fetch_all(conn)
    .await
}

/// Parked events waiting for their profile's Stripe key, once the merchant's bank state no
/// longer says Stripe rejects it: saving keys Stripe accepts clears that (so does an account
/// sweep that Stripe answers), and the worker notes every rejection before parking.
pub async fn waiting_for_new_keys(
    conn: &mut PgConnection,
    limit: i64,
) -> Result<Vec<DeadLetterRow>, sqlx::Error> {
    sqlx::query_as!(
        DeadLetterRow,
        "select d.id, d.handler, d.profile_id, d.event_id, d.event_type, d.error, d.attempts,
                d.first_failed_at, d.last_failed_at, d.redriven_at
         from dead_letters d
         join stripe_profiles p on p.id = d.profile_id
         left join merchant_bank_states b on b.merchant_id = p.merchant_id
         where d.redriven_at is null and d.waiting_for = 'stripe_key'
           and p.deleted_at is null
           and not coalesce(b.last_error like 'Stripe rejected the secret key%', false)
         order by d.id
         limit $1",
        limit
    )
    .fetch_all(conn)
    .await
}

pub async fn mark_redriven(conn: &mut PgConnection, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update dead_letters set redriven_at = now() where id = $1",
        id
    )
    .execute(conn)
    .await
    .map(|_| ())
}
