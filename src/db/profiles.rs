//! Merchants, Stripe profiles and their sealed webhook signing secrets.

use sqlx::postgres::PgListener;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;

pub struct ProfileRow {
    pub id: String,
    pub merchant_id: String,
    pub name: String,
    pub mode: String,
    pub created_at: OffsetDateTime,
    pub publishable_key: Option<String>,
    pub secret_key_set: bool,
    pub stripe_account_id: Option<String>,
    pub stripe_display_name: Option<String>,
    pub keys_checked_at: Option<OffsetDateTime>,
    pub webhook_endpoint_id: Option<String>,
    pub webhook_endpoint_status: Option<String>,
}

pub struct SecretRow {
    pub id: i64,
    pub secret_ciphertext: Vec<u8>,
    pub created_at: OffsetDateTime,
    pub expires_at: Option<OffsetDateTime>,
}

/// Creates the merchant row if this is the first time we hear of it.
pub async fn ensure_merchant(
    conn: &mut PgConnection,
    merchant_id: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "insert into merchants (id) values ($1) on conflict (id) do nothing",
        merchant_id
    )
    .execute(conn)
    .await
    .map(|_| ())
}

/// [`ensure_merchant`], telling whether the row was created (so the caller can audit it).
pub async fn ensure_merchant_created(
    conn: &mut PgConnection,
    merchant_id: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query!(
        "insert into merchants (id) values ($1) on conflict (id) do nothing",
        merchant_id
    )
    .execute(conn)
    .await
    .map(|r| r.rows_affected() == 1)
}

pub async fn insert_profile(
    conn: &mut PgConnection,
    id: &str,
    merchant_id: &str,
    name: &str,
    mode: &str,
) -> Result<ProfileRow, sqlx::Error> {
    sqlx::query_as!(
        ProfileRow,
        r#"insert into stripe_profiles (id, merchant_id, name, mode) values ($1, $2, $3, $4)
         returning id, merchant_id, name, mode, created_at, publishable_key,
            secret_key_ciphertext is not null as "secret_key_set!", stripe_account_id,
            stripe_display_name, keys_checked_at, webhook_endpoint_id, webhook_endpoint_status"#,
        id,
        merchant_id,
        name,
        mode
    )
    .fetch_one(conn)
    .await
}

pub async fn find_profile(
    conn: &mut PgConnection,
    id: &str,
) -> Result<Option<ProfileRow>, sqlx::Error> {
    sqlx::query_as!(
        ProfileRow,
        r#"select id, merchant_id, name, mode, created_at, publishable_key,
            secret_key_ciphertext is not null as "secret_key_set!", stripe_account_id,
            stripe_display_name, keys_checked_at, webhook_endpoint_id, webhook_endpoint_status
         from stripe_profiles where id = $1 and deleted_at is null"#,
        id
    )
    .fetch_optional(conn)
    .await
}

/// Up to `limit` live profiles in the order they were created, of one merchant or of all,
/// after the position `after` (created_at, id) when given.
pub async fn list_profiles(
    conn: &mut PgConnection,
    merchant_id: Option<&str>,
    after: Option<(OffsetDateTime, &str)>,
    limit: i64,
) -> Result<Vec<ProfileRow>, sqlx::Error> {
    let (after_created, after_id) = after.unzip();
    sqlx::query_as!(
        ProfileRow,
        r#"select id, merchant_id, name, mode, created_at, publishable_key,
            secret_key_ciphertext is not null as "secret_key_set!", stripe_account_id,
            stripe_display_name, keys_checked_at, webhook_endpoint_id, webhook_endpoint_status
         from stripe_profiles
         where ($1::text is null or merchant_id = $1) and deleted_at is null
           and ($2::timestamptz is null or (created_at, id) > ($2, $3::text))
         order by created_at, id
         limit $4"#,
        merchant_id,
        after_created,
        after_id,
        limit
    )
    .fetch_all(conn)
    .await
}

/// Every secret of each of `profile_ids`, newest first within a profile: one read for a page
/// of profiles.
pub async fn secrets_of_profiles(
    conn: &mut PgConnection,
    profile_ids: &[String],
) -> Result<Vec<(String, SecretRow)>, sqlx::Error> {
    let rows = sqlx::query!(
        "select profile_id, id, secret_ciphertext, created_at, expires_at from webhook_secrets
         where profile_id = any($1) order by profile_id, id desc",
        profile_ids
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| {
            let secret = SecretRow {
                id: r.id,
                secret_ciphertext: r.secret_ciphertext,
                created_at: r.created_at,
                expires_at: r.expires_at,
            };
            (r.profile_id, secret)
        })
        .collect())
}

pub async fn insert_secret(
    conn: &mut PgConnection,
    profile_id: &str,
    secret_ciphertext: &[u8],
    expires_at: Option<OffsetDateTime>,
) -> Result<SecretRow, sqlx::Error> {
    sqlx::query_as!(
        SecretRow,
        "insert into webhook_secrets (profile_id, secret_ciphertext, expires_at) values ($1, $2, $3)
         returning id, secret_ciphertext, created_at, expires_at",
        profile_id,
        secret_ciphertext,
        expires_at
    )
    .fetch_one(conn)
    .await
}

/// Every secret of the profile, newest first, expired ones included (callers filter by time).
pub async fn secrets_of(
    conn: &mut PgConnection,
    profile_id: &str,
) -> Result<Vec<SecretRow>, sqlx::Error> {
    sqlx::query_as!(
        SecretRow,
        "select id, secret_ciphertext, created_at, expires_at from webhook_secrets
         where profile_id = $1 order by id desc",
        profile_id
    )
    .fetch_all(conn)
    .await
}

/// Sets when a secret stops verifying; `None` when the profile has no such secret.
pub async fn expire_secret(
    conn: &mut PgConnection,
    profile_id: &str,
    secret_id: i64,
    at: OffsetDateTime,
) -> Result<Option<SecretRow>, sqlx::Error> {
    sqlx::query_as!(
        SecretRow,
        "update webhook_secrets set expires_at = $3
         where profile_id = $1 and id = $2
         returning id, secret_ciphertext, created_at, expires_at",
        profile_id,
        secret_id,
        at
    )
    .fetch_optional(conn)
    .await
}

/// The keys Stripe accepted, with what it said of the account they belong to.
pub struct CheckedKeys<'a> {
    /// `None` keeps the stored publishable key (a secret key rotated alone).
    pub publishable_key: Option<&'a str>,
    pub sealed_secret_key: &'a [u8],
    pub stripe_account_id: &'a str,
    pub stripe_display_name: Option<&'a str>,
}

/// Whether `error` is the unique index that lets one profile (not deleted) hold a Stripe
/// account.
pub fn is_account_held(error: &sqlx::Error) -> bool {
    error
        .as_database_error()
        .and_then(|e| e.constraint())
        .is_some_and(|c| c == "stripe_profiles_one_per_account")
}

/// Replaces the profile's keys (the old ones are forgotten) and records Stripe's answer;
/// `false` when the profile is gone or its keys were for another Stripe account.
pub async fn set_checked_keys(
    conn: &mut PgConnection,
    profile_id: &str,
    keys: &CheckedKeys<'_>,
) -> Result<bool, sqlx::Error> {
    sqlx::query!(
        "update stripe_profiles set publishable_key = coalesce($2, publishable_key),
            secret_key_ciphertext = $3, stripe_account_id = $4, stripe_display_name = $5,
            keys_checked_at = now(), updated_at = now()
         where id = $1 and deleted_at is null
            and (stripe_account_id is null or stripe_account_id = $4)",
        profile_id,
        keys.publishable_key,
        keys.sealed_secret_key,
        keys.stripe_account_id,
        keys.stripe_display_name
    )
    .execute(conn)
    .await
    .map(|r| r.rows_affected() == 1)
}

/// Gives every secret still verifying after `at` an expiry of `at` (a rotation's overlap);
/// returns their ids.
pub async fn expire_active_secrets(
    conn: &mut PgConnection,
    profile_id: &str,
    at: OffsetDateTime,
) -> Result<Vec<i64>, sqlx::Error> {
    sqlx::query_scalar!(
        "update webhook_secrets set expires_at = $2
         where profile_id = $1 and (expires_at is null or expires_at > $2)
         returning id",
        profile_id,
        at
    )
    .fetch_all(conn)
    .await
}

/// Records the webhook endpoint accredito registered on the profile's Stripe account.
pub async fn set_webhook_endpoint(
    conn: &mut PgConnection,
    profile_id: &str,
    endpoint_id: &str,
    status: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query!(
        "update stripe_profiles set webhook_endpoint_id = $2, webhook_endpoint_status = $3,
            updated_at = now()
         where id = $1 and deleted_at is null",
        profile_id,
        endpoint_id,
        status
    )
    .execute(conn)
    .await
    .map(|r| r.rows_affected() == 1)
}

pub struct ProfileKey {
    pub merchant_id: String,
    pub secret_key_ciphertext: Option<Vec<u8>>,
}

pub async fn secret_key_of(
    conn: &mut PgConnection,
    profile_id: &str,
) -> Result<Option<ProfileKey>, sqlx::Error> {
    sqlx::query_as!(
        ProfileKey,
        "select merchant_id, secret_key_ciphertext from stripe_profiles
         where id = $1 and deleted_at is null",
        profile_id
    )
    .fetch_optional(conn)
    .await
}

/// Profiles that have a Stripe secret key, for the periodic account checks.
pub async fn profiles_with_keys(conn: &mut PgConnection) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!(
        "select id from stripe_profiles
         where secret_key_ciphertext is not null and deleted_at is null order by id"
    )
    .fetch_all(conn)
    .await
}

/// The profile (not deleted) that holds a Stripe account: at most one does.
pub async fn profile_of_account(
    conn: &mut PgConnection,
    stripe_account_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar!(
        "select id from stripe_profiles where stripe_account_id = $1 and deleted_at is null",
        stripe_account_id
    )
    .fetch_optional(conn)
    .await
}

/// Locks the (undeleted) profile's row until the transaction ends; `false` when there is none.
pub async fn lock_profile(conn: &mut PgConnection, id: &str) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar!(
        "select 1 as locked from stripe_profiles where id = $1 and deleted_at is null
         for no key update",
        id
    )
    .fetch_optional(conn)
    .await
    .map(|row| row.is_some())
}

/// The merchant of a profile, deleted or not.
pub async fn merchant_of_any(
    conn: &mut PgConnection,
    profile_id: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar!(
        "select merchant_id from stripe_profiles where id = $1",
        profile_id
    )
    .fetch_optional(conn)
    .await
}

pub struct DeletionLock {
    pub deleted_at: Option<OffsetDateTime>,
    pub webhook_endpoint_id: Option<String>,
}

/// Locks a profile, deleted or not, for deleting it.
pub async fn lock_for_deletion(
    conn: &mut PgConnection,
    profile_id: &str,
) -> Result<Option<DeletionLock>, sqlx::Error> {
    sqlx::query_as!(
        DeletionLock,
        "select deleted_at, webhook_endpoint_id from stripe_profiles where id = $1
         for no key update",
        profile_id
    )
    .fetch_optional(conn)
    .await
}

/// Marks the profile deleted and forgets every signing secret. Its Stripe key is kept only
/// while it still has a webhook endpoint to remove with it ([`forget_endpoint`] then drops
/// both). Returns when it was deleted.
pub async fn mark_deleted(
    conn: &mut PgConnection,
    profile_id: &str,
) -> Result<OffsetDateTime, sqlx::Error> {
    let deleted_at = sqlx::query_scalar!(
        r#"update stripe_profiles set deleted_at = now(), keys_checked_at = null,
            secret_key_ciphertext = case when webhook_endpoint_id is null then null
                                         else secret_key_ciphertext end,
            updated_at = now()
         where id = $1
         returning deleted_at as "deleted_at!""#,
        profile_id
    )
    .fetch_one(&mut *conn)
    .await?;
    sqlx::query!(
        "delete from webhook_secrets where profile_id = $1",
        profile_id
    )
    .execute(conn)
    .await?;
    Ok(deleted_at)
}

/// A deleted profile's webhook endpoint still on Stripe, with the key to remove it.
pub struct PendingRemoval {
    pub merchant_id: String,
    pub webhook_endpoint_id: String,
    pub secret_key_ciphertext: Option<Vec<u8>>,
}

pub async fn pending_endpoint_removal(
    conn: &mut PgConnection,
    profile_id: &str,
) -> Result<Option<PendingRemoval>, sqlx::Error> {
    sqlx::query_as!(
        PendingRemoval,
        r#"select merchant_id, webhook_endpoint_id as "webhook_endpoint_id!", secret_key_ciphertext
         from stripe_profiles
         where id = $1 and deleted_at is not null and webhook_endpoint_id is not null"#,
        profile_id
    )
    .fetch_optional(conn)
    .await
}

/// Deleted profiles whose webhook endpoint is still to be removed from Stripe.
pub async fn deleted_with_endpoint(conn: &mut PgConnection) -> Result<Vec<String>, sqlx::Error> {
    sqlx::query_scalar!(
        "select id from stripe_profiles
         where deleted_at is not null and webhook_endpoint_id is not null order by id"
    )
    .fetch_all(conn)
    .await
}

/// Forgets a deleted profile's endpoint and, with it, its last key; `false` when another
/// process already did.
pub async fn forget_endpoint(
    conn: &mut PgConnection,
    profile_id: &str,
    endpoint_id: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query!(
        "update stripe_profiles set webhook_endpoint_id = null, webhook_endpoint_status = null,
            secret_key_ciphertext = null, updated_at = now()
         where id = $1 and deleted_at is not null and webhook_endpoint_id = $2",
        profile_id,
        endpoint_id
    )
    .execute(conn)
    .await
    .map(|r| r.rows_affected() == 1)
}

/// Listens for the profile ids whose profile or signing secrets changed (migration
/// 20261203000004 announces every change on commit).
pub async fn listen_for_changes(pool: &PgPool) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect_with(pool).await?;
    listener.listen("accredito_profile_changed").await?;
    Ok(listener)
}

/// Where a sealed value lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SealedIn {
    /// A webhook signing secret, by its id.
    WebhookSecret(i64),
    /// The profile's Stripe secret key.
    StripeKey,
}

/// A sealed value and where it lives, for `rekey`.
pub struct Sealed {
    pub place: SealedIn,
    pub profile_id: String,
    pub sealed: Vec<u8>,
}

/// Webhook signing secrets after `after_id`, by id.
pub async fn sealed_secrets_after(
    conn: &mut PgConnection,
    after_id: i64,
    limit: i64,
) -> Result<Vec<Sealed>, sqlx::Error> {
    let rows = sqlx::query!(
        "select id, profile_id, secret_ciphertext from webhook_secrets
         where id > $1 order by id limit $2",
        after_id,
        limit
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Sealed {
            place: SealedIn::WebhookSecret(r.id),
            profile_id: r.profile_id,
            sealed: r.secret_ciphertext,
        })
        .collect())
}

/// Profiles' sealed Stripe keys after profile `after`, by profile id.
pub async fn sealed_keys_after(
    conn: &mut PgConnection,
    after: &str,
    limit: i64,
) -> Result<Vec<Sealed>, sqlx::Error> {
    let rows = sqlx::query!(
        r#"select id, secret_key_ciphertext as "sealed!" from stripe_profiles
           where secret_key_ciphertext is not null and id > $1
           order by id limit $2"#,
        after,
        limit
    )
    .fetch_all(conn)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| Sealed {
            place: SealedIn::StripeKey,
            profile_id: r.id,
            sealed: r.sealed,
        })
        .collect())
}

/// Replaces a sealed value if it is still `old` (a concurrent change wins); `true` if replaced.
pub async fn reseal(
    conn: &mut PgConnection,
    item: &Sealed,
    new: &[u8],
) -> Result<bool, sqlx::Error> {
    let replaced = match item.place {
        SealedIn::StripeKey => {
            sqlx::query!(
                "update stripe_profiles set secret_key_ciphertext = $3
                 where id = $1 and secret_key_ciphertext = $2",
                item.profile_id,
                item.sealed,
                new
            )
            .execute(conn)
            .await?
        }
        SealedIn::WebhookSecret(id) => {
            sqlx::query!(
                "update webhook_secrets set secret_ciphertext = $3
                 where id = $1 and secret_ciphertext = $2",
                id,
                item.sealed,
                new
            )
            .execute(conn)
            .await?
        }
    };
    Ok(replaced.rows_affected() == 1)
}
