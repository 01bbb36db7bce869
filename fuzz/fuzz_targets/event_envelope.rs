//! `stripe::event::parse_envelope` on arbitrary request bodies.
//!
//! Never panics, and whatever it accepts is an event intake can store and route: the id is a
//! Stripe event id (`evt_`, printable ASCII, at most 255 bytes), the routing key
//! `stripe.<type>` has only the characters `[a-z0-9_.]` (no `#`, `*` or space can reach the
//! topic exchange), `created` is after the epoch, and every field read agrees with the same
//! body read as a plain JSON object by `serde_json::Value`: a JSON object with those fields and
//! `data.object` an object.
//!
//! The second reading takes each field the envelope reads as a `Value` and skips every other
//! value as the envelope does (`IgnoredAny`), not as a `Value`: serde_json skips some JSON that
//! RFC 8259's grammar allows and `Value` refuses (a lone surrogate escape such as `"\ud800"`, a
//! number beyond `f64` such as `1e999`). Intake stores such a body; the worker, which reads
//! `data.object` as a `Value`, parks it as malformed.

#![no_main]

use accredito::amqp::Topology;
use accredito::stripe::event::parse_envelope;
use libfuzzer_sys::fuzz_target;
use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use serde_json::value::RawValue;
use std::collections::BTreeMap;
use std::fmt;

fuzz_target!(|body: &[u8]| {
    let Ok(envelope) = parse_envelope(body) else {
        return;
    };

    assert!(envelope.id.starts_with("evt_"), "{envelope:?}");
    assert!(envelope.id.len() <= 255, "{envelope:?}");
    assert!(
        envelope.id.bytes().all(|b| b.is_ascii_graphic()),
        "{envelope:?}"
    );
    assert!(!envelope.event_type.is_empty(), "{envelope:?}");
    let routing_key = Topology::routing_key(&envelope.event_type);
    assert!(
        routing_key
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.')),
        "routing key {routing_key:?}"
    );
    assert!(envelope.created.unix_timestamp() > 0, "{envelope:?}");

    // The body read again, as a JSON object: it must be the event the envelope describes.
    let text = std::str::from_utf8(body).expect("an accepted body is UTF-8");
    let shape: Body = serde_json::from_str(text)
        .unwrap_or_else(|e| panic!("accepted a body that is not an event object ({e}): {text}"));
    let read = |key: &str| shape.read.get(key).filter(|value| !value.is_null());
    assert_eq!(read("id").and_then(Value::as_str), Some(&*envelope.id));
    assert_eq!(
        read("type").and_then(Value::as_str),
        Some(&*envelope.event_type)
    );
    assert_eq!(
        read("created").and_then(Value::as_i64),
        Some(envelope.created.unix_timestamp())
    );
    assert_eq!(
        read("livemode").and_then(Value::as_bool),
        Some(envelope.livemode)
    );
    assert!(
        read("object").is_none_or(|object| object == "event"),
        "{text}"
    );
    assert_eq!(
        read("account").and_then(Value::as_str),
        envelope.account.as_deref()
    );
    assert!(
        shape.data_object,
        "accepted a body without `data.object`: {text}"
    );
});

/// A JSON object (never an array, which serde's derive would also take for a struct): the
/// fields the envelope reads, as `Value`s, and whether `data` is an object with an object
/// `object`.
#[derive(Default)]
struct Body {
    read: BTreeMap<&'static str, Value>,
    data_object: bool,
}

/// The keys, matched as serde's derive matches the envelope's (escapes decoded).
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum Key {
    Id,
    Object,
    Type,
    Created,
    Livemode,
    Account,
    Data,
    #[serde(other)]
    Other,
}

impl<'de> Deserialize<'de> for Body {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BodyVisitor;
        impl<'de> Visitor<'de> for BodyVisitor {
            type Value = Body;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an event object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Body, A::Error> {
                let mut body = Body::default();
                while let Some(key) = map.next_key::<Key>()? {
                    let name = match key {
                        Key::Id => "id",
                        Key::Object => "object",
                        Key::Type => "type",
                        Key::Created => "created",
                        Key::Livemode => "livemode",
                        Key::Account => "account",
                        Key::Data => {
                            body.data_object = map.next_value::<Data>()?.0;
                            continue;
                        }
                        Key::Other => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    body.read.insert(name, map.next_value()?);
                }
                Ok(body)
            }
        }
        deserializer.deserialize_map(BodyVisitor)
    }
}

/// `data`: an object; true when its `object` is an object too.
struct Data(bool);

impl<'de> Deserialize<'de> for Data {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DataVisitor;
        impl<'de> Visitor<'de> for DataVisitor {
            type Value = Data;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Data, A::Error> {
                let mut has_object = false;
                while let Some(key) = map.next_key::<Key>()? {
                    if let Key::Object = key {
                        // Skipped as the envelope skips it (the keys of an object are not
                        // checked as strictly as the keys read here).
                        let object = map.next_value::<Box<RawValue>>()?;
                        has_object = object.get().starts_with('{');
                    } else {
                        map.next_value::<IgnoredAny>()?;
                    }
                }
                Ok(Data(has_object))
            }
        }
        deserializer.deserialize_map(DataVisitor)
    }
}
