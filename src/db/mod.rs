//! Every SQL query lives here. Functions take `&mut PgConnection` so that callers choose the
//! transaction they run in.

pub mod alerts;
pub mod back_office;
pub mod bank;
pub mod console;
pub mod health;
pub mod inbox;
pub mod merchants;
pub mod orders;
pub mod partitions;
pub mod payments;
pub mod payouts;
pub mod profiles;
pub mod work;

use std::str::FromStr;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};

/// Opens the pool lazily: the service starts (and answers 503) while PostgreSQL is down.
pub fn connect_lazy(database_url: &str, max_connections: u32) -> Result<PgPool, sqlx::Error> {
    // Every query is a short index lookup; JIT compiling one costs tens of milliseconds, and
    // PostgreSQL decides to by cost estimates, which stale statistics inflate.
    let options = PgConnectOptions::from_str(database_url)?.options([("jit", "off")]);
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        // A webhook waits at most this long for a connection before it is told 503, so Stripe
        // retries instead of timing out on us.
        .acquire_timeout(Duration::from_secs(3))
        // A ping before every checkout is a round trip per transaction; a dead connection
        // surfaces as an error on first use instead (a retry, or a 503 for a webhook).
        .test_before_acquire(false)
        .connect_lazy_with(options))
}

pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    sqlx::migrate!().run(pool).await
}

/// Whether every migration this binary carries has been applied (and none failed).
pub async fn schema_is_current(pool: &PgPool) -> Result<bool, sqlx::Error> {
    let migrator = sqlx::migrate!();
    let wanted = migrator.iter().map(|m| m.version).max().unwrap_or(0);
    // A database never migrated has no bookkeeping table: not current, not an error.
    let applied: Option<i64> =
        sqlx::query_scalar("select max(version) from _sqlx_migrations where success")
            .fetch_one(pool)
            .await
            .or_else(|e| match e.as_database_error().and_then(|d| d.code()) {
                Some(code) if code == "42P01" => Ok(None),
                _ => Err(e),
            })?;
    Ok(applied.is_some_and(|v| v >= wanted))
}

/// `serialization_failure` and `deadlock_detected`: the transaction lost a race and may be
/// run again as is.
pub fn is_lock_conflict(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Database(e) => matches!(e.code().as_deref(), Some("40001" | "40P01")),
        _ => false,
    }
}

/// Attempts of a transaction that lost a lock race before its error is returned.
const LOCK_CONFLICT_ATTEMPTS: u32 = 3;

/// Runs `attempt` again (a few times) when PostgreSQL aborted it as a deadlock or a
/// serialization failure: it lost a race and may be run again as is.
pub async fn retry_lock_conflicts<T, F, Fut>(mut attempt: F) -> Result<T, sqlx::Error>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, sqlx::Error>>,
{
    let mut tries = 1;
    loop {
        match attempt().await {
            Err(error) if is_lock_conflict(&error) && tries < LOCK_CONFLICT_ATTEMPTS => {
                tracing::info!(%error, tries, "lost a lock race; trying again");
                tokio::time::sleep(Duration::from_millis(10 * u64::from(tries))).await;
                tries += 1;
            }
            other => return other,
        }
    }
}

/// Cheap liveness query for `/readyz`.
pub async fn ping(pool: &PgPool) -> Result<(), sqlx::Error> {
    sqlx::query!("select 1 as one")
        .fetch_one(pool)
        .await
        .map(|_| ())
}

/// Begins a transaction whose commit returns before its WAL is flushed (one round trip for
/// both). Only for a transaction whose effects a later, ordinarily committed transaction on
/// the same server makes durable (the WAL is flushed in order, so that commit flushes this
/// one's too), and which is safe to lose to a crash before then.
pub async fn begin_without_commit_flush(
    pool: &PgPool,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
    pool.begin_with("begin; set local synchronous_commit = off")
        .await
}

/// Begins a transaction whose statements run on their generic plans (one round trip for
/// both). For the recompute: its statements take lists whose length changes with every batch,
/// so PostgreSQL would otherwise plan them afresh on every call (the orders' facts cost about
/// half as much again to plan as to run). Every query's generic plan is index probes whatever
/// the table sizes and statistics, including a plan made while the tables held a few rows
/// (`tests/it/query_plans.rs`).
pub async fn begin_with_generic_plans(
    pool: &PgPool,
) -> Result<sqlx::Transaction<'static, sqlx::Postgres>, sqlx::Error> {
    pool.begin_with("begin; set local plan_cache_mode = force_generic_plan")
        .await
}
