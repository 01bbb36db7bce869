//! Orders: registering them, and recomputing what the books say about them from the facts
//! stored for them.
//!
//! # The invariant (G4)
//!
//! Every row of `order_states` (and so `back_office.order_reconciliation`), of
//! `order_settlements`, every open `discrepancies` row and every `payout_lines.order_id` is a
//! function of the set of facts received: Stripe objects at their latest state, registered
//! orders, and payout itemisations; whatever their arrival order, duplication, concurrency,
//! batch composition and number of worker processes.
//!
//! # How it is kept
//!
//! Writing a fact and deriving from facts are two transactions. A handler (or the orders API)
//! first commits its facts; then [`recompute`] runs in a transaction of its own, finds every
//! order those facts may concern, and derives each order again from everything stored for it.
//! Under READ COMMITTED that is enough:
//!
//! - Each derivation locks the order's row first and reads its facts in a later statement, so
//!   it reads everything committed before it got the lock. Derivations of one order run one
//!   after the other; the last one to take the lock started after every fact's commit (each
//!   fact is followed by a derivation that starts after it commits), so it sees them all, and
//!   it is the one whose result stays.
//! - Finding the orders is done after the commit too. A fact may reach its order through rows
//!   other transactions write (a refund names its PaymentIntent, whose row names the order).
//!   Of the transactions that wrote the fact and the rows on its way to the order, the last to
//!   commit runs its recompute when all of them are visible, so it finds the order. (Before,
//!   finding the order ran inside the writing transaction, which could not see a PaymentIntent
//!   committed a moment later, and a refund was lost for good.)
//! - The `unknown_order` check of a PaymentIntent has no row to lock when the order does not
//!   exist yet, so it is serialized by a transaction-scoped advisory lock on the PaymentIntent,
//!   and reads after taking it, with the same argument. Which order a payout line names
//!   (the PaymentIntent's `metadata.order_id`, else the registered order naming the
//!   PaymentIntent) is derived under the same locks: every recompute of a PaymentIntent, its
//!   order or a payout carrying it takes them, so the last one sees all three facts.
//! - A recompute that fails or never runs (a crash between the two commits) is run again: the
//!   worker records an event as handled in the recompute's transaction and acknowledges it
//!   only after that commits, so a redelivery stores the same facts again (idempotent: each
//!   object keeps its latest state) and recomputes; the API answers only after it.
//! - Locks are taken in one order everywhere (PaymentIntent advisory locks sorted, then order
//!   rows sorted), so concurrent recomputes cannot deadlock one another.
//!
//! Settlement is derived the same way: an order is settled by the payout (not failed or
//! canceled) whose charge lines carry its PaymentIntent or charge, whichever of the order, the
//! payment and the payout's itemisation came first.

use std::collections::BTreeSet;

use sqlx::{PgConnection, PgPool};

use crate::db;
use crate::domain::OrderId;
use crate::reconcile::{DiscrepancyKind, OrderState, derive_order_state};

/// PaymentIntent statuses that mean money is moving: a payment in these states must belong to
/// a registered order of its merchant.
const MONEY_MOVING: [&str; 3] = ["processing", "requires_capture", "succeeded"];

/// What a stored fact may change, named by the ids the fact carries.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Subject {
    /// A PaymentIntent's own state changed: its orders, and whether it has an order at all.
    PaymentIntent(String),
    /// A charge, refund or dispute of this PaymentIntent changed: its orders.
    PaymentOf(String),
    /// A charge, refund or dispute that names only its charge changed.
    Charge(String),
    /// A payout's state or lines changed: the orders its lines settle.
    Payout(String),
    /// An order was registered or updated, and the PaymentIntents that name it.
    Order(OrderId),
}

/// Registers or updates an order, then reconciles it. `None` when the order exists under
/// another merchant (nothing is stored then).
pub async fn register(
    pool: &PgPool,
    order: &db::orders::NewOrder<'_>,
) -> Result<Option<db::orders::OrderRow>, sqlx::Error> {
    let row = db::retry_lock_conflicts(|| async {
        let mut tx = pool.begin().await?;
        db::profiles::ensure_merchant(&mut tx, order.merchant_id).await?;
        let Some(row) = db::orders::upsert_order(&mut tx, order).await? else {
            // Dropping the transaction rolls back the merchant row too.
            return Ok(None);
        };
        tx.commit().await?;
        Ok(Some(row))
    })
    .await?;
    if let Some(row) = &row {
        recompute(
            pool,
            &[Subject::Order(OrderId::from_stored(row.order_id.clone()))],
        )
        .await?;
    }
    Ok(row)
}

/// Derives again everything the subjects' facts may change (see the module doc). Idempotent:
/// run it as often as you like, after the facts have committed.
pub async fn recompute(pool: &PgPool, subjects: &[Subject]) -> Result<(), sqlx::Error> {
    if subjects.is_empty() {
        return Ok(());
    }
    db::retry_lock_conflicts(|| async {
        let mut tx = db::begin_with_generic_plans(pool).await?;
        recompute_in(&mut tx, subjects).await?;
        tx.commit().await
    })
    .await
}

/// [`recompute`] in the caller's transaction, which must begin after the facts committed.
pub async fn recompute_in(
    conn: &mut PgConnection,
    subjects: &[Subject],
) -> Result<(), sqlx::Error> {
    let mut owned = BTreeSet::new();
    let mut payments = BTreeSet::new();
    let mut orders = BTreeSet::new();
    for subject in subjects {
        match subject {
            Subject::PaymentIntent(id) => {
                owned.insert(id.clone());
            }
            Subject::PaymentOf(id) => {
                payments.insert(id.clone());
            }
            Subject::Charge(id) => {
                payments.extend(db::payments::payment_intent_of_charge(conn, id).await?);
            }
            Subject::Payout(id) => {
                let reached = db::payouts::reached_by_lines(conn, id).await?;
                payments.extend(reached.payment_intent_ids);
                orders.extend(reached.order_ids);
            }
            Subject::Order(id) => {
                orders.insert(id.to_string());
                owned.extend(db::payments::payment_intents_of_order(conn, id).await?);
            }
        }
    }
    let locked: Vec<String> = owned.union(&payments).cloned().collect();
    db::payments::lock_payment_intents(conn, &locked).await?;
    db::payouts::name_orders_on_lines(conn, &locked).await?;
    if !owned.is_empty() {
        // One read for every PaymentIntent, under their locks; writes only where a flag changes.
        let owned: Vec<String> = owned.iter().cloned().collect();
        for owner in db::payments::ownership_of(conn, &owned).await? {
            orders.extend(check_payment_owner(conn, owner).await?);
        }
    }
    payments.retain(|id| !owned.contains(id));
    if !payments.is_empty() {
        let payments: Vec<String> = payments.into_iter().collect();
        orders.extend(db::payments::orders_of_payment_intents(conn, &payments).await?);
    }
    let orders: Vec<String> = orders.into_iter().collect();
    reconcile_orders(conn, &orders).await
}

/// Recomputes each order's state, its order-level discrepancies and its settlement: every
/// order locked and read in one statement each, and the changed states saved in one. Orders
/// the platform has not registered (yet) are skipped: registering one runs this again.
async fn reconcile_orders(
    conn: &mut PgConnection,
    order_ids: &[String],
) -> Result<(), sqlx::Error> {
    let locked = db::orders::lock_with_facts(conn, order_ids).await?;
    let states: Vec<OrderState> = locked
        .iter()
        .map(|l| derive_order_state(&l.facts))
        .collect();
    // Redeliveries and events that change nothing write nothing.
    let changed: Vec<db::orders::NewState> = locked
        .iter()
        .zip(&states)
        .filter(|(locked, state)| {
            !locked
                .saved
                .as_ref()
                .is_some_and(|saved| saved.matches(state, locked.last_event_at))
        })
        .map(|(locked, state)| db::orders::NewState {
            order_id: &locked.order_id,
            state,
            last_event_at: locked.last_event_at,
        })
        .collect();
    db::orders::save_states(conn, &changed).await?;
    for (locked, state) in locked.iter().zip(&states) {
        save_discrepancies_and_settlement(conn, locked, state).await?;
    }
    Ok(())
}

/// What an order's recompute writes besides its state, each only where something changed:
/// its discrepancies, its payout lines and its settlement.
async fn save_discrepancies_and_settlement(
    conn: &mut PgConnection,
    locked: &db::orders::LockedOrderFacts,
    state: &OrderState,
) -> Result<(), sqlx::Error> {
    let order_id = locked.order_id.as_str();
    for (kind, detail) in &state.discrepancies {
        db::orders::open_discrepancy(
            conn,
            *kind,
            order_id,
            Some(&locked.merchant_id),
            Some(order_id),
            None,
            detail,
        )
        .await?;
    }
    let cleared: Vec<&str> = DiscrepancyKind::ORDER_SCOPED
        .iter()
        .filter(|kind| !state.discrepancies.iter().any(|(open, _)| open == *kind))
        .map(|kind| kind.as_str())
        .filter(|kind| locked.open_kinds.iter().any(|open| open == kind))
        .collect();
    if !cleared.is_empty() {
        db::orders::resolve_discrepancies(conn, order_id, &cleared).await?;
    }
    if locked.unlinked_payout_lines > 0 {
        db::payouts::link_lines_to_order(
            conn,
            order_id,
            locked.named_payment_intent.as_deref(),
            &locked.facts,
        )
        .await?;
    }
    if locked.settlement != locked.saved_settlement {
        db::payouts::save_settlement(conn, order_id, locked.settlement.as_ref()).await?;
    }
    Ok(())
}

/// Opens or resolves `unknown_order` for a PaymentIntent: money moving for no registered
/// order of its merchant. Returns the registered orders the PaymentIntent concerns. The
/// caller holds the PaymentIntent's ownership lock.
async fn check_payment_owner(
    conn: &mut PgConnection,
    owner: db::payments::PaymentIntentOwnership,
) -> Result<Vec<String>, sqlx::Error> {
    let payment_intent_id = owner.payment_intent_id.as_str();
    let kind = DiscrepancyKind::UnknownOrder;
    if owner.matched || !MONEY_MOVING.contains(&owner.status.as_str()) {
        if owner.flagged {
            db::orders::resolve_discrepancies(conn, payment_intent_id, &[kind.as_str()]).await?;
        }
        return Ok(owner.order_ids);
    }
    let detail = match &owner.order_id {
        Some(order) => format!(
            "PaymentIntent {payment_intent_id} ({}) names order {order}, which merchant {} has not registered",
            owner.status, owner.merchant_id
        ),
        None => format!(
            "PaymentIntent {payment_intent_id} ({}) names no order (metadata.order_id is missing)",
            owner.status
        ),
    };
    db::orders::open_discrepancy(
        conn,
        kind,
        payment_intent_id,
        Some(&owner.merchant_id),
        owner.order_id.as_deref(),
        owner.event_id.as_deref(),
        &detail,
    )
    .await?;
    Ok(owner.order_ids)
}
