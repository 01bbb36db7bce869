//! The payouts handler: payouts kept at their latest state, itemised into the balance
//! transactions they carried once Stripe has reconciled them, orders marked settled, and the
//! merchant's bank state and alerts updated from payout outcomes and `balance.available`.

use sqlx::PgConnection;
use time::OffsetDateTime;

use super::{EventMessage, HandlerError, WorkerContext, object};
use crate::alerts::sync_bank_alerts;
use crate::db;
use crate::db::bank::BankUpdate;
use crate::db::payouts::{LineRow, PayoutRow};
use crate::reconciliation::{DiscrepancyKind, Stage, supersedes};
use crate::stripe::client::SourceKind;
use crate::stripe::objects::{Balance, Event, Payout, id_of};

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

pub async fn apply(
    conn: &mut PgConnection,
    context: &WorkerContext,
    message: &EventMessage,
    event: &Event,
) -> Result<(), HandlerError> {
    match event.data.object.get("object").and_then(|v| v.as_str()) {
        Some("payout") => apply_payout(conn, context, message, event).await,
        Some("balance") => {
            let balance: Balance = object(event)?;
            let available = balance
                .available
                .iter()
                .map(|a| a.amount)
                .filter(|a| *a > 0)
                .sum();
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
    context: &WorkerContext,
    message: &EventMessage,
    event: &Event,
) -> Result<(), HandlerError> {
    let payout: Payout = object(event)?;
    let event_created = OffsetDateTime::from_unix_timestamp(event.created)
        .map_err(|_| HandlerError::Permanent("event `created` out of range".into()))?;
    let stored = db::payouts::lock_payout(conn, &payout.id).await?;
    let newer = stored.as_ref().is_none_or(|s| {
        supersedes(
            payout_stage(&s.status),
            s.last_event_created.unix_timestamp(),
            payout_stage(&payout.status),
            event_created.unix_timestamp(),
        )
    });
    let arrival_date = payout
        .arrival_date
        .and_then(|t| OffsetDateTime::from_unix_timestamp(t).ok());
    if newer {
        let destination = id_of(&payout.destination);
        db::payouts::save_payout(
            conn,
            &PayoutRow {
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
            },
        )
        .await?;
    }
    let reconciled = event.event_type == "payout.reconciliation_completed"
        || payout.reconciliation_status.as_deref() == Some("completed");
    if reconciled {
        db::payouts::mark_reconciliation_completed(conn, &payout.id).await?;
    }
    let status = if newer {
        payout.status.clone()
    } else {
        stored
            .as_ref()
            .map(|s| s.status.clone())
            .unwrap_or_default()
    };
    let itemized = stored.as_ref().is_some_and(|s| s.itemized);

    if status == "failed" {
        let unsettled = db::payouts::unsettle_orders(conn, &payout.id).await?;
        if unsettled > 0 {
            tracing::warn!(payout_id = %payout.id, unsettled, "payout failed after paying out: its orders are no longer settled");
        }
    } else if !payout.automatic {
        db::payouts::note_itemization(conn, &payout.id, Some(MANUAL_PAYOUT_NOTE), false).await?;
    } else if reconciled && !itemized {
        itemize(
            conn,
            context,
            message,
            &payout,
            arrival_date.unwrap_or(event_created),
        )
        .await?;
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

/// Lists the payout's balance transactions from Stripe into payout lines, settles the orders
/// they belong to, and checks that the lines add up to the payout.
async fn itemize(
    conn: &mut PgConnection,
    context: &WorkerContext,
    message: &EventMessage,
    payout: &Payout,
    settled_at: OffsetDateTime,
) -> Result<(), HandlerError> {
    let key = context.profile_key(conn, &message.profile_id).await?;
    let transactions = context
        .stripe
        .list_balance_transactions_for_payout(&key, &payout.id)
        .await
        .map_err(super::stripe_failure)?;
    for bt in &transactions {
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
    let settled = db::payouts::settle_orders(conn, &payout.id, settled_at).await?;
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
    tracing::info!(payout_id = %payout.id, lines = transactions.len(), settled, "payout itemised");
    Ok(())
}
