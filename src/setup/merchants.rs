//! Merchants: Stripe is off until a merchant enables it with one of its own profiles whose
//! keys pass validation (the platform's setup guide, steps 1 and 2), and every change is
//! audited in the transaction that makes it.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;
use sqlx::PgPool;
use time::OffsetDateTime;

use crate::crypto::SecretBox;
use crate::db;
use crate::db::merchants::{AuditEntry, MerchantRow};
use crate::domain::{StripeMode, is_valid_merchant_id};
use crate::setup::profiles::secret_key_context;
use crate::stripe::client::{StripeClient, StripeError};

/// Who made a change, as the audit trail names them: the bearer token's name for the `/v1`
/// API (`admin` for `ACCREDITO_ADMIN_TOKEN`), `cli` for commands. Never a secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Actor(String);

impl Actor {
    /// The holder of the `/v1` bearer token with this name.
    pub fn token(name: &str) -> Self {
        Actor(name.to_owned())
    }

    /// A background task of accredito itself (e.g. `account-sweep`).
    pub fn system(task: &str) -> Self {
        Actor(format!("accredito:{task}"))
    }

    pub fn cli() -> Self {
        Actor("cli".to_owned())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Actor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MerchantError {
    #[error("merchant id must be 1-128 characters of letters, digits, '_', '.', ':' or '-'")]
    InvalidMerchantId,
    #[error("merchant name must not be blank and at most 200 characters")]
    InvalidName,
    #[error("merchant {0} already exists (change its name with PATCH /v1/merchants/{0})")]
    AlreadyExists(String),
    #[error("no such merchant")]
    NotFound,
    #[error("no such Stripe profile {0}")]
    ProfileNotFound(String),
    #[error(
        "profile {profile_id} belongs to another merchant: a merchant selects only its own profiles"
    )]
    ProfileOfAnotherMerchant { profile_id: String },
    /// The profile exists and is the merchant's, but Stripe cannot be enabled with it.
    #[error("Stripe cannot be enabled with profile {profile_id}: {reason}")]
    ProfileNotReady { profile_id: String, reason: String },
    #[error(
        "Stripe could not be reached to check the profile's key ({0}); nothing changed, try again"
    )]
    StripeUnavailable(String),
    #[error("a stored key cannot be opened")]
    Secret(#[from] crate::crypto::OpenError),
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

/// A merchant as the API and CLI show it.
#[derive(Debug, Clone, Serialize)]
pub struct MerchantView {
    pub id: String,
    pub name: Option<String>,
    pub stripe_enabled: bool,
    /// Kept when Stripe is disabled, so enabling again can reuse it.
    pub selected_profile_id: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub updated_at: OffsetDateTime,
}

impl From<MerchantRow> for MerchantView {
    fn from(row: MerchantRow) -> Self {
        MerchantView {
            id: row.id,
            name: row.name,
            stripe_enabled: row.stripe_enabled,
            selected_profile_id: row.selected_profile_id,
            created_at: row.created_at,
            updated_at: row.updated_at,
        }
    }
}

/// Merchant operations shared by the CLI and the `/v1` API.
#[derive(Clone)]
pub struct Merchants {
    pool: PgPool,
    /// Opens a profile's secret key to check it with Stripe before enabling.
    secret_box: Arc<SecretBox>,
    mode: StripeMode,
    stripe: StripeClient,
}

impl Merchants {
    pub fn new(
        pool: PgPool,
        secret_box: Arc<SecretBox>,
        mode: StripeMode,
        stripe: StripeClient,
    ) -> Self {
        Merchants {
            pool,
            secret_box,
            mode,
            stripe,
        }
    }

    /// Creates a merchant with Stripe disabled.
    // `merchant_name`, not `name`: in JSON logs a span's own `name` key would hide it.
    #[tracing::instrument(skip(self, name), fields(actor = %actor, merchant_name = name))]
    pub async fn create(
        &self,
        id: &str,
        name: Option<&str>,
        actor: &Actor,
    ) -> Result<MerchantView, MerchantError> {
        if !is_valid_merchant_id(id) {
            return Err(MerchantError::InvalidMerchantId);
        }
        let name = name.map(valid_name).transpose()?;
        let mut tx = self.pool.begin().await?;
        let row = db::merchants::insert(&mut tx, id, name)
            .await?
            .ok_or_else(|| MerchantError::AlreadyExists(id.to_owned()))?;
        let detail = serde_json::json!({ "name": name, "stripe_enabled": false });
        audit(&mut tx, actor, id, None, "merchant.created", detail).await?;
        tx.commit().await?;
        tracing::info!("merchant created");
        Ok(row.into())
    }

    #[tracing::instrument(skip(self, name), fields(actor = %actor, merchant_name = name))]
    pub async fn rename(
        &self,
        id: &str,
        name: &str,
        actor: &Actor,
    ) -> Result<MerchantView, MerchantError> {
        let name = valid_name(name)?;
        let mut tx = self.pool.begin().await?;
        let before = db::merchants::find_for_update(&mut tx, id)
            .await?
            .ok_or(MerchantError::NotFound)?;
        let row = db::merchants::set_name(&mut tx, id, name)
            .await?
            .ok_or(MerchantError::NotFound)?;
        let detail = serde_json::json!({ "name": { "from": before.name, "to": name } });
        audit(&mut tx, actor, id, None, "merchant.renamed", detail).await?;
        tx.commit().await?;
        Ok(row.into())
    }

    pub async fn show(&self, id: &str) -> Result<MerchantView, MerchantError> {
        let mut conn = self.pool.acquire().await?;
        let row = db::merchants::find(&mut conn, id)
            .await?
            .ok_or(MerchantError::NotFound)?;
        Ok(row.into())
    }

    /// Up to `limit` merchants in id order, after `after` when given.
    pub async fn list(
        &self,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<MerchantView>, MerchantError> {
        let mut conn = self.pool.acquire().await?;
        let rows = db::merchants::list(&mut conn, after, limit).await?;
        Ok(rows.into_iter().map(MerchantView::from).collect())
    }

    /// Enables Stripe with `profile_id` selected. The profile must be the merchant's, of this
    /// deployment's mode, with a publishable key and a secret key that Stripe accepted when
    /// they were saved and still accepts now (asked again here, so a revoked key is caught).
    #[tracing::instrument(skip(self), fields(actor = %actor))]
    pub async fn enable_stripe(
        &self,
        merchant_id: &str,
        profile_id: &str,
        actor: &Actor,
    ) -> Result<MerchantView, MerchantError> {
        let not_ready = |reason: &str| MerchantError::ProfileNotReady {
            profile_id: profile_id.to_owned(),
            reason: reason.to_owned(),
        };
        let key = {
            let mut conn = self.pool.acquire().await?;
            db::merchants::find(&mut conn, merchant_id)
                .await?
                .ok_or(MerchantError::NotFound)?;
            let profile = db::profiles::find_profile(&mut conn, profile_id)
                .await?
                .ok_or_else(|| MerchantError::ProfileNotFound(profile_id.to_owned()))?;
            if profile.merchant_id != merchant_id {
                return Err(MerchantError::ProfileOfAnotherMerchant {
                    profile_id: profile_id.to_owned(),
                });
            }
            if profile.mode != self.mode.as_str() {
                return Err(not_ready(&format!(
                    "it is a {} profile and this deployment runs in {} mode",
                    profile.mode, self.mode
                )));
            }
            let keys_missing = "it has no live keys checked with Stripe: save its publishable and secret keys first (PUT /v1/profiles/{id}/keys, or accredito profile set-keys)";
            if profile.publishable_key.is_none() || profile.keys_checked_at.is_none() {
                return Err(not_ready(keys_missing));
            }
            let sealed = db::profiles::secret_key_of(&mut conn, profile_id)
                .await?
                .and_then(|k| k.secret_key_ciphertext)
                .ok_or_else(|| not_ready(keys_missing))?;
            self.secret_box
                .open(&sealed, &secret_key_context(profile_id))?
        };
        // Outside any transaction: a network call.
        match self.stripe.retrieve_account(&key).await {
            Ok(_) => {}
            Err(StripeError::InvalidApiKey { .. }) => {
                return Err(not_ready(
                    "Stripe now rejects its secret key (401: rolled, expired or revoked); save the current keys first",
                ));
            }
            Err(StripeError::PermissionDenied { .. }) => {
                return Err(not_ready(
                    "its restricted key can no longer read the Stripe account (403)",
                ));
            }
            Err(other) => return Err(MerchantError::StripeUnavailable(other.to_string())),
        }

        let mut tx = self.pool.begin().await?;
        let before = db::merchants::find_for_update(&mut tx, merchant_id)
            .await?
            .ok_or(MerchantError::NotFound)?;
        // Again under the merchant's lock, which deleting a profile takes too: a profile
        // deleted since it was read above is never selected.
        db::profiles::find_profile(&mut tx, profile_id)
            .await?
            .ok_or_else(|| MerchantError::ProfileNotFound(profile_id.to_owned()))?;
        let row = db::merchants::set_stripe(&mut tx, merchant_id, true, Some(profile_id)).await?;
        let detail = serde_json::json!({
            "stripe_enabled": { "from": before.stripe_enabled, "to": true },
            "selected_profile_id": { "from": before.selected_profile_id, "to": profile_id },
        });
        audit(
            &mut tx,
            actor,
            merchant_id,
            Some(profile_id),
            "merchant.stripe_enabled",
            detail,
        )
        .await?;
        tx.commit().await?;
        tracing::info!(%profile_id, "Stripe enabled");
        Ok(row.into())
    }

    /// Disables Stripe; the selected profile is kept for a later enable.
    #[tracing::instrument(skip(self), fields(actor = %actor))]
    pub async fn disable_stripe(
        &self,
        merchant_id: &str,
        actor: &Actor,
    ) -> Result<MerchantView, MerchantError> {
        let mut tx = self.pool.begin().await?;
        let before = db::merchants::find_for_update(&mut tx, merchant_id)
            .await?
            .ok_or(MerchantError::NotFound)?;
        let row = db::merchants::set_stripe(&mut tx, merchant_id, false, None).await?;
        let detail = serde_json::json!({
            "stripe_enabled": { "from": before.stripe_enabled, "to": false },
            "selected_profile_id": before.selected_profile_id,
        });
        audit(
            &mut tx,
            actor,
            merchant_id,
            before.selected_profile_id.as_deref(),
            "merchant.stripe_disabled",
            detail,
        )
        .await?;
        tx.commit().await?;
        tracing::info!("Stripe disabled");
        Ok(row.into())
    }
}

fn valid_name(name: &str) -> Result<&str, MerchantError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(MerchantError::InvalidName);
    }
    Ok(name)
}

async fn audit(
    conn: &mut sqlx::PgConnection,
    actor: &Actor,
    merchant_id: &str,
    profile_id: Option<&str>,
    action: &str,
    detail: serde_json::Value,
) -> Result<(), sqlx::Error> {
    db::merchants::audit(
        conn,
        &AuditEntry {
            actor: actor.as_str(),
            merchant_id: Some(merchant_id),
            profile_id,
            action,
            detail,
        },
    )
    .await
}
