//! Catch-up: events whose webhooks never arrived (accredito down for a day, an endpoint Stripe
//! disabled) are listed from `GET /v1/events` and stored like any delivery, deduplicated by
//! the inbox's unique (profile, event id). The relay's catch-up pass then publishes them.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use sqlx::PgPool;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::db;
use crate::db::inbox::NewEvent;
use crate::domain::{StripeMode, handled_event_types};
use crate::ingest;
use crate::setup::stripe_keys::{CallError, StripeKeys};
use crate::stripe::event::parse_envelope;

/// `GET /v1/events` takes at most 20 exact names in `types[]` (wildcards only work in the
/// single `type` parameter), so the handled types are listed in groups.
const TYPES_PER_REQUEST: usize = 20;

/// Stripe keeps events for 30 days; older ones cannot be listed.
const RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);
/// Events can be listed by Stripe a little after their `created`: look back this far before the
/// newest stored event, so none falls between two passes.
pub const SAFETY_WINDOW: Duration = Duration::from_secs(3600);

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct CatchUpReport {
    pub listed: usize,
    pub stored: usize,
}

/// Lists the profile's handled events created after `since` and stores the missing ones.
pub async fn catch_up_profile(
    pool: &PgPool,
    context: &StripeKeys,
    profile_id: &str,
    since: OffsetDateTime,
) -> Result<CatchUpReport, CallError> {
    let (key, merchant_id, mode) = {
        let mut conn = pool.acquire().await?;
        let profile = db::profiles::find_profile(&mut conn, profile_id)
            .await?
            .ok_or_else(|| CallError::Permanent(format!("no profile {profile_id}").into()))?;
        let mode: StripeMode = profile
            .mode
            .parse()
            .map_err(|e: String| CallError::Permanent(e.into()))?;
        (
            context.profile_key(&mut conn, profile_id).await?,
            profile.merchant_id,
            mode,
        )
    };
    let oldest = OffsetDateTime::now_utc() - RETENTION;
    let since = since.max(oldest);
    let mut events = Vec::new();
    for types in handled_event_types().chunks(TYPES_PER_REQUEST) {
        let listed = context
            .stripe
            .list_events(&key, since.unix_timestamp(), types)
            .await
            .map_err(crate::setup::stripe_keys::stripe_failure)?;
        events.extend(listed);
    }
    let mut rows = Vec::with_capacity(events.len());
    for listed in &events {
        let body = Bytes::copy_from_slice(listed.raw_json().as_bytes());
        let envelope = match parse_envelope(&body) {
            Ok(envelope) => envelope,
            Err(error) => {
                tracing::warn!(event_id = %listed.id, %error, "listed event is not a usable event; skipped");
                continue;
            }
        };
        rows.push(ingest::new_event(
            profile_id,
            &merchant_id,
            mode,
            envelope,
            body,
        ));
    }
    let mut tx = pool.begin().await?;
    let refs: Vec<&NewEvent> = rows.iter().collect();
    let inserted = ingest::store_in(&mut tx, &refs).await?;
    tx.commit().await?;
    if !inserted.is_empty() {
        tracing::warn!(%profile_id, recovered = inserted.len(), "catch-up stored events whose webhooks never arrived");
    }
    Ok(CatchUpReport {
        listed: events.len(),
        stored: inserted.len(),
    })
}

/// From where the periodic pass lists: the newest stored event minus the safety window.
pub async fn default_since(pool: &PgPool, profile_id: &str) -> Result<OffsetDateTime, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let newest = db::inbox::newest_event_created(&mut conn, profile_id).await?;
    Ok(newest.map_or(OffsetDateTime::now_utc() - RETENTION, |t| t - SAFETY_WINDOW))
}

/// The periodic pass over every profile with a key.
pub struct CatchUp {
    pub pool: PgPool,
    pub context: Arc<StripeKeys>,
    pub every: Duration,
    pub shutdown: CancellationToken,
}

impl CatchUp {
    pub async fn run(self) {
        super::periodically(self.every, &self.shutdown, || self.pass()).await;
    }

    async fn pass(&self) {
        let profiles = match self.pool.acquire().await {
            Ok(mut conn) => db::profiles::profiles_with_keys(&mut conn).await,
            Err(error) => Err(error),
        };
        let Ok(profiles) = profiles
            .inspect_err(|error| tracing::warn!(%error, "catch-up could not list profiles"))
        else {
            return;
        };
        for profile_id in profiles {
            let since = match default_since(&self.pool, &profile_id).await {
                Ok(since) => since,
                Err(error) => {
                    tracing::warn!(%profile_id, %error, "catch-up skipped");
                    continue;
                }
            };
            if let Err(error) =
                catch_up_profile(&self.pool, &self.context, &profile_id, since).await
            {
                tracing::warn!(%profile_id, %error, "catch-up failed");
            }
        }
    }
}
