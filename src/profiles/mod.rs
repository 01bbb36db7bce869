//! Stripe profiles: the operations the CLI and the `/v1` API share, and the directory the
//! webhook endpoint verifies against.

pub mod directory;

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sqlx::PgPool;
use time::OffsetDateTime;

use crate::crypto::SecretBox;
use crate::db;
use crate::domain::{ProfileId, StripeMode, is_valid_merchant_id};

#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("merchant id must be 1-128 characters of letters, digits, '_', '.', ':' or '-'")]
    InvalidMerchantId,
    #[error(
        "profile name must not be blank (use the account name shown top-left in the Stripe dashboard)"
    )]
    BlankName,
    #[error("webhook signing secret must not be blank")]
    BlankSecret,
    #[error(
        "webhook signing secret must be the whsec_... value from the Stripe dashboard or `stripe listen`"
    )]
    MalformedSecret,
    #[error(
        "Stripe secret key must be an sk_ or rk_ key from the Stripe dashboard (Developers > API keys)"
    )]
    MalformedSecretKey,
    #[error("no such profile")]
    NotFound,
    #[error("the profile has no such webhook secret")]
    SecretNotFound,
    #[error("database error")]
    Database(#[from] sqlx::Error),
}

/// A profile as the API and CLI show it: secrets by id and expiry, never by value.
#[derive(Debug, Clone, Serialize)]
pub struct ProfileView {
    pub id: String,
    pub merchant_id: String,
    pub name: String,
    pub mode: String,
    pub webhook_url: String,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    pub webhook_secrets: Vec<SecretView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SecretView {
    pub id: i64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339::option")]
    pub expires_at: Option<OffsetDateTime>,
    pub active: bool,
}

impl From<db::profiles::SecretRow> for SecretView {
    fn from(row: db::profiles::SecretRow) -> Self {
        let active = row
            .expires_at
            .is_none_or(|at| at > OffsetDateTime::now_utc());
        SecretView {
            id: row.id,
            created_at: row.created_at,
            expires_at: row.expires_at,
            active,
        }
    }
}

/// Profile operations. Holds the pool, the cipher for secrets, and what webhook URLs look like.
#[derive(Clone)]
pub struct Profiles {
    pool: PgPool,
    secret_box: Arc<SecretBox>,
    mode: StripeMode,
    public_base_url: String,
}

pub struct NewProfile {
    pub merchant_id: String,
    pub name: String,
    pub webhook_secret: SecretString,
}

impl Profiles {
    pub fn new(
        pool: PgPool,
        secret_box: Arc<SecretBox>,
        mode: StripeMode,
        public_base_url: String,
    ) -> Self {
        Profiles {
            pool,
            secret_box,
            mode,
            public_base_url,
        }
    }

    pub fn webhook_url(&self, profile_id: &str) -> String {
        format!("{}/webhooks/stripe/{profile_id}", self.public_base_url)
    }

    #[tracing::instrument(skip_all, fields(merchant_id = %new.merchant_id))]
    pub async fn create(&self, new: NewProfile) -> Result<ProfileView, ProfileError> {
        if !is_valid_merchant_id(&new.merchant_id) {
            return Err(ProfileError::InvalidMerchantId);
        }
        let name = new.name.trim();
        if name.is_empty() {
            return Err(ProfileError::BlankName);
        }
        validate_secret(&new.webhook_secret)?;
        let id = ProfileId::generate();
        let sealed = self
            .secret_box
            .seal(new.webhook_secret.expose_secret(), id.as_str());

        let mut tx = self.pool.begin().await?;
        db::profiles::ensure_merchant(&mut tx, &new.merchant_id).await?;
        let row = db::profiles::insert_profile(
            &mut tx,
            id.as_str(),
            &new.merchant_id,
            name,
            self.mode.as_str(),
        )
        .await?;
        let secret = db::profiles::insert_secret(&mut tx, id.as_str(), &sealed, None).await?;
        tx.commit().await?;
        tracing::info!(profile_id = %row.id, "profile created");
        Ok(self.view(row, vec![secret.into()]))
    }

    #[tracing::instrument(skip(self, secret))]
    pub async fn add_secret(
        &self,
        profile_id: &str,
        secret: &SecretString,
        expires_at: Option<OffsetDateTime>,
    ) -> Result<SecretView, ProfileError> {
        validate_secret(secret)?;
        let mut conn = self.pool.acquire().await?;
        db::profiles::find_profile(&mut conn, profile_id)
            .await?
            .ok_or(ProfileError::NotFound)?;
        let sealed = self.secret_box.seal(secret.expose_secret(), profile_id);
        let row = db::profiles::insert_secret(&mut conn, profile_id, &sealed, expires_at).await?;
        tracing::info!(secret_id = row.id, "webhook secret added");
        Ok(row.into())
    }

    #[tracing::instrument(skip(self))]
    pub async fn expire_secret(
        &self,
        profile_id: &str,
        secret_id: i64,
        at: OffsetDateTime,
    ) -> Result<SecretView, ProfileError> {
        let mut conn = self.pool.acquire().await?;
        let row = db::profiles::expire_secret(&mut conn, profile_id, secret_id, at)
            .await?
            .ok_or(ProfileError::SecretNotFound)?;
        tracing::info!("webhook secret expiry set");
        Ok(row.into())
    }

    /// Stores the profile's Stripe secret key (sealed), replacing any previous one: rotating a
    /// key is setting the new one.
    #[tracing::instrument(skip(self, key))]
    pub async fn set_secret_key(
        &self,
        profile_id: &str,
        key: &SecretString,
    ) -> Result<(), ProfileError> {
        let k = key.expose_secret().trim();
        let well_formed = (k.starts_with("sk_") || k.starts_with("rk_"))
            && k.len() > 8
            && k.bytes().all(|b| b.is_ascii_graphic());
        if !well_formed {
            return Err(ProfileError::MalformedSecretKey);
        }
        let sealed = self.secret_box.seal(k, &secret_key_context(profile_id));
        let mut conn = self.pool.acquire().await?;
        if !db::profiles::set_secret_key(&mut conn, profile_id, &sealed).await? {
            return Err(ProfileError::NotFound);
        }
        tracing::info!("Stripe secret key set");
        Ok(())
    }

    pub async fn show(&self, profile_id: &str) -> Result<ProfileView, ProfileError> {
        let mut conn = self.pool.acquire().await?;
        let row = db::profiles::find_profile(&mut conn, profile_id)
            .await?
            .ok_or(ProfileError::NotFound)?;
        let secrets = db::profiles::secrets_of(&mut conn, profile_id).await?;
        Ok(self.view(row, secrets.into_iter().map(SecretView::from).collect()))
    }

    pub async fn list(&self, merchant_id: Option<&str>) -> Result<Vec<ProfileView>, ProfileError> {
        let mut conn = self.pool.acquire().await?;
        let rows = db::profiles::list_profiles(&mut conn, merchant_id).await?;
        let mut views = Vec::with_capacity(rows.len());
        for row in rows {
            let secrets = db::profiles::secrets_of(&mut conn, &row.id).await?;
            views.push(self.view(row, secrets.into_iter().map(SecretView::from).collect()));
        }
        Ok(views)
    }

    fn view(&self, row: db::profiles::ProfileRow, webhook_secrets: Vec<SecretView>) -> ProfileView {
        ProfileView {
            webhook_url: self.webhook_url(&row.id),
            id: row.id,
            merchant_id: row.merchant_id,
            name: row.name,
            mode: row.mode,
            created_at: row.created_at,
            webhook_secrets,
        }
    }
}

/// The additional data a profile's Stripe key is sealed with (distinct from its webhook secrets').
pub fn secret_key_context(profile_id: &str) -> String {
    format!("{profile_id}/stripe-secret-key")
}

fn validate_secret(secret: &SecretString) -> Result<(), ProfileError> {
    let s = secret.expose_secret();
    if s.trim().is_empty() {
        return Err(ProfileError::BlankSecret);
    }
    let rest = s
        .strip_prefix("whsec_")
        .ok_or(ProfileError::MalformedSecret)?;
    if rest.is_empty() || s.len() > 255 || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ProfileError::MalformedSecret);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_must_be_whsec_values() {
        let check = |s: &str| validate_secret(&SecretString::from(s.to_owned()));
        assert!(check("whsec_abc123").is_ok());
        assert!(matches!(check(""), Err(ProfileError::BlankSecret)));
        assert!(matches!(check("   "), Err(ProfileError::BlankSecret)));
        assert!(matches!(
            check("whsec_"),
            Err(ProfileError::MalformedSecret)
        ));
        assert!(matches!(
            check("sk_live_abc"),
            Err(ProfileError::MalformedSecret)
        ));
        assert!(matches!(
            check("whsec_a b"),
            Err(ProfileError::MalformedSecret)
        ));
    }
}
