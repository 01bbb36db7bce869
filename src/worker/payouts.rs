//! The payouts handler: payouts kept at their latest state, itemised into the balance
//! transactions they carried once Stripe has reconciled them, and the merchant's bank state
//! and alerts updated from payout outcomes and `balance.available`. Which orders a payout
//! settled is derived from its lines when the orders are recomputed after the commit
//! ([`subjects`]), so an order registered or paid after the itemisation is settled too.
//!
//! The balance transactions are listed from Stripe in [`prepare`], before the transaction
//! begins. A concurrent change between that fetch and [`apply`] is harmless: Stripe's
//! itemisation of a reconciled payout does not change; [`apply`] decides under the payout's
//! row lock, storing lines only for a payout not itemised yet (`on conflict do nothing` besides,
//! so two events of one payout racing store one set); and a payout that failed meanwhile keeps
//! its lines but settles nothing, since settlement leaves failed payouts out.

use sqlx::PgConnection;
use time::OffsetDateTime;

use sqlx::PgPool;

use super::{HandlerError, Prepared, object};
use crate::db;
use crate::db::bank::BankUpdate;
use crate::db::payouts::{LineRow, PayoutRow};
use crate::domain::StoredEvent;
use crate::reconcile::orders::Subject;
use crate::reconcile::{DiscrepancyKind, Stage, supersedes};
use crate::setup::alerts::sync_bank_alerts;
use crate::setup::stripe_keys::StripeKeys;
use crate::stripe::objects::{Balance, Event, Payout, id_of};
use crate::stripe::resources::{BalanceTransaction, SourceKind};

/// `paid` is not final: a paid payout can still fail later (the bank returns it).
pub fn payout_stage(status: &str) -> Stage {
    match status {
        "pending" => Stage {
            rank: 0,
            terminal: false,
        },
        "in_transit" => Stage {
            rank: 1,
            terminal: false,
        },
        "paid" => Stage {
            rank: 2,
            terminal: false,
        },
        "failed" | "canceled" => Stage {
            rank: 3,
            terminal: true,
        },
        _ => Stage {
            rank: -1,
            terminal: false,
        },
    }
}

const MANUAL_PAYOUT_NOTE: &str = "manual payout: Stripe does not itemise manual payouts, so the orders it carried cannot be told";

/// Whether the event says Stripe has itemised the payout.
fn reconciled(event: &Event, payout: &Payout) -> bool {
    event.event_type == "payout.reconciliation_completed"
        || payout.reconciliation_status.as_deref() == Some("completed")
}

/// Lists the balance transactions of a reconciled automatic payout not itemised yet.
pub async fn prepare(
    pool: &PgPool,
    context: &StripeKeys,
    message: &StoredEvent,
    event: &Event,
) -> Result<Prepared, HandlerError> {
    if event.data.object.kind() != Some("payout") {
        return Ok(Prepared::Nothing);
    }
    let payout: Payout = object(event)?;
    if !payout.automatic || payout.status == "failed" || !reconciled(event, &payout) {
        return Ok(Prepared::Nothing);
    }
    let key = {
        let mut conn = pool.acquire().await?;
        if db::payouts::is_itemized(&mut conn, &payout.id).await? {
            return Ok(Prepared::Nothing);
        }
        context.profile_key(&mut conn, &message.profile_id).await?
    };
    let transactions = context
        .stripe
        .list_balance_transactions_for_payout(&key, &payout.id)
        .await
        .map_err(crate::setup::stripe_keys::stripe_failure)?;
    Ok(Prepared::BalanceTransactions(transactions))
}

/// The orders a payout's lines reach are recomputed after its event commits.
pub fn subjects(event: &Event) -> Vec<Subject> {
    match event.data.object.kind() {
        Some("payout") => event
            .data
            .object
            .id()
            .map(|id| Subject::Payout(id.to_owned()))
            .into_iter()
            .collect(),
        _ => Vec::new(),
    }
}

pub async fn apply(
    conn: &mut PgConnection,
    message: &StoredEvent,
    event: &Event,
    prepared: Prepared,
) -> Result<(), HandlerError> {
    match event.data.object.kind() {
        Some("payout") => apply_payout(conn, message, event, prepared).await,
        Some("balance") => {
            let balance: Balance = object(event)?;
            let available = crate::domain::sum_amounts(
                balance
                    .available
                    .iter()
                    .map(|a| a.amount)
                    .filter(|a| *a > 0),
            );
            let update = BankUpdate {
                profile_id: Some(&message.profile_id),
                available_balance: Some(available),
                ..BankUpdate::default()
            };
            let state = db::bank::update(conn, &message.merchant_id, &update).await?;
            sync_bank_alerts(conn, &state).await?;
            Ok(())
        }
        _ => Ok(()),
    }
}

async fn apply_payout(
    conn: &mut PgConnection,
    message: &StoredEvent,
    event: &Event,
    prepared: Prepared,
) -> Result<(), HandlerError> {
    let payout: Payout = object(event)?;
    let event_created = OffsetDateTime::from_unix_timestamp(event.created)
        .map_err(|_| HandlerError::Permanent("event `created` out of range".into()))?;
    let arrival_date = payout
        .arrival_date
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok());
    let destination = id_of(&payout.destination);
    let row = PayoutRow {
        id: &payout.id,
        merchant_id: &message.merchant_id,
        profile_id: &message.profile_id,
        amount: payout.amount,
        currency: &payout.currency,
        status: &payout.status,
        arrival_date,
        automatic: payout.automatic,
        method: payout.method.as_deref(),
        destination: destination.as_deref(),
        failure_code: payout.failure_code.as_deref(),
        failure_message: payout.failure_message.as_deref(),
        reconciliation_status: payout.reconciliation_status.as_deref(),
        event_id: &event.id,
        event_created,
    };
    let (status, itemized) = if db::payouts::insert_payout_if_absent(conn, &row).await? {
        (payout.status.clone(), false)
    } else {
        let stored = db::payouts::lock_payout(conn, &payout.id).await?;
        let newer = supersedes(
            payout_stage(&stored.status),
            stored.last_event_created.unix_timestamp(),
            payout_stage(&payout.status),
            event_created.unix_timestamp(),
        );
        if newer {
            db::payouts::save_payout(conn, &row).await?;
            (payout.status.clone(), stored.itemized)
        } else {
            (stored.status, stored.itemized)
        }
    };
    let reconciled = reconciled(event, &payout);
    if reconciled {
        db::payouts::mark_reconciliation_completed(conn, &payout.id).await?;
    }

    if status == "failed" {
        // Its orders are unsettled by the recompute that follows the commit.
        tracing::warn!(payout_id = %payout.id, "payout failed: the orders it carried are not settled by it");
    } else if !payout.automatic {
        db::payouts::note_itemization(conn, &payout.id, Some(MANUAL_PAYOUT_NOTE), false).await?;
    } else if reconciled
        && !itemized
        && let Prepared::BalanceTransactions(transactions) = prepared
    {
        itemize(conn, message, &payout, &transactions).await?;
    }

    // The merchant's latest payout decides whether payouts are failing right now.
    let failure = match db::payouts::latest_payout(conn, &message.merchant_id).await? {
        Some((status, code)) if status == "failed" => {
            Some(code.unwrap_or_else(|| "unknown".into()))
        }
        _ => None,
    };
    let update = BankUpdate {
        profile_id: Some(&message.profile_id),
        last_payout_failure_code: Some(failure.as_deref()),
        ..BankUpdate::default()
    };
    let state = db::bank::update(conn, &message.merchant_id, &update).await?;
    sync_bank_alerts(conn, &state).await?;
    Ok(())
}

/// Stores the payout's balance transactions as payout lines, each naming its order where
/// known, and checks that the lines add up to the payout.
async fn itemize(
    conn: &mut PgConnection,
    message: &StoredEvent,
    payout: &Payout,
    transactions: &[BalanceTransaction],
) -> Result<(), HandlerError> {
    for bt in transactions {
        let source = bt.source_ref();
        let source_id = source.as_ref().map(|s| s.source_id.as_str());
        let of_kind = |kind: SourceKind| {
            source
                .as_ref()
                .filter(|s| s.kind == kind)
                .map(|s| s.source_id.as_str())
        };
        db::payouts::insert_line(
            conn,
            &payout.id,
            &LineRow {
                balance_transaction_id: &bt.id,
                kind: &bt.transaction_type,
                reporting_category: bt.reporting_category.as_deref(),
                amount: bt.amount,
                fee: bt.fee,
                net: bt.net,
                currency: &bt.currency,
                source_id,
                charge_id: source.as_ref().and_then(|s| s.charge_id.as_deref()),
                refund_id: of_kind(SourceKind::Refund),
                dispute_id: of_kind(SourceKind::Dispute),
                payment_intent_id: source.as_ref().and_then(|s| s.payment_intent_id.as_deref()),
            },
        )
        .await?;
    }
    let net = db::payouts::lines_net(conn, &payout.id).await?;
    let kind = DiscrepancyKind::PayoutSumMismatch;
    if net == payout.amount {
        db::orders::resolve_discrepancies(conn, &payout.id, &[kind.as_str()]).await?;
    } else {
        let detail = format!(
            "payout {} of {} {} but its {} balance transactions net {}",
            payout.id,
            payout.amount,
            payout.currency,
            transactions.len(),
            net
        );
        db::orders::open_discrepancy(
            conn,
            kind,
            &payout.id,
            Some(&message.merchant_id),
            None,
            None,
            &detail,
        )
        .await?;
    }
    db::payouts::note_itemization(conn, &payout.id, None, true).await?;
    tracing::info!(payout_id = %payout.id, lines = transactions.len(), "payout itemised");
    Ok(())
}
