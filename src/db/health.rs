//! The numbers on-call watches, read for `/metrics`: open discrepancies and alerts by kind,
//! parked events, the relay's oldest waiting event, and live profiles gone silent. Each count
//! reads a partial index or a small table, so a scrape stays cheap however big the books are.

use sqlx::PgConnection;

/// One scrape's reading.
#[derive(Debug, Default)]
pub struct BooksHealth {
    pub open_discrepancies: Vec<(String, i64)>,
    pub open_alerts: Vec<(String, i64)>,
    pub dead_letters: i64,
    /// Seconds since the oldest event still waiting for the broker was stored (0 when none).
    pub oldest_unpublished_secs: f64,
    /// Live profiles with keys from whose Stripe account no event (webhook or catch-up) was
    /// received in the last day.
    pub silent_live_profiles: i64,
}

pub async fn read(conn: &mut PgConnection) -> Result<BooksHealth, sqlx::Error> {
    let open_discrepancies = sqlx::query!(
        r#"select kind as "kind!", count(*) as "count!" from discrepancies
           where resolved_at is null group by kind order by kind"#
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| (r.kind, r.count))
    .collect();
    let open_alerts = sqlx::query!(
        r#"select kind as "kind!", count(*) as "count!" from alerts
           where resolved_at is null group by kind order by kind"#
    )
    .fetch_all(&mut *conn)
    .await?
    .into_iter()
    .map(|r| (r.kind, r.count))
    .collect();
    let dead_letters = sqlx::query_scalar!(
        r#"select count(*) as "count!" from dead_letters where redriven_at is null"#
    )
    .fetch_one(&mut *conn)
    .await?;
    let oldest_unpublished_secs = sqlx::query_scalar!(
        r#"select coalesce(extract(epoch from now() - min(received_at)), 0)::float8 as "secs!"
           from inbox_unpublished"#
    )
    .fetch_one(&mut *conn)
    .await?;
    let silent_live_profiles = sqlx::query_scalar!(
        r#"select count(*) as "count!" from stripe_profiles p
           where p.deleted_at is null and p.mode = 'live' and p.secret_key_ciphertext is not null
             -- (profile_id, received_at): one probe per partition. By `created` the probe
             -- walked every event of the profile's month through the unique index.
             and not exists (select 1 from inbox_events e
                             where e.profile_id = p.id
                               and e.received_at > now() - interval '24 hours')"#
    )
    .fetch_one(&mut *conn)
    .await?;
    Ok(BooksHealth {
        open_discrepancies,
        open_alerts,
        dead_letters,
        oldest_unpublished_secs,
        silent_live_profiles,
    })
}
