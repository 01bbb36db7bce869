//! A stored event as an AMQP message: the one place its properties are written and read. The
//! Stripe event id is the message id; the profile, merchant and event type travel as headers
//! (what consumers route and de-duplicate by), and Stripe's `created` (Unix seconds) as the
//! header `event_created`; the body is Stripe's, untouched. The relay signs all of these
//! (header `accredito_signature`, under a key derived from the master key), so that a worker
//! can trust a message to be the stored event without reading it back from the inbox (G9).

use lapin::BasicProperties;
use lapin::message::Delivery;
use lapin::types::{AMQPValue, FieldTable};

use crate::crypto::SecretBox;
use crate::domain::{EventId, MerchantId, StoredEvent};

const CREATED_HEADER: &str = "event_created";
const SIGNATURE_HEADER: &str = "accredito_signature";

/// Persistent, with the event's id and headers, stamped with the time it is published (AMQP
/// timestamps are whole seconds), from which workers measure their lag. Signed when a
/// `signer` is given and the event's `created` is known.
pub fn properties_of(event: &StoredEvent, signer: Option<&SecretBox>) -> BasicProperties {
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
        if let Some(signer) = signer {
            let signature = signer.sign_message(&signed_parts(event, &seconds));
            headers.insert(
                SIGNATURE_HEADER.into(),
                AMQPValue::LongString(signature.as_str().into()),
            );
        }
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
        signature: header_str(delivery, SIGNATURE_HEADER),
    })
}

/// Whether the message carries the relay's signature over everything a worker takes from it:
/// then it is the stored event, as the inbox would give it back.
pub fn signed_by_the_relay(event: &StoredEvent, secret_box: &SecretBox) -> bool {
    match (&event.signature, event.created) {
        (Some(signature), Some(created)) => {
            let seconds = created.unix_timestamp().to_string();
            secret_box.signed_message(&signed_parts(event, &seconds), signature)
        }
        _ => false,
    }
}

/// What the signature covers: the ids, the type, `created` as the header gives it, the body.
fn signed_parts<'a>(event: &'a StoredEvent, created_seconds: &'a str) -> [&'a [u8]; 6] {
    [
        event.profile_id.as_bytes(),
        event.merchant_id.as_str().as_bytes(),
        event.event_id.as_str().as_bytes(),
        event.event_type.as_bytes(),
        created_seconds.as_bytes(),
        &event.body,
    ]
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
            signature: None,
        }
    }

    fn delivered(properties: BasicProperties) -> Delivery {
        delivered_with_body(properties, b"{}")
    }

    fn delivered_with_body(properties: BasicProperties, body: &[u8]) -> Delivery {
        let mut delivery = Delivery::mock(1, "".into(), "".into(), false, body.to_vec());
        delivery.properties = properties;
        delivery
    }

    fn secret_box() -> SecretBox {
        let key = secrecy::SecretString::from(SecretBox::generate_master_key());
        SecretBox::from_master_key(Some(&key)).expect("key")
    }

    /// `properties` with one header replaced.
    fn with_header(properties: &BasicProperties, name: &str, value: &str) -> BasicProperties {
        let mut headers = properties.headers().clone().unwrap_or_default();
        headers.insert(name.into(), AMQPValue::LongString(value.into()));
        properties.clone().with_headers(headers)
    }

    #[test]
    fn a_message_the_relay_signed_is_trusted_until_anything_in_it_changes() {
        let keys = secret_box();
        let created = time::OffsetDateTime::from_unix_timestamp(1_764_806_400).expect("time");
        let signed = properties_of(&stored(Some(created)), Some(&keys));
        let trusted =
            |delivery: &Delivery| signed_by_the_relay(&event_of(delivery).expect("event"), &keys);
        assert!(trusted(&delivered(signed.clone())));

        assert!(
            !trusted(&delivered_with_body(signed.clone(), b"{ }")),
            "body"
        );
        for (header, value) in [
            ("merchant_id", "m_2"),
            ("profile_id", "prof_2"),
            ("event_type", "charge.refunded"),
            (CREATED_HEADER, "1764806401"),
            (SIGNATURE_HEADER, "v1=AAAA"),
        ] {
            assert!(
                !trusted(&delivered(with_header(&signed, header, value))),
                "{header}"
            );
        }
        let other_id = signed.clone().with_message_id("evt_2".into());
        assert!(!trusted(&delivered(other_id)), "message id");
        assert!(
            !signed_by_the_relay(&event_of(&delivered(signed)).expect("event"), &secret_box()),
            "another deployment's key"
        );
        let unsigned = properties_of(&stored(Some(created)), None);
        assert!(!trusted(&delivered(unsigned)), "no signature");
        let no_created = properties_of(&stored(None), Some(&keys));
        assert!(!trusted(&delivered(no_created)), "no created time");
    }

    #[test]
    fn a_published_event_is_delivered_with_its_created_time() {
        let created = time::OffsetDateTime::from_unix_timestamp(1_764_806_400).expect("time");
        let event =
            event_of(&delivered(properties_of(&stored(Some(created)), None))).expect("event");
        assert_eq!(event.created, Some(created));
        assert_eq!(event.event_id.as_str(), "evt_1");
        assert_eq!(event.merchant_id.as_str(), "m_1");
    }

    #[test]
    fn a_message_without_a_usable_created_header_still_names_its_event() {
        let without = event_of(&delivered(properties_of(&stored(None), None))).expect("event");
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
