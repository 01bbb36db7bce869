//! The back-office tables the demo prints at the end, read through the `/v1` API and said in
//! the demo's language: the console's labels for columns, statuses and steps, amounts as
//! money, each payout's gross, fees and net, alerts and discrepancies in words, and each
//! merchant's next step as readiness words it. Ids, kinds and event types stay as stored.

use serde_json::Value;

use super::texts::say;
use super::{Api, Merchant};
use crate::console::i18n::{label, money, t};
use crate::console::pages::payouts::breakdown;
use crate::db::back_office::PayoutLine;
use crate::i18n::discrepancies::DiscrepancyDetail;
use crate::setup::alerts::AlertText;
use crate::setup::readiness::Language;

fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn text_of(value: &Value) -> &str {
    value.as_str().unwrap_or_default()
}

/// `row[field]`, an amount in minor units, as money in `row["currency"]`.
fn money_cell(language: Language, row: &Value, field: &str) -> String {
    match row[field].as_i64() {
        Some(amount) => money(language, amount, text_of(&row["currency"])),
        None => cell(&row[field]),
    }
}

fn yes_no(language: Language, value: &Value) -> String {
    match value.as_bool() {
        Some(yes) => t(language, if yes { "yes" } else { "no" }).to_owned(),
        None => cell(value),
    }
}

/// A column's heading and whether its cells are numbers (aligned right).
struct Column {
    heading: String,
    numeric: bool,
}

fn col(language: Language, key: &str) -> Column {
    Column {
        heading: t(language, key).to_owned(),
        numeric: false,
    }
}

fn num(language: Language, key: &str) -> Column {
    Column {
        heading: t(language, key).to_owned(),
        numeric: true,
    }
}

/// A plain text table: a header, a rule, the rows; columns as wide as their widest cell,
/// numbers aligned right.
fn table(language: Language, columns: &[Column], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = columns.iter().map(|c| c.heading.chars().count()).collect();
    for row in rows {
        for (i, c) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| -> String {
        cells
            .iter()
            .zip(&widths)
            .zip(columns)
            .map(|((c, w), column)| {
                let pad = " ".repeat(w.saturating_sub(c.chars().count()));
                if column.numeric {
                    format!("{pad}{c}")
                } else {
                    format!("{c}{pad}")
                }
            })
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let rule: Vec<String> = widths.iter().map(|w| "-".repeat(*w)).collect();
    let mut out = vec![
        line(columns.iter().map(|c| c.heading.as_str()).collect()),
        line(rule.iter().map(String::as_str).collect()),
    ];
    for row in rows {
        out.push(line(row.iter().map(String::as_str).collect()));
    }
    if rows.is_empty() {
        out.push(say(language, "table.none", &[]));
    }
    out.join("\n")
}

/// A payout line as the API lists it.
fn payout_line(line: &Value) -> PayoutLine {
    let text = |field: &str| text_of(&line[field]).to_owned();
    let optional = |field: &str| line[field].as_str().map(str::to_owned);
    let amount = |field: &str| line[field].as_i64().unwrap_or_default();
    PayoutLine {
        merchant_id: text("merchant_id"),
        payout_id: text("payout_id"),
        balance_transaction_id: text("balance_transaction_id"),
        r#type: text("type"),
        reporting_category: optional("reporting_category"),
        amount: amount("amount"),
        fee: amount("fee"),
        net: amount("net"),
        currency: text("currency"),
        source_id: optional("source_id"),
        charge_id: optional("charge_id"),
        refund_id: optional("refund_id"),
        dispute_id: optional("dispute_id"),
        payment_intent_id: optional("payment_intent_id"),
        order_id: optional("order_id"),
    }
}

/// `refused`: the merchant whose test keys were refused, whose next step is live keys.
pub(super) async fn print_tables(
    api: &Api,
    merchants: &[&Merchant],
    refused: &Merchant,
) -> anyhow::Result<()> {
    let language = api.language;
    let orders = api.data("/v1/reconciliation/orders").await?;
    print_orders(language, &orders);
    print_payouts(api, &orders).await?;

    let discrepancies = api
        .data("/v1/reconciliation/discrepancies?open=true")
        .await?;
    let rows: Vec<Vec<String>> = discrepancies
        .iter()
        .map(|d| {
            let currency = orders
                .iter()
                .find(|o| !d["order_id"].is_null() && o["order_id"] == d["order_id"])
                .and_then(|o| o["currency"].as_str());
            let detail = DiscrepancyDetail::localize(
                text_of(&d["kind"]),
                text_of(&d["detail"]),
                currency,
                language,
            );
            vec![
                cell(&d["merchant_id"]),
                cell(&d["kind"]),
                cell(&d["order_id"]),
                cell(&d["subject_id"]),
                detail,
            ]
        })
        .collect();
    println!("\n{}", say(language, "heading.discrepancies", &[]));
    let columns = [
        col(language, "col.merchant"),
        col(language, "col.kind"),
        col(language, "col.order"),
        col(language, "col.subject"),
        col(language, "col.detail"),
    ];
    println!("{}", table(language, &columns, &rows));

    print_readiness(api, merchants, refused).await?;

    let alerts = api.data("/v1/alerts").await?;
    let rows: Vec<Vec<String>> = alerts
        .iter()
        .map(|a| {
            vec![
                cell(&a["merchant_id"]),
                cell(&a["kind"]),
                label(language, "alert_status", text_of(&a["status"])).into_owned(),
                AlertText::localize(text_of(&a["kind"]), text_of(&a["detail"]), language),
            ]
        })
        .collect();
    println!("\n{}", say(language, "heading.alerts", &[]));
    let columns = [
        col(language, "col.merchant"),
        col(language, "col.kind"),
        col(language, "col.status"),
        col(language, "col.detail"),
    ];
    println!("{}", table(language, &columns, &rows));
    Ok(())
}

fn print_orders(language: Language, orders: &[Value]) {
    let rows: Vec<Vec<String>> = orders
        .iter()
        .map(|o| {
            vec![
                cell(&o["merchant_id"]),
                cell(&o["order_id"]),
                money_cell(language, o, "amount"),
                label(language, "status", text_of(&o["status"])).into_owned(),
                money_cell(language, o, "amount_paid"),
                money_cell(language, o, "amount_refunded"),
                money_cell(language, o, "amount_disputed"),
                cell(&o["open_discrepancies"]),
                cell(&o["payout_id"]),
            ]
        })
        .collect();
    println!("\n{}", say(language, "heading.order_reconciliation", &[]));
    let columns = [
        col(language, "col.merchant"),
        col(language, "col.order"),
        num(language, "col.amount"),
        col(language, "col.status"),
        num(language, "col.paid"),
        num(language, "col.refunded"),
        num(language, "col.disputed"),
        num(language, "col.open_discrepancies"),
        col(language, "col.payout"),
    ];
    println!("{}", table(language, &columns, &rows));
}

/// The payouts, then each itemised one's gross, refunds, disputes, fees and net.
async fn print_payouts(api: &Api, orders: &[Value]) -> anyhow::Result<()> {
    let language = api.language;
    let payouts = api.data("/v1/payouts").await?;
    let rows: Vec<Vec<String>> = payouts
        .iter()
        .map(|p| {
            let settled: Vec<String> = orders
                .iter()
                .filter(|o| o["payout_id"] == p["payout_id"])
                .map(|o| cell(&o["order_id"]))
                .collect();
            vec![
                cell(&p["merchant_id"]),
                cell(&p["payout_id"]),
                money_cell(language, p, "amount"),
                label(language, "payout_status", text_of(&p["status"])).into_owned(),
                cell(&p["failure_code"]),
                cell(&p["line_count"]),
                yes_no(language, &p["reconciled"]),
                if settled.is_empty() {
                    "-".into()
                } else {
                    settled.join(",")
                },
            ]
        })
        .collect();
    println!("\n{}", say(language, "heading.payouts", &[]));
    let columns = [
        col(language, "col.merchant"),
        col(language, "col.payout"),
        num(language, "col.amount"),
        col(language, "col.status"),
        col(language, "col.failure"),
        num(language, "col.lines"),
        col(language, "col.reconciled"),
        Column {
            heading: say(language, "col.settled_orders", &[]),
            numeric: false,
        },
    ];
    println!("{}", table(language, &columns, &rows));

    println!("\n{}", say(language, "heading.payout_lines", &[]));
    for p in payouts
        .iter()
        .filter(|p| p["line_count"].as_i64() > Some(0))
    {
        let payout_id = text_of(&p["payout_id"]);
        let lines: Vec<PayoutLine> = api
            .data(&format!("/v1/payouts/{payout_id}/lines"))
            .await?
            .iter()
            .map(payout_line)
            .collect();
        let sums = breakdown(&lines);
        let currency = text_of(&p["currency"]);
        let mut items = vec![
            ("payout.gross", sums.gross),
            ("payout.refunds", sums.refunds),
            ("payout.disputes", sums.disputes),
        ];
        if sums.other != 0 {
            items.push(("payout.other", sums.other));
        }
        items.extend([
            ("payout.fees", -sums.fees),
            ("payout.net", sums.net),
            ("payout.amount", p["amount"].as_i64().unwrap_or_default()),
        ]);
        let items: Vec<(&str, String)> = items
            .into_iter()
            .map(|(key, amount)| (t(language, key), money(language, amount, currency)))
            .collect();
        let label_width = items.iter().map(|(l, _)| l.chars().count()).max();
        let money_width = items.iter().map(|(_, m)| m.chars().count()).max();
        let merchant = text_of(&p["merchant_id"]);
        println!(
            "{}",
            say(
                language,
                "payout.of",
                &[("payout", payout_id), ("merchant", merchant)]
            )
        );
        for (label, amount) in items {
            let label_pad = label_width.unwrap_or_default() - label.chars().count();
            let money_pad = money_width.unwrap_or_default() - amount.chars().count();
            println!(
                "  {label}{}  {}{amount}",
                " ".repeat(label_pad),
                " ".repeat(money_pad)
            );
        }
    }
    Ok(())
}

/// Each merchant's steps through the setup guide, and what each must do next, in the words
/// readiness gives in the demo's language.
async fn print_readiness(
    api: &Api,
    merchants: &[&Merchant],
    refused: &Merchant,
) -> anyhow::Result<()> {
    let language = api.language;
    println!("\n{}", say(language, "heading.readiness", &[]));
    let mut readiness = Vec::new();
    for merchant in merchants {
        readiness.push(
            api.get_in_language(&format!("/v1/merchants/{}/readiness", merchant.id))
                .await?,
        );
    }
    let steps_of = |r: &Value| r["steps"].as_array().cloned().unwrap_or_default();
    let steps: Vec<String> = readiness
        .first()
        .map(|r| steps_of(r).iter().map(|s| cell(&s["step"])).collect())
        .unwrap_or_default();
    let mut rows: Vec<Vec<String>> = steps
        .iter()
        .map(|step| {
            let mut row = vec![label(language, "step", step).into_owned()];
            for r in &readiness {
                let state = steps_of(r)
                    .iter()
                    .find(|s| s["step"] == step.as_str())
                    .map_or_else(
                        || "-".to_owned(),
                        |s| label(language, "state", text_of(&s["state"])).into_owned(),
                    );
                row.push(state);
            }
            row
        })
        .collect();
    let mut ready = vec![t(language, "merchants.ready").to_owned()];
    ready.extend(readiness.iter().map(|r| yes_no(language, &r["ready"])));
    rows.push(ready);
    let mut columns = vec![col(language, "col.step")];
    columns.extend(merchants.iter().map(|m| Column {
        heading: m.id.to_owned(),
        numeric: false,
    }));
    println!("{}", table(language, &columns, &rows));

    for (merchant, r) in merchants.iter().zip(&readiness) {
        let steps = steps_of(r);
        let not_done = |s: &&Value| s["state"] != "done";
        // Stripe is switched on with a profile whose live keys were accepted, so for the
        // merchant whose test keys were refused the live keys come before the guide's first
        // step.
        let after_refusal = (merchant.id == refused.id)
            .then(|| {
                steps
                    .iter()
                    .filter(not_done)
                    .find(|s| s["step"] == "live_keys_accepted")
            })
            .flatten();
        let (key, next) = match after_refusal {
            Some(step) => ("readiness.next_after_refusal", Some(step)),
            None => ("readiness.next", steps.iter().find(not_done)),
        };
        if let Some(step) = next {
            let step_label = label(language, "step", text_of(&step["step"]));
            let line = say(
                language,
                key,
                &[
                    ("merchant", merchant.id),
                    ("step", &step_label),
                    ("todo", &cell(&step["todo"])),
                ],
            );
            println!("  {line}");
        }
    }
    Ok(())
}
