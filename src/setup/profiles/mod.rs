//! Stripe profiles: the operations the CLI and the `/v1` API share, and the directory the
//! webhook endpoint verifies against.

mod deletion;
pub mod directory;
mod keys;

pub use deletion::{EndpointRemoval, ProfileDeleted, remove_pending_endpoints};

use std::collections::HashMap;
use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use sqlx::PgPool;
use time::OffsetDateTime;

pub use keys::KeyError;
use keys::{validate_keys, validate_secret_key};

use crate::crypto::SecretBox;
use crate::db;
use crate::db::merchants::AuditEntry;
use crate::domain::{ProfileId, StripeMode, handled_event_types, is_valid_merchant_id};
use crate::setup::alerts;
use crate::setup::bank::checked_account_update;
use crate::setup::merchants::Actor;
use crate::stripe::client::{StripeClient, StripeError};

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
    #[error(transparent)]
    Keys(#[from] KeyError),
    /// Stripe answered 401 to `GET /v1/account` with the secret key: nothing was stored.
    #[error(
        "Stripe rejected the secret key ({reason}): copy the current keys from Stripe > Developers > API keys; nothing was stored"
    )]
    KeyRejected { reason: String },
    /// A restricted key without the permission to read the account.
    #[error(
        "the restricted key cannot read the Stripe account ({0}); give it read access to Account, or use the secret key; nothing was stored"
    )]
    KeyLacksPermission(String),
    /// Stripe answered, but not as hoped (a 400, say), for a reason other than the key.
    #[error("Stripe refused the request ({0}); nothing was stored")]
    StripeRefused(String),
    #[error(
        "the profile has no Stripe secret key: save its keys first (PUT /v1/profiles/{{id}}/keys, or accredito profile set-keys)"
    )]
    NoSecretKey,
    #[error("a stored key cannot be opened")]
    Secret(#[from] crate::crypto::OpenError),
    /// Stripe could not be asked; nothing was stored.
    #[error("Stripe could not be reached to check the key ({0}); nothing was stored, try again")]
    StripeUnavailable(String),
    #[error("no such profile")]
    NotFound,
    #[error(
        "merchant {merchant_id} takes payments with this profile: disable Stripe for the merchant, or enable it with another profile, before deleting it"
    )]
    InUse { merchant_id: String },
    #[error(
        "the key belongs to Stripe account {key_account}, but the profile is for account {profile_account}: a profile is one Stripe account, so create another profile for the other account; nothing was stored"
    )]
    OtherAccount {
        profile_account: String,
        key_account: String,
    },
    #[error(
        "Stripe account {account} is already held by profile {holder}: one profile per Stripe account, so use that profile (or delete it first); nothing was stored"
    )]
    AccountHeld { account: String, holder: String },
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
    /// Public by design; the secret key is shown only as whether one is set.
    pub publishable_key: Option<String>,
    pub secret_key_set: bool,
    pub stripe_account_id: Option<String>,
    /// The account's name as Stripe shows it (top-left in the dashboard).
    pub stripe_display_name: Option<String>,
    /// When Stripe last accepted the keys; null: never checked.
    #[serde(with = "time::serde::rfc3339::option")]
    pub keys_checked_at: Option<OffsetDateTime>,
    /// The Stripe webhook endpoint accredito registered for the profile, if it did.
    pub webhook_endpoint_id: Option<String>,
    pub webhook_endpoint_status: Option<String>,
    pub webhook_secrets: Vec<SecretView>,
}

/// What registering the webhook endpoint answers (never the signing secret itself).
#[derive(Debug, Clone, Serialize)]
pub struct EndpointRegistered {
    pub profile: ProfileView,
    pub endpoint_id: String,
    pub url: String,
    pub enabled_events: Vec<String>,
    /// The id of the signing secret stored for the new endpoint.
    pub webhook_secret_id: i64,
    /// Secrets that still verify until the overlap ends, for deliveries already under way.
    pub expiring_secret_ids: Vec<i64>,
    #[serde(with = "time::serde::rfc3339")]
    pub previous_secrets_expire_at: OffsetDateTime,
    /// The endpoint accredito had registered before, deleted from Stripe.
    pub previous_endpoint_deleted: Option<String>,
    pub warnings: Vec<String>,
}

/// How long the secrets of a replaced endpoint keep verifying.
pub const ROTATION_OVERLAP: time::Duration = time::Duration::hours(24);

/// What saving keys answers: the profile and what Stripe said of the account.
#[derive(Debug, Clone, Serialize)]
pub struct KeysSaved {
    pub profile: ProfileView,
    /// Not errors: e.g. a Stripe display name that differs from the profile name.
    pub warnings: Vec<String>,
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
    /// Checks keys on save (`GET /v1/account`).
    stripe: StripeClient,
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
        stripe: StripeClient,
    ) -> Self {
        Profiles {
            pool,
            secret_box,
            mode,
            public_base_url,
            stripe,
        }
    }

    pub fn webhook_url(&self, profile_id: &str) -> String {
        format!("{}/webhooks/stripe/{profile_id}", self.public_base_url)
    }

    #[tracing::instrument(skip_all, fields(merchant_id = %new.merchant_id, actor = %actor))]
    pub async fn create(
        &self,
        new: NewProfile,
        actor: &Actor,
    ) -> Result<ProfileView, ProfileError> {
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
        if db::profiles::ensure_merchant_created(&mut tx, &new.merchant_id).await? {
            let entry = AuditEntry {
                actor: actor.as_str(),
                merchant_id: Some(&new.merchant_id),
                profile_id: None,
                action: "merchant.created",
                detail: serde_json::json!({ "stripe_enabled": false, "by": "profile.created" }),
            };
            db::merchants::audit(&mut tx, &entry).await?;
        }
        let row = db::profiles::insert_profile(
            &mut tx,
            id.as_str(),
            &new.merchant_id,
            name,
            self.mode.as_str(),
        )
        .await?;
        let secret = db::profiles::insert_secret(&mut tx, id.as_str(), &sealed, None).await?;
        let detail = serde_json::json!({ "name": name, "mode": self.mode.as_str(),
            "webhook_secret_id": secret.id });
        audit(&mut tx, actor, &row, "profile.created", detail).await?;
        tx.commit().await?;
        tracing::info!(profile_id = %row.id, "profile created");
        Ok(self.view(row, vec![secret.into()]))
    }

    // Optional values as plain values (or absent), never `Some(..)`.
    #[tracing::instrument(
        skip(self, secret, expires_at),
        fields(actor = %actor, expires_at = expires_at.map(tracing::field::display))
    )]
    pub async fn add_secret(
        &self,
        profile_id: &str,
        secret: &SecretString,
        expires_at: Option<OffsetDateTime>,
        actor: &Actor,
    ) -> Result<SecretView, ProfileError> {
        validate_secret(secret)?;
        let mut tx = self.pool.begin().await?;
        // Locked, so a secret is never added to a profile being deleted.
        if !db::profiles::lock_profile(&mut tx, profile_id).await? {
            return Err(ProfileError::NotFound);
        }
        let profile = db::profiles::find_profile(&mut tx, profile_id)
            .await?
            .ok_or(ProfileError::NotFound)?;
        let sealed = self.secret_box.seal(secret.expose_secret(), profile_id);
        let row = db::profiles::insert_secret(&mut tx, profile_id, &sealed, expires_at).await?;
        let detail = serde_json::json!({ "webhook_secret_id": row.id,
            "expires_at": rfc3339(row.expires_at) });
        audit(
            &mut tx,
            actor,
            &profile,
            "profile.webhook_secret_added",
            detail,
        )
        .await?;
        tx.commit().await?;
        tracing::info!(secret_id = row.id, "webhook secret added");
        Ok(row.into())
    }

    #[tracing::instrument(skip(self), fields(actor = %actor))]
    pub async fn expire_secret(
        &self,
        profile_id: &str,
        secret_id: i64,
        at: OffsetDateTime,
        actor: &Actor,
    ) -> Result<SecretView, ProfileError> {
        let mut tx = self.pool.begin().await?;
        let row = db::profiles::expire_secret(&mut tx, profile_id, secret_id, at)
            .await?
            .ok_or(ProfileError::SecretNotFound)?;
        if let Some(profile) = db::profiles::find_profile(&mut tx, profile_id).await? {
            let detail = serde_json::json!({ "webhook_secret_id": secret_id,
                "expires_at": rfc3339(Some(at)) });
            audit(
                &mut tx,
                actor,
                &profile,
                "profile.webhook_secret_expired",
                detail,
            )
            .await?;
        }
        tx.commit().await?;
        tracing::info!("webhook secret expiry set");
        Ok(row.into())
    }

    /// Rotates the profile's Stripe secret key alone, keeping its publishable key: checked as
    /// [`Profiles::set_keys`] checks a pair (against the stored publishable key when there is
    /// one), and stored only once Stripe accepts it.
    pub async fn set_secret_key(
        &self,
        profile_id: &str,
        secret_key: &SecretString,
        actor: &Actor,
    ) -> Result<KeysSaved, ProfileError> {
        self.save_keys(profile_id, None, secret_key, actor).await
    }

    /// Saves (or rotates) the profile's publishable and secret keys after checking them: the
    /// deployment's mode only (live: `pk_live_` with `sk_live_`/`rk_live_`), each in its own
    /// field, and a secret key Stripe accepts (`GET /v1/account`). Nothing is stored unless all
    /// of that holds; the old keys are then forgotten. The account's id and display name are
    /// stored; a display name that differs from the profile name is a warning.
    pub async fn set_keys(
        &self,
        profile_id: &str,
        publishable_key: &str,
        secret_key: &SecretString,
        actor: &Actor,
    ) -> Result<KeysSaved, ProfileError> {
        self.save_keys(profile_id, Some(publishable_key), secret_key, actor)
            .await
    }

    /// `AccountHeld` when another profile (not deleted) holds the Stripe account.
    async fn refuse_held_account(
        &self,
        profile_id: &str,
        account: &str,
    ) -> Result<(), ProfileError> {
        let mut conn = self.pool.acquire().await?;
        match db::profiles::profile_of_account(&mut conn, account).await? {
            Some(holder) if holder != profile_id => Err(ProfileError::AccountHeld {
                account: account.to_owned(),
                holder,
            }),
            _ => Ok(()),
        }
    }

    /// Both key routes: `publishable_key` `None` keeps the stored one.
    #[tracing::instrument(skip(self, publishable_key, secret_key), fields(actor = %actor))]
    async fn save_keys(
        &self,
        profile_id: &str,
        publishable_key: Option<&str>,
        secret_key: &SecretString,
        actor: &Actor,
    ) -> Result<KeysSaved, ProfileError> {
        let secret = secret_key.expose_secret().trim();
        let stored = {
            let mut conn = self.pool.acquire().await?;
            db::profiles::find_profile(&mut conn, profile_id)
                .await?
                .ok_or(ProfileError::NotFound)?
        };
        let secret_kind = match publishable_key.map(str::trim) {
            Some(publishable) => validate_keys(self.mode, publishable, secret)?,
            None => {
                // The deployment's mode first: its message says why test keys are refused.
                let kind = validate_secret_key(self.mode, secret)?;
                if let Some(publishable) = stored.publishable_key.as_deref() {
                    validate_keys(self.mode, publishable, secret)?;
                }
                kind
            }
        };
        // The network call happens outside any transaction.
        let trimmed = SecretString::from(secret.to_owned());
        let account = self
            .stripe
            .retrieve_account(&trimmed)
            .await
            .map_err(key_check_error)?;
        let account_changed = |row: &db::profiles::ProfileRow| {
            row.stripe_account_id
                .as_deref()
                .filter(|known| *known != account.id)
                .map(|known| ProfileError::OtherAccount {
                    profile_account: known.to_owned(),
                    key_account: account.id.clone(),
                })
        };
        if let Some(refused) = account_changed(&stored) {
            return Err(refused);
        }
        self.refuse_held_account(profile_id, &account.id).await?;
        let display_name = account.display_name().map(str::to_owned);
        let sealed = self
            .secret_box
            .seal(secret, &secret_key_context(profile_id));

        let mut tx = self.pool.begin().await?;
        let keys = db::profiles::CheckedKeys {
            publishable_key: publishable_key.map(str::trim),
            sealed_secret_key: &sealed,
            stripe_account_id: &account.id,
            stripe_display_name: display_name.as_deref(),
        };
        let saved = match db::profiles::set_checked_keys(&mut tx, profile_id, &keys).await {
            Err(error) if db::profiles::is_account_held(&error) => {
                // Another profile took the account since the check above.
                drop(tx);
                self.refuse_held_account(profile_id, &account.id).await?;
                return Err(error.into());
            }
            saved => saved?,
        };
        if !saved {
            // Deleted, or given another account's keys, since it was read above.
            let now = db::profiles::find_profile(&mut tx, profile_id).await?;
            return Err(now
                .as_ref()
                .and_then(account_changed)
                .unwrap_or(ProfileError::NotFound));
        }
        let row = db::profiles::find_profile(&mut tx, profile_id)
            .await?
            .ok_or(ProfileError::NotFound)?;
        let (action, detail) = {
            let mut detail = serde_json::json!({
                "secret_key": secret_kind.describe(),
                "checked_with_stripe": true,
                "stripe_account_id": account.id,
                "stripe_display_name": display_name,
            });
            match publishable_key {
                Some(_) => {
                    detail["publishable_key"] = row.publishable_key.clone().into();
                    ("profile.keys_set", detail)
                }
                None => ("profile.secret_key_set", detail),
            }
        };
        audit(&mut tx, actor, &row, action, detail).await?;
        // Stripe just told us the account's bank and payout state, as the account sweep would:
        // readiness and the no-bank-account alert need not wait for the next sweep.
        let bank = db::bank::update(
            &mut tx,
            &row.merchant_id,
            &checked_account_update(profile_id, &account),
        )
        .await?;
        alerts::sync_bank_alerts(&mut tx, &bank).await?;
        let secrets = db::profiles::secrets_of(&mut tx, profile_id).await?;
        tx.commit().await?;
        tracing::info!(stripe_account_id = %account.id, "Stripe keys checked and saved");
        self.route_waiting_connect_events(&account.id).await;

        let mut warnings = Vec::new();
        if let Some(shown) = &display_name
            && !shown.trim().eq_ignore_ascii_case(row.name.trim())
        {
            warnings.push(format!(
                "Stripe shows this account as {shown:?} but the profile is named {:?}: the profile name should be the account name shown top-left in the Stripe dashboard",
                row.name
            ));
        }
        Ok(KeysSaved {
            profile: self.view(row, secrets.into_iter().map(SecretView::from).collect()),
            warnings,
        })
    }

    /// Connect events that arrived before any profile had this account are routed to it now.
    /// Best effort: the account sweep routes whatever is left.
    async fn route_waiting_connect_events(&self, stripe_account_id: &str) {
        match crate::ingest::connect::route_unrouted(&self.pool, Some(stripe_account_id)).await {
            Ok(0) => {}
            Ok(routed) => tracing::info!(routed, "waiting Connect events routed to the profile"),
            Err(error) => {
                tracing::warn!(%error, "routing waiting Connect events failed; the sweep retries")
            }
        }
    }

    /// Deletes the profile (see [`deletion`]): from then on it verifies no webhook, routes no
    /// Connect event and cannot be selected; then the webhook endpoint accredito registered
    /// for it is removed from Stripe and its key forgotten. Refused while a merchant takes
    /// payments with it. The row stays, marked deleted: stored events and the audit trail
    /// name it.
    #[tracing::instrument(skip(self), fields(actor = %actor))]
    pub async fn delete(
        &self,
        profile_id: &str,
        actor: &Actor,
    ) -> Result<ProfileDeleted, ProfileError> {
        let claimed = deletion::claim(&self.pool, profile_id, actor).await?;
        let removal = deletion::remove_endpoint(
            &self.pool,
            &self.secret_box,
            &self.stripe,
            profile_id,
            actor,
        )
        .await;
        // The profile is deleted whatever happens to step 2; a failed step 2 is retried.
        let removal = match (removal, &claimed.webhook_endpoint_id) {
            (Ok(removal), _) => removal,
            (Err(error), None) => {
                tracing::warn!(%error, "a deleted profile's bookkeeping failed after its deletion");
                EndpointRemoval::NoEndpoint
            }
            (Err(error), Some(endpoint_id)) => {
                tracing::warn!(%error, "removing a deleted profile's endpoint failed");
                EndpointRemoval::Pending {
                    endpoint_id: endpoint_id.clone(),
                    reason: error.to_string(),
                }
            }
        };
        Ok(ProfileDeleted::new(profile_id, claimed, removal))
    }

    /// Creates the profile's webhook endpoint on its Stripe account with its own key
    /// (`POST /v1/webhook_endpoints`: the handled event types, URL = the profile's webhook URL)
    /// and stores the signing secret Stripe returns, so nobody copies `whsec_` by hand.
    /// Registering again rotates: the new secret verifies at once, the old ones keep verifying
    /// for [`ROTATION_OVERLAP`] (deliveries already under way), and the endpoint registered
    /// before is deleted from Stripe so events are not delivered twice.
    #[tracing::instrument(skip(self), fields(actor = %actor))]
    pub async fn register_webhook_endpoint(
        &self,
        profile_id: &str,
        actor: &Actor,
    ) -> Result<EndpointRegistered, ProfileError> {
        let (previous, key) = {
            let mut conn = self.pool.acquire().await?;
            let profile = db::profiles::find_profile(&mut conn, profile_id)
                .await?
                .ok_or(ProfileError::NotFound)?;
            let sealed = db::profiles::secret_key_of(&mut conn, profile_id)
                .await?
                .and_then(|k| k.secret_key_ciphertext)
                .ok_or(ProfileError::NoSecretKey)?;
            let key = self
                .secret_box
                .open(&sealed, &secret_key_context(profile_id))?;
            (profile.webhook_endpoint_id, key)
        };
        let url = self.webhook_url(profile_id);
        let created = self
            .stripe
            .create_webhook_endpoint(&key, &url, &handled_event_types())
            .await
            .map_err(key_check_error)?;
        let sealed = self
            .secret_box
            .seal(created.secret.expose_secret(), profile_id);
        let overlap_ends = OffsetDateTime::now_utc() + ROTATION_OVERLAP;

        let stored = async {
            let mut tx = self.pool.begin().await?;
            // Locked, so a profile deleted meanwhile gets no endpoint (the one just created is
            // removed below) and one being deleted sees this endpoint to remove.
            if !db::profiles::lock_profile(&mut tx, profile_id).await? {
                return Err(ProfileError::NotFound);
            }
            let expiring =
                db::profiles::expire_active_secrets(&mut tx, profile_id, overlap_ends).await?;
            let secret = db::profiles::insert_secret(&mut tx, profile_id, &sealed, None).await?;
            db::profiles::set_webhook_endpoint(&mut tx, profile_id, &created.id, &created.status)
                .await?;
            let row = db::profiles::find_profile(&mut tx, profile_id)
                .await?
                .ok_or(ProfileError::NotFound)?;
            let detail = serde_json::json!({
                "endpoint_id": created.id,
                "url": url,
                "webhook_secret_id": secret.id,
                "expiring_secret_ids": expiring,
                "previous_secrets_expire_at": rfc3339(Some(overlap_ends)),
                "previous_endpoint_id": previous,
            });
            audit(
                &mut tx,
                actor,
                &row,
                "profile.webhook_endpoint_registered",
                detail,
            )
            .await?;
            let secrets = db::profiles::secrets_of(&mut tx, profile_id).await?;
            tx.commit().await?;
            Ok::<_, ProfileError>((row, secret.id, expiring, secrets))
        }
        .await;
        let (row, secret_id, expiring, secrets) = match stored {
            Ok(stored) => stored,
            Err(error) => {
                // Its secret is lost with the transaction: an endpoint nobody can verify.
                if let Err(e) = self.stripe.delete_webhook_endpoint(&key, &created.id).await {
                    tracing::warn!(endpoint_id = %created.id, error = %e, "could not delete an endpoint whose secret was not stored");
                }
                return Err(error);
            }
        };
        tracing::info!(endpoint_id = %created.id, "webhook endpoint registered");

        let mut warnings = Vec::new();
        let mut previous_endpoint_deleted = None;
        if let Some(old) = previous.filter(|old| *old != created.id) {
            match self.stripe.delete_webhook_endpoint(&key, &old).await {
                Ok(()) | Err(StripeError::NotFound { .. }) => previous_endpoint_deleted = Some(old),
                Err(error) => warnings.push(format!(
                    "the previous webhook endpoint {old} could not be deleted from Stripe ({error}); delete it in Stripe > Developers > Webhooks"
                )),
            }
        }
        Ok(EndpointRegistered {
            profile: self.view(row, secrets.into_iter().map(SecretView::from).collect()),
            endpoint_id: created.id,
            url,
            enabled_events: handled_event_types()
                .into_iter()
                .map(str::to_owned)
                .collect(),
            webhook_secret_id: secret_id,
            expiring_secret_ids: expiring,
            previous_secrets_expire_at: overlap_ends,
            previous_endpoint_deleted,
            warnings,
        })
    }

    pub async fn show(&self, profile_id: &str) -> Result<ProfileView, ProfileError> {
        let mut conn = self.pool.acquire().await?;
        let row = db::profiles::find_profile(&mut conn, profile_id)
            .await?
            .ok_or(ProfileError::NotFound)?;
        let secrets = db::profiles::secrets_of(&mut conn, profile_id).await?;
        Ok(self.view(row, secrets.into_iter().map(SecretView::from).collect()))
    }

    /// Up to `limit` profiles (of one merchant, or of all) after `after`, in creation order.
    pub async fn list(
        &self,
        merchant_id: Option<&str>,
        after: Option<(OffsetDateTime, &str)>,
        limit: i64,
    ) -> Result<Vec<ProfileView>, ProfileError> {
        let mut conn = self.pool.acquire().await?;
        let rows = db::profiles::list_profiles(&mut conn, merchant_id, after, limit).await?;
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let mut secrets: HashMap<String, Vec<SecretView>> = HashMap::new();
        for (profile_id, secret) in db::profiles::secrets_of_profiles(&mut conn, &ids).await? {
            secrets.entry(profile_id).or_default().push(secret.into());
        }
        Ok(rows
            .into_iter()
            .map(|row| {
                let own = secrets.remove(&row.id).unwrap_or_default();
                self.view(row, own)
            })
            .collect())
    }

    fn view(&self, row: db::profiles::ProfileRow, webhook_secrets: Vec<SecretView>) -> ProfileView {
        ProfileView {
            webhook_url: self.webhook_url(&row.id),
            id: row.id,
            merchant_id: row.merchant_id,
            name: row.name,
            mode: row.mode,
            created_at: row.created_at,
            publishable_key: row.publishable_key,
            secret_key_set: row.secret_key_set,
            stripe_account_id: row.stripe_account_id,
            stripe_display_name: row.stripe_display_name,
            keys_checked_at: row.keys_checked_at,
            webhook_endpoint_id: row.webhook_endpoint_id,
            webhook_endpoint_status: row.webhook_endpoint_status,
            webhook_secrets,
        }
    }
}

/// The additional data a profile's Stripe key is sealed with (distinct from its webhook secrets').
pub fn secret_key_context(profile_id: &str) -> String {
    format!("{profile_id}/stripe-secret-key")
}

async fn audit(
    conn: &mut sqlx::PgConnection,
    actor: &Actor,
    profile: &db::profiles::ProfileRow,
    action: &str,
    detail: serde_json::Value,
) -> Result<(), sqlx::Error> {
    db::merchants::audit(
        conn,
        &AuditEntry {
            actor: actor.as_str(),
            merchant_id: Some(&profile.merchant_id),
            profile_id: Some(&profile.id),
            action,
            detail,
        },
    )
    .await
}

fn rfc3339(at: Option<OffsetDateTime>) -> Option<String> {
    at.and_then(|t| {
        t.format(&time::format_description::well_known::Rfc3339)
            .ok()
    })
}

fn key_check_error(error: StripeError) -> ProfileError {
    match error {
        StripeError::InvalidApiKey { code } => ProfileError::KeyRejected {
            reason: match code.as_deref() {
                Some("api_key_expired") => "401, the key has expired or was rolled".to_owned(),
                Some(code) => format!("401, {code}"),
                None => "401, the key is not valid or was revoked".to_owned(),
            },
        },
        StripeError::PermissionDenied { message } => ProfileError::KeyLacksPermission(message),
        other if other.is_transient() => ProfileError::StripeUnavailable(other.to_string()),
        other => ProfileError::StripeRefused(other.to_string()),
    }
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
    use keys::KeyKind;

    const PK_LIVE: &str = "pk_live_51Abc";
    const SK_LIVE: &str = "sk_live_51Abc";
    const RK_LIVE: &str = "rk_live_51Abc";
    const PK_TEST: &str = "pk_test_51Abc";
    const SK_TEST: &str = "sk_test_51Abc";

    #[test]
    fn live_mode_takes_only_live_keys() {
        let live = |p, s| validate_keys(StripeMode::Live, p, s);
        assert!(live(PK_LIVE, SK_LIVE).is_ok());
        assert_eq!(live(PK_LIVE, RK_LIVE).map(KeyKind::describe), Ok("rk_live"));
        assert_eq!(live(PK_TEST, SK_TEST), Err(KeyError::TestKeysInLiveMode));
        assert!(
            KeyError::TestKeysInLiveMode
                .to_string()
                .contains("transactions fail")
        );
        assert!(matches!(
            live(PK_LIVE, SK_TEST),
            Err(KeyError::MixedModes { .. })
        ));
        assert!(matches!(
            live(PK_TEST, SK_LIVE),
            Err(KeyError::MixedModes { .. })
        ));
        assert_eq!(
            live(SK_LIVE, PK_LIVE),
            Err(KeyError::PublishableInSecretField)
        );
        assert_eq!(
            live(SK_LIVE, SK_LIVE),
            Err(KeyError::SecretInPublishableField)
        );
        assert_eq!(
            live(PK_LIVE, PK_LIVE),
            Err(KeyError::PublishableInSecretField)
        );
        assert_eq!(live("", SK_LIVE), Err(KeyError::BlankPublishable));
        assert_eq!(live(PK_LIVE, ""), Err(KeyError::BlankSecret));
        assert_eq!(
            live("pk_live_", SK_LIVE),
            Err(KeyError::MalformedPublishable)
        );
        assert_eq!(live(PK_LIVE, "whsec_abc"), Err(KeyError::MalformedSecret));
        assert_eq!(live(PK_LIVE, "sk_live_a b"), Err(KeyError::MalformedSecret));
    }

    #[test]
    fn test_mode_takes_only_test_keys() {
        let test = |p, s| validate_keys(StripeMode::Test, p, s);
        assert!(test(PK_TEST, SK_TEST).is_ok());
        assert_eq!(test(PK_LIVE, SK_LIVE), Err(KeyError::LiveKeysInTestMode));
    }

    #[test]
    fn key_errors_never_quote_a_key() {
        let err = validate_keys(StripeMode::Live, SK_LIVE, PK_LIVE).expect_err("swapped");
        assert!(!err.to_string().contains(SK_LIVE));
    }

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
