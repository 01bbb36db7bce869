//! Events parked because Stripe rejected their profile's key go back to work by themselves
//! once keys Stripe accepts are saved: no one has to remember `accredito dlq redrive`.

use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use super::dead_letters::redrive_rows;
use crate::amqp::Topology;
use crate::db;

/// `dead_letters.waiting_for` of an event parked for a rejected key.
pub const WAITING_FOR_KEY: &str = "stripe_key";

/// Most events redriven per pass; the next pass takes the rest.
const BATCH: i64 = 500;

/// Redrives waiting events whose profile's key is accepted again, every `every`, until
/// shutdown. Returns how many it redrove in its last pass, for tests.
pub async fn run(
    pool: PgPool,
    amqp_url: String,
    topology: Topology,
    every: Duration,
    shutdown: CancellationToken,
) {
    loop {
        match redrive_ready(&pool, &amqp_url, &topology).await {
            Ok(0) => {}
            Ok(redriven) => {
                tracing::info!(redriven, "events that waited for a Stripe key redriven")
            }
            Err(error) => {
                tracing::warn!(%error, "redriving events that waited for a Stripe key failed; trying again later")
            }
        }
        tokio::select! {
            () = tokio::time::sleep(every) => {}
            () = shutdown.cancelled() => return,
        }
    }
}

/// One pass: redrives every waiting event whose profile's key Stripe accepts again.
pub async fn redrive_ready(
    pool: &PgPool,
    amqp_url: &str,
    topology: &Topology,
) -> Result<usize, Box<dyn std::error::Error + Send + Sync>> {
    let ready = {
        let mut conn = pool.acquire().await?;
        db::work::waiting_for_new_keys(&mut conn, BATCH).await?
    };
    if ready.is_empty() {
        return Ok(0);
    }
    Ok(
        redrive_rows(pool, amqp_url, topology, ready, crate::progress::SILENT)
            .await?
            .len(),
    )
}
