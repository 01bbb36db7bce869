//! Verification of Stripe's `Stripe-Signature` webhook header.
//!
//! Stripe signs every webhook delivery with HMAC-SHA256. The key is the endpoint's whole
//! `whsec_...` signing secret, taken as UTF-8 bytes (it is *not* base64-decoded), and the
//! message is `"{t}.{raw body}"`: the header's timestamp, a dot, and the request body exactly as
//! it arrived. The header carries the timestamp and one or more hex signatures:
//!
//! ```text
//! Stripe-Signature: t=1767225600,v1=5257a869...,v1=0f2a7c91...,v0=6ffbb59b...
//! ```
//!
//! [`verify`] accepts a delivery when any `v1` matches the HMAC under any of the given secrets
//! (during a secret rollover Stripe signs with the old and the new secret at once) and the
//! timestamp lies within the tolerance. Comparisons are constant-time. It is pure: no I/O, no
//! logging, and the clock is injected as `now_unix`, so tests and the conformance vectors pin
//! time exactly and the HTTP layer decides what "now" is.
//!
//! Rules, each one checked against the conformance vectors in
//! `tests/fixtures/signature-vectors.json` (taken from the official Stripe libraries' own tests):
//!
//! - Checks run in this order, and the first failure is reported: empty body, missing header,
//!   malformed header, no `v1`, no usable secret, signature, timestamp. The signature is checked
//!   before the timestamp, as the Stripe libraries do, so a stale timestamp is only reported for a
//!   delivery that Stripe really signed.
//! - The header is a comma-separated list of `key=value` items, parsed strictly: an item without
//!   `=` (including an empty item) makes the header malformed, nothing is trimmed (so `" v1"` is an
//!   unknown key), there must be exactly one `t`, and it must be the canonical decimal form of an
//!   `i64` (no sign, no leading zero, no fraction). `v0` and unknown keys are ignored: a valid
//!   `v0` never stands in for `v1`, which closes a downgrade to the old test-mode scheme.
//! - A `v1` is matched only as 64 lowercase hex digits, the form Stripe sends; anything else
//!   (uppercase, truncated, empty, not hex) simply never matches.
//! - Secrets are used byte for byte (a trailing space is part of the key). Blank secrets (empty or
//!   whitespace only) are skipped, because an empty HMAC key lets anyone forge a signature; if no
//!   secret is left the delivery is refused with [`SignatureError::BlankSecret`].
//! - The tolerance is symmetric: a timestamp more than `tolerance_secs` in the past *or* in the
//!   future is refused (an age equal to the tolerance is accepted). A tolerance of 0 turns the
//!   recency check off; the caller forbids that in live mode. The arithmetic is done in `i128`, so
//!   no timestamp, clock value or tolerance can overflow.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Stripe's recommended tolerance between the signed timestamp and the time of verification.
pub const DEFAULT_TOLERANCE_SECS: u64 = 300;

/// Length in bytes of an HMAC-SHA256 tag, i.e. of a decoded `v1` signature.
const TAG_LEN: usize = 32;

/// Why a webhook delivery failed signature verification.
///
/// The messages are safe to show to the sender: they never contain a secret, a received
/// signature or the signature we computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The `Stripe-Signature` header is absent or empty.
    #[error("the Stripe-Signature header is missing")]
    MissingHeader,
    /// The header is not UTF-8, has an item that is not `key=value`, or does not have exactly one
    /// `t` holding an integer.
    #[error("the Stripe-Signature header is malformed")]
    MalformedHeader,
    /// The header parsed but has no `v1` signature.
    #[error("the Stripe-Signature header has no v1 signature")]
    NoV1Signature,
    /// No `v1` signature matches the body under any of the secrets.
    #[error(
        "no v1 signature matches the request body; the raw body must reach the server unchanged"
    )]
    SignatureMismatch,
    /// The signature is valid but its timestamp is outside the tolerance window.
    #[error("the signature timestamp is outside the tolerance window")]
    TimestampOutsideTolerance,
    /// There is no non-blank secret to verify with.
    #[error("no webhook signing secret is configured")]
    BlankSecret,
    /// The request body is empty.
    #[error("the request body is empty")]
    EmptyPayload,
}

impl SignatureError {
    /// Stable `snake_case` label used in metrics and JSON error bodies:
    /// `"missing_header"`, `"malformed_header"`, `"no_v1_signature"`, `"signature_mismatch"`,
    /// `"timestamp_outside_tolerance"`, `"blank_secret"`, `"empty_payload"`.
    #[must_use]
    pub fn reason(self) -> &'static str {
        match self {
            Self::MissingHeader => "missing_header",
            Self::MalformedHeader => "malformed_header",
            Self::NoV1Signature => "no_v1_signature",
            Self::SignatureMismatch => "signature_mismatch",
            Self::TimestampOutsideTolerance => "timestamp_outside_tolerance",
            Self::BlankSecret => "blank_secret",
            Self::EmptyPayload => "empty_payload",
        }
    }
}

/// A delivery whose signature and timestamp were accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    /// The signed timestamp (`t`), in Unix seconds.
    pub timestamp: i64,
    /// index into `secrets` of the secret that matched
    pub secret_index: usize,
}

/// Verifies a Stripe webhook delivery.
///
/// `payload` is the raw request body exactly as received. `header` is the raw header value bytes
/// (None when absent). `secrets` are the endpoint's active signing secrets, any of which may
/// match. `now_unix` is the current time in Unix seconds and `tolerance_secs` the largest
/// accepted distance between it and the signed timestamp (0 turns the check off).
///
/// # Errors
///
/// The first failed check, in the order given in the module documentation, as a
/// [`SignatureError`].
pub fn verify(
    payload: &[u8],
    header: Option<&[u8]>,
    secrets: &[&str],
    now_unix: i64,
    tolerance_secs: u64,
) -> Result<Verified, SignatureError> {
    if payload.is_empty() {
        return Err(SignatureError::EmptyPayload);
    }
    let header = match header {
        Some(bytes) if !bytes.is_empty() => bytes,
        _ => return Err(SignatureError::MissingHeader),
    };
    let parsed = SignatureHeader::parse(header)?;
    if parsed.v1.is_empty() {
        return Err(SignatureError::NoV1Signature);
    }
    let mut usable_secrets = secrets
        .iter()
        .enumerate()
        .filter(|(_, secret)| !secret.trim().is_empty())
        .peekable();
    if usable_secrets.peek().is_none() {
        return Err(SignatureError::BlankSecret);
    }

    // Candidates that cannot be a tag are dropped here: they could never match.
    let candidates: Vec<[u8; TAG_LEN]> = parsed
        .v1
        .iter()
        .filter_map(|signature| decode_lowercase_hex_tag(signature))
        .collect();
    let secret_index = usable_secrets
        .find(|(_, secret)| {
            let mac = signed_payload_mac(secret, parsed.timestamp_text, payload);
            // `verify_slice` compares in constant time.
            candidates
                .iter()
                .any(|candidate| mac.clone().verify_slice(candidate).is_ok())
        })
        .map(|(index, _)| index)
        .ok_or(SignatureError::SignatureMismatch)?;

    if tolerance_secs != 0 {
        let distance = (i128::from(now_unix) - i128::from(parsed.timestamp)).unsigned_abs();
        if distance > u128::from(tolerance_secs) {
            return Err(SignatureError::TimestampOutsideTolerance);
        }
    }

    Ok(Verified {
        timestamp: parsed.timestamp,
        secret_index,
    })
}

/// Builds a valid `t=...,v1=...` header (used by tests, the demo and the load generator).
#[must_use]
pub fn sign(payload: &[u8], secret: &str, timestamp: i64) -> String {
    let timestamp_text = timestamp.to_string();
    let tag = signed_payload_mac(secret, &timestamp_text, payload)
        .finalize()
        .into_bytes();
    format!("t={timestamp_text},v1={}", hex::encode(tag))
}

/// The HMAC of `"{t}.{payload}"` keyed by the whole secret, ready to finalize or verify.
fn signed_payload_mac(secret: &str, timestamp_text: &str, payload: &[u8]) -> HmacSha256 {
    let mut mac =
        HmacSha256::new_from_slice(secret.as_bytes()).expect("HMAC accepts keys of any length");
    mac.update(timestamp_text.as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac
}

/// The parts of a `Stripe-Signature` header that verification uses.
struct SignatureHeader<'a> {
    timestamp: i64,
    /// `t` exactly as sent; it is what Stripe signed (and, being canonical, equals `timestamp`).
    timestamp_text: &'a str,
    v1: Vec<&'a str>,
}

impl<'a> SignatureHeader<'a> {
    fn parse(header: &'a [u8]) -> Result<Self, SignatureError> {
        let text = std::str::from_utf8(header).map_err(|_| SignatureError::MalformedHeader)?;
        let mut timestamp_text = None;
        let mut v1 = Vec::new();
        for item in text.split(',') {
            let (key, value) = item
                .split_once('=')
                .ok_or(SignatureError::MalformedHeader)?;
            match key {
                "t" if timestamp_text.is_some() => return Err(SignatureError::MalformedHeader),
                "t" => timestamp_text = Some(value),
                "v1" => v1.push(value),
                // `v0` (the old test-mode scheme) and anything Stripe may add later.
                _ => {}
            }
        }
        let timestamp_text = timestamp_text.ok_or(SignatureError::MalformedHeader)?;
        let timestamp =
            parse_canonical_i64(timestamp_text).ok_or(SignatureError::MalformedHeader)?;
        Ok(Self {
            timestamp,
            timestamp_text,
            v1,
        })
    }
}

/// Parses `text` only when it is exactly how an `i64` prints: this refuses `+1`, `01`, `-0`,
/// spaces and fractions, which other libraries disagree on, so that the signed string and the
/// checked number can never differ.
fn parse_canonical_i64(text: &str) -> Option<i64> {
    let value: i64 = text.parse().ok()?;
    (value.to_string() == text).then_some(value)
}

/// Decodes a `v1` value that is exactly 64 lowercase hex digits.
fn decode_lowercase_hex_tag(text: &str) -> Option<[u8; TAG_LEN]> {
    let is_lowercase_hex = |byte: &u8| byte.is_ascii_digit() || (b'a'..=b'f').contains(byte);
    if text.len() != TAG_LEN * 2 || !text.as_bytes().iter().all(is_lowercase_hex) {
        return None;
    }
    let mut tag = [0u8; TAG_LEN];
    hex::decode_to_slice(text, &mut tag).ok()?;
    Some(tag)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    const SECRET: &str = "whsec_test_secret";
    const NOW: i64 = 1_767_225_600;
    const BODY: &[u8] = b"{\n  \"id\": \"evt_test_webhook\",\n  \"object\": \"event\"\n}";

    fn check(
        header: &str,
        secrets: &[&str],
        now: i64,
        tolerance: u64,
    ) -> Result<Verified, SignatureError> {
        verify(BODY, Some(header.as_bytes()), secrets, now, tolerance)
    }

    /// The vectors name a few errors differently from [`SignatureError::reason`].
    fn reason_from_vector(kind: &str) -> &str {
        match kind {
            "invalid_header" => "malformed_header",
            "timestamp_out_of_tolerance" => "timestamp_outside_tolerance",
            "empty_secret" => "blank_secret",
            other => other,
        }
    }

    fn outcome(result: Result<Verified, SignatureError>) -> &'static str {
        match result {
            Ok(_) => "ok",
            Err(error) => error.reason(),
        }
    }

    struct Vector {
        name: String,
        accepted: Vec<String>,
        result: Result<Verified, SignatureError>,
    }

    fn run_conformance_vectors() -> Vec<Vector> {
        let text = include_str!("../../tests/fixtures/signature-vectors.json");
        let cases: Vec<serde_json::Value> = serde_json::from_str(text).unwrap();
        cases
            .iter()
            .map(|case| {
                let field = |key: &str| case[key].as_str().unwrap();
                let mut accepted = vec![reason_from_vector(field("expect")).to_owned()];
                if let Some(also) = case["also_acceptable"].as_array() {
                    accepted.extend(
                        also.iter()
                            .map(|kind| reason_from_vector(kind.as_str().unwrap()).to_owned()),
                    );
                }
                // `parse_expect` is about the body, which this module does not parse: only the
                // signature outcome is checked here.
                let result = verify(
                    field("payload").as_bytes(),
                    Some(field("header").as_bytes()),
                    &[field("secret")],
                    case["now"].as_i64().unwrap(),
                    case["tolerance"].as_u64().unwrap(),
                );
                Vector {
                    name: field("name").to_owned(),
                    accepted,
                    result,
                }
            })
            .collect()
    }

    #[test]
    fn every_conformance_vector_agrees_on_ok_versus_error() {
        let vectors = run_conformance_vectors();
        assert_eq!(vectors.len(), 102);
        let failures: Vec<String> = vectors
            .iter()
            .filter(|vector| {
                let got_ok = vector.result.is_ok();
                !vector.accepted.iter().any(|kind| (kind == "ok") == got_ok)
            })
            .map(|vector| {
                format!(
                    "{}: got {}, accepted {:?}",
                    vector.name,
                    outcome(vector.result),
                    vector.accepted
                )
            })
            .collect();
        assert!(
            failures.is_empty(),
            "vectors that disagree:\n{}",
            failures.join("\n")
        );
    }

    #[test]
    fn every_conformance_vector_gets_an_accepted_error_kind() {
        // The kind is advisory in the conformance rules; holding to it keeps the metrics labels
        // meaningful and catches a reordering of the checks.
        let failures: Vec<String> = run_conformance_vectors()
            .iter()
            .filter(|vector| {
                !vector
                    .accepted
                    .iter()
                    .any(|kind| kind == outcome(vector.result))
            })
            .map(|vector| {
                format!(
                    "{}: got {}, accepted {:?}",
                    vector.name,
                    outcome(vector.result),
                    vector.accepted
                )
            })
            .collect();
        assert!(
            failures.is_empty(),
            "vectors with another kind:\n{}",
            failures.join("\n")
        );
    }

    #[test]
    fn sign_then_verify_roundtrips() {
        for timestamp in [NOW, 0, -1, i64::MIN, i64::MAX] {
            let header = sign(BODY, SECRET, timestamp);
            assert!(header.starts_with(&format!("t={timestamp},v1=")));
            assert_eq!(
                check(&header, &[SECRET], timestamp, DEFAULT_TOLERANCE_SECS),
                Ok(Verified {
                    timestamp,
                    secret_index: 0
                })
            );
            assert_eq!(
                check(&header, &[SECRET], NOW, 0),
                Ok(Verified {
                    timestamp,
                    secret_index: 0
                })
            );
        }
    }

    #[test]
    fn sign_matches_a_signature_from_the_stripe_libraries() {
        // node_valid_header in the conformance vectors.
        assert_eq!(
            sign(BODY, SECRET, NOW),
            "t=1767225600,v1=b124066e0fac9cdaa635e5151c55a3ef0be5db34ae646424fdd9848d450ff410"
        );
    }

    #[test]
    fn rotated_secret_still_verifies_during_rollover() {
        let old = "whsec_old_secret";
        let new = "whsec_new_secret";
        let old_v1 = sign(BODY, old, NOW)
            .split_once(",v1=")
            .unwrap()
            .1
            .to_owned();
        let new_v1 = sign(BODY, new, NOW)
            .split_once(",v1=")
            .unwrap()
            .1
            .to_owned();
        for header in [
            format!("t={NOW},v1={old_v1},v1={new_v1}"),
            format!("t={NOW},v1={new_v1},v1={old_v1}"),
        ] {
            for (secrets, expected_index) in [
                (vec![old], 0),
                (vec![new], 0),
                (vec![old, new], 0),
                (vec![new, old], 0),
                (vec!["whsec_unrelated", new], 1),
            ] {
                assert_eq!(
                    check(&header, &secrets, NOW, DEFAULT_TOLERANCE_SECS),
                    Ok(Verified {
                        timestamp: NOW,
                        secret_index: expected_index
                    }),
                    "header {header}, secrets {secrets:?}"
                );
            }
            assert_eq!(
                check(&header, &["whsec_unrelated"], NOW, DEFAULT_TOLERANCE_SECS),
                Err(SignatureError::SignatureMismatch)
            );
        }
        // Only the new secret signed; the endpoint already knows both.
        let header = format!("t={NOW},v1={new_v1}");
        assert_eq!(
            check(&header, &[old, new], NOW, DEFAULT_TOLERANCE_SECS),
            Ok(Verified {
                timestamp: NOW,
                secret_index: 1
            })
        );
    }

    #[test]
    fn signature_of_a_reencoded_body_does_not_verify() {
        let header = sign(BODY, SECRET, NOW);
        let compact = br#"{"id":"evt_test_webhook","object":"event"}"#;
        assert_eq!(
            verify(
                compact,
                Some(header.as_bytes()),
                &[SECRET],
                NOW,
                DEFAULT_TOLERANCE_SECS
            ),
            Err(SignatureError::SignatureMismatch)
        );
        let mut with_newline = BODY.to_vec();
        with_newline.push(b'\n');
        assert_eq!(
            verify(
                &with_newline,
                Some(header.as_bytes()),
                &[SECRET],
                NOW,
                DEFAULT_TOLERANCE_SECS
            ),
            Err(SignatureError::SignatureMismatch)
        );
    }

    #[test]
    fn stale_timestamp_is_rejected_after_signature_checks() {
        let stale = NOW - 301;
        let header = sign(BODY, SECRET, stale);
        assert_eq!(
            check(&header, &[SECRET], NOW, DEFAULT_TOLERANCE_SECS),
            Err(SignatureError::TimestampOutsideTolerance)
        );
        // A forged stale delivery is a mismatch, not a stale timestamp.
        assert_eq!(
            check(&header, &["whsec_other"], NOW, DEFAULT_TOLERANCE_SECS),
            Err(SignatureError::SignatureMismatch)
        );
        // Tolerance 0 turns the recency check off.
        assert!(check(&header, &[SECRET], NOW, 0).is_ok());
    }

    #[test]
    fn tolerance_is_inclusive_and_applies_to_future_timestamps() {
        for (offset, accepted) in [(-301, false), (-300, true), (300, true), (301, false)] {
            let header = sign(BODY, SECRET, NOW + offset);
            assert_eq!(
                check(&header, &[SECRET], NOW, DEFAULT_TOLERANCE_SECS).is_ok(),
                accepted,
                "timestamp offset {offset}"
            );
        }
    }

    #[test]
    fn huge_timestamp_does_not_overflow() {
        let header = sign(BODY, SECRET, i64::MAX);
        for (now, tolerance) in [
            (i64::MIN, u64::MAX),
            (i64::MIN, 1),
            (0, u64::MAX),
            (i64::MAX, 1),
        ] {
            let result = check(&header, &[SECRET], now, tolerance);
            let distance = (i128::from(now) - i128::from(i64::MAX)).unsigned_abs();
            assert_eq!(
                result.is_ok(),
                distance <= u128::from(tolerance),
                "now {now}"
            );
        }
        let header = sign(BODY, SECRET, i64::MIN);
        assert!(check(&header, &[SECRET], i64::MAX, u64::MAX).is_ok());
        assert_eq!(
            check(&header, &[SECRET], i64::MAX, i64::MAX as u64),
            Err(SignatureError::TimestampOutsideTolerance)
        );
        let beyond_i64 = "t=9223372036854775808,v1=00";
        assert_eq!(
            check(beyond_i64, &[SECRET], NOW, 1),
            Err(SignatureError::MalformedHeader)
        );
    }

    #[test]
    fn blank_secrets_are_skipped() {
        let header = sign(BODY, SECRET, NOW);
        assert_eq!(
            check(&header, &["", "  \t", SECRET], NOW, DEFAULT_TOLERANCE_SECS),
            Ok(Verified {
                timestamp: NOW,
                secret_index: 2
            })
        );
        for secrets in [&[][..], &[""][..], &["", " \n "][..]] {
            assert_eq!(
                check(&header, secrets, NOW, DEFAULT_TOLERANCE_SECS),
                Err(SignatureError::BlankSecret)
            );
        }
        // A header forged with an empty key must not pass for an endpoint with no secret.
        let forged = sign(BODY, "", NOW);
        assert_eq!(
            check(&forged, &[""], NOW, DEFAULT_TOLERANCE_SECS),
            Err(SignatureError::BlankSecret)
        );
    }

    #[test]
    fn secrets_are_used_byte_for_byte() {
        let header = sign(BODY, SECRET, NOW);
        assert_eq!(
            check(
                &header,
                &["whsec_test_secret "],
                NOW,
                DEFAULT_TOLERANCE_SECS
            ),
            Err(SignatureError::SignatureMismatch)
        );
    }

    #[test]
    fn non_utf8_header_is_malformed() {
        let mut header = sign(BODY, SECRET, NOW).into_bytes();
        header.extend_from_slice(b",x=\xff");
        assert_eq!(
            verify(BODY, Some(&header), &[SECRET], NOW, DEFAULT_TOLERANCE_SECS),
            Err(SignatureError::MalformedHeader)
        );
    }

    #[test]
    fn absent_or_empty_header_is_missing() {
        for header in [None, Some(&b""[..])] {
            assert_eq!(
                verify(BODY, header, &[SECRET], NOW, DEFAULT_TOLERANCE_SECS),
                Err(SignatureError::MissingHeader)
            );
        }
    }

    #[test]
    fn empty_payload_is_reported_before_anything_else() {
        assert_eq!(
            verify(b"", None, &[], NOW, DEFAULT_TOLERANCE_SECS),
            Err(SignatureError::EmptyPayload)
        );
    }

    #[test]
    fn malformed_headers_are_refused() {
        let v1 = sign(BODY, SECRET, NOW)
            .split_once(",v1=")
            .unwrap()
            .1
            .to_owned();
        for header in [
            format!("v1={v1}"),
            format!("t={NOW},t={NOW},v1={v1}"),
            format!("t=+{NOW},v1={v1}"),
            format!("t=0{NOW},v1={v1}"),
            format!("t= {NOW},v1={v1}"),
            format!("t={NOW}.0,v1={v1}"),
            format!("t=-0,v1={v1}"),
            format!("t=,v1={v1}"),
            format!("t={NOW},v1={v1},"),
            format!("t={NOW},,v1={v1}"),
            format!("t={NOW},v1"),
            "bad_header".to_owned(),
            " ".to_owned(),
        ] {
            assert_eq!(
                check(&header, &[SECRET], NOW, DEFAULT_TOLERANCE_SECS),
                Err(SignatureError::MalformedHeader),
                "{header:?}"
            );
        }
    }

    #[test]
    fn only_v1_signatures_count() {
        let v1 = sign(BODY, SECRET, NOW)
            .split_once(",v1=")
            .unwrap()
            .1
            .to_owned();
        for header in [
            format!("t={NOW},v0={v1}"),
            format!("t={NOW}, v1={v1}"),
            format!("t={NOW},V1={v1}"),
        ] {
            assert_eq!(
                check(&header, &[SECRET], NOW, DEFAULT_TOLERANCE_SECS),
                Err(SignatureError::NoV1Signature),
                "{header:?}"
            );
        }
        // A valid v0 next to a wrong v1 is still a mismatch: no downgrade.
        let zeros = "0".repeat(64);
        assert_eq!(
            check(
                &format!("t={NOW},v0={v1},v1={zeros}"),
                &[SECRET],
                NOW,
                DEFAULT_TOLERANCE_SECS
            ),
            Err(SignatureError::SignatureMismatch)
        );
        // Unknown schemes are ignored alongside a valid v1.
        assert!(check(&format!("t={NOW},v2=abc,v1={v1},x=1=2"), &[SECRET], NOW, 1).is_ok());
    }

    #[test]
    fn v1_matches_only_as_64_lowercase_hex_digits() {
        let v1 = sign(BODY, SECRET, NOW)
            .split_once(",v1=")
            .unwrap()
            .1
            .to_owned();
        for candidate in [
            v1.to_uppercase(),
            v1[..62].to_owned(),
            format!("{v1}00"),
            String::new(),
            "not_hex".to_owned(),
            format!("{}zz", &v1[..62]),
        ] {
            assert_eq!(
                check(&format!("t={NOW},v1={candidate}"), &[SECRET], NOW, 1),
                Err(SignatureError::SignatureMismatch),
                "{candidate:?}"
            );
            assert!(
                check(
                    &format!("t={NOW},v1={candidate},v1={v1}"),
                    &[SECRET],
                    NOW,
                    1
                )
                .is_ok()
            );
        }
    }

    #[test]
    fn reasons_are_stable_and_messages_are_short() {
        let all = [
            (SignatureError::MissingHeader, "missing_header"),
            (SignatureError::MalformedHeader, "malformed_header"),
            (SignatureError::NoV1Signature, "no_v1_signature"),
            (SignatureError::SignatureMismatch, "signature_mismatch"),
            (
                SignatureError::TimestampOutsideTolerance,
                "timestamp_outside_tolerance",
            ),
            (SignatureError::BlankSecret, "blank_secret"),
            (SignatureError::EmptyPayload, "empty_payload"),
        ];
        for (error, reason) in all {
            assert_eq!(error.reason(), reason);
            let message = error.to_string();
            assert!(!message.is_empty() && message.len() < 100, "{message}");
        }
    }
}
