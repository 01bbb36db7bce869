//! Cursors are base64url of a tagged position, so a cursor of one list is refused by the
//! others and callers are not tempted to build them. They hold no filter: the caller repeats
//! its filters with each page.

use super::*;

const ORDER_TAG: &str = "o1:";
const DISCREPANCY_TAG: &str = "d1:";
const PAYOUT_TAG: &str = "p1:";
const PAYOUT_LINE_TAG: &str = "l1:";
const ALERT_TAG: &str = "a1:";
const MERCHANT_TAG: &str = "m1:";
const PROFILE_TAG: &str = "s1:";

fn encode(tag: &str, position: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{tag}{position}"))
}

fn decode(cursor: &str, tag: &str) -> Result<String, InvalidRequest> {
    let bytes = URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| InvalidRequest::Cursor)?;
    let text = String::from_utf8(bytes).map_err(|_| InvalidRequest::Cursor)?;
    text.strip_prefix(tag)
        .map(str::to_owned)
        .ok_or(InvalidRequest::Cursor)
}

/// `<nanos>:<key>`: a time exact to the nanosecond (so no row is skipped or repeated), or
/// nothing for a row without one, then the key that breaks ties.
fn timed(time: Option<OffsetDateTime>, key: &str) -> String {
    let nanos = time.map(|t| t.unix_timestamp_nanos().to_string());
    format!("{}:{key}", nanos.unwrap_or_default())
}

fn parse_timed(text: &str) -> Result<(Option<OffsetDateTime>, &str), InvalidRequest> {
    let (nanos, key) = text.split_once(':').ok_or(InvalidRequest::Cursor)?;
    if nanos.is_empty() {
        return Ok((None, key));
    }
    let nanos: i128 = nanos.parse().map_err(|_| InvalidRequest::Cursor)?;
    let time =
        OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| InvalidRequest::Cursor)?;
    Ok((Some(time), key))
}

/// The position after an order: its `placed_at` and its id.
pub fn order(placed_at: OffsetDateTime, order_id: &str) -> String {
    encode(ORDER_TAG, &timed(Some(placed_at), order_id))
}

pub fn parse_order(cursor: &str) -> Result<(OffsetDateTime, String), InvalidRequest> {
    let text = decode(cursor, ORDER_TAG)?;
    match parse_timed(&text)? {
        (Some(placed_at), order_id) if is_valid_order_id(order_id) => {
            Ok((placed_at, order_id.to_owned()))
        }
        _ => Err(InvalidRequest::Cursor),
    }
}

pub fn discrepancy(id: i64) -> String {
    encode(DISCREPANCY_TAG, &id.to_string())
}

pub fn parse_discrepancy(cursor: &str) -> Result<i64, InvalidRequest> {
    decode(cursor, DISCREPANCY_TAG)?
        .parse()
        .map_err(|_| InvalidRequest::Cursor)
}

/// The position after a payout: its arrival date (if it has one) and its id. The ids
/// are Stripe's as stored, so any non-empty one is taken back: a page must never end
/// because an id looks unusual.
pub fn payout(arrival_date: Option<OffsetDateTime>, payout_id: &str) -> String {
    encode(PAYOUT_TAG, &timed(arrival_date, payout_id))
}

pub fn parse_payout(cursor: &str) -> Result<(Option<OffsetDateTime>, String), InvalidRequest> {
    let text = decode(cursor, PAYOUT_TAG)?;
    match parse_timed(&text)? {
        (arrival_date, payout_id) if !payout_id.is_empty() => {
            Ok((arrival_date, payout_id.to_owned()))
        }
        _ => Err(InvalidRequest::Cursor),
    }
}

/// The position after a payout line: its balance transaction id.
pub fn payout_line(balance_transaction_id: &str) -> String {
    encode(PAYOUT_LINE_TAG, balance_transaction_id)
}

pub fn parse_payout_line(cursor: &str) -> Result<String, InvalidRequest> {
    Some(decode(cursor, PAYOUT_LINE_TAG)?)
        .filter(|id| !id.is_empty())
        .ok_or(InvalidRequest::Cursor)
}

/// The position after an alert: when it opened and its id.
pub fn alert(opened_at: OffsetDateTime, id: i64) -> String {
    encode(ALERT_TAG, &timed(Some(opened_at), &id.to_string()))
}

pub fn parse_alert(cursor: &str) -> Result<(OffsetDateTime, i64), InvalidRequest> {
    let text = decode(cursor, ALERT_TAG)?;
    match parse_timed(&text)? {
        (Some(opened_at), id) => Ok((opened_at, id.parse().map_err(|_| InvalidRequest::Cursor)?)),
        (None, _) => Err(InvalidRequest::Cursor),
    }
}

/// The position after a merchant: its id.
pub fn merchant(merchant_id: &str) -> String {
    encode(MERCHANT_TAG, merchant_id)
}

pub fn parse_merchant(cursor: &str) -> Result<String, InvalidRequest> {
    Some(decode(cursor, MERCHANT_TAG)?)
        .filter(|id| is_valid_merchant_id(id))
        .ok_or(InvalidRequest::Cursor)
}

/// The position after a profile: when it was created and its id.
pub fn profile(created_at: OffsetDateTime, profile_id: &str) -> String {
    encode(PROFILE_TAG, &timed(Some(created_at), profile_id))
}

pub fn parse_profile(cursor: &str) -> Result<(OffsetDateTime, String), InvalidRequest> {
    let text = decode(cursor, PROFILE_TAG)?;
    match parse_timed(&text)? {
        (Some(created_at), profile_id) if !profile_id.is_empty() => {
            Ok((created_at, profile_id.to_owned()))
        }
        _ => Err(InvalidRequest::Cursor),
    }
}
