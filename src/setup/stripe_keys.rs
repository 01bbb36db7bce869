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
    #[error(transparent)]
    Retryable(Cause),
    /// The event cannot be applied as it is; retrying will not help.
    #[error(transparent)]
    Permanent(Cause),
    /// Stripe rejected the profile's key (401/403): the event waits until keys Stripe
    /// accepts are saved.
    #[error(transparent)]
    KeyRejected(Cause),
    /// The message is not an event the service stored (forged, or altered on the way): it is
    /// never applied.
    #[error(transparent)]
    Refused(Cause),
}

/// What went wrong, said for the logs and the dead-letter table, and the error it came from
/// (kept as the `source()`, so a report can walk the chain).
#[derive(Debug)]
pub struct Cause {
    message: String,
    source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl Cause {
    pub fn new(
        message: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Cause {
            message: message.into(),
            source: Some(Box::new(source)),
        }
    }

    /// The description alone, without the source's.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl From<String> for Cause {
    fn from(message: String) -> Self {
        Cause {
            message,
            source: None,
        }
    }
}

impl From<&str> for Cause {
    fn from(message: &str) -> Self {
        Cause::from(message.to_owned())
    }
}

impl std::fmt::Display for Cause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Cause {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

impl From<sqlx::Error> for CallError {
    fn from(e: sqlx::Error) -> Self {
        CallError::Retryable(Cause::new(format!("database: {e}"), e))
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
                CallError::Permanent(
                    format!("profile {profile_id} has no Stripe secret key to call the API with")
                        .into(),
                )
            })?;
        self.secret_box
            .open(&sealed, &secret_key_context(profile_id))
            .map_err(|e| CallError::Permanent(Cause::new(format!("profile {profile_id}: {e}"), e)))
    }
}

/// Stripe trouble that may pass (network, rate limit, 5xx) is retried; a rejected key waits
/// for a new one; a bad request is not retried.
pub fn stripe_failure(error: StripeError) -> CallError {
    if let Some(rejection) = key_rejection(&error) {
        return CallError::KeyRejected(Cause::new(rejection, error));
    }
    match error {
        StripeError::Network(_) | StripeError::RateLimited { .. } | StripeError::Server { .. } => {
            CallError::Retryable(Cause::new(format!("Stripe API: {error}"), error))
        }
        other => CallError::Permanent(Cause::new(format!("Stripe API: {other}"), other)),
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

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn a_failure_keeps_the_error_it_came_from() {
        let failure = CallError::from(sqlx::Error::PoolTimedOut);
        assert!(matches!(failure, CallError::Retryable(_)));
        assert!(failure.to_string().starts_with("database: "));
        let source = failure.source().expect("the database error");
        assert_eq!(source.to_string(), sqlx::Error::PoolTimedOut.to_string());

        let rejected = stripe_failure(StripeError::InvalidApiKey { code: None });
        assert!(matches!(rejected, CallError::KeyRejected(_)));
        assert!(
            rejected
                .source()
                .is_some_and(|e| e.to_string() == rejected.to_string())
        );

        let plain = CallError::Permanent("no profile prof_1".into());
        assert!(plain.source().is_none());
    }
}
