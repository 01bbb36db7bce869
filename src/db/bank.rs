//! What is known of each merchant's bank account and payouts, from events and API checks.

use sqlx::PgConnection;

/// A change to a merchant's bank state; `None` fields keep what is stored.
#[derive(Debug, Default)]
pub struct BankUpdate<'a> {
    pub profile_id: Option<&'a str>,
    pub stripe_account_id: Option<&'a str>,
    pub payouts_enabled: Option<bool>,
    pub external_account_count: Option<i32>,
    pub external_account_due: Option<bool>,
    /// `Some(None)` clears the last failure (a later payout was paid).
    pub last_payout_failure_code: Option<Option<&'a str>>,
    pub available_balance: Option<i64>,
    pub checked: bool,
    pub last_error: Option<Option<&'a str>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BankState {
    pub merchant_id: String,
    pub payouts_enabled: Option<bool>,
    pub external_account_count: Option<i32>,
    pub external_account_due: bool,
    pub last_payout_failure_code: Option<String>,
    pub available_balance: Option<i64>,
    /// The last Stripe call with the profile's key was refused (401/403).
    pub key_rejected: bool,
}

pub async fn update(
    conn: &mut PgConnection,
    merchant_id: &str,
    u: &BankUpdate<'_>,
) -> Result<BankState, sqlx::Error> {
    let clear_failure = matches!(u.last_payout_failure_code, Some(None));
    let failure = u.last_payout_failure_code.flatten();
    let clear_error = matches!(u.last_error, Some(None));
    let error = u.last_error.flatten();
    sqlx::query_as!(
        BankState,
        "insert into merchant_bank_states (merchant_id, profile_id, stripe_account_id, payouts_enabled,
            external_account_count, external_account_due, last_payout_failure_code, available_balance,
            checked_at, last_error)
         values ($1, $2, $3, $4, $5, coalesce($6, false), $7, $8, case when $9 then now() end, $10)
         on conflict (merchant_id) do update set
            profile_id = coalesce(excluded.profile_id, merchant_bank_states.profile_id),
            stripe_account_id = coalesce(excluded.stripe_account_id, merchant_bank_states.stripe_account_id),
            payouts_enabled = coalesce($4, merchant_bank_states.payouts_enabled),
            external_account_count = coalesce($5, merchant_bank_states.external_account_count),
            external_account_due = coalesce($6, merchant_bank_states.external_account_due),
            last_payout_failure_code = case when $11 then null
                else coalesce($7, merchant_bank_states.last_payout_failure_code) end,
            available_balance = coalesce($8, merchant_bank_states.available_balance),
            checked_at = case when $9 then now() else merchant_bank_states.checked_at end,
            last_error = case when $12 then null else coalesce($10, merchant_bank_states.last_error) end,
            updated_at = now()
         returning merchant_id, payouts_enabled, external_account_count, external_account_due,
                   last_payout_failure_code, available_balance,
                   coalesce(last_error like 'Stripe rejected the secret key%', false) as \"key_rejected!\"",
        merchant_id,
        u.profile_id,
        u.stripe_account_id,
        u.payouts_enabled,
        u.external_account_count,
        u.external_account_due,
        failure,
        u.available_balance,
        u.checked,
        error,
        clear_failure,
        clear_error
    )
    .fetch_one(conn)
    .await
}

/// Records whether the merchant lacks a bank account (as [`crate::setup::alerts`] decides).
pub async fn set_lacks_bank_account(
    conn: &mut PgConnection,
    merchant_id: &str,
    lacks: bool,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update merchant_bank_states set lacks_bank_account = $2 where merchant_id = $1",
        merchant_id,
        lacks
    )
    .execute(conn)
    .await
    .map(|_| ())
}
