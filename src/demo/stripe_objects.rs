//! The Stripe objects the demo's story is told with, shaped as Stripe's API fixtures show them.

use serde_json::{Value, json};

pub(super) fn account(id: &str, name: &str, bank: Option<&str>) -> Value {
    let banks: Vec<Value> = bank
        .map(|b| {
            json!({
                "id": b, "object": "bank_account", "account_holder_name": name,
                "bank_name": "Banca Demo", "country": "IT", "currency": "eur",
                "default_for_currency": true, "last4": "3000", "status": "verified"
            })
        })
        .into_iter()
        .collect();
    let due: Vec<&str> = if bank.is_some() {
        Vec::new()
    } else {
        vec!["external_account"]
    };
    json!({
        "id": id, "object": "account", "type": "standard", "country": "IT",
        "default_currency": "eur",
        "business_profile": { "name": name },
        "settings": { "dashboard": { "display_name": name } },
        "charges_enabled": true,
        "payouts_enabled": bank.is_some(),
        "details_submitted": true,
        "requirements": {
            "currently_due": due, "eventually_due": due, "past_due": [], "disabled_reason": null
        },
        "external_accounts": {
            "object": "list", "data": banks, "has_more": false,
            "url": format!("/v1/accounts/{id}/external_accounts")
        }
    })
}

pub(super) fn event(id: &str, event_type: &str, created: i64, object: Value) -> Value {
    json!({
        "id": id, "object": "event", "api_version": crate::stripe::client::STRIPE_API_VERSION,
        "created": created, "livemode": true, "pending_webhooks": 1,
        "request": { "id": null, "idempotency_key": null },
        "type": event_type,
        "data": { "object": object, "previous_attributes": null }
    })
}

pub(super) fn payment_intent(n: u32, order_id: &str, amount: i64) -> Value {
    json!({
        "id": format!("pi_{n}"), "object": "payment_intent", "amount": amount,
        "amount_received": amount, "currency": "eur", "status": "succeeded",
        "metadata": { "order_id": order_id }, "latest_charge": format!("ch_{n}"),
        "last_payment_error": null, "livemode": true
    })
}

pub(super) fn charge(n: u32, amount: i64, refunded: i64) -> Value {
    json!({
        "id": format!("ch_{n}"), "object": "charge", "amount": amount, "amount_captured": amount,
        "amount_refunded": refunded, "refunded": refunded >= amount, "currency": "eur",
        "status": "succeeded", "payment_intent": format!("pi_{n}"), "livemode": true
    })
}

pub(super) fn dispute(n: u32, amount: i64, status: &str) -> Value {
    json!({
        "id": format!("dp_{n}"), "object": "dispute", "amount": amount, "currency": "eur",
        "status": status, "reason": "fraudulent", "charge": format!("ch_{n}"),
        "payment_intent": format!("pi_{n}"), "livemode": true
    })
}

pub(super) fn payout(
    id: &str,
    amount: i64,
    status: &str,
    destination: &str,
    arrival: i64,
) -> Value {
    json!({
        "id": id, "object": "payout", "amount": amount, "currency": "eur", "status": status,
        "arrival_date": arrival, "automatic": true, "method": "standard",
        "destination": destination, "failure_code": null, "failure_message": null,
        "reconciliation_status": if status == "paid" { "completed" } else { "in_progress" },
        "livemode": true
    })
}

pub(super) fn balance_transaction(
    id: &str,
    kind: &str,
    amount: i64,
    fee: i64,
    source: Value,
) -> Value {
    let category = match kind {
        "charge" => "charge",
        "refund" => "refund",
        "adjustment" => "dispute",
        _ => "payout",
    };
    json!({
        "id": id, "object": "balance_transaction", "type": kind,
        "reporting_category": category, "amount": amount, "fee": fee, "net": amount - fee,
        "currency": "eur", "status": "available", "source": source
    })
}
