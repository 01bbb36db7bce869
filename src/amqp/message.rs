//! A stored event as an AMQP message: the one place its properties are written and read. The
//! Stripe event id is the message id; the profile, merchant and event type travel as headers
//! (what consumers route and de-duplicate by), and Stripe's `created` (Unix seconds) as the
//! header `event_created`; the body is Stripe's, untouched.

use lapin::BasicProperties;
use lapin::message::Delivery;
use lapin::types::{AMQPValue, FieldTable};

use crate::domain::{EventId, MerchantId, StoredEvent};

const CREATED_HEADER: &str = "event_created";

/// Persistent, with the event's id and headers, stamped with the time it is published (AMQP
/// timestamps are whole seconds), from which workers measure their lag.
pub fn properties_of(event: &StoredEvent) -> BasicProperties {
    let mut headers = FieldTable::default();
    for (name, value) in [
        ("profile_id", event.profile_id.as_str()),
        ("merchant_id", event.merchant_id.as_str()),
        ("event_type", event.event_type.as_str()),
    ] {
        headers.insert(name.into(), AMQPValue::LongString(value.into()));
    }
    if let Some(created) = event.created {
        let seconds = created.unix_timestamp().to_string();
        headers.insert(
            CREATED_HEADER.into(),
            AMQPValue::LongString(seconds.as_str().into()),
        );
    }
    BasicProperties::default()
        .with_message_id(event.event_id.as_str().into())
        .with_content_type("application/json".into())
        .with_delivery_mode(2) // persistent
        .with_timestamp(now_unix_secs())
        .with_headers(headers)
}

fn now_unix_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Seconds since the delivery was published (from its timestamp), if it carries one.
pub fn age_secs(delivery: &Delivery) -> Option<f64> {
    let published = (*delivery.properties.timestamp())?;
    Some(now_unix_secs().saturating_sub(published) as f64)
}

/// The stored event a delivery carries; `Err` names what is missing.
pub fn event_of(delivery: &Delivery) -> Result<StoredEvent, String> {
    let required = |name: &str| {
        header_str(delivery, name).ok_or_else(|| format!("message has no {name} header"))
    };
    let event_id = EventId::parse(&message_id(delivery))
        .ok_or("message has no usable message_id (the Stripe event id)")?;
    let merchant_id = MerchantId::parse(&required("merchant_id")?)
        .ok_or("message has a malformed merchant_id header")?;
    Ok(StoredEvent {
        event_id,
        profile_id: required("profile_id")?,
        merchant_id,
        event_type: required("event_type")?,
        body: delivery.data.clone().into(),
        // Only narrows the worker's read-back: a wrong value finds no stored event.
        created: header_str(delivery, CREATED_HEADER)
            .and_then(|s| s.parse::<i64>().ok())
            .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok()),
    })
}

/// The message id (the Stripe event id), empty when missing.
pub fn message_id(delivery: &Delivery) -> String {
    delivery
        .properties
        .message_id()
        .as_ref()
        .map(ToString::to_string)
        .unwrap_or_default()
}

/// A header's text, if the delivery has it.
pub fn header_str(delivery: &Delivery, name: &str) -> Option<String> {
    let headers = delivery.properties.headers().as_ref()?;
    match headers.inner().get(name)? {
        AMQPValue::LongString(s) => Some(s.to_string()),
        AMQPValue::ShortString(s) => Some(s.to_string()),
        _ => None,
    }
}

/// The delivery's properties again, with extra headers (retry counts, the last error), for
/// publishing it once more.
pub fn republished_properties(delivery: &Delivery, extra: &[(&str, String)]) -> BasicProperties {
    let mut headers = delivery.properties.headers().clone().unwrap_or_default();
    for (name, value) in extra {
        headers.insert((*name).into(), AMQPValue::LongString(value.as_str().into()));
    }
    let mut properties = BasicProperties::default()
        .with_content_type("application/json".into())
        .with_delivery_mode(2)
        .with_headers(headers);
    if let Some(id) = delivery.properties.message_id() {
        properties = properties.with_message_id(id.clone());
    }
    properties
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{EventId, MerchantId};

    fn stored(created: Option<time::OffsetDateTime>) -> StoredEvent {
        StoredEvent {
            profile_id: "prof_1".into(),
            merchant_id: MerchantId::from_stored("m_1"),
            event_id: EventId::from_stored("evt_1"),
            event_type: "payment_intent.succeeded".into(),
            body: bytes::Bytes::from_static(b"{}"),
            created,
        }
    }

    fn delivered(properties: BasicProperties) -> Delivery {
        let mut delivery = Delivery::mock(1, "".into(), "".into(), false, b"{}".to_vec());
        delivery.properties = properties;
        delivery
    }

    #[test]
    fn a_published_event_is_delivered_with_its_created_time() {
        let created = time::OffsetDateTime::from_unix_timestamp(1_764_806_400).expect("time");
        let event = event_of(&delivered(properties_of(&stored(Some(created))))).expect("event");
        assert_eq!(event.created, Some(created));
        assert_eq!(event.event_id.as_str(), "evt_1");
        assert_eq!(event.merchant_id.as_str(), "m_1");
    }

    #[test]
    fn a_message_without_a_usable_created_header_still_names_its_event() {
        let without = event_of(&delivered(properties_of(&stored(None)))).expect("event");
        assert_eq!(without.created, None);

        let mut headers = FieldTable::default();
        for (name, value) in [
            ("profile_id", "prof_1"),
            ("merchant_id", "m_1"),
            ("event_type", "payment_intent.succeeded"),
            (CREATED_HEADER, "yesterday"),
        ] {
            headers.insert(name.into(), AMQPValue::LongString(value.into()));
        }
        let garbled = BasicProperties::default()
            .with_message_id("evt_1".into())
            .with_headers(headers);
        let event = event_of(&delivered(garbled)).expect("event");
        assert_eq!(event.created, None);
    }
}
