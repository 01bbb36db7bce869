//! Periodic Stripe checks: each profile with a key has its account read (`GET /v1/account`)
//! and its webhook endpoints listed, so a merchant who never sends an `account.updated` (or
//! whose endpoint Stripe disabled) is still caught. Each pass also routes Connect events
//! waiting for their account's profile and removes the endpoints of deleted profiles that Stripe
//! could not be asked to remove. Runs once at start, then every `every`.

pub mod catch_up;
pub mod retention;

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::db;
use crate::db::bank::BankUpdate;
use crate::domain::AlertKind;
use crate::setup::alerts::{self, sync_bank_alerts};
use crate::setup::bank::checked_account_update;
use crate::setup::profiles::remove_pending_endpoints;
use crate::setup::stripe_keys::StripeKeys;

pub struct AccountSweep {
    pub pool: PgPool,
    pub context: Arc<StripeKeys>,
    /// Webhook URLs are `{public_base_url}/webhooks/stripe/{profile_id}`.
    pub public_base_url: String,
    pub every: Duration,
    pub shutdown: CancellationToken,
}

/// Runs `pass` at once, then every `every` (never two at a time) until `shutdown` fires.
pub(crate) async fn periodically<F, Fut>(every: Duration, shutdown: &CancellationToken, mut pass: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = shutdown.cancelled() => return,
        }
        pass().await;
    }
}

impl AccountSweep {
    pub async fn run(self) {
        periodically(self.every, &self.shutdown, || async {
            match self.sweep_all().await {
                Ok(checked) => tracing::debug!(checked, "account sweep done"),
                Err(error) => tracing::warn!(%error, "account sweep failed"),
            }
        })
        .await;
    }

    async fn sweep_all(&self) -> Result<usize, sqlx::Error> {
        // Connect events that came before their account's profile (and were not routed when
        // its keys were saved, e.g. they arrived meanwhile).
        match crate::ingest::connect::route_unrouted(&self.pool, None).await {
            Ok(0) => {}
            Ok(routed) => tracing::info!(routed, "unrouted Connect events routed"),
            Err(error) => tracing::warn!(%error, "routing unrouted Connect events failed"),
        }
        // Webhook endpoints of deleted profiles that Stripe could not be asked to remove.
        let context = &self.context;
        match remove_pending_endpoints(&self.pool, &context.secret_box, &context.stripe).await {
            Ok(0) => {}
            Ok(settled) => tracing::info!(settled, "deleted profiles' endpoints removed"),
            Err(error) => tracing::warn!(%error, "removing deleted profiles' endpoints failed"),
        }
        let profiles = {
            let mut conn = self.pool.acquire().await?;
            db::profiles::profiles_with_keys(&mut conn).await?
        };
        for profile_id in &profiles {
            if self.shutdown.is_cancelled() {
                break;
            }
            if let Err(error) =
                check_profile(&self.pool, &self.context, profile_id, &self.public_base_url).await
            {
                tracing::warn!(%profile_id, %error, "account check failed");
            }
        }
        Ok(profiles.len())
    }
}

/// Reads one profile's account and endpoints from Stripe and updates bank state and alerts.
/// A Stripe error (a revoked key, say) is stored on the merchant's bank state.
pub async fn check_profile(
    pool: &PgPool,
    context: &StripeKeys,
    profile_id: &str,
    public_base_url: &str,
) -> Result<(), sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let Some(profile) = db::profiles::secret_key_of(&mut conn, profile_id).await? else {
        return Ok(());
    };
    let key = match context.profile_key(&mut conn, profile_id).await {
        Ok(key) => key,
        Err(error) => {
            tracing::warn!(%profile_id, %error, "profile key unusable");
            return Ok(());
        }
    };
    drop(conn);
    // Network calls happen outside any transaction.
    let account = context.stripe.retrieve_account(&key).await;
    let endpoints = context.stripe.list_webhook_endpoints(&key).await;

    let mut tx = pool.begin().await?;
    match &account {
        Ok(account) => {
            let state = db::bank::update(
                &mut tx,
                &profile.merchant_id,
                &checked_account_update(profile_id, account),
            )
            .await?;
            sync_bank_alerts(&mut tx, &state).await?;
        }
        Err(error) => {
            let message = error.to_string();
            let update = BankUpdate {
                profile_id: Some(profile_id),
                checked: true,
                last_error: Some(Some(&message)),
                ..BankUpdate::default()
            };
            db::bank::update(&mut tx, &profile.merchant_id, &update).await?;
            tracing::warn!(%profile_id, %error, "Stripe account check failed");
        }
    }
    if let Ok(endpoints) = &endpoints {
        let ours = format!("{public_base_url}/webhooks/stripe/{profile_id}");
        let disabled = endpoints
            .iter()
            .find(|e| e.url == ours && e.status == "disabled");
        let kind = AlertKind::WebhookEndpointDisabled.as_str();
        match disabled {
            Some(endpoint) => {
                let detail = format!(
                    "Stripe disabled webhook endpoint {} ({ours}): events are not being delivered",
                    endpoint.id
                );
                alerts::open(&mut tx, &profile.merchant_id, kind, &detail).await?;
            }
            None => alerts::resolve(&mut tx, &profile.merchant_id, kind).await?,
        }
    }
    tx.commit().await
}
