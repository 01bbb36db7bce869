//! `stripe::signature::verify` on arbitrary `Stripe-Signature` headers and payloads.
//!
//! Never panics, and always answers what the rules in the module documentation say: every call
//! is compared with `model`, a second, deliberately naive reading of those rules (a header
//! verifies only when one of its `v1` items is exactly the hex tag `sign` makes for its `t`).
//! Four ways in:
//!
//! 1. the fuzzed header and payload under a fixed secret (and under a fuzzed secret next to it);
//! 2. a header `sign` made for the fuzzed payload: it must verify at its own timestamp, and
//!    within the tolerance of it, and be refused as stale outside it;
//! 3. the same with a fuzzed secret (blank: refused; another secret never verifies it);
//! 4. that signed header after a few fuzzed edits (a flipped byte, inserted or removed bytes).

#![no_main]

use accredito::stripe::signature::{SignatureError, Verified, sign, verify};
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "whsec_fuzz_fixed_secret";

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    header: &'a [u8],
    payload: &'a [u8],
    secret: &'a str,
    timestamp: i64,
    now_offset: i64,
    tolerance: u64,
    edits: Vec<Edit>,
}

/// One change to a signed header; positions wrap around its length.
#[derive(Arbitrary, Debug)]
enum Edit {
    Set { at: u16, byte: u8 },
    Insert { at: u16, bytes: Vec<u8> },
    Remove { at: u16, len: u8 },
    Truncate { at: u16 },
    Append(Vec<u8>),
    Prepend(Vec<u8>),
}

fuzz_target!(|input: Input<'_>| {
    let Input {
        header,
        payload,
        secret,
        timestamp,
        now_offset,
        tolerance,
        edits,
    } = input;
    let now = timestamp.saturating_add(now_offset);

    // 1. Arbitrary header bytes.
    check(payload, Some(header), &[SECRET], now, tolerance);
    check(payload, Some(header), &[secret, SECRET], now, tolerance);
    check(payload, None, &[SECRET], now, tolerance);

    // 2. A header `sign` made for this payload verifies, and only within the tolerance.
    let signed = sign(payload, SECRET, timestamp);
    let at_its_time = verify(
        payload,
        Some(signed.as_bytes()),
        &[SECRET],
        timestamp,
        tolerance,
    );
    if payload.is_empty() {
        assert_eq!(at_its_time, Err(SignatureError::EmptyPayload));
    } else {
        assert_eq!(
            at_its_time,
            Ok(Verified {
                timestamp,
                secret_index: 0
            }),
            "{signed:?} does not verify"
        );
        let distance = (i128::from(now) - i128::from(timestamp)).unsigned_abs();
        let expected = if tolerance == 0 || distance <= u128::from(tolerance) {
            Ok(Verified {
                timestamp,
                secret_index: 0,
            })
        } else {
            Err(SignatureError::TimestampOutsideTolerance)
        };
        assert_eq!(
            verify(payload, Some(signed.as_bytes()), &[SECRET], now, tolerance),
            expected
        );
    }
    check(
        payload,
        Some(signed.as_bytes()),
        &[secret, SECRET],
        now,
        tolerance,
    );

    // 3. Signed with the fuzzed secret.
    let signed_fuzzed = sign(payload, secret, timestamp);
    let result = verify(
        payload,
        Some(signed_fuzzed.as_bytes()),
        &[secret],
        timestamp,
        0,
    );
    if payload.is_empty() {
        assert_eq!(result, Err(SignatureError::EmptyPayload));
    } else if secret.trim().is_empty() {
        assert_eq!(result, Err(SignatureError::BlankSecret));
    } else {
        assert_eq!(
            result,
            Ok(Verified {
                timestamp,
                secret_index: 0
            })
        );
        if !same_hmac_key(secret, SECRET) {
            assert_eq!(
                verify(
                    payload,
                    Some(signed_fuzzed.as_bytes()),
                    &[SECRET],
                    timestamp,
                    0
                ),
                Err(SignatureError::SignatureMismatch)
            );
        }
    }

    // 4. The signed header, edited.
    let mut edited = signed.into_bytes();
    for edit in edits {
        apply(&mut edited, edit);
    }
    check(payload, Some(&edited), &[SECRET], now, tolerance);
    check(payload, Some(&edited), &[SECRET], timestamp, tolerance);
});

/// Calls `verify` and asserts it agrees with `model`.
fn check(payload: &[u8], header: Option<&[u8]>, secrets: &[&str], now: i64, tolerance: u64) {
    let got = verify(payload, header, secrets, now, tolerance);
    let expected = model(payload, header, secrets, now, tolerance);
    assert_eq!(
        got,
        expected,
        "header {:?}, payload {:?}, secrets {secrets:?}, now {now}, tolerance {tolerance}",
        header.map(String::from_utf8_lossy),
        String::from_utf8_lossy(payload),
    );
}

/// The documented rules, written as plainly as possible and independently of the parser in
/// `signature.rs` (only the HMAC itself comes from `sign`).
fn model(
    payload: &[u8],
    header: Option<&[u8]>,
    secrets: &[&str],
    now: i64,
    tolerance: u64,
) -> Result<Verified, SignatureError> {
    if payload.is_empty() {
        return Err(SignatureError::EmptyPayload);
    }
    let header = match header {
        None | Some([]) => return Err(SignatureError::MissingHeader),
        Some(header) => header,
    };
    let Ok(text) = std::str::from_utf8(header) else {
        return Err(SignatureError::MalformedHeader);
    };
    let mut timestamps = Vec::new();
    let mut v1 = Vec::new();
    for item in text.split(',') {
        let Some(equals) = item.find('=') else {
            return Err(SignatureError::MalformedHeader);
        };
        let (key, value) = (&item[..equals], &item[equals + 1..]);
        if key == "t" {
            timestamps.push(value);
        } else if key == "v1" {
            v1.push(value);
        }
    }
    let [timestamp_text] = timestamps[..] else {
        return Err(SignatureError::MalformedHeader);
    };
    if !is_canonical_decimal(timestamp_text) {
        return Err(SignatureError::MalformedHeader);
    }
    let Ok(timestamp) = timestamp_text.parse::<i64>() else {
        return Err(SignatureError::MalformedHeader);
    };
    if v1.is_empty() {
        return Err(SignatureError::NoV1Signature);
    }
    if secrets.iter().all(|secret| secret.trim().is_empty()) {
        return Err(SignatureError::BlankSecret);
    }
    let secret_index = secrets
        .iter()
        .position(|secret| {
            if secret.trim().is_empty() {
                return false;
            }
            let signed = sign(payload, secret, timestamp);
            let tag = signed.rsplit_once("v1=").expect("sign writes v1=").1;
            v1.contains(&tag)
        })
        .ok_or(SignatureError::SignatureMismatch)?;
    if tolerance != 0 {
        let distance = (i128::from(now) - i128::from(timestamp)).abs();
        if distance > i128::from(tolerance) {
            return Err(SignatureError::TimestampOutsideTolerance);
        }
    }
    Ok(Verified {
        timestamp,
        secret_index,
    })
}

/// `0`, or an optional `-` then a digit 1-9 then digits: how an integer prints.
fn is_canonical_decimal(text: &str) -> bool {
    let digits = text.strip_prefix('-').unwrap_or(text);
    let all_digits = !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit());
    all_digits && (text == "0" || !digits.starts_with('0'))
}

/// HMAC pads a key of up to one block (64 bytes for SHA-256) with zero bytes, so `k` and
/// `k\0` are the same key. Longer keys are hashed first; the fuzzer cannot find a collision.
fn same_hmac_key(a: &str, b: &str) -> bool {
    a.len() <= 64 && b.len() <= 64 && a.trim_end_matches('\0') == b.trim_end_matches('\0')
}

fn apply(header: &mut Vec<u8>, edit: Edit) {
    let position = |at: u16, len: usize| usize::from(at) % (len + 1);
    match edit {
        Edit::Set { at, byte } => {
            if !header.is_empty() {
                let i = usize::from(at) % header.len();
                header[i] = byte;
            }
        }
        Edit::Insert { at, bytes } => {
            let i = position(at, header.len());
            header.splice(i..i, bytes);
        }
        Edit::Remove { at, len } => {
            let i = position(at, header.len());
            let end = (i + usize::from(len)).min(header.len());
            header.drain(i..end);
        }
        Edit::Truncate { at } => {
            let i = position(at, header.len());
            header.truncate(i);
        }
        Edit::Append(bytes) => header.extend(bytes),
        Edit::Prepend(bytes) => {
            header.splice(0..0, bytes);
        }
    }
}
