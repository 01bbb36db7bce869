//! Ingest: verified events into the inbox. Every way in goes through [`new_event`] and
//! [`store_in`]: the webhook endpoint through the group-commit [`writer`], [`connect`] when it
//! moves events that arrived for a Connect account before its profile existed, and catch-up
//! ([`crate::sweeps::catch_up`]) when it stores events listed from Stripe. So each stores the
//! same row and flags the same discrepancies.

pub mod connect;
pub mod writer;

use bytes::Bytes;
use sqlx::PgConnection;

use crate::db;
use crate::db::inbox::{Inserted, NewEvent};
use crate::domain::{EventId, MerchantId, StoredEvent, StripeMode};
use crate::reconcile::DiscrepancyKind;
use crate::stripe::event::EventEnvelope;

/// The inbox row of a verified event for a profile in `mode`.
pub fn new_event(
    profile_id: &str,
    merchant_id: &str,
    mode: StripeMode,
    envelope: EventEnvelope,
    body: Bytes,
) -> NewEvent {
    let livemode_mismatch = !mode.accepts_livemode(envelope.livemode);
    if livemode_mismatch {
        tracing::warn!(
            event_id = %envelope.id,
            livemode = envelope.livemode,
            %mode,
            "event livemode disagrees with its profile: stored, not processed"
        );
    }
    NewEvent {
        event: StoredEvent {
            profile_id: profile_id.to_owned(),
            merchant_id: MerchantId::from_stored(merchant_id),
            event_id: EventId::from_stored(envelope.id),
            event_type: envelope.event_type,
            body,
            created: Some(envelope.created),
            signature: None,
        },
        livemode: envelope.livemode,
        livemode_mismatch,
        event_created_at: envelope.created,
        object_id: envelope.object_id,
    }
}

/// Stores the events in the caller's transaction (an event its profile already has is
/// skipped) and opens a `livemode_mismatch` discrepancy for each new one in the wrong mode.
/// Returns the rows that were new.
pub async fn store_in(
    conn: &mut PgConnection,
    events: &[&NewEvent],
) -> Result<Vec<Inserted>, sqlx::Error> {
    if events.is_empty() {
        return Ok(Vec::new());
    }
    let inserted = db::inbox::insert_batch(conn, events).await?;
    for new in events.iter().filter(|e| e.livemode_mismatch) {
        let stored = inserted.iter().any(|row| {
            row.profile_id == new.event.profile_id && row.event_id == new.event.event_id.as_str()
        });
        if stored {
            flag_livemode_mismatch(conn, new).await?;
        }
    }
    Ok(inserted)
}

/// A mismatched event is kept but never processed; the back-office sees it as a discrepancy.
async fn flag_livemode_mismatch(
    conn: &mut PgConnection,
    new: &NewEvent,
) -> Result<(), sqlx::Error> {
    let event = &new.event;
    let detail = format!(
        "{} ({}) has livemode={} but profile {} is in the other mode; stored, not applied",
        event.event_id, event.event_type, new.livemode, event.profile_id
    );
    db::orders::open_discrepancy(
        conn,
        DiscrepancyKind::LivemodeMismatch,
        &format!("{}/{}", event.profile_id, event.event_id),
        Some(&event.merchant_id),
        None,
        Some(&event.event_id),
        &detail,
    )
    .await
}
