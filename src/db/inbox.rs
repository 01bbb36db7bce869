//! The inbox: every verified Stripe event, stored before Stripe is answered.

use sqlx::PgConnection;
use time::OffsetDateTime;

use crate::domain::{EventId, MerchantId, StoredEvent};

/// One verified event, ready to be stored, with what the inbox records about it besides.
#[derive(Debug, Clone)]
pub struct NewEvent {
    pub event: StoredEvent,
    pub livemode: bool,
    /// The event's `livemode` is not its profile's mode: stored, never processed.
    pub livemode_mismatch: bool,
    pub event_created_at: OffsetDateTime,
    /// `data.object.id`, when the event names one.
    pub object_id: Option<String>,
}

/// A row the insert created (rows it skipped as duplicates are not returned).
pub struct Inserted {
    pub id: i64,
    pub profile_id: String,
    pub event_id: String,
}

/// A stored event, its inbox row id and Stripe's `created` time (the inbox's partition key).
#[derive(Debug, Clone)]
pub struct InboxRow {
    pub id: i64,
    pub event: StoredEvent,
    pub created_at: OffsetDateTime,
}

/// An inbox row as read.
struct Row {
    id: i64,
    profile_id: String,
    merchant_id: String,
    event_id: String,
    event_type: String,
    raw_body: Vec<u8>,
    event_created_at: OffsetDateTime,
}

impl From<Row> for InboxRow {
    fn from(row: Row) -> Self {
        InboxRow {
            id: row.id,
            created_at: row.event_created_at,
            event: StoredEvent {
                profile_id: row.profile_id,
                merchant_id: MerchantId::from_stored(row.merchant_id),
                event_id: EventId::from_stored(row.event_id),
                event_type: row.event_type,
                body: row.raw_body.into(),
                created: Some(row.event_created_at),
                signature: None,
            },
        }
    }
}

/// Inserts many events in one statement; an event already stored for its profile is skipped.
/// Each new event that is to be processed goes on the relay's list of unpublished events in
/// the same statement. Returns only the rows that were new.
pub async fn insert_batch(
    conn: &mut PgConnection,
    events: &[&NewEvent],
) -> Result<Vec<Inserted>, sqlx::Error> {
    let mut profile_ids = Vec::with_capacity(events.len());
    let mut merchant_ids = Vec::with_capacity(events.len());
    let mut event_ids = Vec::with_capacity(events.len());
    let mut event_types = Vec::with_capacity(events.len());
    let mut livemodes = Vec::with_capacity(events.len());
    let mut mismatches = Vec::with_capacity(events.len());
    let mut created = Vec::with_capacity(events.len());
    let mut bodies = Vec::with_capacity(events.len());
    let mut object_ids = Vec::with_capacity(events.len());
    for e in events {
        profile_ids.push(e.event.profile_id.clone());
        merchant_ids.push(e.event.merchant_id.to_string());
        event_ids.push(e.event.event_id.to_string());
        event_types.push(e.event.event_type.clone());
        livemodes.push(e.livemode);
        mismatches.push(e.livemode_mismatch);
        created.push(e.event_created_at);
        bodies.push(e.event.body.to_vec());
        object_ids.push(e.object_id.clone());
    }
    sqlx::query_as!(
        Inserted,
        r#"with inserted as (
             insert into inbox_events
                 (profile_id, merchant_id, event_id, event_type, livemode, livemode_mismatch,
                  event_created_at, raw_body, object_id)
             select * from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::bool[],
                                  $6::bool[], $7::timestamptz[], $8::bytea[], $9::text[])
             on conflict (profile_id, event_id, event_created_at) do nothing
             returning id, profile_id, event_id, event_created_at, livemode_mismatch
         ), listed as (
             insert into inbox_unpublished (inbox_id, event_created_at)
             select id, event_created_at from inserted where not livemode_mismatch
         )
         select id as "id!", profile_id as "profile_id!", event_id as "event_id!" from inserted"#,
        &profile_ids,
        &merchant_ids,
        &event_ids,
        &event_types,
        &livemodes,
        &mismatches,
        &created,
        &bodies,
        &object_ids as &[Option<String>]
    )
    .fetch_all(conn)
    .await
}

/// Marks these inbox rows published: takes them off the relay's list (the inbox row itself is
/// never rewritten).
pub async fn mark_published(conn: &mut PgConnection, ids: &[i64]) -> Result<u64, sqlx::Error> {
    if ids.is_empty() {
        return Ok(0);
    }
    sqlx::query!(
        "delete from inbox_unpublished where inbox_id = any($1)",
        ids
    )
    .execute(conn)
    .await
    .map(|r| r.rows_affected())
}

/// Claims the oldest events still waiting for the broker for `lease_secs`, so that two relays
/// never publish the same rows at once, and returns them. One statement, committed on its own:
/// the caller publishes without holding a transaction or a lock. Rows younger than
/// `min_age_secs` are left to the hot path; rows another relay claimed are skipped until its
/// claim runs out (it published them, or it died).
pub async fn claim_unpublished(
    conn: &mut PgConnection,
    min_age_secs: f64,
    lease_secs: f64,
    limit: i64,
) -> Result<Vec<InboxRow>, sqlx::Error> {
    sqlx::query_as!(
        Row,
        r#"with claimed as (
               update inbox_unpublished set claimed_until = now() + make_interval(secs => $2)
               where inbox_id in (
                   select inbox_id from inbox_unpublished
                   where received_at < now() - make_interval(secs => $1)
                     and (claimed_until is null or claimed_until < now())
                   order by inbox_id
                   limit $3
                   for update skip locked)
               returning inbox_id, event_created_at)
           select e.id as "id!", e.profile_id as "profile_id!", e.merchant_id as "merchant_id!",
                  e.event_id as "event_id!", e.event_type as "event_type!",
                  e.raw_body as "raw_body!", e.event_created_at as "event_created_at!"
           from claimed c
           join inbox_events e on e.id = c.inbox_id and e.event_created_at = c.event_created_at
           order by e.id"#,
        min_age_secs,
        lease_secs,
        limit
    )
    .fetch_all(conn)
    .await
    .map(|rows| rows.into_iter().map(InboxRow::from).collect())
}

/// Lets go of claimed rows the broker did not take, for the next pass to try again at once.
pub async fn release_claims(conn: &mut PgConnection, ids: &[i64]) -> Result<u64, sqlx::Error> {
    if ids.is_empty() {
        return Ok(0);
    }
    sqlx::query!(
        "update inbox_unpublished set claimed_until = null where inbox_id = any($1)",
        ids
    )
    .execute(conn)
    .await
    .map(|r| r.rows_affected())
}

pub async fn count_unpublished(conn: &mut PgConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar!(r#"select count(*) as "count!" from inbox_unpublished"#)
        .fetch_one(conn)
        .await
}

/// One stored event.
pub async fn find(
    conn: &mut PgConnection,
    profile_id: &str,
    event_id: &str,
) -> Result<Option<InboxRow>, sqlx::Error> {
    sqlx::query_as!(
        Row,
        "select id, profile_id, merchant_id, event_id, event_type, raw_body, event_created_at
         from inbox_events where profile_id = $1 and event_id = $2",
        profile_id,
        event_id
    )
    .fetch_optional(conn)
    .await
    .map(|row| row.map(InboxRow::from))
}

/// The stored events these messages name (G9), each with whether `handler` has already
/// applied it: the inbox row and the record of handled events are read in one statement,
/// one index probe each per event, pruned at run time to the partition of the event's
/// `created` where the message gives it (every partition's index is probed where it does
/// not). The handled check is a lateral probe with a limit: as `exists` in the select list the
/// planner may instead hash the month's whole record once a batch is large enough. Events
/// whose `livemode` disagrees with their profile's are left out.
pub async fn processable(
    conn: &mut PgConnection,
    handler: &str,
    profile_ids: &[String],
    event_ids: &[String],
    created: &[Option<OffsetDateTime>],
) -> Result<Vec<(InboxRow, bool)>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"select i.id as "id!", i.profile_id as "profile_id!", i.merchant_id as "merchant_id!",
                  i.event_id as "event_id!", i.event_type as "event_type!", i.raw_body as "raw_body!",
                  i.event_created_at as "event_created_at!",
                  h.handled is not null as "handled!"
           from unnest($2::text[], $3::text[], $4::timestamptz[]) as asked(profile_id, event_id, created)
           cross join lateral (
               select id, profile_id, merchant_id, event_id, event_type, raw_body, event_created_at
               from inbox_events
               where profile_id = asked.profile_id and event_id = asked.event_id
                 and event_created_at = asked.created and not livemode_mismatch
               union all
               select id, profile_id, merchant_id, event_id, event_type, raw_body, event_created_at
               from inbox_events
               where asked.created is null
                 and profile_id = asked.profile_id and event_id = asked.event_id
                 and not livemode_mismatch
           ) i
           left join lateral (
               select true as handled from processed_events p
               where p.handler = $1 and p.profile_id = i.profile_id
                 and p.event_id = i.event_id and p.event_created_at = i.event_created_at
               limit 1
           ) h on true"#,
        handler,
        profile_ids,
        event_ids,
        created as &[Option<OffsetDateTime>]
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let row = Row {
                id: r.id,
                profile_id: r.profile_id,
                merchant_id: r.merchant_id,
                event_id: r.event_id,
                event_type: r.event_type,
                raw_body: r.raw_body,
                event_created_at: r.event_created_at,
            };
            (InboxRow::from(row), r.handled)
        })
        .collect())
}

/// When the newest stored event of the profile was created (for catch-up).
pub async fn newest_event_created(
    conn: &mut PgConnection,
    profile_id: &str,
) -> Result<Option<OffsetDateTime>, sqlx::Error> {
    sqlx::query_scalar!(
        "select max(event_created_at) from inbox_events where profile_id = $1",
        profile_id
    )
    .fetch_one(conn)
    .await
}

/// Stored events to replay, oldest first.
pub async fn for_replay(
    conn: &mut PgConnection,
    event_id: Option<&str>,
    profile_id: Option<&str>,
    since: Option<OffsetDateTime>,
    until: Option<OffsetDateTime>,
    event_type: Option<&str>,
) -> Result<Vec<InboxRow>, sqlx::Error> {
    sqlx::query_as!(
        Row,
        "select id, profile_id, merchant_id, event_id, event_type, raw_body, event_created_at
         from inbox_events
         where not livemode_mismatch
           and ($1::text is null or event_id = $1)
           and ($2::text is null or profile_id = $2)
           and ($3::timestamptz is null or event_created_at >= $3)
           and ($4::timestamptz is null or event_created_at < $4)
           and ($5::text is null or event_type = $5)
         order by event_created_at, id",
        event_id,
        profile_id,
        since,
        until,
        event_type
    )
    .fetch_all(conn)
    .await
    .map(|rows| rows.into_iter().map(InboxRow::from).collect())
}

/// Keeps a Connect event whose account no profile has; `false` when it was already kept.
pub async fn keep_unrouted(
    conn: &mut PgConnection,
    stripe_account_id: &str,
    event_id: &str,
    event_type: &str,
    raw_body: &[u8],
) -> Result<bool, sqlx::Error> {
    sqlx::query!(
        "insert into unrouted_events (stripe_account_id, event_id, event_type, raw_body) values ($1, $2, $3, $4)
         on conflict (stripe_account_id, event_id) do nothing",
        stripe_account_id,
        event_id,
        event_type,
        raw_body
    )
    .execute(conn)
    .await
    .map(|r| r.rows_affected() == 1)
}

/// An unrouted Connect event with the profile that now has its account.
pub struct RoutableUnrouted {
    pub id: i64,
    pub raw_body: Vec<u8>,
    pub profile_id: String,
    pub merchant_id: String,
    pub mode: String,
}

/// Unrouted events after `after_id` (of one account, when given) whose account a profile now
/// has, locked for moving; rows another mover holds are skipped. The profile is share-locked,
/// so it cannot be deleted before the move commits.
pub async fn routable_unrouted(
    conn: &mut PgConnection,
    stripe_account_id: Option<&str>,
    after_id: i64,
    limit: i64,
) -> Result<Vec<RoutableUnrouted>, sqlx::Error> {
    sqlx::query_as!(
        RoutableUnrouted,
        r#"select u.id, u.raw_body, p.id as "profile_id!", p.merchant_id as "merchant_id!",
            p.mode as "mode!"
         from unrouted_events u
         cross join lateral (
             select id, merchant_id, mode from stripe_profiles
             where stripe_account_id = u.stripe_account_id and deleted_at is null
             order by updated_at desc limit 1
             for share
         ) p
         where ($1::text is null or u.stripe_account_id = $1) and u.id > $2
         order by u.id
         limit $3
         for update of u skip locked"#,
        stripe_account_id,
        after_id,
        limit
    )
    .fetch_all(conn)
    .await
}

pub async fn forget_unrouted(conn: &mut PgConnection, ids: &[i64]) -> Result<(), sqlx::Error> {
    sqlx::query!("delete from unrouted_events where id = any($1)", ids)
        .execute(conn)
        .await
        .map(|_| ())
}
