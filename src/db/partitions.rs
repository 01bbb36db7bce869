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

/// For every partitioned table: creates the missing months from `keep_from` to `ahead_to`,
/// detaches the months that end at or before `keep_from` (and deletes the default partition's
/// older rows), then drops the detached months. Each table in transactions of its own, and the
/// drop apart from the detach: detaching locks the whole table, and dropping a table also
/// locks every table its foreign keys reference, so doing both at once held the table while
/// waiting for others that readers may lock first (the inbox's month once waited so for the
/// profiles table, and deadlocked with the merchant readiness view, which reads both).
/// Serialized between processes by an advisory lock; gives up after a few seconds rather than
/// queue writers behind a lock it waits for. A month detached but not dropped (a pass that
/// stopped or timed out in between) is dropped by the next pass.
pub async fn prune(
    conn: &mut PgConnection,
    keep_from: OffsetDateTime,
    ahead_to: OffsetDateTime,
) -> Result<Pruned, sqlx::Error> {
    let mut pruned = Pruned::default();
    for table in PARTITIONED {
        let mut tx = begin_maintenance(conn).await?;
        pruned.created += sqlx::query_scalar!(
            r#"select accredito_create_month_partitions($1, $2, $3) as "created!""#,
            table,
            keep_from,
            ahead_to
        )
        .fetch_one(&mut *tx)
        .await?;
        let detached = sqlx::query_scalar!(
            r#"select detached as "detached!"
               from accredito_detach_month_partitions($1, $2) as detached"#,
            table,
            keep_from
        )
        .fetch_all(&mut *tx)
        .await?;
        if table == "inbox_events" && !detached.is_empty() {
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

        let mut tx = begin_maintenance(conn).await?;
        let dropped = sqlx::query_scalar!(
            r#"select dropped as "dropped!"
               from accredito_drop_detached_month_partitions($1) as dropped"#,
            table
        )
        .fetch_all(&mut *tx)
        .await?;
        tx.commit().await?;
        pruned.dropped.extend(dropped);
    }
    Ok(pruned)
}

/// A transaction of partition maintenance: one process at a time, never waiting long for a lock.
async fn begin_maintenance(
    conn: &mut PgConnection,
) -> Result<sqlx::Transaction<'_, sqlx::Postgres>, sqlx::Error> {
    let mut tx = sqlx::Connection::begin(conn).await?;
    sqlx::query!("set local lock_timeout = '5s'")
        .execute(&mut *tx)
        .await?;
    sqlx::query!("select pg_advisory_xact_lock(hashtext('accredito_partitions'))")
        .execute(&mut *tx)
        .await?;
    Ok(tx)
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
