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

/// In one transaction, for every partitioned table: creates the missing months from `keep_from`
/// to `ahead_to`, and drops the months that end at or before `keep_from` (with the default
/// partition's older rows). Serialized between processes by an advisory lock; gives up after
/// a few seconds rather than queue the inbox's writers behind a lock it waits for.
pub async fn prune(
    conn: &mut PgConnection,
    keep_from: OffsetDateTime,
    ahead_to: OffsetDateTime,
) -> Result<Pruned, sqlx::Error> {
    let mut tx = sqlx::Connection::begin(conn).await?;
    sqlx::query!("set local lock_timeout = '5s'")
        .execute(&mut *tx)
        .await?;
    sqlx::query!("select pg_advisory_xact_lock(hashtext('accredito_partitions'))")
        .execute(&mut *tx)
        .await?;
    let mut pruned = Pruned::default();
    for table in PARTITIONED {
        pruned.created += sqlx::query_scalar!(
            r#"select accredito_create_month_partitions($1, $2, $3) as "created!""#,
            table,
            keep_from,
            ahead_to
        )
        .fetch_one(&mut *tx)
        .await?;
        pruned.dropped.extend(
            sqlx::query_scalar!(
                r#"select dropped as "dropped!"
                   from accredito_drop_month_partitions($1, $2) as dropped"#,
                table,
                keep_from
            )
            .fetch_all(&mut *tx)
            .await?,
        );
    }
    tx.commit().await?;
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
