//! The reference model: what the books must say once every fact of a [`World`] has been
//! received, computed from the story alone (never from the database).
//!
//! Each object counts at its latest state (the one with the latest `created`), and the order
//! rules are [`derive_order_state`]'s; this model adds which objects concern which order, the
//! unknown-order rule, and settlement: a registered order is settled by the payout (not failed)
//! whose `charge`/`payment` balance transactions carry its PaymentIntent, on the payout's
//! `arrival_date`. A payout line names the order its PaymentIntent names (`metadata.order_id`,
//! registered or not, as itemisation records it when it already knows the PaymentIntent), else
//! the registered order that names the PaymentIntent.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use accredito::reconcile::{
    ChargeFacts, DisputeFacts, OrderFacts, PaymentIntentFacts, RefundFacts, derive_order_state,
};

use super::story::{Object, OrderStory, PayoutStory, Sighting, Transaction, World};

/// PaymentIntent statuses that mean money is moving: such a payment must belong to a
/// registered order of its merchant, or it is an `unknown_order`.
const MONEY_MOVING: [&str; 3] = ["processing", "requires_capture", "succeeded"];

/// A row of `back_office.order_reconciliation`, as compared.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct OrderRow {
    pub order_id: String,
    pub status: String,
    pub amount_paid: i64,
    pub amount_refunded: i64,
    pub amount_disputed: i64,
    pub payment_intent_id: Option<String>,
    pub charge_id: Option<String>,
    pub payout_id: Option<String>,
    /// Unix seconds.
    pub settled_at: Option<i64>,
}

/// An open discrepancy: (kind, subject id, order id).
pub type OpenDiscrepancy = (String, String, Option<String>);

/// A row of `back_office.payouts`, as compared.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct PayoutRow {
    pub payout_id: String,
    pub status: String,
    pub amount: i64,
    pub currency: String,
    /// Unix seconds.
    pub arrival_date: Option<i64>,
    pub automatic: bool,
    pub reconciliation_status: Option<String>,
    pub line_count: i64,
    pub orders_settled: i64,
    pub reconciled: bool,
}

/// A row of `back_office.payout_lines`, as compared.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, sqlx::FromRow)]
pub struct LineRow {
    pub payout_id: String,
    pub balance_transaction_id: String,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub reporting_category: Option<String>,
    pub amount: i64,
    pub fee: i64,
    pub net: i64,
    pub currency: String,
    pub source_id: Option<String>,
    pub charge_id: Option<String>,
    pub refund_id: Option<String>,
    pub dispute_id: Option<String>,
    pub payment_intent_id: Option<String>,
    pub order_id: Option<String>,
}

pub struct ExpectedPayout {
    pub row: PayoutRow,
    pub lines: Vec<LineRow>,
    /// A failed payout may or may not have been itemised before it failed (if it was, its
    /// lines are all there), but it settles nothing.
    pub failed: bool,
}

pub struct Expected {
    /// Registered orders only, by order id.
    pub orders: BTreeMap<String, OrderRow>,
    pub discrepancies: BTreeSet<OpenDiscrepancy>,
    pub payouts: BTreeMap<String, ExpectedPayout>,
}

/// The latest state of each object of a story: the sighting with the latest `created`.
fn latest(sightings: &[Sighting]) -> Vec<&Sighting> {
    let mut by_id: BTreeMap<&str, &Sighting> = BTreeMap::new();
    for s in sightings {
        match by_id.get(s.object.id()) {
            Some(seen) if seen.at > s.at => {}
            Some(seen) if seen.at == s.at => assert_eq!(
                seen.object, s.object,
                "the story gave one object two states in the same second"
            ),
            _ => {
                by_id.insert(s.object.id(), s);
            }
        }
    }
    by_id.into_values().collect()
}

pub fn expect(world: &World) -> Expected {
    let registered: HashMap<&str, &OrderStory> = world
        .orders
        .iter()
        .filter(|o| o.is_registered())
        .map(|o| (o.order_id.as_str(), o))
        .collect();
    // PaymentIntent id -> the registered order that names it.
    let named: HashMap<&str, &str> = registered
        .values()
        .filter_map(|o| {
            o.names_payment_intent
                .as_deref()
                .map(|pi| (pi, o.order_id.as_str()))
        })
        .collect();
    // PaymentIntent id -> the order a payout line of it belongs to.
    let mut line_order: HashMap<String, Option<String>> = HashMap::new();

    let mut orders = BTreeMap::new();
    let mut discrepancies = BTreeSet::new();
    for story in &world.orders {
        let latest = latest(&story.sightings);
        for s in &latest {
            if let Object::PaymentIntent(pi) = &s.object {
                let metadata_order = pi
                    .order_id
                    .as_deref()
                    .filter(|o| registered.contains_key(o));
                let owner = metadata_order.or_else(|| named.get(pi.id.as_str()).copied());
                line_order.insert(
                    pi.id.clone(),
                    pi.order_id.clone().or(owner.map(str::to_owned)),
                );
                if MONEY_MOVING.contains(&pi.status) && owner.is_none() {
                    discrepancies.insert((
                        "unknown_order".to_owned(),
                        pi.id.clone(),
                        pi.order_id.clone(),
                    ));
                }
            }
        }
        if !story.is_registered() {
            continue;
        }
        let facts = order_facts(story, &latest);
        let state = derive_order_state(&facts);
        for (kind, _) in &state.discrepancies {
            discrepancies.insert((
                kind.as_str().to_owned(),
                story.order_id.clone(),
                Some(story.order_id.clone()),
            ));
        }
        orders.insert(
            story.order_id.clone(),
            OrderRow {
                order_id: story.order_id.clone(),
                status: state.status.to_owned(),
                amount_paid: state.amount_paid,
                amount_refunded: state.amount_refunded,
                amount_disputed: state.amount_disputed,
                payment_intent_id: state
                    .payment_intent_id
                    .or_else(|| story.names_payment_intent.clone()),
                charge_id: state.charge_id,
                payout_id: None,
                settled_at: None,
            },
        );
    }

    let mut payouts = BTreeMap::new();
    for payout in &world.payouts {
        let lines: Vec<LineRow> = payout
            .transactions
            .iter()
            .map(|t| line_row(payout, t, &line_order))
            .collect();
        let mut settled = 0;
        if !payout.fails {
            let paid_orders: BTreeSet<&str> = lines
                .iter()
                .filter(|l| l.kind == "charge" || l.kind == "payment")
                .filter_map(|l| l.order_id.as_deref())
                .collect();
            for order_id in paid_orders {
                if let Some(row) = orders.get_mut(order_id) {
                    assert!(row.payout_id.is_none(), "one payout per order in the story");
                    row.payout_id = Some(payout.id.clone());
                    row.settled_at = Some(payout.arrival_date);
                    settled += 1;
                }
            }
        }
        let row = PayoutRow {
            payout_id: payout.id.clone(),
            status: if payout.fails { "failed" } else { "paid" }.to_owned(),
            amount: payout.amount,
            currency: "eur".into(),
            arrival_date: Some(payout.arrival_date),
            automatic: true,
            reconciliation_status: Some("completed".into()),
            line_count: lines.len() as i64,
            orders_settled: settled,
            reconciled: true,
        };
        let mut lines = lines;
        lines.sort();
        payouts.insert(
            payout.id.clone(),
            ExpectedPayout {
                row,
                lines,
                failed: payout.fails,
            },
        );
    }
    Expected {
        orders,
        discrepancies,
        payouts,
    }
}

/// The Stripe objects that concern a registered order, at their latest state, in the order
/// the pure rules are given them (PaymentIntents by last change then id, the rest by id).
fn order_facts(story: &OrderStory, latest: &[&Sighting]) -> OrderFacts {
    let mut payment_intents: Vec<PaymentIntentFacts> = latest
        .iter()
        .filter_map(|s| match &s.object {
            Object::PaymentIntent(pi)
                if pi.order_id.as_deref() == Some(story.order_id.as_str())
                    || story.names_payment_intent.as_deref() == Some(pi.id.as_str()) =>
            {
                Some(PaymentIntentFacts {
                    id: pi.id.clone(),
                    amount_received: pi.amount_received,
                    currency: pi.currency.clone(),
                    status: pi.status.to_owned(),
                    failed: pi.failed,
                    latest_charge: pi.latest_charge.clone(),
                    last_event_created: s.at,
                })
            }
            _ => None,
        })
        .collect();
    payment_intents
        .sort_by(|a, b| (a.last_event_created, &a.id).cmp(&(b.last_event_created, &b.id)));
    let ours = |pi: &str| payment_intents.iter().any(|p| p.id == pi);
    let charges: Vec<ChargeFacts> = latest
        .iter()
        .filter_map(|s| match &s.object {
            Object::Charge(c) if ours(&c.payment_intent) => Some(ChargeFacts {
                id: c.id.clone(),
                payment_intent_id: Some(c.payment_intent.clone()),
                amount_refunded: c.amount_refunded,
                status: c.status.to_owned(),
            }),
            _ => None,
        })
        .collect();
    let charge_ids: BTreeSet<&str> = charges
        .iter()
        .map(|c| c.id.as_str())
        .chain(
            payment_intents
                .iter()
                .filter_map(|p| p.latest_charge.as_deref()),
        )
        .collect();
    let concerns = |pi: &str, charge: &str| ours(pi) || charge_ids.contains(charge);
    let refunds: Vec<RefundFacts> = latest
        .iter()
        .filter_map(|s| match &s.object {
            Object::Refund(r) if concerns(&r.payment_intent, &r.charge) => Some(RefundFacts {
                id: r.id.clone(),
                amount: r.amount,
                status: r.status.to_owned(),
            }),
            _ => None,
        })
        .collect();
    let disputes: Vec<DisputeFacts> = latest
        .iter()
        .filter_map(|s| match &s.object {
            Object::Dispute(d) if concerns(&d.payment_intent, &d.charge) => Some(DisputeFacts {
                id: d.id.clone(),
                amount: d.amount,
                status: d.status.to_owned(),
            }),
            _ => None,
        })
        .collect();
    // `latest` is by id already, so charges, refunds and disputes are too.
    OrderFacts {
        amount: story.amount,
        currency: story.currency.to_owned(),
        payment_intents,
        charges,
        refunds,
        disputes,
    }
}

fn line_row(
    payout: &PayoutStory,
    t: &Transaction,
    line_order: &HashMap<String, Option<String>>,
) -> LineRow {
    LineRow {
        payout_id: payout.id.clone(),
        balance_transaction_id: t.id.clone(),
        kind: t.kind.clone(),
        reporting_category: t.reporting_category.clone(),
        amount: t.amount,
        fee: t.fee,
        net: t.net,
        currency: t.currency.clone(),
        source_id: Some(t.source_id.clone()),
        charge_id: t.charge_id.clone(),
        refund_id: t.refund_id.clone(),
        dispute_id: t.dispute_id.clone(),
        payment_intent_id: t.payment_intent_id.clone(),
        order_id: t
            .payment_intent_id
            .as_ref()
            .and_then(|pi| line_order.get(pi).cloned().flatten()),
    }
}
