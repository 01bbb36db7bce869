//! Connect-style routing, second half: an event kept in `unrouted_events` because no profile
//! had its Stripe account yet moves into the inbox once a profile has that account (when its
//! keys are saved, and on every account sweep for whatever that missed). The relay's catch-up
//! pass then publishes it like any stored event.

use sqlx::PgPool;

use crate::db;
use crate::db::inbox::NewEvent;
use crate::domain::StripeMode;
use crate::stripe::event::parse_envelope;

/// Unrouted events moved per transaction.
const BATCH: i64 = 200;

/// Moves every unrouted event whose account a profile now has (of `stripe_account_id` only,
/// when given) into the inbox under that profile; returns how many moved. Each batch is
/// stored and removed from `unrouted_events` in one transaction, so an event is never in
/// both places nor in neither.
pub async fn route_unrouted(
    pool: &PgPool,
    stripe_account_id: Option<&str>,
) -> Result<usize, sqlx::Error> {
    let mut routed = 0;
    // Paged by id, so rows left behind (below) never hold up the ones after them.
    let mut after_id = 0;
    loop {
        let mut tx = pool.begin().await?;
        let batch =
            db::inbox::routable_unrouted(&mut tx, stripe_account_id, after_id, BATCH).await?;
        let Some(last) = batch.last() else {
            return Ok(routed);
        };
        after_id = last.id;
        let mut events = Vec::with_capacity(batch.len());
        let mut moved = Vec::with_capacity(batch.len());
        for row in &batch {
            // Each body was verified and parsed when it arrived; one that no longer parses
            // (a stricter parser since) stays where it is, reported in back_office.
            let Ok(envelope) = parse_envelope(&row.raw_body) else {
                tracing::warn!(
                    unrouted_id = row.id,
                    "an unrouted event no longer parses; left in unrouted_events"
                );
                continue;
            };
            let mode = row.mode.parse::<StripeMode>().unwrap_or(StripeMode::Live);
            events.push(super::new_event(
                &row.profile_id,
                &row.merchant_id,
                mode,
                envelope,
                bytes::Bytes::from(row.raw_body.clone()),
            ));
            moved.push(row.id);
        }
        let refs: Vec<&NewEvent> = events.iter().collect();
        // An event the profile already has (delivered to its own endpoint too) is skipped.
        super::store_in(&mut tx, &refs).await?;
        db::inbox::forget_unrouted(&mut tx, &moved).await?;
        tx.commit().await?;
        routed += moved.len();
        if batch.len() < BATCH as usize {
            return Ok(routed);
        }
    }
}
