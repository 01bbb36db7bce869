//! Small value types shared by every module.

use std::fmt;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Which Stripe keys and events a profile (and the whole service) accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum StripeMode {
    Live,
    Test,
}

impl StripeMode {
    pub fn as_str(self) -> &'static str {
        match self {
            StripeMode::Live => "live",
            StripeMode::Test => "test",
        }
    }

    /// Whether an event's `livemode` flag belongs to this mode.
    pub fn accepts_livemode(self, livemode: bool) -> bool {
        livemode == (self == StripeMode::Live)
    }
}

impl fmt::Display for StripeMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for StripeMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "live" => Ok(StripeMode::Live),
            "test" => Ok(StripeMode::Test),
            other => Err(format!(
                "unknown Stripe mode {other:?} (expected live or test)"
            )),
        }
    }
}

/// The public id of a Stripe profile: `prof_` and 24 random base62 characters (about 143
/// bits), so a webhook URL cannot be guessed from another.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProfileId(String);

impl ProfileId {
    const PREFIX: &'static str = "prof_";
    const RANDOM_LEN: usize = 24;

    pub fn generate() -> Self {
        let random: String = rand::rng()
            .sample_iter(rand::distr::Alphanumeric)
            .take(Self::RANDOM_LEN)
            .map(char::from)
            .collect();
        ProfileId(format!("{}{random}", Self::PREFIX))
    }

    /// Accepts only well-formed ids, so a malformed URL never costs a database lookup.
    pub fn parse(s: &str) -> Option<Self> {
        let random = s.strip_prefix(Self::PREFIX)?;
        (random.len() == Self::RANDOM_LEN && random.bytes().all(|b| b.is_ascii_alphanumeric()))
            .then(|| ProfileId(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProfileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A merchant id as the POS platform names it.
pub fn is_valid_merchant_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
}

/// Ids that cross layers, each a type of its own so that one cannot be passed for another.
/// `parse` checks untrusted input (HTTP, message headers); `from_stored` takes an id the
/// service itself stored or Stripe signed. Each reads as `&str` where one is wanted.
macro_rules! text_id {
    ($(#[$doc:meta])* $name:ident, $valid:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: &str) -> Option<Self> {
                let valid: fn(&str) -> bool = $valid;
                valid(s).then(|| $name(s.to_owned()))
            }

            pub fn from_stored(s: impl Into<String>) -> Self {
                $name(s.into())
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::ops::Deref for $name {
            type Target = str;
            fn deref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

/// Same rule as the `orders.order_id` check constraint, so a valid id is never refused there.
pub fn is_valid_order_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
}

text_id!(
    /// An order of the Mobile Commerce app, as the POS platform names it.
    OrderId,
    is_valid_order_id
);

text_id!(
    /// A merchant, as the POS platform names it.
    MerchantId,
    is_valid_merchant_id
);

text_id!(
    /// A Stripe event id (`evt_...`), unique per Stripe account.
    EventId,
    |s| (1..=255).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic())
);

/// The statuses `order_states.status` allows (its check constraint), in lifecycle order.
/// The largest amount an order may have, in the currency's minor unit: far beyond any amount
/// Stripe accepts, and small enough that millions of them add up without overflowing.
pub const MAX_AMOUNT: i64 = 1_000_000_000_000;

/// Sums amounts without overflowing: an absurd amount (beyond [`MAX_AMOUNT`], which Stripe
/// never sends) saturates, and the totals then disagree with the order, which the
/// reconciliation reports as a discrepancy; it never panics or wraps.
pub fn sum_amounts(amounts: impl IntoIterator<Item = i64>) -> i64 {
    amounts.into_iter().fold(0, i64::saturating_add)
}

pub const ORDER_STATUSES: [&str; 10] = [
    "awaiting_payment",
    "processing",
    "paid",
    "payment_failed",
    "canceled",
    "partially_refunded",
    "refunded",
    "disputed",
    "dispute_won",
    "dispute_lost",
];

/// A Stripe payout's statuses, in lifecycle order (`paid` can still turn `failed`).
pub const PAYOUT_STATUSES: [&str; 5] = ["pending", "in_transit", "paid", "failed", "canceled"];

/// What an alert is about: what on-call staff are told and `back_office.merchant_alerts.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertKind {
    NoBankAccount,
    PayoutsDisabled,
    PayoutFailed,
    FundsUnsettled,
    /// Stripe answered 401/403 to the profile's key while handling an event.
    StripeKeyRejected,
    /// Stripe disabled the profile's webhook endpoint (it kept failing).
    WebhookEndpointDisabled,
}

impl AlertKind {
    /// Every kind, as `alerts.kind`'s check constraint allows them.
    pub const ALL: [AlertKind; 6] = [
        AlertKind::NoBankAccount,
        AlertKind::PayoutsDisabled,
        AlertKind::PayoutFailed,
        AlertKind::FundsUnsettled,
        AlertKind::WebhookEndpointDisabled,
        AlertKind::StripeKeyRejected,
    ];

    pub const FROM_BANK_STATE: [AlertKind; 5] = [
        AlertKind::NoBankAccount,
        AlertKind::PayoutsDisabled,
        AlertKind::PayoutFailed,
        AlertKind::FundsUnsettled,
        AlertKind::StripeKeyRejected,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            AlertKind::NoBankAccount => "no_bank_account",
            AlertKind::PayoutsDisabled => "payouts_disabled",
            AlertKind::PayoutFailed => "payout_failed",
            AlertKind::FundsUnsettled => "funds_unsettled",
            AlertKind::StripeKeyRejected => "stripe_key_rejected",
            AlertKind::WebhookEndpointDisabled => "webhook_endpoint_disabled",
        }
    }
}

/// The kinds' names, as `alerts.kind` stores them.
pub const ALERT_KINDS: [&str; 6] = {
    let mut names = [""; 6];
    let mut i = 0;
    while i < names.len() {
        names[i] = AlertKind::ALL[i].as_str();
        i += 1;
    }
    names
};

/// `back_office.merchant_alerts.status`.
pub const ALERT_STATUSES: [&str; 2] = ["open", "resolved"];

/// One verified Stripe event as stored in the inbox: what the relay publishes and a worker
/// handles. Every part of the pipeline carries this one type.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub profile_id: String,
    pub merchant_id: MerchantId,
    pub event_id: EventId,
    pub event_type: String,
    /// The body exactly as Stripe signed it.
    pub body: bytes::Bytes,
    /// Stripe's `created`, the inbox's partition key, when known: a message carries it so
    /// that a worker reads the event back from its month's partition alone.
    pub created: Option<time::OffsetDateTime>,
    /// The relay's signature over the event, as a message carried it: a worker that verifies
    /// it need not read the event back from the inbox. `None` when read from the inbox.
    pub signature: Option<String>,
}

/// A work queue, consumed by the handler of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WorkQueue {
    Orders,
    Payouts,
    Accounts,
}

impl WorkQueue {
    pub const ALL: [WorkQueue; 3] = [WorkQueue::Orders, WorkQueue::Payouts, WorkQueue::Accounts];

    /// The queue's name after the topology prefix, and its handler's name.
    pub fn name(self) -> &'static str {
        match self {
            WorkQueue::Orders => "orders",
            WorkQueue::Payouts => "payouts",
            WorkQueue::Accounts => "accounts",
        }
    }

    pub fn by_name(name: &str) -> Option<WorkQueue> {
        WorkQueue::ALL.into_iter().find(|q| q.name() == name)
    }

    /// The Stripe objects whose events the queue takes (`charge` for `charge.refunded` and
    /// `charge.dispute.created`): the topology binds `stripe.<object>.#` for each.
    pub fn objects(self) -> Vec<&'static str> {
        let mut objects = Vec::new();
        for (event_type, queue) in HANDLED_EVENTS {
            let object = object_of(event_type);
            if *queue == self && !objects.contains(&object) {
                objects.push(object);
            }
        }
        objects
    }
}

/// `charge` for `charge.dispute.created`.
fn object_of(event_type: &str) -> &str {
    event_type.split('.').next().unwrap_or(event_type)
}

/// Every event type accredito handles and the work queue that takes it: the one list a
/// registered webhook endpoint subscribes to, catch-up lists, and the topology binds (by
/// object). A new event type is one line here; its handler dispatches on the object.
pub const HANDLED_EVENTS: &[(&str, WorkQueue)] = &[
    ("payment_intent.created", WorkQueue::Orders),
    ("payment_intent.processing", WorkQueue::Orders),
    ("payment_intent.succeeded", WorkQueue::Orders),
    ("payment_intent.payment_failed", WorkQueue::Orders),
    ("payment_intent.canceled", WorkQueue::Orders),
    ("payment_intent.requires_action", WorkQueue::Orders),
    (
        "payment_intent.amount_capturable_updated",
        WorkQueue::Orders,
    ),
    ("charge.succeeded", WorkQueue::Orders),
    ("charge.failed", WorkQueue::Orders),
    ("charge.captured", WorkQueue::Orders),
    ("charge.pending", WorkQueue::Orders),
    ("charge.refunded", WorkQueue::Orders),
    ("charge.updated", WorkQueue::Orders),
    ("charge.refund.updated", WorkQueue::Orders),
    ("charge.dispute.created", WorkQueue::Orders),
    ("charge.dispute.updated", WorkQueue::Orders),
    ("charge.dispute.closed", WorkQueue::Orders),
    ("charge.dispute.funds_withdrawn", WorkQueue::Orders),
    ("charge.dispute.funds_reinstated", WorkQueue::Orders),
    ("refund.created", WorkQueue::Orders),
    ("refund.updated", WorkQueue::Orders),
    ("refund.failed", WorkQueue::Orders),
    ("payout.created", WorkQueue::Payouts),
    ("payout.updated", WorkQueue::Payouts),
    ("payout.paid", WorkQueue::Payouts),
    ("payout.failed", WorkQueue::Payouts),
    ("payout.canceled", WorkQueue::Payouts),
    ("payout.reconciliation_completed", WorkQueue::Payouts),
    ("balance.available", WorkQueue::Payouts),
    ("account.updated", WorkQueue::Accounts),
    ("account.external_account.created", WorkQueue::Accounts),
    ("account.external_account.updated", WorkQueue::Accounts),
    ("account.external_account.deleted", WorkQueue::Accounts),
];

/// The handled event types, in [`HANDLED_EVENTS`]'s order.
pub fn handled_event_types() -> Vec<&'static str> {
    HANDLED_EVENTS
        .iter()
        .map(|(event_type, _)| *event_type)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_profile_ids_parse_and_differ() {
        let a = ProfileId::generate();
        let b = ProfileId::generate();
        assert_ne!(a, b);
        assert_eq!(ProfileId::parse(a.as_str()), Some(a.clone()));
        assert_eq!(a.as_str().len(), 29);
    }

    #[test]
    fn malformed_profile_ids_are_refused() {
        for bad in [
            "",
            "prof_",
            "prof_short",
            "acct_123456789012345678901234",
            "prof_12345678901234567890123!",
        ] {
            assert_eq!(ProfileId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn livemode_must_match_the_mode() {
        assert!(StripeMode::Live.accepts_livemode(true));
        assert!(!StripeMode::Live.accepts_livemode(false));
        assert!(StripeMode::Test.accepts_livemode(false));
    }

    #[test]
    fn merchant_ids_are_restricted_to_safe_characters() {
        assert!(is_valid_merchant_id("m_42"));
        assert!(!is_valid_merchant_id(""));
        assert!(!is_valid_merchant_id("a b"));
    }

    #[test]
    fn each_stripe_object_goes_to_one_work_queue() {
        for (event_type, queue) in HANDLED_EVENTS {
            let object = object_of(event_type);
            let queues: Vec<WorkQueue> = WorkQueue::ALL
                .into_iter()
                .filter(|q| q.objects().contains(&object))
                .collect();
            assert_eq!(queues, [*queue], "{event_type}");
        }
        assert_eq!(
            WorkQueue::Orders.objects(),
            ["payment_intent", "charge", "refund"]
        );
        assert_eq!(WorkQueue::Payouts.objects(), ["payout", "balance"]);
        assert_eq!(WorkQueue::Accounts.objects(), ["account"]);
    }

    #[test]
    fn a_work_queue_is_found_by_its_name() {
        for queue in WorkQueue::ALL {
            assert_eq!(WorkQueue::by_name(queue.name()), Some(queue));
        }
        assert_eq!(WorkQueue::by_name("nothing"), None);
    }

    #[test]
    fn typed_ids_take_only_well_formed_text() {
        assert_eq!(
            MerchantId::parse("m_42").map(|m| m.to_string()),
            Some("m_42".into())
        );
        assert!(MerchantId::parse("a b").is_none());
        assert!(OrderId::parse("ord_2026-11-27:0001.a").is_some());
        assert!(OrderId::parse(&"x".repeat(129)).is_none());
        assert!(EventId::parse("evt_1Qx").is_some());
        assert!(EventId::parse("").is_none());
        assert!(EventId::parse("evt 1").is_none());
        // Each reads as text where text is wanted.
        let merchant = MerchantId::from_stored("m_1");
        assert!(merchant.starts_with("m_"));
    }
}
