//! Monthly partitions of the inbox and of the record of handled events: created ahead, dropped
//! once past the retention (the SQL functions of migration 20261203000002).

use sqlx::PgConnection;
use time::OffsetDateTime;

/// The tables partitioned by month of Stripe's `created`.
pub const PARTITIONED: [&str; 2] = ["inbox_events", "processed_events"];

/// What one pass changed.
#[derive(Debug, Default)]
pub struct Pruned {
    pub created: i32,
    pub dropped: Vec<String>,
}

/// For every partitioned table, in a transaction of its own: creates the missing months from
/// `keep_from` to `ahead_to`, and drops the months that end at or before `keep_from` (with the
/// default partition's older rows). One table at a time, because dropping a partition locks
/// its whole table: holding one table while waiting for the other would deadlock with a reader
/// of both (the merchant readiness view reads the inbox and the handled events). Serialized
/// between processes by an advisory lock; gives up after a few seconds rather than queue the
/// inbox's writers behind a lock it waits for.
pub async fn prune(
    conn: &mut PgConnection,
    keep_from: OffsetDateTime,
    ahead_to: OffsetDateTime,
) -> Result<Pruned, sqlx::Error> {
    let mut pruned = Pruned::default();
    for table in PARTITIONED {
        let mut tx = sqlx::Connection::begin(&mut *conn).await?;
        sqlx::query!("set local lock_timeout = '5s'")
            .execute(&mut *tx)
            .await?;
        sqlx::query!("select pg_advisory_xact_lock(hashtext('accredito_partitions'))")
            .execute(&mut *tx)
            .await?;
        pruned.created += sqlx::query_scalar!(
            r#"select accredito_create_month_partitions($1, $2, $3) as "created!""#,
            table,
            keep_from,
            ahead_to
        )
        .fetch_one(&mut *tx)
        .await?;
        let dropped = sqlx::query_scalar!(
            r#"select dropped as "dropped!"
               from accredito_drop_month_partitions($1, $2) as dropped"#,
            table,
            keep_from
        )
        .fetch_all(&mut *tx)
        .await?;
        if table == "inbox_events" && !dropped.is_empty() {
            // An event dropped unpublished (older than the retention, long past any use)
            // leaves the relay's list too.
            sqlx::query!(
                "delete from inbox_unpublished u
                 where not exists (select 1 from inbox_events e
                                   where e.id = u.inbox_id and e.event_created_at = u.event_created_at)"
            )
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        pruned.dropped.extend(dropped);
    }
    Ok(pruned)
}

/// `table`'s monthly partitions, oldest first.
pub async fn months(conn: &mut PgConnection, table: &str) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!(
        r#"select c.relname::text as "name!" from pg_inherits i join pg_class c on c.oid = i.inhrelid
           where i.inhparent = $1::text::regclass and c.relname::text <> $1 || '_default'
           order by c.relname"#,
        table
    )
    .fetch_all(conn)
    .await
}
