//! The accounts handler: whether each merchant's Stripe account can pay out to a bank account.
//!
//! When the profile has a Stripe key, any `account.*` event triggers a fresh
//! `GET /v1/account` (the authoritative state, whatever order the events came in); otherwise
//! the event's own object is used. The account is fetched in [`prepare`], before the
//! transaction; two events racing each store an answer Stripe gave, and each answer is the
//! account's whole state, so the last stored is one Stripe gave no earlier than the other's.

use sqlx::{PgConnection, PgPool};

use super::{HandlerError, Prepared, object};
use crate::db;
use crate::db::bank::BankUpdate;
use crate::domain::StoredEvent;
use crate::setup::alerts::sync_bank_alerts;
use crate::setup::bank::{account_update, checked_account_update};
use crate::setup::stripe_keys::StripeKeys;
use crate::stripe::objects::{Account, Event};

/// `GET /v1/account` with the profile's key, when it has one.
pub async fn prepare(
    pool: &PgPool,
    context: &StripeKeys,
    message: &StoredEvent,
) -> Result<Prepared, HandlerError> {
    let key = {
        let mut conn = pool.acquire().await?;
        if !context
            .has_profile_key(&mut conn, &message.profile_id)
            .await?
        {
            return Ok(Prepared::Account(None));
        }
        context.profile_key(&mut conn, &message.profile_id).await?
    };
    let account = context
        .stripe
        .retrieve_account(&key)
        .await
        .map_err(crate::setup::stripe_keys::stripe_failure)?;
    Ok(Prepared::Account(Some(account)))
}

pub async fn apply(
    conn: &mut PgConnection,
    message: &StoredEvent,
    event: &Event,
    prepared: Prepared,
) -> Result<(), HandlerError> {
    let fetched = match prepared {
        Prepared::Account(account) => account,
        _ => None,
    };
    let from_event = match (&fetched, event.data.object.kind()) {
        (None, Some("account")) => Some(object::<Account>(event)?),
        _ => None,
    };
    let update = match (&fetched, &from_event) {
        (Some(account), _) => checked_account_update(&message.profile_id, account),
        (None, Some(account)) => account_update(&message.profile_id, account),
        // An external account event without a key to ask Stripe with: a created one proves
        // that at least one exists; a deleted one leaves the count unknown.
        (None, None) => match event.event_type.as_str() {
            "account.external_account.created" | "account.external_account.updated" => BankUpdate {
                profile_id: Some(&message.profile_id),
                external_account_count: Some(1),
                ..BankUpdate::default()
            },
            _ => BankUpdate {
                profile_id: Some(&message.profile_id),
                ..BankUpdate::default()
            },
        },
    };
    let state = db::bank::update(conn, &message.merchant_id, &update).await?;
    sync_bank_alerts(conn, &state).await?;
    Ok(())
}
