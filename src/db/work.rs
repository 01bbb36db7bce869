//! Workers' bookkeeping: which events each handler has applied (G3), and the dead letters.

use sqlx::PgConnection;
use time::OffsetDateTime;

/// Records that `handler` applied the event; `false` when it already had (a redelivery).
pub async fn claim_event(
    conn: &mut PgConnection,
    handler: &str,
    profile_id: &str,
    event_id: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query!(
        "insert into processed_events (handler, profile_id, event_id) values ($1, $2, $3)
         on conflict do nothing",
        handler,
        profile_id,
        event_id
    )
    .execute(conn)
    .await
    .map(|r| r.rows_affected() == 1)
}

/// Claims many events at once; returns the (profile id, event id) pairs that were new.
pub async fn claim_events(
    conn: &mut PgConnection,
    handler: &str,
    profile_ids: &[String],
    event_ids: &[String],
) -> Result<Vec<(String, String)>, sqlx::Error> {
    let rows = sqlx::query!(
        "insert into processed_events (handler, profile_id, event_id)
         select $1, p, e from unnest($2::text[], $3::text[]) as claimed(p, e)
         on conflict do nothing
         returning profile_id, event_id",
        handler,
        profile_ids,
        event_ids
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
}

/// Parks an event; a later failure of the same event (after a redrive) updates its row.
pub async fn park(conn: &mut PgConnection, d: &DeadLetter<'_>) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "insert into dead_letters
            (handler, profile_id, event_id, event_type, error, attempts, first_failed_at, last_failed_at)
         values ($1, $2, $3, $4, $5, $6, $7, now())
         on conflict (handler, profile_id, event_id) do update set
            error = excluded.error, attempts = dead_letters.attempts + excluded.attempts,
            last_failed_at = now(), redriven_at = null",
        d.handler,
        d.profile_id,
        d.event_id,
        d.event_type,
        d.error,
        d.attempts,
        d.first_failed_at
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

pub async fn mark_redriven(conn: &mut PgConnection, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update dead_letters set redriven_at = now() where id = $1",
        id
    )
    .execute(conn)
    .await
    .map(|_| ())
}
