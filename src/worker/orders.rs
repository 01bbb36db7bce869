//! The orders handler: PaymentIntents, charges, refunds and disputes, each kept at its latest
//! state. The orders they concern are reconciled again after the commit, by
//! [`crate::reconcile::orders::recompute`] with the [`subjects`] of the event (see there why).

use std::collections::HashSet;

use serde::Deserialize;
use sqlx::PgConnection;
use time::OffsetDateTime;

use super::{HandlerError, object};
use crate::db;
use crate::db::payments::{ChargeChildRow, ChargeRow, PaymentIntentRow, Sighting};
use crate::reconcile::orders::Subject;
use crate::stripe::objects::{Charge, Dispute, Event, Expandable, PaymentIntent, Refund, id_of};

/// What the event's facts may change once stored: read from the event alone, so that a
/// redelivered event is recomputed as well as a new one.
pub fn subjects(event: &Event) -> Vec<Subject> {
    /// Where a charge, refund or dispute belongs.
    #[derive(Deserialize)]
    struct Links {
        #[serde(default)]
        payment_intent: Option<Expandable>,
        #[serde(default)]
        charge: Option<Expandable>,
    }
    let object = &event.data.object;
    let Some(id) = object.id() else {
        return Vec::new(); // not applied either: the handler refuses a malformed object
    };
    let kind = object.kind();
    if kind == Some("payment_intent") {
        // Its id says all: no second read of the object on the busiest path.
        return vec![Subject::PaymentIntent(id.to_owned())];
    }
    if !matches!(kind, Some("charge" | "refund" | "dispute")) {
        return Vec::new();
    }
    let Ok(links) = object.parse::<Links>() else {
        return Vec::new();
    };
    match (kind, id_of(&links.payment_intent)) {
        (_, Some(pi)) => vec![Subject::PaymentOf(pi)],
        (Some("charge"), None) => vec![Subject::Charge(id.to_owned())],
        (_, None) => id_of(&links.charge)
            .map(Subject::Charge)
            .into_iter()
            .collect(),
    }
}

/// Applies a batch of events in the caller's transaction. The PaymentIntents the batch sees
/// for the first time are inserted in one statement (on a busy day most events are the first
/// sighting of their PaymentIntent); everything else is applied event by event, in lock order.
pub async fn apply(conn: &mut PgConnection, events: &[(&Event, &str)]) -> Result<(), HandlerError> {
    let intents = events
        .iter()
        .map(|(event, _)| match event.data.object.kind() {
            Some("payment_intent") => object::<PaymentIntent>(event).map(Some),
            _ => Ok(None),
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut first_sightings = Vec::new();
    let mut ids = HashSet::new();
    for ((event, merchant_id), pi) in events.iter().zip(&intents) {
        if let Some(pi) = pi
            && ids.insert(pi.id.as_str())
        {
            first_sightings.push((payment_intent_row(pi), sighting(event, merchant_id)?));
        }
    }
    // In id order, as every batch inserts them: two batches sharing PaymentIntents wait for
    // each other's rows in one order, never in a cycle.
    first_sightings.sort_by(|(a, _), (b, _)| a.id.cmp(b.id));
    let inserted: HashSet<String> = db::payments::insert_payment_intents(conn, &first_sightings)
        .await?
        .into_iter()
        .collect();
    // Each PaymentIntent inserted above came from its first event in the batch.
    let mut stored_by_insert: HashSet<&str> = inserted.iter().map(String::as_str).collect();
    let mut updates = Vec::new();
    let mut children = Vec::new();
    for ((event, merchant_id), pi) in events.iter().zip(&intents) {
        match pi {
            Some(pi) if stored_by_insert.remove(pi.id.as_str()) => {}
            Some(pi) => updates.push((pi, *event, *merchant_id)),
            None => children.push((*event, *merchant_id)),
        }
    }
    // Stored rows are locked in one order in every batch, not in the order events arrived:
    // PaymentIntents by id, then charges, disputes and refunds by id. Two batches that share
    // objects then wait for each other one way only, instead of deadlocking (which costs both
    // a second of `deadlock_timeout` and a replay one event at a time). Every object keeps
    // its latest state whatever order its events are applied in, and the sorts are stable, so
    // this changes nothing stored.
    updates.sort_by(|(a, ..), (b, ..)| a.id.cmp(&b.id));
    children.sort_by(|(a, _), (b, _)| lock_order(a).cmp(&lock_order(b)));
    for (pi, event, merchant_id) in updates {
        let seen = sighting(event, merchant_id)?;
        db::payments::update_payment_intent(conn, &payment_intent_row(pi), &seen).await?;
    }
    for (event, merchant_id) in children {
        apply_payment_child(conn, event, merchant_id).await?;
    }
    Ok(())
}

/// Where a charge, refund or dispute event comes in a batch's lock order: by kind (a charge
/// before the refunds it may carry), then by object id.
fn lock_order(event: &Event) -> (Option<&str>, Option<&str>) {
    (event.data.object.kind(), event.data.object.id())
}

fn sighting<'a>(event: &'a Event, merchant_id: &'a str) -> Result<Sighting<'a>, HandlerError> {
    let event_created = OffsetDateTime::from_unix_timestamp(event.created)
        .map_err(|_| HandlerError::Permanent("event `created` out of range".into()))?;
    Ok(Sighting {
        merchant_id,
        event_id: &event.id,
        event_created,
    })
}

fn payment_intent_row(pi: &PaymentIntent) -> PaymentIntentRow<'_> {
    PaymentIntentRow {
        id: &pi.id,
        order_id: pi.order_id(),
        amount: pi.amount,
        amount_received: pi.amount_received,
        currency: &pi.currency,
        status: &pi.status,
        failed: pi.failed(),
        latest_charge: pi.latest_charge.as_ref().map(Expandable::id),
    }
}

/// Applies one event that carries no PaymentIntent (a charge, refund or dispute; anything
/// else is logged and left), in the caller's transaction.
async fn apply_payment_child(
    conn: &mut PgConnection,
    event: &Event,
    merchant_id: &str,
) -> Result<(), HandlerError> {
    let seen = sighting(event, merchant_id)?;
    match event.data.object.kind().unwrap_or_default() {
        "charge" => {
            let charge: Charge = object(event)?;
            let pi = id_of(&charge.payment_intent);
            let row = ChargeRow {
                id: &charge.id,
                payment_intent_id: pi.as_deref(),
                amount: charge.amount,
                amount_captured: charge.amount_captured,
                amount_refunded: charge.amount_refunded,
                currency: &charge.currency,
                status: &charge.status,
            };
            db::payments::upsert_charge(conn, &row, &seen).await?;
            for refund in charge.refunds.iter().flat_map(|list| &list.data) {
                let row = ChargeChildRow {
                    id: &refund.id,
                    charge_id: Some(&charge.id),
                    payment_intent_id: pi.as_deref(),
                    amount: refund.amount,
                    currency: &refund.currency,
                    status: &refund.status,
                };
                db::payments::upsert_refund(conn, &row, &seen).await?;
            }
        }
        "refund" => {
            let refund: Refund = object(event)?;
            let charge_id = id_of(&refund.charge);
            let pi = payment_intent_for(conn, id_of(&refund.payment_intent), charge_id.as_deref())
                .await?;
            let row = ChargeChildRow {
                id: &refund.id,
                charge_id: charge_id.as_deref(),
                payment_intent_id: pi.as_deref(),
                amount: refund.amount,
                currency: &refund.currency,
                status: &refund.status,
            };
            db::payments::upsert_refund(conn, &row, &seen).await?;
        }
        "dispute" => {
            let dispute: Dispute = object(event)?;
            let charge_id = id_of(&dispute.charge);
            let pi = payment_intent_for(conn, id_of(&dispute.payment_intent), charge_id.as_deref())
                .await?;
            let row = ChargeChildRow {
                id: &dispute.id,
                charge_id: charge_id.as_deref(),
                payment_intent_id: pi.as_deref(),
                amount: dispute.amount,
                currency: &dispute.currency,
                status: &dispute.status,
            };
            db::payments::upsert_dispute(conn, &row, &seen).await?;
        }
        other => {
            tracing::debug!(event_type = %event.event_type, object = other, "event carries nothing the orders handler tracks");
        }
    }
    Ok(())
}

/// The PaymentIntent of a refund or dispute: named on the object, or known from its charge.
async fn payment_intent_for(
    conn: &mut PgConnection,
    named: Option<String>,
    charge_id: Option<&str>,
) -> Result<Option<String>, sqlx::Error> {
    match (named, charge_id) {
        (Some(pi), _) => Ok(Some(pi)),
        (None, Some(charge)) => db::payments::payment_intent_of_charge(conn, charge).await,
        (None, None) => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event_of(object: &str) -> Event {
        let body = format!(
            r#"{{"id":"evt_1","type":"x.y","created":1,"livemode":false,"data":{{"object":{object}}}}}"#
        );
        serde_json::from_str(&body).expect("event")
    }

    #[test]
    fn each_payment_object_names_what_its_facts_may_change() {
        let cases = [
            (
                r#"{"id":"pi_1","object":"payment_intent","charge":"ch_9"}"#,
                vec![Subject::PaymentIntent("pi_1".into())],
            ),
            (
                r#"{"id":"ch_1","object":"charge","payment_intent":"pi_1"}"#,
                vec![Subject::PaymentOf("pi_1".into())],
            ),
            (
                r#"{"id":"ch_1","object":"charge","payment_intent":null}"#,
                vec![Subject::Charge("ch_1".into())],
            ),
            (
                r#"{"id":"re_1","object":"refund","payment_intent":{"id":"pi_2"},"charge":"ch_1"}"#,
                vec![Subject::PaymentOf("pi_2".into())],
            ),
            (
                r#"{"id":"dp_1","object":"dispute","charge":"ch_1"}"#,
                vec![Subject::Charge("ch_1".into())],
            ),
            (r#"{"id":"re_1","object":"refund"}"#, vec![]),
            (r#"{"object":"charge","payment_intent":"pi_1"}"#, vec![]),
            (r#"{"id":"po_1","object":"payout"}"#, vec![]),
            (
                r#"{"id":"ch_1","object":"charge","payment_intent":7}"#,
                vec![],
            ),
        ];
        for (object, expected) in cases {
            assert_eq!(subjects(&event_of(object)), expected, "{object}");
        }
    }
}
