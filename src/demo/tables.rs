//! The back-office tables the demo prints at the end, read through the `/v1` API.

use reqwest::Method;
use serde_json::Value;

use super::{Api, Merchant};

fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A plain text table: a header, a rule, the rows; columns as wide as their widest cell.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
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
            .map(|(c, w)| format!("{c}{}", " ".repeat(w.saturating_sub(c.chars().count()))))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = vec![line(headers.to_vec())];
    out.push(line(
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect(),
    ));
    for row in rows {
        out.push(line(row.iter().map(String::as_str).collect()));
    }
    if rows.is_empty() {
        out.push("(none)".into());
    }
    out.join("\n")
}

fn pick(row: &Value, fields: &[&str]) -> Vec<String> {
    fields.iter().map(|f| cell(&row[*f])).collect()
}

pub(super) async fn print_tables(api: &Api, merchants: &[&Merchant]) -> anyhow::Result<()> {
    let orders = api.data("/v1/reconciliation/orders").await?;
    let fields = [
        "merchant_id",
        "order_id",
        "amount",
        "status",
        "amount_paid",
        "amount_refunded",
        "amount_disputed",
        "open_discrepancies",
        "payout_id",
    ];
    let rows: Vec<Vec<String>> = orders.iter().map(|o| pick(o, &fields)).collect();
    println!("\n## Order reconciliation (GET /v1/reconciliation/orders; amounts in cents)");
    println!(
        "{}",
        table(
            &[
                "merchant",
                "order",
                "amount",
                "status",
                "paid",
                "refunded",
                "disputed",
                "open disc.",
                "payout"
            ],
            &rows
        )
    );

    let payouts = api.data("/v1/payouts").await?;
    let rows: Vec<Vec<String>> = payouts
        .iter()
        .map(|p| {
            let mut row = pick(
                p,
                &[
                    "merchant_id",
                    "payout_id",
                    "amount",
                    "status",
                    "failure_code",
                    "line_count",
                    "orders_settled",
                    "reconciled",
                ],
            );
            let settled: Vec<String> = orders
                .iter()
                .filter(|o| o["payout_id"] == p["payout_id"])
                .map(|o| cell(&o["order_id"]))
                .collect();
            row.push(if settled.is_empty() {
                "-".into()
            } else {
                settled.join(",")
            });
            row
        })
        .collect();
    println!("\n## Payouts (GET /v1/payouts)");
    println!(
        "{}",
        table(
            &[
                "merchant",
                "payout",
                "amount",
                "status",
                "failure",
                "lines",
                "orders",
                "reconciled",
                "settled orders"
            ],
            &rows
        )
    );

    let discrepancies = api
        .data("/v1/reconciliation/discrepancies?open=true")
        .await?;
    let rows: Vec<Vec<String>> = discrepancies
        .iter()
        .map(|d| {
            pick(
                d,
                &["merchant_id", "kind", "order_id", "subject_id", "detail"],
            )
        })
        .collect();
    println!("\n## Open discrepancies (GET /v1/reconciliation/discrepancies?open=true)");
    println!(
        "{}",
        table(&["merchant", "kind", "order", "subject", "detail"], &rows)
    );

    println!("\n## Merchant readiness (GET /v1/merchants/{{id}}/readiness)");
    let mut readiness = Vec::new();
    for merchant in merchants {
        readiness.push(
            api.ok(
                Method::GET,
                &format!("/v1/merchants/{}/readiness", merchant.id),
                None,
            )
            .await?,
        );
    }
    let steps: Vec<String> = readiness
        .first()
        .and_then(|r| r["steps"].as_array())
        .map(|s| s.iter().map(|s| cell(&s["step"])).collect())
        .unwrap_or_default();
    let mut rows: Vec<Vec<String>> = steps
        .iter()
        .map(|step| {
            let mut row = vec![step.clone()];
            for r in &readiness {
                let state = r["steps"]
                    .as_array()
                    .and_then(|s| s.iter().find(|s| s["step"] == step.as_str()))
                    .map(|s| cell(&s["state"]))
                    .unwrap_or_else(|| "-".into());
                row.push(state);
            }
            row
        })
        .collect();
    let mut ready = vec!["READY".to_owned()];
    ready.extend(readiness.iter().map(|r| cell(&r["ready"])));
    rows.push(ready);
    let mut headers = vec!["step"];
    headers.extend(merchants.iter().map(|m| m.id));
    println!("{}", table(&headers, &rows));
    for (merchant, r) in merchants.iter().zip(&readiness) {
        let todo = r["steps"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["state"] != "done"))
            .map(|s| format!("{}: {}", cell(&s["step"]), cell(&s["todo"])));
        if let Some(todo) = todo {
            println!("  {} next: {todo}", merchant.id);
        }
    }

    let alerts = api.data("/v1/alerts").await?;
    let rows: Vec<Vec<String>> = alerts
        .iter()
        .map(|a| pick(a, &["merchant_id", "kind", "status", "detail"]))
        .collect();
    println!("\n## Alerts raised (GET /v1/alerts)");
    println!(
        "{}",
        table(&["merchant", "kind", "status", "detail"], &rows)
    );
    Ok(())
}
