//! Workers: RabbitMQ consumers that apply stored Stripe events to the reconciliation tables.
//!
//! [`consumer`] owns delivery, retries and dead letters; each handler module owns what an
//! event means. An event goes through three steps:
//!
//! 1. prepare: whatever the handler needs from Stripe is fetched first, holding no
//!    transaction, so a slow Stripe never holds locks or pool connections;
//! 2. apply: the handler's facts and the record that it applied the event commit in one
//!    transaction, so a redelivery is a no-op (G3);
//! 3. recompute: after that commit, [`crate::reconcile::orders::recompute`] derives again whatever the
//!    event's facts may change (G9; its module doc says why this order makes the books
//!    converge). It runs for redeliveries too, so a crash between 2 and 3 loses nothing.
//!
//! A Stripe key that Stripe rejects (401/403) parks the event as waiting for a key, opens a
//! `stripe_key_rejected` alert and marks readiness at once; [`key_waits`] redrives such
//! events once keys Stripe accepts are saved.

pub mod accounts;
pub mod consumer;
pub mod dead_letters;
pub mod key_waits;
pub mod orders;
pub mod payouts;

use std::collections::HashSet;

use serde::de::DeserializeOwned;
use sqlx::{PgConnection, PgPool};

use crate::amqp::message;
use crate::db;
use crate::db::bank::BankUpdate;
use crate::domain::{StoredEvent, WorkQueue};
use crate::reconcile::orders::Subject;
use crate::setup::alerts::sync_bank_alerts;
use crate::setup::stripe_keys::StripeKeys;
use crate::stripe::objects::Event;
use crate::stripe::resources::{Account, BalanceTransaction};

/// A handler fails the way a call to Stripe as a profile does: retry later, give up, or wait
/// for a key Stripe accepts.
pub use crate::setup::stripe_keys::CallError as HandlerError;
use crate::setup::stripe_keys::Cause;

/// What a handler fetched from Stripe before its transaction began.
#[derive(Debug, Default)]
pub enum Prepared {
    #[default]
    Nothing,
    /// A reconciled payout's balance transactions, every page.
    BalanceTransactions(Vec<BalanceTransaction>),
    /// `GET /v1/account` with the profile's key (`None`: the profile has no key).
    Account(Option<Account>),
}

/// Records at once that Stripe rejects the profile's key: readiness shows
/// `live_keys_accepted` missing and the merchant's `stripe_key_rejected` alert opens.
async fn note_rejected_key(
    pool: &PgPool,
    message: &StoredEvent,
    rejection: &str,
) -> Result<(), HandlerError> {
    let mut tx = pool.begin().await?;
    let update = BankUpdate {
        profile_id: Some(&message.profile_id),
        last_error: Some(Some(rejection)),
        ..BankUpdate::default()
    };
    let state = db::bank::update(&mut tx, &message.merchant_id, &update).await?;
    sync_bank_alerts(&mut tx, &state).await?;
    tx.commit().await?;
    tracing::warn!(profile_id = %message.profile_id, merchant_id = %message.merchant_id, "Stripe rejected the profile's key; its events wait for a new key");
    Ok(())
}

/// The event's `data.object` as a typed Stripe object.
pub fn object<T: DeserializeOwned>(event: &Event) -> Result<T, HandlerError> {
    event.data.object.parse::<T>().map_err(|e| {
        HandlerError::Permanent(Cause::new(
            format!("{} carries a malformed object: {e}", event.event_type),
            e,
        ))
    })
}

/// The handlers, one per work queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Handler {
    Orders,
    Payouts,
    Accounts,
}

impl Handler {
    pub const ALL: [Handler; 3] = [Handler::Orders, Handler::Payouts, Handler::Accounts];

    /// The work queue it consumes ([`crate::domain::HANDLED_EVENTS`] says which events go
    /// there).
    pub fn queue(self) -> WorkQueue {
        match self {
            Handler::Orders => WorkQueue::Orders,
            Handler::Payouts => WorkQueue::Payouts,
            Handler::Accounts => WorkQueue::Accounts,
        }
    }

    /// Its name, as metrics, logs and dead letters record it: its queue's.
    pub fn name(self) -> &'static str {
        self.queue().name()
    }

    pub fn by_name(name: &str) -> Option<Handler> {
        Handler::ALL.into_iter().find(|h| h.name() == name)
    }

    /// Step 1: fetch from Stripe what the event needs, outside any transaction.
    async fn prepare(
        self,
        pool: &PgPool,
        context: &StripeKeys,
        message: &StoredEvent,
        event: &Event,
    ) -> Result<Prepared, HandlerError> {
        let prepared = match self {
            Handler::Orders => Ok(Prepared::Nothing),
            Handler::Payouts => payouts::prepare(pool, context, message, event).await,
            Handler::Accounts => accounts::prepare(pool, context, message).await,
        };
        if let Err(HandlerError::KeyRejected(rejection)) = &prepared {
            note_rejected_key(pool, message, rejection.message()).await?;
        }
        prepared
    }

    /// Step 2: the batch's facts, in the caller's transaction: event by event in order, except
    /// that the orders handler takes stored rows in lock order (see [`orders::apply`]).
    async fn apply(
        self,
        conn: &mut PgConnection,
        pending: Vec<(&StoredEvent, &Event, Prepared)>,
    ) -> Result<(), HandlerError> {
        match self {
            Handler::Orders => {
                let events: Vec<(&Event, &str)> = pending
                    .iter()
                    .map(|(message, event, _)| (*event, message.merchant_id.as_str()))
                    .collect();
                orders::apply(conn, &events).await?;
            }
            Handler::Payouts => {
                for (message, event, prepared) in pending {
                    payouts::apply(conn, message, event, prepared).await?;
                }
            }
            Handler::Accounts => {
                for (message, event, prepared) in pending {
                    accounts::apply(conn, message, event, prepared).await?;
                }
            }
        }
        Ok(())
    }

    /// Step 3's input: what the event's facts may change.
    fn subjects(self, event: &Event) -> Vec<Subject> {
        match self {
            Handler::Orders => orders::subjects(event),
            Handler::Payouts => payouts::subjects(event),
            Handler::Accounts => Vec::new(),
        }
    }
}

/// The inbox's copy of each message's event (G9), for a batch not every message of which
/// carries the relay's signature: RabbitMQ is not trusted to say what Stripe sent. A message
/// naming no stored event of its profile and merchant (forged, or for an event stored in the
/// wrong mode) is refused; its body is never read, the stored one is.
fn from_the_inbox(
    messages: &[&StoredEvent],
    stored: Vec<db::inbox::InboxRow>,
) -> Result<Vec<db::inbox::InboxRow>, HandlerError> {
    let stored: std::collections::HashMap<(String, String), db::inbox::InboxRow> = stored
        .into_iter()
        .map(|row| {
            let key = (row.event.profile_id.clone(), row.event.event_id.to_string());
            (key, row)
        })
        .collect();
    messages
        .iter()
        .map(|m| {
            let key = (m.profile_id.clone(), m.event_id.to_string());
            match stored.get(&key) {
                Some(row)
                    if row.event.merchant_id == m.merchant_id
                        && row.event.event_type == m.event_type =>
                {
                    Ok(row.clone())
                }
                _ => Err(HandlerError::Refused(
                    format!(
                        "message {} for profile {} names no stored event of merchant {} ({}): refused, never applied",
                        m.event_id, m.profile_id, m.merchant_id, m.event_type
                    )
                    .into(),
                )),
            }
        })
        .collect()
}

/// Stripe's `created` of each message, when the relay signed every one of them (G9).
fn signed_created(
    messages: &[&StoredEvent],
    secret_box: &crate::crypto::SecretBox,
) -> Option<Vec<time::OffsetDateTime>> {
    messages
        .iter()
        .map(|m| {
            message::signed_by_the_relay(m, secret_box)
                .then_some(m.created)
                .flatten()
        })
        .collect()
}

/// A batch's events as trusted, each one's `created`, and the (profile id, event id) of those
/// the handler has applied before.
type Trusted = (
    Vec<StoredEvent>,
    Vec<time::OffsetDateTime>,
    HashSet<(String, String)>,
);

/// The batch's events as the inbox holds them ([`from_the_inbox`]).
async fn read_back(
    conn: &mut PgConnection,
    handler: Handler,
    messages: &[&StoredEvent],
    profile_ids: &[String],
    event_ids: &[String],
) -> Result<Trusted, HandlerError> {
    let published_created: Vec<Option<time::OffsetDateTime>> =
        messages.iter().map(|m| m.created).collect();
    let stored = db::inbox::processable(
        conn,
        handler.name(),
        profile_ids,
        event_ids,
        &published_created,
    )
    .await?;
    let handled: HashSet<(String, String)> = stored
        .iter()
        .filter(|(_, handled)| *handled)
        .map(|(row, _)| (row.event.profile_id.clone(), row.event.event_id.to_string()))
        .collect();
    let stored = stored.into_iter().map(|(row, _)| row).collect();
    let rows = from_the_inbox(messages, stored)?;
    let created = rows.iter().map(|row| row.created_at).collect();
    let trusted = rows.into_iter().map(|row| row.event).collect();
    Ok((trusted, created, handled))
}

fn parse_event(message: &StoredEvent) -> Result<Event, HandlerError> {
    serde_json::from_slice(&message.body)
        .map_err(|e| HandlerError::Permanent(Cause::new(format!("not a Stripe event: {e}"), e)))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Now,
    /// A redelivery of an event this handler had already applied.
    Before,
}

/// Applies a batch of events, each at most once per handler, in three steps (see the module
/// doc), taking each message as its stored event only when the relay signed every message of
/// the batch, and reading the events back from the inbox otherwise (G9). Stripe fetches
/// first; then every event not handled before stores its facts, in one transaction for the
/// batch; then, in a second transaction, the events are recorded as
/// handled and what they may change is recomputed. A crash or failure after the first commit
/// leaves the events unrecorded, so their redelivery stores the same facts again (objects keep
/// their latest state, so that changes nothing) and recomputes. Any failure fails the batch;
/// the caller then applies its events one by one, so one bad event never holds up the others.
#[tracing::instrument(skip_all, fields(handler = handler.name(), events = messages.len()))]
pub async fn apply_batch(
    pool: &PgPool,
    handler: Handler,
    context: &StripeKeys,
    messages: &[&StoredEvent],
) -> Result<Vec<Applied>, HandlerError> {
    let profile_ids: Vec<String> = messages.iter().map(|m| m.profile_id.clone()).collect();
    let event_ids: Vec<String> = messages.iter().map(|m| m.event_id.to_string()).collect();
    let (trusted, created, handled) = {
        let mut conn = pool.acquire().await?;
        match signed_created(messages, &context.secret_box) {
            Some(created) => {
                // Each message is its stored event, as the inbox would give it back.
                let handled = db::work::claimed_before(
                    &mut conn,
                    handler.name(),
                    &profile_ids,
                    &event_ids,
                    &created,
                )
                .await?;
                let trusted: Vec<StoredEvent> = messages.iter().map(|m| (*m).clone()).collect();
                (trusted, created, handled.into_iter().collect())
            }
            None => read_back(&mut conn, handler, messages, &profile_ids, &event_ids).await?,
        }
    };
    let messages: Vec<&StoredEvent> = trusted.iter().collect();
    let events = messages
        .iter()
        .map(|m| parse_event(m))
        .collect::<Result<Vec<Event>, _>>()?;
    let key = |m: &StoredEvent| (m.profile_id.clone(), m.event_id.to_string());
    let mut pending = Vec::new();
    let mut seen = HashSet::new();
    for (message, event) in messages.iter().zip(&events) {
        // A copy of an event already in the batch, or handled before, stores nothing.
        if !handled.contains(&key(message)) && seen.insert(key(message)) {
            let prepared = handler.prepare(pool, context, message, event).await?;
            pending.push((*message, event, prepared));
        }
    }
    if pending.is_empty() {
        return Ok(vec![Applied::Before; messages.len()]);
    }
    // The facts need not be flushed on their own: the claim's commit below flushes the WAL up
    // to itself, this commit included, before any message is acknowledged; a crash before
    // that loses only facts a redelivery stores again.
    let mut tx = db::begin_without_commit_flush(pool).await?;
    let subjects: Vec<Subject> = pending
        .iter()
        .flat_map(|(_, event, _)| handler.subjects(event))
        .collect();
    handler.apply(&mut tx, pending).await?;
    tx.commit().await?;

    let mut claimed: HashSet<(String, String)> = db::retry_lock_conflicts(|| async {
        let mut tx = db::begin_with_generic_plans(pool).await?;
        let claimed =
            db::work::claim_events(&mut tx, handler.name(), &profile_ids, &event_ids, &created)
                .await?;
        if !claimed.is_empty() {
            crate::reconcile::orders::recompute_in(&mut tx, &subjects).await?;
        }
        tx.commit().await?;
        Ok(claimed)
    })
    .await?
    .into_iter()
    .collect();
    // The first copy of an event in the batch is the one applied; later copies and events
    // another worker recorded first are redeliveries.
    Ok(messages
        .iter()
        .map(|m| {
            if claimed.remove(&key(m)) {
                Applied::Now
            } else {
                Applied::Before
            }
        })
        .collect())
}

/// [`apply_batch`] for one event.
pub async fn apply_once(
    pool: &PgPool,
    handler: Handler,
    context: &StripeKeys,
    message: &StoredEvent,
) -> Result<Applied, HandlerError> {
    let applied = apply_batch(pool, handler, context, &[message]).await?;
    Ok(applied.first().copied().unwrap_or(Applied::Before))
}
