//! What PostgreSQL wrote during a run: write transactions (transaction ids assigned) and WAL
//! bytes, both read from the server's counters at the start and the end, exact and at once
//! (unlike `pg_stat_database`, which backends report late). Both are server-wide: on a server
//! of the bench's own (`bench/private-servers.sh`) they are the run's; on a shared one they
//! include other work. Per event they say how well commits are shared (the inbox writers'
//! groups, the workers' batches) as processes are added.

use serde_json::{Value, json};
use sqlx::PgConnection;

/// The server's next transaction id and WAL position at one moment.
pub struct Mark {
    next_xid: i64,
    wal_lsn: String,
}

/// Reads the counters; `None` when the server does not say (an error is only noted: the
/// figures are context, not the measurement).
pub async fn mark(db: &mut PgConnection) -> Option<Mark> {
    let read = sqlx::query_as::<_, (i64, String)>(
        "select pg_snapshot_xmax(pg_current_snapshot())::text::bigint, pg_current_wal_lsn()::text",
    )
    .fetch_one(db)
    .await;
    match read {
        Ok((next_xid, wal_lsn)) => Some(Mark { next_xid, wal_lsn }),
        Err(error) => {
            eprintln!("reading PostgreSQL's transaction and WAL counters: {error}");
            None
        }
    }
}

/// Write transactions and WAL bytes since `before`, in all and per event.
pub async fn report(db: &mut PgConnection, before: Option<Mark>, events: usize) -> Value {
    let Some(before) = before else {
        return Value::Null;
    };
    let read = sqlx::query_as::<_, (i64, i64)>(
        "select pg_snapshot_xmax(pg_current_snapshot())::text::bigint - $1,
                pg_wal_lsn_diff(pg_current_wal_lsn(), $2::pg_lsn)::bigint",
    )
    .bind(before.next_xid)
    .bind(&before.wal_lsn)
    .fetch_one(db)
    .await;
    let per_event = |n: i64| (n as f64 / events.max(1) as f64 * 1000.0).round() / 1000.0;
    match read {
        Ok((transactions, wal_bytes)) => json!({
            "write_transactions": transactions,
            "write_transactions_per_event": per_event(transactions),
            "wal_bytes": wal_bytes,
            "wal_bytes_per_event": per_event(wal_bytes).round(),
        }),
        Err(error) => {
            eprintln!("reading PostgreSQL's transaction and WAL counters: {error}");
            Value::Null
        }
    }
}
