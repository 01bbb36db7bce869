//! Stripe's side of the wire: webhook signatures, the event envelope, and the REST API client.

pub mod client;
pub mod event;
pub mod objects;
pub mod resources;
pub mod signature;

/// Every event type accredito handles: what a registered webhook endpoint subscribes to and
/// what the catch-up pass lists.
pub const HANDLED_EVENT_TYPES: &[&str] = &[
    "payment_intent.created",
    "payment_intent.processing",
    "payment_intent.succeeded",
    "payment_intent.payment_failed",
    "payment_intent.canceled",
    "payment_intent.requires_action",
    "payment_intent.amount_capturable_updated",
    "charge.succeeded",
    "charge.failed",
    "charge.captured",
    "charge.pending",
    "charge.refunded",
    "charge.updated",
    "charge.refund.updated",
    "charge.dispute.created",
    "charge.dispute.updated",
    "charge.dispute.closed",
    "charge.dispute.funds_withdrawn",
    "charge.dispute.funds_reinstated",
    "refund.created",
    "refund.updated",
    "refund.failed",
    "payout.created",
    "payout.updated",
    "payout.paid",
    "payout.failed",
    "payout.canceled",
    "payout.reconciliation_completed",
    "balance.available",
    "account.updated",
    "account.external_account.created",
    "account.external_account.updated",
    "account.external_account.deleted",
];
