//! The Stripe objects the workers read, with only the fields they use. Real objects carry many
//! more; unknown fields are ignored and optional ones default, so an API version change that
//! adds fields never breaks parsing.

use std::collections::HashMap;

use serde::Deserialize;

/// A full event as the workers read it from the stored body.
#[derive(Debug, Clone, Deserialize)]
pub struct Event {
    pub id: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub created: i64,
    pub livemode: bool,
    pub data: EventData,
}

#[derive(Debug, Clone, Deserialize)]
pub struct EventData {
    pub object: EventObject,
}

/// An event's `data.object` as Stripe sent it, with its `object` (kind) and `id` read once.
/// Handlers read the typed object they need straight from the text: no tree of the whole
/// object is built first (a PaymentIntent is about a hundred values, each an allocation).
#[derive(Debug, Clone)]
pub struct EventObject {
    raw: Box<serde_json::value::RawValue>,
    kind: Option<String>,
    id: Option<String>,
}

impl EventObject {
    /// Its `object` field: `payment_intent`, `charge`, `payout`...
    pub fn kind(&self) -> Option<&str> {
        self.kind.as_deref()
    }

    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// The object as `T`.
    pub fn parse<T: serde::de::DeserializeOwned>(&self) -> serde_json::Result<T> {
        serde_json::from_str(self.raw.get())
    }
}

impl<'de> Deserialize<'de> for EventObject {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        /// What every Stripe object says of itself; anything else is skipped unread.
        #[derive(Deserialize)]
        struct Head {
            #[serde(default)]
            object: Option<String>,
            #[serde(default)]
            id: Option<String>,
        }
        let raw = Box::<serde_json::value::RawValue>::deserialize(deserializer)?;
        // Not an object, or one whose kind or id is not a string: it names nothing a handler
        // tracks, and each handler says so.
        let head = serde_json::from_str::<Head>(raw.get()).ok();
        let (kind, id) = head.map_or((None, None), |h| (h.object, h.id));
        Ok(EventObject { raw, kind, id })
    }
}

/// A reference that Stripe sends as an id, or as the object when expanded.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum Expandable {
    Id(String),
    Object { id: String },
}

impl Expandable {
    pub fn id(&self) -> &str {
        match self {
            Expandable::Id(id) | Expandable::Object { id } => id,
        }
    }
}

pub fn id_of(reference: &Option<Expandable>) -> Option<String> {
    reference.as_ref().map(|r| r.id().to_owned())
}

#[derive(Debug, Clone, Deserialize)]
pub struct PaymentIntent {
    pub id: String,
    pub amount: i64,
    #[serde(default)]
    pub amount_received: i64,
    pub currency: String,
    pub status: String,
    #[serde(default)]
    pub metadata: HashMap<String, String>,
    #[serde(default)]
    pub last_payment_error: Option<serde_json::Value>,
    #[serde(default)]
    pub latest_charge: Option<Expandable>,
}

impl PaymentIntent {
    /// The Mobile Commerce app sets `metadata.order_id` on every PaymentIntent it creates.
    pub fn order_id(&self) -> Option<&str> {
        self.metadata
            .get("order_id")
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// A failed attempt leaves the intent waiting for a new payment method, with the error.
    pub fn failed(&self) -> bool {
        self.status == "requires_payment_method"
            && self
                .last_payment_error
                .as_ref()
                .is_some_and(|e| !e.is_null())
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct List<T> {
    pub data: Vec<T>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Charge {
    pub id: String,
    pub amount: i64,
    #[serde(default)]
    pub amount_captured: i64,
    #[serde(default)]
    pub amount_refunded: i64,
    pub currency: String,
    pub status: String,
    #[serde(default)]
    pub payment_intent: Option<Expandable>,
    /// Present in older API versions and when expanded.
    #[serde(default)]
    pub refunds: Option<List<Refund>>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Refund {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    #[serde(default = "pending")]
    pub status: String,
    #[serde(default)]
    pub charge: Option<Expandable>,
    #[serde(default)]
    pub payment_intent: Option<Expandable>,
}

fn pending() -> String {
    "pending".into()
}

#[derive(Debug, Clone, Deserialize)]
pub struct Dispute {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    #[serde(default)]
    pub charge: Option<Expandable>,
    #[serde(default)]
    pub payment_intent: Option<Expandable>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Payout {
    pub id: String,
    pub amount: i64,
    pub currency: String,
    pub status: String,
    #[serde(default)]
    pub arrival_date: Option<i64>,
    #[serde(default = "automatic_by_default")]
    pub automatic: bool,
    #[serde(default)]
    pub method: Option<String>,
    #[serde(default)]
    pub destination: Option<Expandable>,
    #[serde(default)]
    pub failure_code: Option<String>,
    #[serde(default)]
    pub failure_message: Option<String>,
    #[serde(default)]
    pub reconciliation_status: Option<String>,
}

fn automatic_by_default() -> bool {
    true
}

/// A Stripe account as an `account.updated` event carries it. Every field is optional on
/// purpose: a field the event leaves out is unknown, not false, so applying the event
/// overwrites only what it says. `GET /v1/account`'s answer is authoritative and has a type of
/// its own, [`crate::stripe::resources::Account`], whose missing fields mean "none".
#[derive(Debug, Clone, Deserialize)]
pub struct Account {
    pub id: String,
    #[serde(default)]
    pub payouts_enabled: Option<bool>,
    #[serde(default)]
    pub requirements: Option<Requirements>,
    #[serde(default)]
    pub external_accounts: Option<List<serde_json::Value>>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct Requirements {
    #[serde(default)]
    pub currently_due: Option<Vec<String>>,
    #[serde(default)]
    pub past_due: Option<Vec<String>>,
}

impl Account {
    /// Stripe asks for a bank account (or card) to pay out to.
    pub fn external_account_due(&self) -> bool {
        let Some(r) = &self.requirements else {
            return false;
        };
        r.currently_due
            .iter()
            .chain(r.past_due.iter())
            .flatten()
            .any(|f| f.starts_with("external_account"))
    }

    pub fn external_account_count(&self) -> Option<i32> {
        self.external_accounts
            .as_ref()
            .map(|l| i32::try_from(l.data.len()).unwrap_or(i32::MAX))
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Balance {
    #[serde(default)]
    pub available: Vec<BalanceAmount>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct BalanceAmount {
    pub amount: i64,
    pub currency: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> serde_json::Value {
        let objects: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/stripe-objects.json"))
                .expect("fixture");
        objects[name].clone()
    }

    #[test]
    fn stripe_api_fixtures_parse() {
        let pi: PaymentIntent =
            serde_json::from_value(fixture("payment_intent")).expect("payment_intent");
        assert!(pi.id.starts_with("pi_"));
        let charge: Charge = serde_json::from_value(fixture("charge")).expect("charge");
        assert!(charge.id.starts_with("ch_") || charge.id.starts_with("py_"));
        let refund: Refund = serde_json::from_value(fixture("refund")).expect("refund");
        assert!(refund.id.starts_with("re_"));
        let dispute: Dispute = serde_json::from_value(fixture("dispute")).expect("dispute");
        assert!(dispute.id.starts_with("dp_") || dispute.id.starts_with("du_"));
        let event: Event = serde_json::from_str(&fixture("event").to_string()).expect("event");
        let payout: Payout = serde_json::from_value(fixture("payout")).expect("payout");
        assert!(payout.id.starts_with("po_"));
        let account: Account = serde_json::from_value(fixture("account")).expect("account");
        assert!(account.id.starts_with("acct_"));
        let _: Balance = serde_json::from_value(fixture("balance")).expect("balance");
        assert!(event.id.starts_with("evt_"));
    }

    #[test]
    fn an_event_object_gives_its_kind_and_id_and_parses_as_its_type() {
        let event: Event = serde_json::from_str(
            r#"{"id":"evt_1","type":"payment_intent.succeeded","created":1,"livemode":false,
                "data":{"object":{"amount":5,"id":"pi_1","currency":"eur","status":"succeeded",
                "metadata":{"order_id":"o-1"},"object":"payment_intent"}}}"#,
        )
        .expect("event");
        assert_eq!(event.data.object.kind(), Some("payment_intent"));
        assert_eq!(event.data.object.id(), Some("pi_1"));
        let pi: PaymentIntent = event.data.object.parse().expect("payment intent");
        assert_eq!((pi.id.as_str(), pi.amount), ("pi_1", 5));
        assert_eq!(pi.order_id(), Some("o-1"));
    }

    #[test]
    fn an_event_object_that_is_not_a_stripe_object_names_nothing() {
        for object in [r#""pi_1""#, "[1,2]", r#"{"object":7,"id":"pi_1"}"#, "{}"] {
            let body = format!(
                r#"{{"id":"evt_1","type":"x.y","created":1,"livemode":false,"data":{{"object":{object}}}}}"#
            );
            let event: Event = serde_json::from_str(&body).expect("still an event");
            assert_eq!(event.data.object.kind(), None, "{object}");
            assert!(
                event.data.object.parse::<PaymentIntent>().is_err(),
                "{object}"
            );
        }
    }

    #[test]
    fn expanded_and_plain_references_give_the_id() {
        let plain: Refund = serde_json::from_str(
            r#"{"id":"re_1","amount":5,"currency":"eur","status":"succeeded","charge":"ch_1"}"#,
        )
        .expect("refund");
        assert_eq!(id_of(&plain.charge).as_deref(), Some("ch_1"));
        let expanded: Refund = serde_json::from_str(
            r#"{"id":"re_1","amount":5,"currency":"eur","charge":{"id":"ch_2","object":"charge"}}"#,
        )
        .expect("refund");
        assert_eq!(id_of(&expanded.charge).as_deref(), Some("ch_2"));
        assert_eq!(expanded.status, "pending");
    }

    #[test]
    fn a_failed_payment_is_told_from_a_new_one() {
        let failed: PaymentIntent = serde_json::from_str(r#"{"id":"pi_1","amount":5,"currency":"eur","status":"requires_payment_method","last_payment_error":{"code":"card_declined"}}"#).expect("pi");
        assert!(failed.failed());
        let fresh: PaymentIntent = serde_json::from_str(r#"{"id":"pi_1","amount":5,"currency":"eur","status":"requires_payment_method","last_payment_error":null,"metadata":{"order_id":""}}"#).expect("pi");
        assert!(!fresh.failed());
        assert_eq!(fresh.order_id(), None);
    }
}
