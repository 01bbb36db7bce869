//! Deleting a profile, in two steps so no request can use it once deletion has begun:
//!
//! 1. [`claim`]: one transaction, under the merchant's row lock (the lock enabling Stripe
//!    takes), refuses a profile the merchant takes payments with, marks it deleted, forgets its
//!    signing secrets and drops it as the merchant's selection. From its commit the profile
//!    verifies no webhook, routes no Connect event and cannot be selected.
//! 2. [`remove_endpoint`]: deletes the webhook endpoint accredito registered for it from
//!    Stripe with its key, then forgets the key and the endpoint. Until that succeeds the key
//!    is kept (sealed) for no other purpose; deleting again, or the account sweep, retries.

use secrecy::SecretString;
use serde::Serialize;
use sqlx::PgPool;
use time::OffsetDateTime;

use super::{ProfileError, audit, secret_key_context};
use crate::crypto::SecretBox;
use crate::db;
use crate::domain::AlertKind;
use crate::setup::alerts;
use crate::setup::merchants::Actor;
use crate::stripe::client::{StripeClient, StripeError};

/// What deleting a profile answers.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileDeleted {
    pub id: String,
    pub merchant_id: String,
    #[serde(with = "time::serde::rfc3339")]
    pub deleted_at: OffsetDateTime,
    /// The Stripe webhook endpoint removed with the profile, if it had one.
    pub webhook_endpoint_deleted: Option<String>,
    /// An endpoint still to be removed (Stripe could not be reached): deleting again, or the
    /// next account sweep, retries.
    pub webhook_endpoint_pending: Option<String>,
    /// Whether the merchant had the profile selected (with Stripe off) and no longer does.
    pub unselected: bool,
    /// E.g. an endpoint Stripe would not delete, to be removed in the Stripe dashboard.
    pub warnings: Vec<String>,
}

pub(super) struct Claimed {
    pub merchant_id: String,
    pub deleted_at: OffsetDateTime,
    pub unselected: bool,
    /// The endpoint step 2 is to remove, as the claim saw it.
    pub webhook_endpoint_id: Option<String>,
}

/// Step 1. A profile already deleted whose endpoint is still to be removed is claimed again
/// (so deleting again retries step 2); one fully deleted is [`ProfileError::NotFound`].
pub(super) async fn claim(
    pool: &PgPool,
    profile_id: &str,
    actor: &Actor,
) -> Result<Claimed, ProfileError> {
    let mut tx = pool.begin().await?;
    let merchant_id = db::profiles::merchant_of_any(&mut tx, profile_id)
        .await?
        .ok_or(ProfileError::NotFound)?;
    // Merchant first, then profile: the order enabling Stripe locks them in.
    let merchant = db::merchants::find_for_update(&mut tx, &merchant_id)
        .await?
        .ok_or(ProfileError::NotFound)?;
    let profile = db::profiles::lock_for_deletion(&mut tx, profile_id)
        .await?
        .ok_or(ProfileError::NotFound)?;
    if let Some(deleted_at) = profile.deleted_at {
        return match profile.webhook_endpoint_id {
            Some(endpoint_id) => Ok(Claimed {
                merchant_id,
                deleted_at,
                unselected: false,
                webhook_endpoint_id: Some(endpoint_id),
            }),
            None => Err(ProfileError::NotFound),
        };
    }
    let row = db::profiles::find_profile(&mut tx, profile_id)
        .await?
        .ok_or(ProfileError::NotFound)?;
    if merchant.stripe_enabled && merchant.selected_profile_id.as_deref() == Some(profile_id) {
        return Err(ProfileError::InUse { merchant_id });
    }
    let unselected = db::merchants::unselect_profile(&mut tx, &merchant_id, profile_id).await?;
    let deleted_at = db::profiles::mark_deleted(&mut tx, profile_id).await?;
    // The endpoint goes with the profile, so Stripe having disabled it no longer matters (the
    // alert names the endpoint's URL; one about another profile of the merchant stays open).
    let kind = AlertKind::WebhookEndpointDisabled.as_str();
    let about_this_profile = format!("/webhooks/stripe/{profile_id})");
    if db::alerts::open_detail(&mut tx, &merchant_id, kind)
        .await?
        .is_some_and(|detail| detail.contains(&about_this_profile))
    {
        alerts::resolve(&mut tx, &merchant_id, kind).await?;
    }
    let detail = serde_json::json!({
        "name": row.name,
        "stripe_account_id": row.stripe_account_id,
        "webhook_endpoint_id": row.webhook_endpoint_id,
        "unselected": unselected,
    });
    audit(&mut tx, actor, &row, "profile.deleted", detail).await?;
    tx.commit().await?;
    tracing::info!(%profile_id, "profile deleted");
    Ok(Claimed {
        merchant_id,
        deleted_at,
        unselected,
        webhook_endpoint_id: row.webhook_endpoint_id,
    })
}

/// How step 2 ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EndpointRemoval {
    /// There was no endpoint to remove.
    NoEndpoint,
    Removed(String),
    /// Stripe could not be reached: kept for a retry.
    Pending {
        endpoint_id: String,
        reason: String,
    },
    /// Stripe refused (the key rejected, say): the endpoint is left on Stripe, named here.
    LeftOnStripe {
        endpoint_id: String,
        warning: String,
    },
}

/// Step 2, for a profile already marked deleted.
pub async fn remove_endpoint(
    pool: &PgPool,
    secret_box: &SecretBox,
    stripe: &StripeClient,
    profile_id: &str,
    actor: &Actor,
) -> Result<EndpointRemoval, ProfileError> {
    let pending = {
        let mut conn = pool.acquire().await?;
        db::profiles::pending_endpoint_removal(&mut conn, profile_id).await?
    };
    let Some(pending) = pending else {
        return Ok(EndpointRemoval::NoEndpoint);
    };
    let endpoint_id = pending.webhook_endpoint_id;
    let left_on_stripe = |why: &str| EndpointRemoval::LeftOnStripe {
        warning: format!(
            "the webhook endpoint {endpoint_id} was left on Stripe ({why}): delete it in Stripe > Developers > Webhooks, or Stripe keeps sending events that are now refused"
        ),
        endpoint_id: endpoint_id.clone(),
    };
    let key: Option<SecretString> = match pending.secret_key_ciphertext {
        None => None,
        Some(sealed) => match secret_box.open(&sealed, &secret_key_context(profile_id)) {
            Ok(key) => Some(key),
            Err(error) => {
                tracing::error!(%profile_id, %error, "a deleted profile's key cannot be opened");
                None
            }
        },
    };
    let outcome = match key {
        None => left_on_stripe("no usable secret key to delete it with"),
        Some(key) => match stripe.delete_webhook_endpoint(&key, &endpoint_id).await {
            Ok(()) | Err(StripeError::NotFound { .. }) => {
                EndpointRemoval::Removed(endpoint_id.clone())
            }
            Err(error) if error.is_transient() => {
                tracing::warn!(%profile_id, %endpoint_id, %error, "could not remove a deleted profile's endpoint yet");
                return Ok(EndpointRemoval::Pending {
                    endpoint_id,
                    reason: error.to_string(),
                });
            }
            Err(error) => left_on_stripe(&error.to_string()),
        },
    };

    let mut tx = pool.begin().await?;
    if db::profiles::forget_endpoint(&mut tx, profile_id, &endpoint_id).await? {
        let (action, detail) = match &outcome {
            EndpointRemoval::LeftOnStripe { warning, .. } => (
                "profile.webhook_endpoint_left",
                serde_json::json!({ "endpoint_id": endpoint_id, "warning": warning }),
            ),
            _ => (
                "profile.webhook_endpoint_deleted",
                serde_json::json!({ "endpoint_id": endpoint_id }),
            ),
        };
        db::merchants::audit(
            &mut tx,
            &db::merchants::AuditEntry {
                actor: actor.as_str(),
                merchant_id: Some(&pending.merchant_id),
                profile_id: Some(profile_id),
                action,
                detail,
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(outcome)
}

/// Retries step 2 for every deleted profile whose endpoint is still on Stripe (the account
/// sweep runs this); returns how many were settled (removed, or left with a warning).
pub async fn remove_pending_endpoints(
    pool: &PgPool,
    secret_box: &SecretBox,
    stripe: &StripeClient,
) -> Result<usize, ProfileError> {
    let pending = {
        let mut conn = pool.acquire().await?;
        db::profiles::deleted_with_endpoint(&mut conn).await?
    };
    let actor = Actor::system("account-sweep");
    let mut settled = 0;
    for profile_id in pending {
        match remove_endpoint(pool, secret_box, stripe, &profile_id, &actor).await {
            Ok(EndpointRemoval::Pending { .. }) => {}
            Ok(_) => settled += 1,
            Err(error) => {
                tracing::warn!(%profile_id, %error, "could not remove a deleted profile's endpoint");
            }
        }
    }
    Ok(settled)
}

impl ProfileDeleted {
    pub(super) fn new(profile_id: &str, claimed: Claimed, removal: EndpointRemoval) -> Self {
        let mut deleted = ProfileDeleted {
            id: profile_id.to_owned(),
            merchant_id: claimed.merchant_id,
            deleted_at: claimed.deleted_at,
            webhook_endpoint_deleted: None,
            webhook_endpoint_pending: None,
            unselected: claimed.unselected,
            warnings: Vec::new(),
        };
        match removal {
            EndpointRemoval::NoEndpoint => {}
            EndpointRemoval::Removed(id) => deleted.webhook_endpoint_deleted = Some(id),
            EndpointRemoval::Pending {
                endpoint_id,
                reason,
            } => {
                deleted.warnings.push(format!(
                    "the webhook endpoint {endpoint_id} could not be deleted from Stripe yet ({reason}); the profile is deleted, and deleting it again or the next account sweep retries"
                ));
                deleted.webhook_endpoint_pending = Some(endpoint_id);
            }
            EndpointRemoval::LeftOnStripe { warning, .. } => deleted.warnings.push(warning),
        }
        deleted
    }
}
