//! Calling Stripe as a profile: its secret key opened only in memory, and what a failed call
//! means (retry later, give up, or wait for a key Stripe accepts). Handlers, the account sweep,
//! catch-up and the CLI all call Stripe through this.

use std::sync::Arc;

use secrecy::SecretString;
use sqlx::PgConnection;

use crate::crypto::SecretBox;
use crate::db;
use crate::setup::profiles::secret_key_context;
use crate::stripe::client::{StripeClient, StripeError};

#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// Worth trying again later (database or network trouble).
    #[error("{0}")]
    Retryable(String),
    /// The event cannot be applied as it is; retrying will not help.
    #[error("{0}")]
    Permanent(String),
    /// Stripe rejected the profile's key (401/403): the event waits until keys Stripe
    /// accepts are saved.
    #[error("{0}")]
    KeyRejected(String),
}

impl From<sqlx::Error> for CallError {
    fn from(e: sqlx::Error) -> Self {
        CallError::Retryable(format!("database: {e}"))
    }
}

/// The Stripe API and the keys to call it with, as a profile.
pub struct StripeKeys {
    pub stripe: StripeClient,
    pub secret_box: Arc<SecretBox>,
}

impl StripeKeys {
    pub async fn has_profile_key(
        &self,
        conn: &mut PgConnection,
        profile_id: &str,
    ) -> Result<bool, CallError> {
        let key = db::profiles::secret_key_of(conn, profile_id).await?;
        Ok(key.is_some_and(|k| k.secret_key_ciphertext.is_some()))
    }

    /// The profile's Stripe secret key, opened only in memory.
    pub async fn profile_key(
        &self,
        conn: &mut PgConnection,
        profile_id: &str,
    ) -> Result<SecretString, CallError> {
        let sealed = db::profiles::secret_key_of(conn, profile_id)
            .await?
            .and_then(|k| k.secret_key_ciphertext)
            .ok_or_else(|| {
                CallError::Permanent(format!(
                    "profile {profile_id} has no Stripe secret key to call the API with"
                ))
            })?;
        self.secret_box
            .open(&sealed, &secret_key_context(profile_id))
            .map_err(|e| CallError::Permanent(format!("profile {profile_id}: {e}")))
    }
}

/// Stripe trouble that may pass (network, rate limit, 5xx) is retried; a rejected key waits
/// for a new one; a bad request is not retried.
pub fn stripe_failure(error: StripeError) -> CallError {
    if let Some(rejection) = key_rejection(&error) {
        return CallError::KeyRejected(rejection);
    }
    match error {
        StripeError::Network(_) | StripeError::RateLimited { .. } | StripeError::Server { .. } => {
            CallError::Retryable(format!("Stripe API: {error}"))
        }
        other => CallError::Permanent(format!("Stripe API: {other}")),
    }
}

/// How a rejected key is recorded in the merchant's bank state: readiness and the
/// `stripe_key_rejected` alert read this prefix.
pub const KEY_REJECTED_PREFIX: &str = "Stripe rejected the secret key";

/// The bank-state error for a Stripe answer that means the key itself is refused.
pub fn key_rejection(error: &StripeError) -> Option<String> {
    match error {
        StripeError::InvalidApiKey { .. } => Some(error.to_string()),
        StripeError::PermissionDenied { .. } => Some(format!("{KEY_REJECTED_PREFIX}: {error}")),
        _ => None,
    }
}
