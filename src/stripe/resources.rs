//! The Stripe API resources [`super::client`] returns, as far as accredito reads them:
//! accounts, balance transactions and their sources, listed events, webhook endpoints, and
//! list pages. Unknown fields are ignored and most fields default, so Stripe adding fields
//! never breaks parsing.

use std::fmt;

use secrecy::SecretString;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::stripe::objects::Expandable;

/// `null` and a missing field both become the default (Stripe sends `null` for empty
/// optional lists and strings).
pub(crate) fn nullable<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// A page of a Stripe list.
#[derive(Debug, Clone, Deserialize)]
pub struct ListPage<T> {
    #[serde(
        default = "Vec::new",
        deserialize_with = "nullable",
        bound(deserialize = "T: Deserialize<'de>")
    )]
    pub data: Vec<T>,
    #[serde(default)]
    pub has_more: bool,
}

impl<T> Default for ListPage<T> {
    fn default() -> Self {
        ListPage {
            data: Vec::new(),
            has_more: false,
        }
    }
}

/// `GET /v1/account`: what tells whether the merchant can be paid out. Authoritative, so a
/// missing field means "none" (unlike [`crate::stripe::objects::Account`], an event's view).
#[derive(Debug, Clone, Deserialize)]
pub struct Account {
    pub id: String,
    #[serde(default, deserialize_with = "nullable")]
    pub business_profile: BusinessProfile,
    #[serde(default, deserialize_with = "nullable")]
    pub settings: AccountSettings,
    #[serde(default, deserialize_with = "nullable")]
    pub payouts_enabled: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub charges_enabled: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub details_submitted: bool,
    #[serde(default, deserialize_with = "nullable")]
    pub requirements: AccountRequirements,
    /// The bank accounts and cards payouts go to (the first page, as Stripe embeds it).
    #[serde(default, deserialize_with = "nullable")]
    pub external_accounts: ListPage<ExternalAccount>,
}

impl Account {
    /// The name to show: the dashboard's display name, else the business profile's name.
    pub fn display_name(&self) -> Option<&str> {
        self.settings
            .dashboard
            .display_name
            .as_deref()
            .or(self.business_profile.name.as_deref())
            .filter(|n| !n.is_empty())
    }

    /// Stripe asks for a bank account (or debit card) to pay out to.
    pub fn external_account_due(&self) -> bool {
        self.requirements
            .currently_due
            .iter()
            .chain(&self.requirements.past_due)
            .any(|f| f.starts_with("external_account"))
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct BusinessProfile {
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct AccountSettings {
    #[serde(default, deserialize_with = "nullable")]
    pub dashboard: DashboardSettings,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct DashboardSettings {
    #[serde(default)]
    pub display_name: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct AccountRequirements {
    #[serde(default, deserialize_with = "nullable")]
    pub currently_due: Vec<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub past_due: Vec<String>,
    #[serde(default)]
    pub disabled_reason: Option<String>,
}

/// A bank account or card an account pays out to.
#[derive(Debug, Clone, Deserialize)]
pub struct ExternalAccount {
    pub id: String,
    /// `bank_account` or `card`.
    #[serde(default)]
    pub object: Option<String>,
    /// Bank accounts: `new`, `validated`, `verified`, `verification_failed`, `errored`.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub currency: Option<String>,
    #[serde(default, deserialize_with = "nullable")]
    pub default_for_currency: bool,
    #[serde(default)]
    pub country: Option<String>,
    #[serde(default)]
    pub bank_name: Option<String>,
    #[serde(default)]
    pub last4: Option<String>,
}

/// One movement of the Stripe balance.
#[derive(Debug, Clone, Deserialize)]
pub struct BalanceTransaction {
    pub id: String,
    /// `charge`, `payment`, `refund`, `payment_refund`, `adjustment` (disputes), `payout`,
    /// `stripe_fee`, ...
    #[serde(rename = "type")]
    pub transaction_type: String,
    #[serde(default)]
    pub reporting_category: Option<String>,
    pub amount: i64,
    #[serde(default)]
    pub fee: i64,
    pub net: i64,
    pub currency: String,
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub created: Option<i64>,
    #[serde(default)]
    pub available_on: Option<i64>,
    #[serde(default)]
    pub description: Option<String>,
    /// What moved the money: an id, or the object when expanded.
    #[serde(default)]
    pub source: Option<TransactionSource>,
}

impl BalanceTransaction {
    /// The source's id and the charge and PaymentIntent it belongs to, as far as the
    /// transaction tells (an unexpanded refund or dispute names no charge).
    pub fn source_ref(&self) -> Option<SourceRef> {
        self.source.as_ref().map(TransactionSource::source_ref)
    }
}

/// A balance transaction's `source`.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum TransactionSource {
    Id(String),
    Object(SourceObject),
}

/// An expanded source: the fields shared by charges, refunds and disputes.
#[derive(Debug, Clone, Deserialize)]
pub struct SourceObject {
    pub id: String,
    #[serde(default)]
    pub object: Option<String>,
    /// Refunds and disputes: the charge they take money back from.
    #[serde(default)]
    pub charge: Option<Expandable>,
    #[serde(default)]
    pub payment_intent: Option<Expandable>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceKind {
    Charge,
    Refund,
    Dispute,
    Payout,
    Other,
}

impl SourceKind {
    fn from_object(object: &str) -> SourceKind {
        match object {
            "charge" => SourceKind::Charge,
            "refund" => SourceKind::Refund,
            "dispute" => SourceKind::Dispute,
            "payout" => SourceKind::Payout,
            _ => SourceKind::Other,
        }
    }

    /// From an id's prefix, for unexpanded sources (`py_` are charges of non-card payment
    /// methods, `pyr_` their refunds, `du_` disputes of those).
    fn from_id(id: &str) -> SourceKind {
        let prefix = id.split_once('_').map_or("", |(p, _)| p);
        match prefix {
            "ch" | "py" => SourceKind::Charge,
            "re" | "pyr" => SourceKind::Refund,
            "dp" | "du" => SourceKind::Dispute,
            "po" => SourceKind::Payout,
            _ => SourceKind::Other,
        }
    }
}

/// Where a balance transaction's money came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRef {
    pub source_id: String,
    pub kind: SourceKind,
    pub charge_id: Option<String>,
    pub payment_intent_id: Option<String>,
}

impl TransactionSource {
    pub fn id(&self) -> &str {
        match self {
            TransactionSource::Id(id) => id,
            TransactionSource::Object(o) => &o.id,
        }
    }

    pub fn source_ref(&self) -> SourceRef {
        match self {
            TransactionSource::Id(id) => {
                let kind = SourceKind::from_id(id);
                SourceRef {
                    source_id: id.clone(),
                    kind,
                    charge_id: (kind == SourceKind::Charge).then(|| id.clone()),
                    payment_intent_id: None,
                }
            }
            TransactionSource::Object(o) => {
                let kind = o
                    .object
                    .as_deref()
                    .map_or_else(|| SourceKind::from_id(&o.id), SourceKind::from_object);
                let charge_id = match kind {
                    SourceKind::Charge => Some(o.id.clone()),
                    SourceKind::Refund | SourceKind::Dispute => {
                        o.charge.as_ref().map(|c| c.id().to_owned())
                    }
                    SourceKind::Payout | SourceKind::Other => None,
                };
                let payment_intent_id = match kind {
                    SourceKind::Charge | SourceKind::Refund | SourceKind::Dispute => {
                        o.payment_intent.as_ref().map(|p| p.id().to_owned())
                    }
                    SourceKind::Payout | SourceKind::Other => None,
                };
                SourceRef {
                    source_id: o.id.clone(),
                    kind,
                    charge_id,
                    payment_intent_id,
                }
            }
        }
    }
}

/// An event from `GET /v1/events`: the envelope fields, and the JSON text exactly as Stripe
/// sent it (byte for byte, as a webhook delivery would have carried it).
pub struct ListedEvent {
    pub id: String,
    pub event_type: String,
    pub created: i64,
    pub livemode: bool,
    raw: Box<RawValue>,
}

impl ListedEvent {
    /// The event's JSON text as Stripe sent it.
    pub fn raw_json(&self) -> &str {
        self.raw.get()
    }
}

impl fmt::Debug for ListedEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ListedEvent")
            .field("id", &self.id)
            .field("event_type", &self.event_type)
            .field("created", &self.created)
            .field("livemode", &self.livemode)
            .finish_non_exhaustive()
    }
}

impl<'de> Deserialize<'de> for ListedEvent {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Envelope {
            id: String,
            #[serde(rename = "type")]
            event_type: String,
            created: i64,
            #[serde(default)]
            livemode: bool,
        }
        let raw = Box::<RawValue>::deserialize(deserializer)?;
        let envelope: Envelope =
            serde_json::from_str(raw.get()).map_err(serde::de::Error::custom)?;
        Ok(ListedEvent {
            id: envelope.id,
            event_type: envelope.event_type,
            created: envelope.created,
            livemode: envelope.livemode,
            raw,
        })
    }
}

/// A webhook endpoint as listed (the signing secret is never listed).
#[derive(Debug, Clone, Deserialize)]
pub struct WebhookEndpoint {
    pub id: String,
    pub url: String,
    pub status: String,
    #[serde(default, deserialize_with = "nullable")]
    pub enabled_events: Vec<String>,
    #[serde(default)]
    pub api_version: Option<String>,
    #[serde(default)]
    pub livemode: Option<bool>,
}

/// A webhook endpoint just created, with its signing secret (shown by Stripe only once).
#[derive(Debug, Clone, Deserialize)]
pub struct CreatedWebhookEndpoint {
    pub id: String,
    pub url: String,
    pub status: String,
    /// `whsec_...`.
    pub secret: SecretString,
}
