//! Retention: the inbox and the record of handled events keep `ACCREDITO_RETENTION_DAYS` of
//! events (by Stripe's `created`), in monthly partitions created three months ahead and
//! dropped whole once past it. Runs at start and then daily in the sweeps; `accredito prune`
//! runs one pass by hand.

use std::time::Duration;

use sqlx::PgPool;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::db;
use crate::db::partitions::Pruned;

/// How far ahead months are created, so that no event lands in the default partition.
const MONTHS_AHEAD_DAYS: i64 = 92;

/// One pass: months created ahead, months past `retention_days` dropped.
pub async fn prune(
    pool: &PgPool,
    retention_days: u32,
    now: OffsetDateTime,
) -> Result<Pruned, sqlx::Error> {
    let keep_from = now - time::Duration::days(i64::from(retention_days));
    let ahead_to = now + time::Duration::days(MONTHS_AHEAD_DAYS);
    let mut conn = pool.acquire().await?;
    db::partitions::prune(&mut conn, keep_from, ahead_to).await
}

pub struct RetentionSweep {
    pub pool: PgPool,
    pub retention_days: u32,
    pub every: Duration,
    pub shutdown: CancellationToken,
}

impl RetentionSweep {
    pub async fn run(self) {
        super::periodically(self.every, &self.shutdown, || self.pass()).await;
    }

    async fn pass(&self) {
        match prune(&self.pool, self.retention_days, OffsetDateTime::now_utc()).await {
            Ok(pruned) if pruned.created > 0 || !pruned.dropped.is_empty() => {
                tracing::info!(
                    created = pruned.created,
                    dropped = ?pruned.dropped,
                    retention_days = self.retention_days,
                    "partitions maintained"
                );
            }
            Ok(_) => {}
            // Retried at the next pass; months are created 3 months ahead.
            Err(error) => tracing::warn!(%error, "partition maintenance failed"),
        }
    }
}
