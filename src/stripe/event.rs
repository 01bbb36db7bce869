//! The Stripe event envelope: the few fields intake needs, read without building the
//! object tree. Real events carry many more fields; they are ignored, never rejected.

use serde::Deserialize;
use serde_json::value::RawValue;
use time::OffsetDateTime;

/// What intake reads of an event; the full body is stored untouched.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventEnvelope {
    pub id: String,
    pub event_type: String,
    pub created: OffsetDateTime,
    pub livemode: bool,
    /// The connected account, for Connect events.
    pub account: Option<String>,
    /// `data.object.id`: the Stripe object the event is about (a PaymentIntent, a charge, a
    /// refund...), when it is a string of a sensible length. Stored, so that an object's events
    /// are found by an index rather than by reading bodies.
    pub object_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EnvelopeError {
    #[error("the body is not valid JSON")]
    InvalidJson,
    #[error("this is a v2 thin event; only v1 snapshot events are accepted")]
    ThinEvent,
    #[error("the body is not a Stripe event: {0}")]
    NotAnEvent(&'static str),
}

impl EnvelopeError {
    pub fn reason(&self) -> &'static str {
        match self {
            EnvelopeError::InvalidJson => "invalid_json",
            EnvelopeError::ThinEvent => "thin_event_payload",
            EnvelopeError::NotAnEvent(_) => "not_a_stripe_event",
        }
    }
}

#[derive(Deserialize)]
struct Wire<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
    object: Option<&'a RawValue>,
    #[serde(rename = "type")]
    event_type: Option<&'a RawValue>,
    created: Option<&'a RawValue>,
    livemode: Option<&'a RawValue>,
    data: Option<&'a RawValue>,
    account: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct WireData<'a> {
    #[serde(borrow)]
    object: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct WireObject<'a> {
    #[serde(borrow)]
    id: Option<&'a RawValue>,
}

const MAX_ID_LEN: usize = 255;

pub fn parse_envelope(body: &[u8]) -> Result<EventEnvelope, EnvelopeError> {
    // JSON is UTF-8, but `serde_json::from_slice` skips the strings of fields it ignores without
    // checking them: the whole body is checked first, and parsed as the `str` it then is.
    let body = std::str::from_utf8(body).map_err(|_| EnvelopeError::InvalidJson)?;
    let wire: Wire<'_> = serde_json::from_str(body).map_err(|_| EnvelopeError::InvalidJson)?;

    let object: Option<String> = field(wire.object, "`object` must be a string")?;
    match object.as_deref() {
        None | Some("event") => {}
        Some(o) if o.starts_with("v2.") => return Err(EnvelopeError::ThinEvent),
        Some(_) => return Err(EnvelopeError::NotAnEvent("`object` is not \"event\"")),
    }

    let id: String = field(wire.id, "`id` must be a string")?
        .ok_or(EnvelopeError::NotAnEvent("`id` is missing"))?;
    if !id.starts_with("evt_") || id.len() > MAX_ID_LEN || !id.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(EnvelopeError::NotAnEvent(
            "`id` is not a Stripe event id (evt_...)",
        ));
    }

    let event_type: String = field(wire.event_type, "`type` must be a string")?
        .ok_or(EnvelopeError::NotAnEvent("`type` is missing"))?;
    if event_type.is_empty()
        || event_type.len() > MAX_ID_LEN
        || !event_type
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.'))
    {
        return Err(EnvelopeError::NotAnEvent(
            "`type` is not an event type such as charge.succeeded",
        ));
    }

    let created: i64 = field(wire.created, "`created` must be an integer Unix time")?
        .ok_or(EnvelopeError::NotAnEvent("`created` is missing"))?;
    let created = OffsetDateTime::from_unix_timestamp(created)
        .ok()
        .filter(|_| created > 0)
        .ok_or(EnvelopeError::NotAnEvent("`created` is out of range"))?;

    let livemode: bool = field(wire.livemode, "`livemode` must be a boolean")?
        .ok_or(EnvelopeError::NotAnEvent("`livemode` is missing"))?;

    let data = wire
        .data
        .ok_or(EnvelopeError::NotAnEvent("`data` is missing"))?;
    let data: WireData<'_> = serde_json::from_str(data.get())
        .map_err(|_| EnvelopeError::NotAnEvent("`data` must be an object"))?;
    let data_object = data
        .object
        .ok_or(EnvelopeError::NotAnEvent("`data.object` is missing"))?;
    if !data_object.get().starts_with('{') {
        return Err(EnvelopeError::NotAnEvent("`data.object` must be an object"));
    }

    let account: Option<String> = field(wire.account, "`account` must be a string")?;
    // Only a lookup aid: an object without a usable id is stored all the same.
    let object_id = serde_json::from_str::<WireObject<'_>>(data_object.get())
        .ok()
        .and_then(|o| o.id)
        .and_then(|id| serde_json::from_str::<String>(id.get()).ok())
        .filter(|id| !id.is_empty() && id.len() <= MAX_ID_LEN);

    Ok(EventEnvelope {
        id,
        event_type,
        created,
        livemode,
        account,
        object_id,
    })
}

/// Reads an optional field; JSON `null` counts as absent.
fn field<T: serde::de::DeserializeOwned>(
    raw: Option<&RawValue>,
    wrong_type: &'static str,
) -> Result<Option<T>, EnvelopeError> {
    match raw {
        None => Ok(None),
        Some(raw) if raw.get() == "null" => Ok(None),
        Some(raw) => serde_json::from_str(raw.get())
            .map(Some)
            .map_err(|_| EnvelopeError::NotAnEvent(wrong_type)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = r#"{"id":"evt_1","object":"event","type":"charge.succeeded","created":1767225600,"livemode":true,"data":{"object":{"id":"ch_1","object":"charge"}}}"#;

    #[test]
    fn the_object_an_event_is_about_is_read_when_it_has_a_string_id() {
        assert_eq!(
            parse_envelope(MINIMAL.as_bytes())
                .expect("valid")
                .object_id
                .as_deref(),
            Some("ch_1")
        );
        for object in [r#"{}"#, r#"{"id":7}"#, r#"{"id":""}"#, r#"{"id":null}"#] {
            let body = MINIMAL.replace(r#"{"id":"ch_1","object":"charge"}"#, object);
            let envelope = parse_envelope(body.as_bytes()).expect("still an event");
            assert_eq!(envelope.object_id, None, "{object}");
        }
    }

    #[test]
    fn minimal_event_is_parsed() {
        let e = parse_envelope(MINIMAL.as_bytes()).expect("valid");
        assert_eq!(e.id, "evt_1");
        assert_eq!(e.event_type, "charge.succeeded");
        assert_eq!(e.created.unix_timestamp(), 1767225600);
        assert!(e.livemode);
        assert_eq!(e.account, None);
    }

    #[test]
    fn real_stripe_event_fixture_is_parsed_whatever_extra_fields_it_carries() {
        let objects: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/stripe-objects.json"))
                .expect("fixture is JSON");
        let event = serde_json::to_vec(&objects["event"]).expect("serialises");
        let e = parse_envelope(&event).expect("Stripe's own event fixture parses");
        assert!(e.id.starts_with("evt_"));
    }

    #[test]
    fn each_missing_field_is_refused_with_its_name() {
        for field in ["id", "type", "created", "livemode", "data"] {
            let mut v: serde_json::Value = serde_json::from_str(MINIMAL).expect("json");
            v.as_object_mut().expect("object").remove(field);
            let err = parse_envelope(&serde_json::to_vec(&v).expect("json")).expect_err(field);
            assert!(
                err.to_string().contains(&format!("`{field}`")),
                "{field}: {err}"
            );
        }
    }

    #[test]
    fn wrong_types_and_shapes_are_refused() {
        let cases = [
            r#"[]"#,
            r#""evt_1""#,
            r#"{"id":1,"type":"a.b","created":1,"livemode":true,"data":{"object":{}}}"#,
            r#"{"id":"evt_1","type":"a.b","created":"1","livemode":true,"data":{"object":{}}}"#,
            r#"{"id":"evt_1","type":"a.b","created":1,"livemode":"yes","data":{"object":{}}}"#,
            r#"{"id":"evt_1","type":"a.b","created":1,"livemode":true,"data":{"object":[]}}"#,
            r#"{"id":"evt_1","type":"a.b","created":1,"livemode":true,"data":[]}"#,
            r#"{"id":"cus_1","type":"a.b","created":1,"livemode":true,"data":{"object":{}}}"#,
            r##"{"id":"evt_1","type":"stripe.#","created":1,"livemode":true,"data":{"object":{}}}"##,
            r#"{"id":"evt_1","type":"a.b","created":-5,"livemode":true,"data":{"object":{}}}"#,
            r#"{"id":"evt_1","object":"charge","type":"a.b","created":1,"livemode":true,"data":{"object":{}}}"#,
        ];
        for body in cases {
            assert!(parse_envelope(body.as_bytes()).is_err(), "{body}");
        }
    }

    #[test]
    fn thin_events_and_invalid_json_have_their_own_errors() {
        let thin = r#"{"id":"evt_1","object":"v2.core.event","type":"v1.billing.meter.error_report_triggered","created":"2025-01-01T00:00:00Z"}"#;
        assert_eq!(
            parse_envelope(thin.as_bytes()),
            Err(EnvelopeError::ThinEvent)
        );
        assert_eq!(
            parse_envelope(b"} not json"),
            Err(EnvelopeError::InvalidJson)
        );
        assert_eq!(parse_envelope(b""), Err(EnvelopeError::InvalidJson));
    }

    #[test]
    fn a_body_that_is_not_utf8_is_invalid_json_even_in_a_field_intake_ignores() {
        // serde_json::from_slice does not check the UTF-8 of strings it skips (found by
        // fuzz/fuzz_targets/event_envelope.rs): such a body was accepted and stored.
        for (before, after) in [
            (r#"{"request":{"idempo"#, r#"":1},"#),
            (r#"{"note":""#, r#"","#),
        ] {
            let body = [
                before.as_bytes(),
                b"\xff",
                after.as_bytes(),
                &MINIMAL.as_bytes()[1..],
            ]
            .concat();
            assert_eq!(parse_envelope(&body), Err(EnvelopeError::InvalidJson));
        }
    }

    #[test]
    fn connect_account_is_read() {
        let body = MINIMAL.replacen('{', r#"{"account":"acct_9","#, 1);
        assert_eq!(
            parse_envelope(body.as_bytes())
                .expect("valid")
                .account
                .as_deref(),
            Some("acct_9")
        );
    }
}
