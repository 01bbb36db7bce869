//! Random, reproducible Stripe histories: per order, the states each Stripe object goes through
//! (typed, for the model) and the events that carry them (Stripe-shaped JSON, for the
//! pipeline), plus automatic payouts of some of the charges with the balance transactions the
//! fake Stripe serves for them; then a delivery schedule that sends each order's events together
//! in a random order.
//!
//! Each state of an object has its own second (`created`, Stripe's resolution), later states
//! later; a state may be carried by two events (a re-send under a new id, or two event types
//! for one change such as `charge.dispute.created` and `charge.dispute.funds_withdrawn`), and
//! an event may be delivered twice under the same id. Stories never share an object: every
//! PaymentIntent, charge, refund and dispute belongs to one order.

use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::fake_stripe;
use crate::helpers::stripe_event_at;
use crate::payouts::automatic_payout;

/// The merchant of the profile every event arrives on.
pub const MERCHANT: &str = "m_1";

/// Seconds between the starts of two orders' stories (each story spans well under this).
const ORDER_SPACING: i64 = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    /// Registered before any event is sent.
    Before,
    /// Registered while its events are in flight (the PUT is part of its burst).
    During,
    /// Registered once its burst has been sent, while workers may still be applying it.
    AfterBurst,
    /// Registered once every event has been applied.
    After,
    /// The platform never registers it: its money-moving PaymentIntents are unknown orders.
    Never,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PaymentIntent {
    pub id: String,
    /// `metadata.order_id`.
    pub order_id: Option<String>,
    pub amount: i64,
    pub amount_received: i64,
    pub amount_capturable: i64,
    pub currency: String,
    pub status: &'static str,
    /// `last_payment_error` is set: the last attempt failed.
    pub failed: bool,
    pub latest_charge: Option<String>,
    pub manual_capture: bool,
    /// When the PaymentIntent itself was created.
    pub created: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    pub id: String,
    pub payment_intent: String,
    pub amount: i64,
    pub amount_captured: i64,
    pub captured: bool,
    pub amount_refunded: i64,
    pub currency: String,
    pub status: &'static str,
    pub created: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refund {
    pub id: String,
    pub charge: String,
    pub payment_intent: String,
    pub amount: i64,
    pub currency: String,
    pub status: &'static str,
    pub created: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dispute {
    pub id: String,
    pub charge: String,
    pub payment_intent: String,
    pub amount: i64,
    pub currency: String,
    pub status: &'static str,
    pub created: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Object {
    PaymentIntent(PaymentIntent),
    Charge(Charge),
    Refund(Refund),
    Dispute(Dispute),
}

impl Object {
    pub fn id(&self) -> &str {
        match self {
            Object::PaymentIntent(o) => &o.id,
            Object::Charge(o) => &o.id,
            Object::Refund(o) => &o.id,
            Object::Dispute(o) => &o.id,
        }
    }
}

/// One state of one object and the `created` of the events that carry it.
#[derive(Debug, Clone)]
pub struct Sighting {
    pub at: i64,
    pub object: Object,
}

/// Where the second copy of an event (same id) is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Duplicate {
    /// With the rest of its burst.
    InBurst,
    /// Later, among other orders' bursts.
    Later,
}

#[derive(Debug, Clone)]
pub struct StoryEvent {
    pub id: String,
    pub event_type: String,
    pub created: i64,
    pub body: String,
    pub duplicate: Option<Duplicate>,
}

#[derive(Debug, Clone)]
pub struct OrderStory {
    pub order_id: String,
    /// The amount and currency the platform registers (usually what the customer pays).
    pub amount: i64,
    pub currency: &'static str,
    pub registration: Registration,
    /// The registration is sent a second time (same body), during the burst.
    pub registered_twice: bool,
    /// The registration names the PaymentIntent (`payment_intent_id`).
    pub names_payment_intent: Option<String>,
    /// When the order was placed (the start of its story).
    pub placed_at: i64,
    /// What happened, for people reading a failure.
    pub flow: String,
    pub sightings: Vec<Sighting>,
    pub events: Vec<StoryEvent>,
}

impl OrderStory {
    pub fn is_registered(&self) -> bool {
        self.registration != Registration::Never
    }

    /// `PUT /v1/orders/{order_id}`'s body.
    pub fn registration_body(&self) -> Value {
        let placed_at = OffsetDateTime::from_unix_timestamp(self.placed_at)
            .expect("a valid time")
            .format(&Rfc3339)
            .expect("formats");
        let mut body = json!({
            "merchant_id": MERCHANT,
            "amount": self.amount,
            "currency": self.currency,
            "placed_at": placed_at,
            "description": format!("Mobile Commerce order {}", self.order_id),
        });
        if let Some(pi) = &self.names_payment_intent {
            body["payment_intent_id"] = pi.clone().into();
        }
        body
    }

    /// One line per event, in `created` order, for a failure report.
    pub fn timeline(&self) -> Vec<String> {
        let mut events: Vec<&StoryEvent> = self.events.iter().collect();
        events.sort_by(|a, b| (a.created, &a.id).cmp(&(b.created, &b.id)));
        events
            .iter()
            .map(|e| {
                let dup = match e.duplicate {
                    Some(Duplicate::InBurst) => " (sent twice)",
                    Some(Duplicate::Later) => " (sent twice, once later)",
                    None => "",
                };
                format!("{} {} {}{dup}", e.created, e.id, e.event_type)
            })
            .collect()
    }
}

/// One balance transaction of a payout, as the payout lines should record it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transaction {
    pub id: String,
    pub kind: String,
    pub reporting_category: Option<String>,
    pub amount: i64,
    pub fee: i64,
    pub net: i64,
    pub currency: String,
    pub source_id: String,
    pub charge_id: Option<String>,
    pub refund_id: Option<String>,
    pub dispute_id: Option<String>,
    pub payment_intent_id: Option<String>,
}

#[derive(Debug, Clone)]
pub struct PayoutStory {
    pub id: String,
    pub amount: i64,
    pub arrival_date: i64,
    /// `payout.failed` follows `payout.paid`: the bank returned it.
    pub fails: bool,
    pub transactions: Vec<Transaction>,
    /// The same transactions as the fake Stripe serves them.
    pub served: Vec<Value>,
    pub events: Vec<StoryEvent>,
}

pub struct World {
    pub orders: Vec<OrderStory>,
    pub payouts: Vec<PayoutStory>,
}

/// Stripe's API fixtures, parsed once, that every object is built from (so events carry the
/// many fields real objects have).
pub struct Shapes {
    payment_intent: Value,
    charge: Value,
    refund: Value,
    dispute: Value,
}

impl Default for Shapes {
    fn default() -> Self {
        let mut charge = fake_stripe::fixture("charge");
        // Since API version 2022-11-15 a charge no longer embeds its refunds.
        if let Some(fields) = charge.as_object_mut() {
            fields.remove("refunds");
        }
        Shapes {
            payment_intent: fake_stripe::fixture("payment_intent"),
            charge,
            refund: fake_stripe::fixture("refund"),
            dispute: fake_stripe::fixture("dispute"),
        }
    }
}

impl Shapes {
    pub fn json(&self, object: &Object) -> Value {
        match object {
            Object::PaymentIntent(pi) => self.payment_intent(pi),
            Object::Charge(c) => self.charge(c),
            Object::Refund(r) => self.refund(r),
            Object::Dispute(d) => self.dispute(d),
        }
    }

    pub fn payment_intent(&self, pi: &PaymentIntent) -> Value {
        let mut o = self.payment_intent.clone();
        let sepa = pi
            .latest_charge
            .as_deref()
            .is_some_and(|c| c.starts_with("py_"));
        o["id"] = pi.id.clone().into();
        o["amount"] = pi.amount.into();
        o["amount_received"] = pi.amount_received.into();
        o["amount_capturable"] = pi.amount_capturable.into();
        o["currency"] = pi.currency.clone().into();
        o["status"] = pi.status.into();
        o["created"] = pi.created.into();
        o["livemode"] = true.into();
        o["client_secret"] = format!("{}_secret_{}", pi.id, pi.created).into();
        o["capture_method"] = if pi.manual_capture {
            "manual"
        } else {
            "automatic_async"
        }
        .into();
        o["metadata"] = match &pi.order_id {
            Some(order) => json!({ "order_id": order }),
            None => json!({}),
        };
        o["latest_charge"] = pi.latest_charge.clone().into();
        o["last_payment_error"] = if pi.failed {
            json!({
                "type": "card_error", "code": "card_declined", "decline_code": "insufficient_funds",
                "message": "Your card has insufficient funds.", "charge": pi.latest_charge,
                "doc_url": "https://stripe.com/docs/error-codes/card-declined"
            })
        } else {
            Value::Null
        };
        o["payment_method_types"] = json!([if sepa { "sepa_debit" } else { "card" }]);
        o["processing"] = if pi.status == "processing" {
            json!({ "type": if sepa { "sepa_debit" } else { "card" } })
        } else {
            Value::Null
        };
        o["next_action"] = Value::Null;
        o["canceled_at"] = Value::Null;
        o["cancellation_reason"] = Value::Null;
        if pi.status == "canceled" {
            o["canceled_at"] = pi.created.into();
            o["cancellation_reason"] = "abandoned".into();
        }
        o["transfer_data"] = Value::Null;
        o
    }

    pub fn charge(&self, c: &Charge) -> Value {
        let mut o = self.charge.clone();
        o["id"] = c.id.clone().into();
        o["amount"] = c.amount.into();
        o["amount_captured"] = c.amount_captured.into();
        o["amount_refunded"] = c.amount_refunded.into();
        o["captured"] = c.captured.into();
        o["refunded"] = (c.amount_refunded >= c.amount).into();
        o["currency"] = c.currency.clone().into();
        o["status"] = c.status.into();
        o["paid"] = (c.status == "succeeded").into();
        o["payment_intent"] = c.payment_intent.clone().into();
        o["created"] = c.created.into();
        o["livemode"] = true.into();
        o["balance_transaction"] = if c.status == "succeeded" {
            format!("txn_{}", c.id).into()
        } else {
            Value::Null
        };
        if c.status == "failed" {
            o["failure_code"] = "card_declined".into();
            o["failure_message"] = "Your card has insufficient funds.".into();
        }
        o["transfer_data"] = Value::Null;
        o
    }

    pub fn refund(&self, r: &Refund) -> Value {
        let mut o = self.refund.clone();
        o["id"] = r.id.clone().into();
        o["amount"] = r.amount.into();
        o["charge"] = r.charge.clone().into();
        o["payment_intent"] = r.payment_intent.clone().into();
        o["currency"] = r.currency.clone().into();
        o["status"] = r.status.into();
        o["created"] = r.created.into();
        o["reason"] = "requested_by_customer".into();
        if r.status == "failed" {
            o["failure_reason"] = "expired_or_canceled_card".into();
        }
        o
    }

    pub fn dispute(&self, d: &Dispute) -> Value {
        let mut o = self.dispute.clone();
        o["id"] = d.id.clone().into();
        o["amount"] = d.amount.into();
        o["charge"] = d.charge.clone().into();
        o["payment_intent"] = d.payment_intent.clone().into();
        o["currency"] = d.currency.clone().into();
        o["status"] = d.status.into();
        o["created"] = d.created.into();
        o["livemode"] = true.into();
        o["reason"] = "fraudulent".into();
        o["is_charge_refundable"] = false.into();
        o
    }
}

/// Picks one of `choices` with probability proportional to its weight.
fn pick<T: Copy>(rng: &mut StdRng, choices: &[(u32, T)]) -> T {
    let total: u32 = choices.iter().map(|(w, _)| w).sum();
    let mut ticket = rng.random_range(0..total);
    for (weight, choice) in choices {
        if ticket < *weight {
            return *choice;
        }
        ticket -= weight;
    }
    unreachable!("the ticket is below the total weight")
}

/// Numbers events across the whole world, so every event id is unique.
struct EventIds(u64);

impl EventIds {
    fn next(&mut self) -> String {
        self.0 += 1;
        format!("evt_1Qcv{:010}", self.0)
    }
}

/// Records states and emits the events that carry them, with random re-sends and duplicates.
struct Emitter<'a> {
    rng: &'a mut StdRng,
    ids: &'a mut EventIds,
    shapes: &'a Shapes,
    sightings: Vec<Sighting>,
    events: Vec<StoryEvent>,
}

impl Emitter<'_> {
    /// `object`'s state as of `at`, carried by an event of `event_type`.
    fn emit(&mut self, event_type: &str, at: i64, object: Object) {
        let json = self.shapes.json(&object);
        self.sightings.push(Sighting { at, object });
        self.push_event(event_type, at, json.clone());
        // Stripe sometimes emits a second event (a new id) for the same change.
        if self.rng.random_bool(0.08) {
            self.push_event(&resend_type(event_type), at, json);
        }
    }

    fn push_event(&mut self, event_type: &str, at: i64, object: Value) {
        let id = self.ids.next();
        let body = stripe_event_at(&id, event_type, true, at, object);
        let duplicate = if self.rng.random_bool(0.1) {
            Some(if self.rng.random_bool(0.5) {
                Duplicate::InBurst
            } else {
                Duplicate::Later
            })
        } else {
            None
        };
        self.events.push(StoryEvent {
            id,
            event_type: event_type.to_owned(),
            created: at,
            body,
            duplicate,
        });
    }
}

/// The type of a second event Stripe may send for the same object state.
fn resend_type(event_type: &str) -> String {
    if event_type.starts_with("payment_intent.") {
        event_type.to_owned()
    } else if event_type.starts_with("charge.dispute.") {
        "charge.dispute.updated".into()
    } else if event_type.starts_with("charge.") {
        "charge.updated".into()
    } else if event_type.starts_with("refund.") {
        "refund.updated".into()
    } else if event_type.starts_with("payout.") {
        "payout.updated".into()
    } else {
        event_type.to_owned()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    /// No payment at all.
    Nothing,
    Paid,
    Failed,
    FailedThenPaid,
    /// A SEPA debit that is still processing.
    Processing,
    ProcessingThenPaid,
    ProcessingThenFailed,
    /// Authorised, then captured.
    Captured,
    /// Authorised, then the authorisation was canceled.
    CaptureCanceled,
    Canceled,
    /// A first PaymentIntent abandoned, a second one paid.
    AbandonedThenPaid,
    /// Two PaymentIntents both paid: a duplicate payment.
    PaidTwice,
}

const FLOWS: [(u32, Flow); 12] = [
    (4, Flow::Nothing),
    (30, Flow::Paid),
    (5, Flow::Failed),
    (10, Flow::FailedThenPaid),
    (4, Flow::Processing),
    (10, Flow::ProcessingThenPaid),
    (4, Flow::ProcessingThenFailed),
    (10, Flow::Captured),
    (3, Flow::CaptureCanceled),
    (4, Flow::Canceled),
    (5, Flow::AbandonedThenPaid),
    (2, Flow::PaidTwice),
];

const REGISTRATIONS: [(u32, Registration); 5] = [
    (25, Registration::Before),
    (35, Registration::During),
    (10, Registration::AfterBurst),
    (15, Registration::After),
    (15, Registration::Never),
];

/// A succeeded charge of an order, which a payout may carry.
struct Settleable {
    charge: Charge,
    refunds: Vec<Refund>,
    disputes: Vec<Dispute>,
}

/// Everything about `orders` orders and their payouts, from `rng`; the last payout is about a
/// month before `now`.
pub fn world(rng: &mut StdRng, shapes: &Shapes, orders: usize, now: i64) -> World {
    let t0 = now - 30 * 86_400 - ORDER_SPACING * (orders as i64 + 100);
    let mut ids = EventIds(0);
    let mut stories = Vec::with_capacity(orders);
    let mut settleable = Vec::new();
    for n in 0..orders {
        let (story, paid) = order_story(rng, &mut ids, shapes, n, t0 + ORDER_SPACING * n as i64);
        stories.push(story);
        settleable.extend(paid);
    }
    let first_payout_at = t0 + ORDER_SPACING * (orders as i64 + 2);
    let payouts = payouts(rng, &mut ids, shapes, settleable, first_payout_at);
    World {
        orders: stories,
        payouts,
    }
}

fn order_story(
    rng: &mut StdRng,
    ids: &mut EventIds,
    shapes: &Shapes,
    n: usize,
    b: i64,
) -> (OrderStory, Option<Settleable>) {
    let order_id = format!("ord_{n:06}");
    let amount = rng.random_range(10..=400) * 50;
    let flow = pick(rng, &FLOWS);
    let registration = pick(rng, &REGISTRATIONS);
    let single_intent = !matches!(
        flow,
        Flow::Nothing | Flow::AbandonedThenPaid | Flow::PaidTwice
    );
    // The platform names the PaymentIntent itself; then it may carry no metadata at all.
    let names_intent =
        registration != Registration::Never && single_intent && rng.random_bool(0.15);
    let metadata = if names_intent || registration == Registration::Never {
        !rng.random_bool(0.3)
    } else {
        true
    };
    let mut e = Emitter {
        rng,
        ids,
        shapes,
        sightings: Vec::new(),
        events: Vec::new(),
    };
    let pi_id = |k: char| format!("pi_3Qcv{n:08}{k}");
    let new_intent = |k: char, created: i64, manual_capture: bool| PaymentIntent {
        id: pi_id(k),
        order_id: metadata.then(|| order_id.clone()),
        amount,
        amount_received: 0,
        amount_capturable: 0,
        currency: "eur".into(),
        status: "requires_payment_method",
        failed: false,
        latest_charge: None,
        manual_capture,
        created,
    };
    let new_charge = |prefix: &str, k: char, pi: &PaymentIntent, created: i64| Charge {
        id: format!("{prefix}_3Qcv{n:08}{k}"),
        payment_intent: pi.id.clone(),
        amount,
        amount_captured: 0,
        captured: false,
        amount_refunded: 0,
        currency: "eur".into(),
        status: "pending",
        created,
    };
    // Per flow: the paid PaymentIntent and its charge, if any.
    let mut paid: Option<(PaymentIntent, Charge)> = None;
    match flow {
        Flow::Nothing => {}
        Flow::Paid | Flow::Failed | Flow::FailedThenPaid => {
            let mut pi = new_intent('a', b, false);
            if e.rng.random_bool(0.5) {
                e.emit(
                    "payment_intent.created",
                    b,
                    Object::PaymentIntent(pi.clone()),
                );
            }
            if flow != Flow::Paid {
                let mut declined = new_charge("ch", 'a', &pi, b + 1);
                declined.status = "failed";
                pi.failed = true;
                pi.latest_charge = Some(declined.id.clone());
                e.emit("charge.failed", b + 1, Object::Charge(declined));
                e.emit(
                    "payment_intent.payment_failed",
                    b + 1,
                    Object::PaymentIntent(pi.clone()),
                );
            }
            if flow != Flow::Failed {
                let at = b + 3;
                let mut charge = new_charge("ch", 'b', &pi, at);
                succeed(&mut pi, &mut charge);
                if e.rng.random_bool(0.7) {
                    e.emit("charge.succeeded", at, Object::Charge(charge.clone()));
                }
                e.emit(
                    "payment_intent.succeeded",
                    at,
                    Object::PaymentIntent(pi.clone()),
                );
                paid = Some((pi, charge));
            }
        }
        Flow::Processing | Flow::ProcessingThenPaid | Flow::ProcessingThenFailed => {
            let mut pi = new_intent('a', b, false);
            let mut charge = new_charge("py", 'a', &pi, b + 1);
            pi.status = "processing";
            pi.latest_charge = Some(charge.id.clone());
            e.emit("charge.pending", b + 1, Object::Charge(charge.clone()));
            e.emit(
                "payment_intent.processing",
                b + 1,
                Object::PaymentIntent(pi.clone()),
            );
            let at = b + 5;
            if flow == Flow::ProcessingThenPaid {
                succeed(&mut pi, &mut charge);
                e.emit("charge.succeeded", at, Object::Charge(charge.clone()));
                e.emit(
                    "payment_intent.succeeded",
                    at,
                    Object::PaymentIntent(pi.clone()),
                );
                paid = Some((pi, charge));
            } else if flow == Flow::ProcessingThenFailed {
                charge.status = "failed";
                pi.status = "requires_payment_method";
                pi.failed = true;
                e.emit("charge.failed", at, Object::Charge(charge));
                e.emit(
                    "payment_intent.payment_failed",
                    at,
                    Object::PaymentIntent(pi.clone()),
                );
            }
        }
        Flow::Captured | Flow::CaptureCanceled => {
            let mut pi = new_intent('a', b, true);
            let mut charge = new_charge("ch", 'a', &pi, b + 1);
            charge.status = "succeeded";
            pi.status = "requires_capture";
            pi.amount_capturable = amount;
            pi.latest_charge = Some(charge.id.clone());
            e.emit("charge.succeeded", b + 1, Object::Charge(charge.clone()));
            e.emit(
                "payment_intent.amount_capturable_updated",
                b + 1,
                Object::PaymentIntent(pi.clone()),
            );
            let at = b + 4;
            if flow == Flow::Captured {
                succeed(&mut pi, &mut charge);
                e.emit("charge.captured", at, Object::Charge(charge.clone()));
                e.emit(
                    "payment_intent.succeeded",
                    at,
                    Object::PaymentIntent(pi.clone()),
                );
                paid = Some((pi, charge));
            } else {
                pi.status = "canceled";
                pi.amount_capturable = 0;
                e.emit("payment_intent.canceled", at, Object::PaymentIntent(pi));
            }
        }
        Flow::Canceled => {
            let mut pi = new_intent('a', b, false);
            e.emit(
                "payment_intent.created",
                b,
                Object::PaymentIntent(pi.clone()),
            );
            pi.status = "canceled";
            e.emit("payment_intent.canceled", b + 2, Object::PaymentIntent(pi));
        }
        Flow::AbandonedThenPaid | Flow::PaidTwice => {
            let mut first = new_intent('a', b, false);
            e.emit(
                "payment_intent.created",
                b,
                Object::PaymentIntent(first.clone()),
            );
            if flow == Flow::AbandonedThenPaid {
                first.status = "canceled";
                e.emit(
                    "payment_intent.canceled",
                    b + 2,
                    Object::PaymentIntent(first),
                );
            } else {
                let mut charge = new_charge("ch", 'a', &first, b + 2);
                succeed(&mut first, &mut charge);
                e.emit("charge.succeeded", b + 2, Object::Charge(charge));
                e.emit(
                    "payment_intent.succeeded",
                    b + 2,
                    Object::PaymentIntent(first),
                );
            }
            let mut second = new_intent('b', b + 3, false);
            let at = b + 6;
            let mut charge = new_charge("ch", 'b', &second, at);
            succeed(&mut second, &mut charge);
            e.emit("charge.succeeded", at, Object::Charge(charge.clone()));
            e.emit(
                "payment_intent.succeeded",
                at,
                Object::PaymentIntent(second.clone()),
            );
            paid = Some((second, charge));
        }
    }

    let mut settleable = None;
    let mut flow_label = format!("{flow:?}");
    if let Some((pi, mut charge)) = paid {
        let refunds = refunds(&mut e, &pi, &mut charge, n, b, &mut flow_label);
        let disputes = disputes(&mut e, &pi, &charge, n, b, &mut flow_label);
        settleable = Some(Settleable {
            charge,
            refunds,
            disputes,
        });
    }

    // The amount or currency the platform registers may disagree with the payment.
    let mut registered_amount = amount;
    let mut currency = "eur";
    let registered = registration != Registration::Never;
    if registered && e.rng.random_bool(0.03) {
        registered_amount += 100;
        flow_label.push_str(", registered for 1.00 more");
    } else if registered && e.rng.random_bool(0.03) {
        currency = "usd";
        flow_label.push_str(", registered in usd");
    }
    if !metadata {
        flow_label.push_str(", PaymentIntent without metadata.order_id");
    }
    let registered_twice = registered && e.rng.random_bool(0.15);
    let story = OrderStory {
        order_id: order_id.clone(),
        amount: registered_amount,
        currency,
        registration,
        registered_twice,
        names_payment_intent: names_intent.then(|| pi_id('a')),
        placed_at: b,
        flow: flow_label,
        sightings: e.sightings,
        events: e.events,
    };
    (story, settleable)
}

/// The payment goes through: the charge is captured in full and the PaymentIntent succeeds.
fn succeed(pi: &mut PaymentIntent, charge: &mut Charge) {
    charge.status = "succeeded";
    charge.captured = true;
    charge.amount_captured = charge.amount;
    pi.status = "succeeded";
    pi.failed = false;
    pi.amount_received = pi.amount;
    pi.amount_capturable = 0;
    pi.latest_charge = Some(charge.id.clone());
}

/// 0-3 refunds of the paid charge: succeeded at once, pending then succeeded (or still
/// pending), or pending then failed; the charge's own `charge.refunded` events show the
/// running total of the refunds that did not fail. Returns the refunds that succeeded.
fn refunds(
    e: &mut Emitter<'_>,
    pi: &PaymentIntent,
    charge: &mut Charge,
    n: usize,
    b: i64,
    label: &mut String,
) -> Vec<Refund> {
    let count = pick(e.rng, &[(55, 0), (30, 1), (10, 2), (5, 3)]);
    let full = count == 1 && e.rng.random_bool(0.3);
    let mut left = charge.amount_captured;
    let mut succeeded = Vec::new();
    for k in 0..count {
        let at = b + 20 + 15 * k as i64;
        let amount = if full {
            left
        } else {
            e.rng.random_range(1..=(left / 2).max(1))
        };
        left -= amount;
        let outcome = pick(
            e.rng,
            &[
                (60, "succeeded"),
                (20, "pending_then_succeeded"),
                (5, "pending"),
                (15, "failed"),
            ],
        );
        let mut refund = Refund {
            id: format!("re_3Qcv{n:08}{k}"),
            charge: charge.id.clone(),
            payment_intent: pi.id.clone(),
            amount,
            currency: "eur".into(),
            status: if outcome == "succeeded" {
                "succeeded"
            } else {
                "pending"
            },
            created: at,
        };
        label.push_str(&format!(", refund {amount} {outcome}"));
        e.emit("refund.created", at, Object::Refund(refund.clone()));
        if outcome != "failed" {
            charge.amount_refunded += amount;
            // The charge's view is sometimes never sent: the refund objects alone must count.
            if e.rng.random_bool(0.8) {
                e.emit("charge.refunded", at, Object::Charge(charge.clone()));
            }
        }
        match outcome {
            "pending_then_succeeded" => {
                refund.status = "succeeded";
                e.emit("refund.updated", at + 5, Object::Refund(refund.clone()));
            }
            "failed" => {
                refund.status = "failed";
                e.emit("refund.failed", at + 5, Object::Refund(refund.clone()));
            }
            _ => {}
        }
        if refund.status == "succeeded" {
            succeeded.push(refund);
        }
    }
    succeeded
}

/// Sometimes a dispute: opened (with its funds withdrawn, the same state), maybe under review,
/// then won, lost, or still open. Returns it.
fn disputes(
    e: &mut Emitter<'_>,
    pi: &PaymentIntent,
    charge: &Charge,
    n: usize,
    b: i64,
    label: &mut String,
) -> Vec<Dispute> {
    if !e.rng.random_bool(0.15) {
        return Vec::new();
    }
    let at = b + 100;
    let amount = if e.rng.random_bool(0.8) {
        charge.amount_captured
    } else {
        e.rng.random_range(1..=charge.amount_captured)
    };
    let mut dispute = Dispute {
        id: format!("dp_3Qcv{n:08}a"),
        charge: charge.id.clone(),
        payment_intent: pi.id.clone(),
        amount,
        currency: "eur".into(),
        status: "needs_response",
        created: at,
    };
    e.emit(
        "charge.dispute.created",
        at,
        Object::Dispute(dispute.clone()),
    );
    if e.rng.random_bool(0.5) {
        e.emit(
            "charge.dispute.funds_withdrawn",
            at,
            Object::Dispute(dispute.clone()),
        );
    }
    if e.rng.random_bool(0.5) {
        dispute.status = "under_review";
        e.emit(
            "charge.dispute.updated",
            at + 5,
            Object::Dispute(dispute.clone()),
        );
    }
    let outcome = pick(e.rng, &[(35, "won"), (35, "lost"), (30, "open")]);
    if outcome != "open" {
        dispute.status = outcome;
        e.emit(
            "charge.dispute.closed",
            at + 20,
            Object::Dispute(dispute.clone()),
        );
        if outcome == "won" && e.rng.random_bool(0.5) {
            e.emit(
                "charge.dispute.funds_reinstated",
                at + 20,
                Object::Dispute(dispute.clone()),
            );
        }
    }
    label.push_str(&format!(", dispute {amount} {}", dispute.status));
    vec![dispute]
}

/// Automatic payouts of about 60% of the paid charges (1-6 per payout), each with some of the
/// refunds and dispute withdrawals of its charges; about 15% fail after being paid.
fn payouts(
    rng: &mut StdRng,
    ids: &mut EventIds,
    shapes: &Shapes,
    mut settleable: Vec<Settleable>,
    first_at: i64,
) -> Vec<PayoutStory> {
    settleable.shuffle(rng);
    let keep = settleable.len() * 6 / 10;
    settleable.truncate(keep);
    let mut payouts = Vec::new();
    let mut rest = settleable.as_slice();
    while !rest.is_empty() {
        let size = rng.random_range(1..=6).min(rest.len());
        let (carried, tail) = rest.split_at(size);
        rest = tail;
        let j = payouts.len();
        let at = first_at + 10 * j as i64;
        payouts.push(payout(rng, ids, shapes, j, at, carried));
    }
    payouts
}

fn payout(
    rng: &mut StdRng,
    ids: &mut EventIds,
    shapes: &Shapes,
    j: usize,
    at: i64,
    carried: &[Settleable],
) -> PayoutStory {
    let id = format!("po_1Qcv{j:08}");
    let mut lines: Vec<(Transaction, Value)> = Vec::new();
    for s in carried {
        let c = &s.charge;
        let kind = if c.id.starts_with("py_") {
            "payment"
        } else {
            "charge"
        };
        let refs = Refs {
            charge: Some(c.id.clone()),
            refund: None,
            dispute: None,
            payment_intent: Some(c.payment_intent.clone()),
        };
        let fee = 25 + c.amount_captured * 15 / 1000;
        push_line(
            &mut lines,
            j,
            kind,
            c.amount_captured,
            fee,
            shapes.charge(c),
            refs,
        );
    }
    // Refunds and dispute withdrawals that came out of the same payout, when they leave it
    // positive.
    let mut net: i64 = lines.iter().map(|(t, _)| t.net).sum();
    for s in carried {
        for r in &s.refunds {
            if rng.random_bool(0.5) && net - r.amount > 0 {
                net -= r.amount;
                let refs = Refs {
                    charge: Some(r.charge.clone()),
                    refund: Some(r.id.clone()),
                    dispute: None,
                    payment_intent: Some(r.payment_intent.clone()),
                };
                push_line(
                    &mut lines,
                    j,
                    "refund",
                    -r.amount,
                    0,
                    shapes.refund(r),
                    refs,
                );
            }
        }
        for d in &s.disputes {
            if rng.random_bool(0.5) && net - d.amount - 1500 > 0 {
                net -= d.amount + 1500;
                let refs = Refs {
                    charge: Some(d.charge.clone()),
                    refund: None,
                    dispute: Some(d.id.clone()),
                    payment_intent: Some(d.payment_intent.clone()),
                };
                let source = shapes.dispute(d);
                push_line(&mut lines, j, "adjustment", -d.amount, 1500, source, refs);
            }
        }
    }
    let arrival_date = at + 2 * 86_400;
    let fails = rng.random_bool(0.15);
    let state = |status: &str, reconciliation: &str| {
        let mut p = automatic_payout(&id, net, status);
        p["arrival_date"] = arrival_date.into();
        p["created"] = at.into();
        p["livemode"] = true.into();
        p["balance_transaction"] = format!("txn_1Qcv{j:08}pay").into();
        p["reconciliation_status"] = reconciliation.into();
        if status == "failed" {
            p["failure_code"] = "could_not_process".into();
            p["failure_message"] = "The bank could not process this payout.".into();
            p["failure_balance_transaction"] = format!("txn_1Qcv{j:08}fail").into();
        }
        p
    };
    let refs = Refs {
        charge: None,
        refund: None,
        dispute: None,
        payment_intent: None,
    };
    push_line(
        &mut lines,
        j,
        "payout",
        -net,
        0,
        state("paid", "completed"),
        refs,
    );
    // Stripe lists the newest first; any order will do for the fake.
    lines.shuffle(rng);
    let (transactions, served): (Vec<Transaction>, Vec<Value>) = lines.into_iter().unzip();

    let mut e = Emitter {
        rng,
        ids,
        shapes,
        sightings: Vec::new(),
        events: Vec::new(),
    };
    let mut states = vec![
        ("payout.created", at, state("pending", "in_progress")),
        ("payout.paid", at + 1, state("paid", "in_progress")),
        (
            "payout.reconciliation_completed",
            at + 2,
            state("paid", "completed"),
        ),
    ];
    if fails {
        states.push(("payout.failed", at + 3, state("failed", "completed")));
    }
    for (event_type, created, object) in states {
        e.push_event(event_type, created, object.clone());
        if e.rng.random_bool(0.08) {
            e.push_event(&resend_type(event_type), created, object);
        }
    }
    PayoutStory {
        id,
        amount: net,
        arrival_date,
        fails,
        transactions,
        served,
        events: e.events,
    }
}

/// Adds the `k`-th balance transaction of payout `j`.
fn push_line(
    lines: &mut Vec<(Transaction, Value)>,
    j: usize,
    kind: &str,
    amount: i64,
    fee: i64,
    source: Value,
    refs: Refs,
) {
    let txn = format!("txn_1Qcv{j:08}{:03}", lines.len());
    let source_id = source["id"].as_str().expect("a source id").to_owned();
    let served = fake_stripe::balance_transaction(&txn, kind, amount, fee, "eur", source);
    let transaction = Transaction {
        id: txn,
        kind: kind.to_owned(),
        reporting_category: served["reporting_category"].as_str().map(str::to_owned),
        amount,
        fee,
        net: amount - fee,
        currency: "eur".into(),
        source_id,
        charge_id: refs.charge,
        refund_id: refs.refund,
        dispute_id: refs.dispute,
        payment_intent_id: refs.payment_intent,
    };
    lines.push((transaction, served));
}

/// What a balance transaction's source refers to.
struct Refs {
    charge: Option<String>,
    refund: Option<String>,
    dispute: Option<String>,
    payment_intent: Option<String>,
}

/// One thing to send to the app.
#[derive(Debug, Clone, Copy)]
pub enum Send<'a> {
    /// A webhook delivery of this event body.
    Event(&'a str),
    /// `PUT /v1/orders/{id}`.
    Register(&'a OrderStory),
}

/// What to send, in three phases.
pub struct Schedule<'a> {
    /// Registrations before any event.
    pub before: Vec<Send<'a>>,
    /// Each order's events (and its registration when it is registered during them) in a
    /// random order, one burst after the other so that bursts overlap once sent with bounded
    /// concurrency; duplicates sent later and payout events anywhere.
    pub burst: Vec<Send<'a>>,
    /// Registrations once every event has been applied.
    pub after: Vec<Send<'a>>,
}

impl Schedule<'_> {
    pub fn len(&self) -> usize {
        self.before.len() + self.burst.len() + self.after.len()
    }
}

pub fn schedule<'a>(rng: &mut StdRng, world: &'a World) -> Schedule<'a> {
    let mut before = Vec::new();
    let mut after = Vec::new();
    // (position, what): a burst takes positions [rank, rank + 1); "later" is after its end.
    let mut keyed: Vec<(f64, Send<'a>)> = Vec::new();
    let bursts = world.orders.len() as f64 + 1.0;
    let mut ranks: Vec<usize> = (0..world.orders.len()).collect();
    ranks.shuffle(rng);
    for (order, rank) in world.orders.iter().zip(ranks) {
        let rank = rank as f64;
        let mut burst: Vec<Send<'a>> = Vec::new();
        let mut later: Vec<Send<'a>> = Vec::new();
        for event in &order.events {
            burst.push(Send::Event(&event.body));
            match event.duplicate {
                Some(Duplicate::InBurst) => burst.push(Send::Event(&event.body)),
                Some(Duplicate::Later) => later.push(Send::Event(&event.body)),
                None => {}
            }
        }
        match order.registration {
            Registration::Before => before.push(Send::Register(order)),
            Registration::During => burst.push(Send::Register(order)),
            Registration::AfterBurst => later.push(Send::Register(order)),
            Registration::After => after.push(Send::Register(order)),
            Registration::Never => {}
        }
        if order.registered_twice {
            match order.registration {
                Registration::After => after.push(Send::Register(order)),
                _ => burst.push(Send::Register(order)),
            }
        }
        burst.shuffle(rng);
        let slots = burst.len() as f64 + 1.0;
        for (i, send) in burst.into_iter().enumerate() {
            keyed.push((rank + (i as f64 + 1.0) / slots, send));
        }
        for send in later {
            keyed.push((rng.random_range(rank + 1.0..=bursts), send));
        }
    }
    for payout in &world.payouts {
        for event in &payout.events {
            keyed.push((rng.random_range(0.0..bursts), Send::Event(&event.body)));
            if event.duplicate.is_some() {
                keyed.push((rng.random_range(0.0..bursts), Send::Event(&event.body)));
            }
        }
    }
    keyed.sort_by(|a, b| a.0.total_cmp(&b.0));
    before.shuffle(rng);
    after.shuffle(rng);
    Schedule {
        before,
        burst: keyed.into_iter().map(|(_, send)| send).collect(),
        after,
    }
}
