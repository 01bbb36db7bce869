//! Lists as CSV (RFC 4180), when the client asks for `text/csv`.

use std::borrow::Cow;

use axum::http::{HeaderMap, header};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::db::back_office::{Discrepancy, MerchantAlert, OrderReconciliation, Payout, PayoutLine};
use crate::setup::merchants::MerchantView;
use crate::setup::profiles::ProfileView;

/// The representation the client asked for: CSV only when `text/csv` is named explicitly and
/// preferred over `application/json`; JSON otherwise (including `*/*` and no `Accept`).
pub(crate) fn wants_csv(headers: &HeaderMap) -> bool {
    let mut csv_q = 0.0_f32;
    let mut json_q = 0.0_f32;
    for range in headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
    {
        let mut parts = range.split(';');
        let media = parts.next().unwrap_or_default().trim();
        let q = parts
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.trim().parse::<f32>().ok())
            .unwrap_or(1.0);
        if media.eq_ignore_ascii_case("text/csv") {
            csv_q = csv_q.max(q);
        } else if media.eq_ignore_ascii_case("application/json") {
            json_q = json_q.max(q);
        }
    }
    csv_q > 0.0 && csv_q > json_q
}

/// A row that can be written as one CSV record, with the header naming its fields.
pub(crate) trait CsvRecord {
    const HEADER: &'static [&'static str];
    fn fields(&self) -> Result<Vec<String>, time::error::Format>;
}

pub(crate) fn opt_time(t: Option<OffsetDateTime>) -> Result<String, time::error::Format> {
    t.map_or_else(|| Ok(String::new()), |t| t.format(&Rfc3339))
}

impl CsvRecord for OrderReconciliation {
    const HEADER: &'static [&'static str] = &[
        "merchant_id",
        "order_id",
        "amount",
        "currency",
        "status",
        "amount_paid",
        "amount_refunded",
        "amount_disputed",
        "payment_intent_id",
        "charge_id",
        "last_event_at",
        "placed_at",
        "open_discrepancies",
        "description",
        // Added after the first release: new columns go last, so a reader that takes
        // columns by position keeps working.
        "payout_id",
        "settled_at",
    ];

    fn fields(&self) -> Result<Vec<String>, time::error::Format> {
        Ok(vec![
            self.merchant_id.clone(),
            self.order_id.clone(),
            self.amount.to_string(),
            self.currency.clone(),
            self.status.clone(),
            self.amount_paid.to_string(),
            self.amount_refunded.to_string(),
            self.amount_disputed.to_string(),
            self.payment_intent_id.clone().unwrap_or_default(),
            self.charge_id.clone().unwrap_or_default(),
            opt_time(self.last_event_at)?,
            self.placed_at.format(&Rfc3339)?,
            self.open_discrepancies.to_string(),
            self.description.clone().unwrap_or_default(),
            self.payout_id.clone().unwrap_or_default(),
            opt_time(self.settled_at)?,
        ])
    }
}

impl CsvRecord for Discrepancy {
    const HEADER: &'static [&'static str] = &[
        "id",
        "kind",
        "merchant_id",
        "order_id",
        "subject_id",
        "event_id",
        "detail",
        "opened_at",
        "resolved_at",
        "open",
    ];

    fn fields(&self) -> Result<Vec<String>, time::error::Format> {
        Ok(vec![
            self.id.to_string(),
            self.kind.clone(),
            self.merchant_id.clone().unwrap_or_default(),
            self.order_id.clone().unwrap_or_default(),
            self.subject_id.clone(),
            self.event_id.clone().unwrap_or_default(),
            self.detail.clone(),
            self.opened_at.format(&Rfc3339)?,
            opt_time(self.resolved_at)?,
            self.open.to_string(),
        ])
    }
}

impl CsvRecord for Payout {
    const HEADER: &'static [&'static str] = &[
        "merchant_id",
        "payout_id",
        "amount",
        "currency",
        "status",
        "arrival_date",
        "automatic",
        "failure_code",
        "failure_message",
        "reconciliation_status",
        "itemization_note",
        "line_count",
        "orders_settled",
        "reconciled",
    ];

    fn fields(&self) -> Result<Vec<String>, time::error::Format> {
        Ok(vec![
            self.merchant_id.clone(),
            self.payout_id.clone(),
            self.amount.to_string(),
            self.currency.clone(),
            self.status.clone(),
            opt_time(self.arrival_date)?,
            self.automatic.to_string(),
            self.failure_code.clone().unwrap_or_default(),
            self.failure_message.clone().unwrap_or_default(),
            self.reconciliation_status.clone().unwrap_or_default(),
            self.itemization_note.clone().unwrap_or_default(),
            self.line_count.to_string(),
            self.orders_settled.to_string(),
            self.reconciled.to_string(),
        ])
    }
}

impl CsvRecord for PayoutLine {
    const HEADER: &'static [&'static str] = &[
        "merchant_id",
        "payout_id",
        "balance_transaction_id",
        "type",
        "reporting_category",
        "amount",
        "fee",
        "net",
        "currency",
        "source_id",
        "charge_id",
        "refund_id",
        "dispute_id",
        "payment_intent_id",
        "order_id",
    ];

    fn fields(&self) -> Result<Vec<String>, time::error::Format> {
        Ok(vec![
            self.merchant_id.clone(),
            self.payout_id.clone(),
            self.balance_transaction_id.clone(),
            self.r#type.clone(),
            self.reporting_category.clone().unwrap_or_default(),
            self.amount.to_string(),
            self.fee.to_string(),
            self.net.to_string(),
            self.currency.clone(),
            self.source_id.clone().unwrap_or_default(),
            self.charge_id.clone().unwrap_or_default(),
            self.refund_id.clone().unwrap_or_default(),
            self.dispute_id.clone().unwrap_or_default(),
            self.payment_intent_id.clone().unwrap_or_default(),
            self.order_id.clone().unwrap_or_default(),
        ])
    }
}

impl CsvRecord for MerchantAlert {
    const HEADER: &'static [&'static str] = &[
        "id",
        "merchant_id",
        "kind",
        "status",
        "opened_at",
        "resolved_at",
        "detail",
        "last_notified_at",
    ];

    fn fields(&self) -> Result<Vec<String>, time::error::Format> {
        Ok(vec![
            self.id.to_string(),
            self.merchant_id.clone(),
            self.kind.clone(),
            self.status.clone(),
            self.opened_at.format(&Rfc3339)?,
            opt_time(self.resolved_at)?,
            self.detail.clone(),
            opt_time(self.last_notified_at)?,
        ])
    }
}

impl CsvRecord for MerchantView {
    const HEADER: &'static [&'static str] = &[
        "id",
        "name",
        "stripe_enabled",
        "selected_profile_id",
        "created_at",
        "updated_at",
    ];

    fn fields(&self) -> Result<Vec<String>, time::error::Format> {
        Ok(vec![
            self.id.clone(),
            self.name.clone().unwrap_or_default(),
            self.stripe_enabled.to_string(),
            self.selected_profile_id.clone().unwrap_or_default(),
            self.created_at.format(&Rfc3339)?,
            self.updated_at.format(&Rfc3339)?,
        ])
    }
}

/// A profile's secrets are counted, not listed: a CSV row has one value per column.
impl CsvRecord for ProfileView {
    const HEADER: &'static [&'static str] = &[
        "id",
        "merchant_id",
        "name",
        "mode",
        "webhook_url",
        "created_at",
        "publishable_key",
        "secret_key_set",
        "stripe_account_id",
        "stripe_display_name",
        "keys_checked_at",
        "webhook_endpoint_id",
        "webhook_endpoint_status",
        "webhook_secrets",
    ];

    fn fields(&self) -> Result<Vec<String>, time::error::Format> {
        Ok(vec![
            self.id.clone(),
            self.merchant_id.clone(),
            self.name.clone(),
            self.mode.clone(),
            self.webhook_url.clone(),
            self.created_at.format(&Rfc3339)?,
            self.publishable_key.clone().unwrap_or_default(),
            self.secret_key_set.to_string(),
            self.stripe_account_id.clone().unwrap_or_default(),
            self.stripe_display_name.clone().unwrap_or_default(),
            opt_time(self.keys_checked_at)?,
            self.webhook_endpoint_id.clone().unwrap_or_default(),
            self.webhook_endpoint_status.clone().unwrap_or_default(),
            self.webhook_secrets.len().to_string(),
        ])
    }
}

/// How a CSV document is written: RFC 4180 (`,`, no BOM) by default; with `;` and a UTF-8 BOM
/// for a spreadsheet in a locale whose decimal separator is a comma (Excel in Italian reads a
/// `,`-separated file as one column, and without the BOM takes UTF-8 for the ANSI code page).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsvStyle {
    pub separator: char,
    pub bom: bool,
}

impl CsvStyle {
    pub const RFC_4180: CsvStyle = CsvStyle {
        separator: ',',
        bom: false,
    };
}

/// RFC 4180: a field holding a comma, a double quote or a line break is put in double quotes,
/// with its double quotes doubled. Absent values are empty fields. Text a spreadsheet would run
/// as a formula is neutralized first ([`defused`]).
#[cfg(test)]
pub(crate) fn csv_field(value: &str) -> Cow<'_, str> {
    csv_field_separated(value, ',')
}

/// [`csv_field`] with another separator, which is quoted in the same way.
fn csv_field_separated(value: &str, separator: char) -> Cow<'_, str> {
    let value = defused(value);
    if value.contains([separator, '"', '\r', '\n']) {
        Cow::Owned(format!("\"{}\"", value.replace('"', "\"\"")))
    } else {
        value
    }
}

/// OWASP's rule against formula injection: a cell starting with `=`, `+`, `-`, `@`, a tab or a
/// carriage return gets a leading `'`, so a spreadsheet shows it as text instead of running it
/// (an order id or `metadata.order_id` is whatever a merchant or customer typed). Numbers, such
/// as a negative amount, are left as they are: a number is not a formula.
fn defused(value: &str) -> Cow<'_, str> {
    let risky = value.starts_with(['=', '+', '-', '@', '\t', '\r']);
    if risky && value.parse::<i64>().is_err() {
        Cow::Owned(format!("'{value}"))
    } else {
        Cow::Borrowed(value)
    }
}

#[cfg(test)]
pub(crate) fn push_record<S: AsRef<str>>(out: &mut String, fields: impl IntoIterator<Item = S>) {
    push_record_separated(out, fields, ',');
}

fn push_record_separated<S: AsRef<str>>(
    out: &mut String,
    fields: impl IntoIterator<Item = S>,
    separator: char,
) {
    for (i, field) in fields.into_iter().enumerate() {
        if i > 0 {
            out.push(separator);
        }
        out.push_str(&csv_field_separated(field.as_ref(), separator));
    }
    out.push_str("\r\n");
}

pub(crate) fn csv_document<T: CsvRecord>(
    rows: &[T],
    style: CsvStyle,
) -> Result<String, time::error::Format> {
    let mut out = String::new();
    if style.bom {
        out.push('\u{feff}');
    }
    push_record_separated(&mut out, T::HEADER, style.separator);
    for row in rows {
        push_record_separated(&mut out, row.fields()?, style.separator);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spreadsheet_style_document_starts_with_a_bom_and_quotes_its_separator() {
        let mut out = String::new();
        push_record_separated(&mut out, ["a;b", "c,d", "e"], ';');
        assert_eq!(out, "\"a;b\";c,d;e\r\n");
        let style = CsvStyle {
            separator: ';',
            bom: true,
        };
        let document =
            csv_document::<crate::db::back_office::MerchantAlert>(&[], style).expect("formats");
        assert!(
            document.starts_with("\u{feff}id;merchant_id;kind;"),
            "{document}"
        );
    }
}
