//! A merchant's bank state as Stripe's account objects describe it: payouts enabled, external
//! (bank) accounts linked or due.

use crate::db::bank::BankUpdate;
use crate::stripe::objects::Account;
use crate::stripe::resources;

/// What an `account.updated` event's object says about payouts and bank accounts.
pub fn account_update<'a>(profile_id: &'a str, account: &'a Account) -> BankUpdate<'a> {
    BankUpdate {
        profile_id: Some(profile_id),
        stripe_account_id: Some(&account.id),
        payouts_enabled: account.payouts_enabled,
        external_account_count: account.external_account_count(),
        external_account_due: Some(account.external_account_due()),
        ..BankUpdate::default()
    }
}

/// What `GET /v1/account` says: the authoritative state, so it also clears a stored error.
pub fn checked_account_update<'a>(
    profile_id: &'a str,
    account: &'a resources::Account,
) -> BankUpdate<'a> {
    BankUpdate {
        profile_id: Some(profile_id),
        stripe_account_id: Some(&account.id),
        payouts_enabled: Some(account.payouts_enabled),
        external_account_count: Some(
            i32::try_from(account.external_accounts.data.len()).unwrap_or(i32::MAX),
        ),
        external_account_due: Some(account.external_account_due()),
        checked: true,
        last_error: Some(None),
        ..BankUpdate::default()
    }
}
