//! Pure reconciliation rules: how a Stripe object's newer state replaces an older one, and what
//! an order's status, amounts and discrepancies are, given every object that concerns it.
//!
//! Stripe delivers events at least once and in any order, and `created` has one-second
//! resolution, so nothing here looks at arrival order: each object keeps its latest state
//! (terminal states are never undone, amounts that only grow take the maximum), and an
//! order's state is recomputed from all its objects every time one of them changes (G4).

pub mod orders;

use crate::domain::sum_amounts;

/// Where a status stands in its object's lifecycle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stage {
    pub rank: i32,
    /// No later status follows (succeeded, canceled, won, ...).
    pub terminal: bool,
}

pub fn payment_intent_stage(status: &str) -> Stage {
    match status {
        "requires_payment_method" => Stage {
            rank: 0,
            terminal: false,
        },
        "requires_confirmation" => Stage {
            rank: 1,
            terminal: false,
        },
        "requires_action" => Stage {
            rank: 2,
            terminal: false,
        },
        "processing" => Stage {
            rank: 3,
            terminal: false,
        },
        "requires_capture" => Stage {
            rank: 4,
            terminal: false,
        },
        "canceled" => Stage {
            rank: 5,
            terminal: true,
        },
        "succeeded" => Stage {
            rank: 6,
            terminal: true,
        },
        _ => Stage {
            rank: -1,
            terminal: false,
        },
    }
}

pub fn charge_stage(status: &str) -> Stage {
    match status {
        "pending" => Stage {
            rank: 0,
            terminal: false,
        },
        "failed" => Stage {
            rank: 1,
            terminal: true,
        },
        "succeeded" => Stage {
            rank: 2,
            terminal: true,
        },
        _ => Stage {
            rank: -1,
            terminal: false,
        },
    }
}

pub fn refund_stage(status: &str) -> Stage {
    match status {
        "pending" | "requires_action" => Stage {
            rank: 0,
            terminal: false,
        },
        "failed" | "canceled" => Stage {
            rank: 1,
            terminal: true,
        },
        "succeeded" => Stage {
            rank: 2,
            terminal: true,
        },
        _ => Stage {
            rank: -1,
            terminal: false,
        },
    }
}

pub fn dispute_stage(status: &str) -> Stage {
    match status {
        "warning_needs_response" | "needs_response" => Stage {
            rank: 0,
            terminal: false,
        },
        "warning_under_review" | "under_review" => Stage {
            rank: 1,
            terminal: false,
        },
        "warning_closed" | "won" | "lost" => Stage {
            rank: 2,
            terminal: true,
        },
        _ => Stage {
            rank: -1,
            terminal: false,
        },
    }
}

/// Whether an object's state seen in an event created at `new_created` replaces the stored
/// state from an event created at `old_created`.
pub fn supersedes(old: Stage, old_created: i64, new: Stage, new_created: i64) -> bool {
    if old.terminal {
        // Only a later terminal state of higher rank (never happens for one object) or the
        // same state again (refreshing amounts) may replace a terminal one.
        return new.terminal && new.rank >= old.rank;
    }
    if new.terminal {
        return true;
    }
    new_created > old_created || (new_created == old_created && new.rank >= old.rank)
}

/// What reconciliation knows of a PaymentIntent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentIntentFacts {
    pub id: String,
    pub amount_received: i64,
    pub currency: String,
    pub status: String,
    /// A `payment_intent.payment_failed` left it waiting for a new payment method.
    pub failed: bool,
    pub latest_charge: Option<String>,
    pub last_event_created: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeFacts {
    pub id: String,
    pub payment_intent_id: Option<String>,
    pub amount_refunded: i64,
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundFacts {
    pub id: String,
    pub amount: i64,
    pub status: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DisputeFacts {
    pub id: String,
    pub amount: i64,
    pub status: String,
}

/// Everything that concerns one order.
#[derive(Debug, Clone, Default)]
pub struct OrderFacts {
    pub amount: i64,
    pub currency: String,
    pub payment_intents: Vec<PaymentIntentFacts>,
    pub charges: Vec<ChargeFacts>,
    pub refunds: Vec<RefundFacts>,
    pub disputes: Vec<DisputeFacts>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DiscrepancyKind {
    AmountMismatch,
    CurrencyMismatch,
    UnknownOrder,
    DuplicatePayment,
    RefundExceedsPayment,
    LivemodeMismatch,
    PayoutSumMismatch,
}

impl DiscrepancyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DiscrepancyKind::AmountMismatch => "amount_mismatch",
            DiscrepancyKind::CurrencyMismatch => "currency_mismatch",
            DiscrepancyKind::UnknownOrder => "unknown_order",
            DiscrepancyKind::DuplicatePayment => "duplicate_payment",
            DiscrepancyKind::RefundExceedsPayment => "refund_exceeds_payment",
            DiscrepancyKind::LivemodeMismatch => "livemode_mismatch",
            DiscrepancyKind::PayoutSumMismatch => "payout_sum_mismatch",
        }
    }

    /// The kinds decided per order (the others are about a payment or an event).
    pub const ORDER_SCOPED: [DiscrepancyKind; 4] = [
        DiscrepancyKind::AmountMismatch,
        DiscrepancyKind::CurrencyMismatch,
        DiscrepancyKind::DuplicatePayment,
        DiscrepancyKind::RefundExceedsPayment,
    ];
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderState {
    pub status: &'static str,
    pub amount_paid: i64,
    pub amount_refunded: i64,
    pub amount_disputed: i64,
    pub payment_intent_id: Option<String>,
    pub charge_id: Option<String>,
    /// Open discrepancies with a human-readable detail, sorted by kind.
    pub discrepancies: Vec<(DiscrepancyKind, String)>,
}

/// Refund statuses whose money has left or is leaving the merchant.
fn refund_counts(status: &str) -> bool {
    matches!(status, "pending" | "requires_action" | "succeeded")
}

pub fn derive_order_state(facts: &OrderFacts) -> OrderState {
    let succeeded: Vec<&PaymentIntentFacts> = facts
        .payment_intents
        .iter()
        .filter(|pi| pi.status == "succeeded")
        .collect();
    let amount_paid = sum_amounts(succeeded.iter().map(|pi| pi.amount_received));
    let refunded_by_charges = sum_amounts(facts.charges.iter().map(|c| c.amount_refunded));
    let refunded_by_refunds = sum_amounts(
        facts
            .refunds
            .iter()
            .filter(|r| refund_counts(&r.status))
            .map(|r| r.amount),
    );
    // A charge's amount_refunded and the refund objects describe the same money; whichever
    // event came last may be either, so take the larger.
    let amount_refunded = refunded_by_charges.max(refunded_by_refunds);
    let amount_disputed = sum_amounts(facts.disputes.iter().map(|d| d.amount));

    // The PaymentIntent that speaks for the order: a succeeded one, else the most recent.
    let lead = succeeded.last().copied().or_else(|| {
        facts
            .payment_intents
            .iter()
            .max_by_key(|pi| (pi.last_event_created, payment_intent_stage(&pi.status).rank))
    });
    let charge_id = lead.and_then(|pi| pi.latest_charge.clone()).or_else(|| {
        facts
            .charges
            .iter()
            .find(|c| c.status == "succeeded")
            .map(|c| c.id.clone())
    });

    let status = order_status(facts, lead, amount_paid, amount_refunded);

    let mut discrepancies = Vec::new();
    let foreign: Vec<&str> = facts
        .payment_intents
        .iter()
        .filter(|pi| pi.status == "succeeded" && pi.currency != facts.currency)
        .map(|pi| pi.currency.as_str())
        .collect();
    if !foreign.is_empty() {
        discrepancies.push((
            DiscrepancyKind::CurrencyMismatch,
            format!(
                "paid in {} but the order is in {}",
                foreign.join(", "),
                facts.currency
            ),
        ));
    } else if amount_paid > 0 && amount_paid != facts.amount {
        discrepancies.push((
            DiscrepancyKind::AmountMismatch,
            format!(
                "received {amount_paid} {} for an order of {}",
                facts.currency, facts.amount
            ),
        ));
    }
    if succeeded.len() > 1 {
        let ids: Vec<&str> = succeeded.iter().map(|pi| pi.id.as_str()).collect();
        discrepancies.push((
            DiscrepancyKind::DuplicatePayment,
            format!("{} succeeded PaymentIntents: {}", ids.len(), ids.join(", ")),
        ));
    }
    if amount_paid > 0 && amount_refunded > amount_paid {
        discrepancies.push((
            DiscrepancyKind::RefundExceedsPayment,
            format!("refunded {amount_refunded} of {amount_paid} paid"),
        ));
    }
    discrepancies.sort();

    OrderState {
        status,
        amount_paid,
        amount_refunded,
        amount_disputed,
        payment_intent_id: lead.map(|pi| pi.id.clone()),
        charge_id,
        discrepancies,
    }
}

fn order_status(
    facts: &OrderFacts,
    lead: Option<&PaymentIntentFacts>,
    amount_paid: i64,
    amount_refunded: i64,
) -> &'static str {
    let open = |d: &&DisputeFacts| !dispute_stage(&d.status).terminal;
    if facts.disputes.iter().any(|d| open(&d)) {
        return "disputed";
    }
    if facts.disputes.iter().any(|d| d.status == "lost") {
        return "dispute_lost";
    }
    if facts.disputes.iter().any(|d| d.status == "won") {
        return "dispute_won";
    }
    if amount_paid > 0 {
        return if amount_refunded >= amount_paid {
            "refunded"
        } else if amount_refunded > 0 {
            "partially_refunded"
        } else {
            "paid"
        };
    }
    match lead {
        None => "awaiting_payment",
        Some(pi) => match pi.status.as_str() {
            "processing" | "requires_capture" => "processing",
            "canceled" => "canceled",
            "requires_payment_method" if pi.failed => "payment_failed",
            _ => "awaiting_payment",
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pi(id: &str, status: &str, received: i64, created: i64) -> PaymentIntentFacts {
        PaymentIntentFacts {
            id: id.into(),
            amount_received: received,
            currency: "eur".into(),
            status: status.into(),
            failed: false,
            latest_charge: Some(format!("ch_{id}")),
            last_event_created: created,
        }
    }

    fn order(pis: Vec<PaymentIntentFacts>) -> OrderFacts {
        OrderFacts {
            amount: 1000,
            currency: "eur".into(),
            payment_intents: pis,
            ..OrderFacts::default()
        }
    }

    #[test]
    fn late_processing_does_not_undo_succeeded() {
        let succeeded = payment_intent_stage("succeeded");
        let processing = payment_intent_stage("processing");
        assert!(!supersedes(succeeded, 10, processing, 10));
        assert!(!supersedes(succeeded, 10, processing, 11));
        assert!(
            supersedes(processing, 10, succeeded, 9),
            "a terminal state wins whatever its time"
        );
    }

    #[test]
    fn a_newer_failure_replaces_processing_but_an_older_one_does_not() {
        let processing = payment_intent_stage("processing");
        let failed = payment_intent_stage("requires_payment_method");
        assert!(supersedes(processing, 10, failed, 11));
        assert!(!supersedes(processing, 10, failed, 9));
        assert!(
            !supersedes(processing, 10, failed, 10),
            "same second: the further state wins"
        );
    }

    #[test]
    fn the_same_terminal_state_again_refreshes() {
        let succeeded = charge_stage("succeeded");
        assert!(supersedes(succeeded, 10, succeeded, 12));
        assert!(!supersedes(succeeded, 10, charge_stage("pending"), 12));
    }

    #[test]
    fn absurd_amounts_neither_panic_nor_wrap_and_show_as_discrepancies() {
        let state = derive_order_state(&order(vec![
            pi("a", "succeeded", i64::MAX, 1),
            pi("b", "succeeded", i64::MAX, 2),
        ]));
        assert_eq!(state.amount_paid, i64::MAX, "saturated, not wrapped");
        let kinds: Vec<DiscrepancyKind> = state.discrepancies.iter().map(|(k, _)| *k).collect();
        assert!(
            kinds.contains(&DiscrepancyKind::AmountMismatch),
            "{kinds:?}"
        );
        assert!(
            kinds.contains(&DiscrepancyKind::DuplicatePayment),
            "{kinds:?}"
        );
    }

    #[test]
    fn order_without_payments_awaits_payment() {
        let state = derive_order_state(&order(vec![]));
        assert_eq!(state.status, "awaiting_payment");
        assert!(state.discrepancies.is_empty());
    }

    #[test]
    fn statuses_follow_the_payment_lifecycle() {
        assert_eq!(
            derive_order_state(&order(vec![pi("a", "processing", 0, 1)])).status,
            "processing"
        );
        assert_eq!(
            derive_order_state(&order(vec![pi("a", "canceled", 0, 1)])).status,
            "canceled"
        );
        let mut failed = pi("a", "requires_payment_method", 0, 1);
        failed.failed = true;
        assert_eq!(
            derive_order_state(&order(vec![failed])).status,
            "payment_failed"
        );
        let paid = derive_order_state(&order(vec![pi("a", "succeeded", 1000, 1)]));
        assert_eq!((paid.status, paid.amount_paid), ("paid", 1000));
        assert_eq!(paid.charge_id.as_deref(), Some("ch_a"));
    }

    #[test]
    fn refunds_count_once_whether_seen_on_the_charge_or_as_refund_objects() {
        let mut facts = order(vec![pi("a", "succeeded", 1000, 1)]);
        facts.charges.push(ChargeFacts {
            id: "ch_a".into(),
            payment_intent_id: Some("a".into()),
            amount_refunded: 300,
            status: "succeeded".into(),
        });
        facts.refunds.push(RefundFacts {
            id: "re_1".into(),
            amount: 300,
            status: "succeeded".into(),
        });
        let state = derive_order_state(&facts);
        assert_eq!(
            (state.status, state.amount_refunded),
            ("partially_refunded", 300)
        );
        facts.refunds.push(RefundFacts {
            id: "re_2".into(),
            amount: 700,
            status: "pending".into(),
        });
        assert_eq!(derive_order_state(&facts).status, "refunded");
        facts.refunds.push(RefundFacts {
            id: "re_3".into(),
            amount: 50,
            status: "failed".into(),
        });
        assert_eq!(
            derive_order_state(&facts).amount_refunded,
            1000,
            "failed refunds do not count"
        );
    }

    #[test]
    fn disputes_take_precedence_and_close_as_won_or_lost() {
        let mut facts = order(vec![pi("a", "succeeded", 1000, 1)]);
        facts.disputes.push(DisputeFacts {
            id: "dp_1".into(),
            amount: 1000,
            status: "needs_response".into(),
        });
        let state = derive_order_state(&facts);
        assert_eq!((state.status, state.amount_disputed), ("disputed", 1000));
        facts.disputes[0].status = "lost".into();
        assert_eq!(derive_order_state(&facts).status, "dispute_lost");
        facts.disputes[0].status = "won".into();
        assert_eq!(derive_order_state(&facts).status, "dispute_won");
    }

    #[test]
    fn each_discrepancy_kind_is_detected() {
        let short = derive_order_state(&order(vec![pi("a", "succeeded", 900, 1)]));
        assert_eq!(short.discrepancies[0].0, DiscrepancyKind::AmountMismatch);

        let mut usd = pi("a", "succeeded", 1000, 1);
        usd.currency = "usd".into();
        let foreign = derive_order_state(&order(vec![usd]));
        assert_eq!(
            foreign
                .discrepancies
                .iter()
                .map(|d| d.0)
                .collect::<Vec<_>>(),
            vec![DiscrepancyKind::CurrencyMismatch]
        );

        let twice = derive_order_state(&order(vec![
            pi("a", "succeeded", 1000, 1),
            pi("b", "succeeded", 1000, 2),
        ]));
        let kinds: Vec<_> = twice.discrepancies.iter().map(|d| d.0).collect();
        assert!(
            kinds.contains(&DiscrepancyKind::DuplicatePayment),
            "{kinds:?}"
        );

        let mut facts = order(vec![pi("a", "succeeded", 1000, 1)]);
        facts.refunds.push(RefundFacts {
            id: "re_1".into(),
            amount: 1200,
            status: "succeeded".into(),
        });
        let over = derive_order_state(&facts);
        assert!(
            over.discrepancies
                .iter()
                .any(|d| d.0 == DiscrepancyKind::RefundExceedsPayment)
        );
    }

    #[test]
    fn a_refund_seen_before_its_payment_raises_nothing_until_paid() {
        let mut facts = order(vec![]);
        facts.refunds.push(RefundFacts {
            id: "re_1".into(),
            amount: 1000,
            status: "succeeded".into(),
        });
        let state = derive_order_state(&facts);
        assert!(state.discrepancies.is_empty());
        facts.payment_intents.push(pi("a", "succeeded", 1000, 1));
        assert_eq!(derive_order_state(&facts).status, "refunded");
    }
}
