//! Payouts and alerts through `/v1`: listing them (JSON or CSV, page by page, filtered), a
//! payout with its lines, and the orders a payout settled showing it.

use serde_json::{Value, json};
use sqlx::PgPool;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::fake_stripe::{FakeStripe, VALID_KEY};
use crate::helpers::*;
use crate::payouts::{Scene, automatic_payout, charges_and_payout, register_order};

/// The fixture payout's `arrival_date` (1234567890): when its orders count as settled.
const FIXTURE_ARRIVAL: &str = "2009-02-13T23:31:30Z";

/// A payout as the payouts worker would store it.
struct NewPayout {
    id: &'static str,
    merchant_id: &'static str,
    status: &'static str,
    arrival_date: Option<&'static str>,
    automatic: bool,
}

impl NewPayout {
    fn new(
        id: &'static str,
        merchant_id: &'static str,
        status: &'static str,
        arrival_date: Option<&'static str>,
    ) -> Self {
        NewPayout {
            id,
            merchant_id,
            status,
            arrival_date,
            automatic: true,
        }
    }
}

const FAILURE_MESSAGE: &str = "The bank account has been closed, \"permanently\"";
const MANUAL_NOTE: &str = "manual payout: not itemised";

/// Stores the payouts directly through `db::payouts`; a failed one carries a failure code and
/// a message with a comma and quotes, a manual one an itemisation note.
async fn save_payouts(pool: &PgPool, payouts: &[NewPayout]) {
    let mut tx = pool.begin().await.expect("tx");
    for (n, p) in payouts.iter().enumerate() {
        let failed = p.status == "failed";
        let event_id = format!("evt_{n}");
        accredito::db::payouts::insert_payout_if_absent(
            &mut tx,
            &accredito::db::payouts::PayoutRow {
                id: p.id,
                merchant_id: p.merchant_id,
                profile_id: "prof_1",
                amount: 1000 + i64::try_from(n).expect("small"),
                currency: "eur",
                status: p.status,
                arrival_date: p
                    .arrival_date
                    .map(|t| OffsetDateTime::parse(t, &Rfc3339).expect("RFC 3339")),
                automatic: p.automatic,
                method: Some("standard"),
                destination: Some("ba_1"),
                failure_code: failed.then_some("account_closed"),
                failure_message: failed.then_some(FAILURE_MESSAGE),
                reconciliation_status: None,
                event_id: &event_id,
                event_created: OffsetDateTime::now_utc(),
            },
        )
        .await
        .expect("save payout");
        if !p.automatic {
            accredito::db::payouts::note_itemization(&mut tx, p.id, Some(MANUAL_NOTE), false)
                .await
                .expect("note");
        }
    }
    tx.commit().await.expect("commit");
}

/// Payouts of every shape: ties on the arrival date, payouts without one (listed last, by
/// id), two merchants, every status.
fn payouts_of_two_merchants() -> Vec<NewPayout> {
    vec![
        NewPayout::new("po_a", "m_1", "paid", Some("2026-12-01T00:00:00Z")),
        NewPayout::new("po_b", "m_1", "in_transit", Some("2026-12-01T00:00:00Z")),
        NewPayout::new("po_c", "m_1", "paid", Some("2026-11-30T00:00:00Z")),
        NewPayout::new("po_d", "m_1", "failed", Some("2026-12-02T00:00:00.000001Z")),
        NewPayout::new("po_e", "m_1", "pending", None),
        NewPayout {
            automatic: false,
            ..NewPayout::new("po_f", "m_1", "paid", None)
        },
        NewPayout::new("po_g", "m_1", "canceled", Some("2026-12-03T00:00:00Z")),
        NewPayout::new("po_h", "m_2", "paid", Some("2026-12-01T00:00:00Z")),
        NewPayout::new("po_i", "m_2", "paid", None),
    ]
}

#[sqlx::test]
async fn payout_pages_walk_every_matching_row_exactly_once_dated_first(pool: PgPool) {
    let app = spawn_app(pool).await;
    save_payouts(&app.pool, &payouts_of_two_merchants()).await;
    let expected = ["po_c", "po_a", "po_b", "po_d", "po_g", "po_e", "po_f"];

    // Limits that end a page before, on and after the last dated payout.
    for limit in ["1", "2", "4", "5", "6", "7", "1000"] {
        let pages = app
            .walk("/v1/payouts", &[("merchant_id", "m_1"), ("limit", limit)])
            .await;
        let limit: usize = limit.parse().expect("number");
        assert!(pages.iter().all(|p| p.len() <= limit));
        let walked: Vec<String> = pages.iter().flat_map(|p| ids(p, "payout_id")).collect();
        assert_eq!(walked, expected, "limit {limit}");
    }

    let everyone = app.walk("/v1/payouts", &[("limit", "2")]).await;
    let walked: Vec<String> = everyone.iter().flat_map(|p| ids(p, "payout_id")).collect();
    assert_eq!(
        walked,
        [
            "po_c", "po_a", "po_b", "po_h", "po_d", "po_g", "po_e", "po_f", "po_i"
        ]
    );

    let paid = app
        .walk("/v1/payouts", &[("merchant_id", "m_1"), ("status", "paid")])
        .await;
    assert_eq!(ids(&paid[0], "payout_id"), ["po_c", "po_a", "po_f"]);

    // `from` inclusive, `to` exclusive, on the arrival date; undated payouts match neither.
    let window = app
        .walk(
            "/v1/payouts",
            &[
                ("from", "2026-12-01T01:00:00+01:00"),
                ("to", "2026-12-03T00:00:00Z"),
                ("limit", "2"),
            ],
        )
        .await;
    let walked: Vec<String> = window.iter().flat_map(|p| ids(p, "payout_id")).collect();
    assert_eq!(walked, ["po_a", "po_b", "po_h", "po_d"]);

    let failed: Value = app
        .admin_get("/v1/payouts", &[("status", "failed")])
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        failed,
        json!({
            "data": [{
                "merchant_id": "m_1",
                "payout_id": "po_d",
                "amount": 1003,
                "currency": "eur",
                "status": "failed",
                "arrival_date": "2026-12-02T00:00:00.000001Z",
                "automatic": true,
                "failure_code": "account_closed",
                "failure_message": FAILURE_MESSAGE,
                "reconciliation_status": null,
                "itemization_note": null,
                "line_count": 0,
                "orders_settled": 0,
                "reconciled": false,
            }],
            "next_cursor": null,
        })
    );
    app.stop().await;
}

#[sqlx::test]
async fn payouts_export_as_csv_with_the_next_page_in_headers(pool: PgPool) {
    let app = spawn_app(pool).await;
    save_payouts(&app.pool, &payouts_of_two_merchants()).await;

    let response = app
        .admin_get_csv("/v1/payouts", &[("merchant_id", "m_1")])
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    assert_eq!(response.headers()["content-disposition"], "attachment");
    assert!(response.headers().get("link").is_none());
    let records = parse_csv(&response.text().await.expect("body"));
    assert_eq!(
        records[0],
        [
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
            "reconciled"
        ]
    );
    assert_eq!(records.len(), 8);
    assert_eq!(
        records[4],
        [
            "m_1",
            "po_d",
            "1003",
            "eur",
            "failed",
            "2026-12-02T00:00:00.000001Z",
            "true",
            "account_closed",
            FAILURE_MESSAGE,
            "",
            "",
            "0",
            "0",
            "false"
        ]
    );
    let manual = &records[7];
    assert_eq!((manual[1].as_str(), manual[5].as_str()), ("po_f", ""));
    assert_eq!(
        (manual[6].as_str(), manual[10].as_str()),
        ("false", MANUAL_NOTE)
    );

    // Past the last dated payout, the Link keeps the filters and carries on with the undated.
    let first = app
        .admin_get_csv("/v1/payouts", &[("merchant_id", "m_1"), ("limit", "5")])
        .await;
    let cursor = first.headers()["x-next-cursor"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let link = first.headers()["link"].to_str().expect("ascii").to_owned();
    assert_eq!(
        link,
        format!("</v1/payouts?merchant_id=m_1&limit=5&cursor={cursor}>; rel=\"next\"")
    );
    let second = app
        .client
        .get(app.url(&format!(
            "/v1/payouts?merchant_id=m_1&limit=5&cursor={cursor}"
        )))
        .bearer_auth(ADMIN_TOKEN)
        .header("accept", "text/csv")
        .send()
        .await
        .expect("request");
    assert!(second.headers().get("link").is_none());
    let second = parse_csv(&second.text().await.expect("body"));
    let second_ids: Vec<&str> = second[1..].iter().map(|r| r[1].as_str()).collect();
    assert_eq!(second_ids, ["po_e", "po_f"]);
    app.stop().await;
}

#[sqlx::test]
async fn a_settled_payout_shows_its_lines_and_the_orders_it_settled_show_the_payout(pool: PgPool) {
    let (transactions, net) = charges_and_payout("po_1", 12);
    let fake = FakeStripe::builder()
        .balance_transactions("po_1", transactions)
        .start()
        .await;
    let scene = Scene::start(pool.clone(), fake, None).await;
    scene.set_key(VALID_KEY).await;
    for i in 0..12 {
        register_order(&pool, &format!("o_{i}"), &format!("pi_{i}")).await;
    }
    register_order(&pool, "o_elsewhere", "pi_elsewhere").await;
    let app = &scene.app;

    let before: Value = app
        .admin_get("/v1/orders/o_0", &[])
        .await
        .json()
        .await
        .expect("json");
    assert!(before["payout_id"].is_null() && before["settled_at"].is_null());

    let t = now();
    scene
        .apply(
            "evt_paid",
            "payout.paid",
            t,
            automatic_payout("po_1", net, "paid"),
        )
        .await;

    // The payout with every line, by balance transaction id.
    let response = app.admin_get("/v1/payouts/po_1", &[]).await;
    assert_eq!(response.status(), 200);
    let detail: Value = response.json().await.expect("json");
    assert_eq!(detail["merchant_id"], "m_1");
    assert_eq!(detail["status"], "paid");
    assert_eq!(detail["amount"], net);
    assert_eq!(detail["arrival_date"], FIXTURE_ARRIVAL);
    assert_eq!(detail["line_count"], 13);
    assert_eq!(detail["orders_settled"], 12);
    assert_eq!(detail["reconciled"], true);
    assert!(detail["itemization_note"].is_null());
    let lines = detail["lines"].as_array().expect("lines").clone();
    let line_ids = ids(&lines, "balance_transaction_id");
    assert_eq!(line_ids.len(), 13);
    let mut sorted = line_ids.clone();
    sorted.sort();
    assert_eq!(line_ids, sorted);
    let charge = lines
        .iter()
        .find(|l| l["balance_transaction_id"] == "txn_0")
        .expect("txn_0");
    assert_eq!(
        *charge,
        json!({
            "merchant_id": "m_1",
            "payout_id": "po_1",
            "balance_transaction_id": "txn_0",
            "type": "charge",
            "reporting_category": "charge",
            "amount": 1000,
            "fee": 30,
            "net": 970,
            "currency": "eur",
            "source_id": "ch_0",
            "charge_id": "ch_0",
            "refund_id": null,
            "dispute_id": null,
            "payment_intent_id": "pi_0",
            "order_id": "o_0",
        })
    );
    let own = lines
        .iter()
        .find(|l| l["balance_transaction_id"] == "txn_payout")
        .expect("the payout's own transaction");
    assert_eq!(own["type"], "payout");
    assert!(own["order_id"].is_null());

    // The same lines page by page, in JSON and in CSV (whose Link names this payout).
    let pages = app.walk("/v1/payouts/po_1/lines", &[("limit", "5")]).await;
    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [5, 5, 3]);
    assert_eq!(pages.concat(), lines);
    let first = app
        .admin_get_csv("/v1/payouts/po_1/lines", &[("limit", "5")])
        .await;
    let link = first.headers()["link"].to_str().expect("ascii").to_owned();
    let target = link
        .strip_prefix('<')
        .and_then(|l| l.strip_suffix(">; rel=\"next\""))
        .expect("a rel=next link");
    assert!(
        target.starts_with("/v1/payouts/po_1/lines?limit=5&cursor="),
        "{link}"
    );
    let records = parse_csv(&first.text().await.expect("body"));
    assert_eq!(
        records[0][2..5],
        ["balance_transaction_id", "type", "reporting_category"]
    );
    assert_eq!(records[1][2], line_ids[0]);
    let second = app
        .client
        .get(app.url(target))
        .bearer_auth(ADMIN_TOKEN)
        .header("accept", "text/csv")
        .send()
        .await
        .expect("request");
    let second = parse_csv(&second.text().await.expect("body"));
    let second_ids: Vec<&str> = second[1..].iter().map(|r| r[2].as_str()).collect();
    assert_eq!(second_ids, line_ids[5..10]);

    // The list shows the payout's row as the detail does, without the lines.
    let listed: Value = app
        .admin_get("/v1/payouts", &[("merchant_id", "m_1")])
        .await
        .json()
        .await
        .expect("json");
    let mut row = detail.clone();
    row.as_object_mut().expect("object").remove("lines");
    assert_eq!(listed["data"], json!([row]));

    // Each order the payout carried shows it, in JSON and CSV; the others do not.
    let settled: Value = app
        .admin_get("/v1/orders/o_0", &[])
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(settled["payout_id"], "po_1");
    assert_eq!(settled["settled_at"], FIXTURE_ARRIVAL);
    let elsewhere: Value = app
        .admin_get("/v1/orders/o_elsewhere", &[])
        .await
        .json()
        .await
        .expect("json");
    assert!(elsewhere["payout_id"].is_null() && elsewhere["settled_at"].is_null());
    let orders = app
        .walk("/v1/reconciliation/orders", &[("limit", "5")])
        .await
        .concat();
    assert_eq!(orders.len(), 13);
    assert_eq!(
        orders.iter().filter(|o| o["payout_id"] == "po_1").count(),
        12
    );
    let csv = app
        .admin_get_csv("/v1/reconciliation/orders", &[])
        .await
        .text()
        .await
        .expect("body");
    let records = parse_csv(&csv);
    let header = &records[0];
    let column = |name: &str| header.iter().position(|h| h == name).expect(name);
    let (order_col, payout_col, settled_col) = (
        column("order_id"),
        column("payout_id"),
        column("settled_at"),
    );
    let o_0 = records.iter().find(|r| r[order_col] == "o_0").expect("o_0");
    assert_eq!(
        (o_0[payout_col].as_str(), o_0[settled_col].as_str()),
        ("po_1", FIXTURE_ARRIVAL)
    );
    let other = records
        .iter()
        .find(|r| r[order_col] == "o_elsewhere")
        .expect("o_elsewhere");
    assert_eq!(
        (other[payout_col].as_str(), other[settled_col].as_str()),
        ("", "")
    );

    // The bank returns the payout: its orders are no longer settled, and the merchant is
    // alerted.
    let mut failed = automatic_payout("po_1", net, "failed");
    failed["failure_code"] = "account_closed".into();
    scene
        .apply("evt_failed", "payout.failed", t + 5, failed)
        .await;
    let unsettled: Value = app
        .admin_get("/v1/orders/o_0", &[])
        .await
        .json()
        .await
        .expect("json");
    assert!(unsettled["payout_id"].is_null() && unsettled["settled_at"].is_null());
    let failed: Value = app
        .admin_get("/v1/payouts", &[("status", "failed")])
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        ids(failed["data"].as_array().expect("data"), "payout_id"),
        ["po_1"]
    );
    assert_eq!(failed["data"][0]["orders_settled"], 0);
    assert_eq!(failed["data"][0]["failure_code"], "account_closed");
    let open: Value = app
        .admin_get("/v1/alerts", &[("merchant_id", "m_1"), ("status", "open")])
        .await
        .json()
        .await
        .expect("json");
    let mut kinds = ids(open["data"].as_array().expect("data"), "kind");
    kinds.sort();
    assert_eq!(kinds, ["no_bank_account", "payout_failed"]);
    scene.app.stop().await;
}

#[sqlx::test]
async fn a_payout_without_lines_shows_none_and_an_unknown_payout_is_404(pool: PgPool) {
    let app = spawn_app(pool).await;
    save_payouts(&app.pool, &payouts_of_two_merchants()).await;

    let manual: Value = app
        .admin_get("/v1/payouts/po_f", &[])
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(manual["lines"], json!([]));
    assert_eq!(manual["itemization_note"], MANUAL_NOTE);
    let lines = app.admin_get("/v1/payouts/po_f/lines", &[]).await;
    assert_eq!(lines.status(), 200, "a known payout without lines");
    assert_eq!(
        lines.json::<Value>().await.expect("json"),
        json!({ "data": [], "next_cursor": null })
    );

    for path in ["/v1/payouts/po_nowhere", "/v1/payouts/po_nowhere/lines"] {
        let response = app.admin_get(path, &[]).await;
        assert_eq!(response.status(), 404, "{path}");
        assert_eq!(
            response.json::<Value>().await.expect("json")["error"],
            "not_found"
        );
    }
    for path in [
        "/v1/payouts/no%20such",
        "/v1/payouts/pi_123",
        "/v1/payouts/po_/lines",
    ] {
        let response = app.admin_get(path, &[]).await;
        assert_eq!(response.status(), 400, "{path}");
        let error: Value = response.json().await.expect("json");
        assert!(
            error["message"]
                .as_str()
                .expect("message")
                .contains("payout id"),
            "{path}: {error}"
        );
    }
    app.stop().await;
}

/// Opens alerts directly, as the workers and sweeps would: three transactions, the second
/// opening three alerts at the very same `opened_at`; one alert resolved and opened again,
/// one notified.
async fn open_alerts(pool: &PgPool) {
    use accredito::db::alerts;
    let mut tx = pool.begin().await.expect("tx");
    let first = alerts::open(
        &mut tx,
        "m_1",
        "no_bank_account",
        "no usable bank account, \"none at all\"\nlink one",
    )
    .await
    .expect("open")
    .expect("new");
    alerts::enqueue_notification(
        &mut tx,
        first,
        "opened",
        &json!({ "kind": "no_bank_account" }),
    )
    .await
    .expect("enqueue");
    for due in alerts::claim_due_notifications(&mut tx, 10, 60.0)
        .await
        .expect("due")
    {
        alerts::mark_delivered(&mut tx, due.id)
            .await
            .expect("delivered");
    }
    tx.commit().await.expect("commit");

    let mut tx = pool.begin().await.expect("tx");
    for (merchant, kind) in [
        ("m_1", "payouts_disabled"),
        ("m_2", "payout_failed"),
        ("m_2", "no_bank_account"),
    ] {
        alerts::open(&mut tx, merchant, kind, &format!("{kind} for {merchant}"))
            .await
            .expect("open");
    }
    tx.commit().await.expect("commit");

    let mut tx = pool.begin().await.expect("tx");
    alerts::open(&mut tx, "m_1", "funds_unsettled", "5000 cannot be paid out")
        .await
        .expect("open");
    tx.commit().await.expect("commit");

    let mut tx = pool.begin().await.expect("tx");
    alerts::resolve(&mut tx, "m_1", "payouts_disabled")
        .await
        .expect("resolve")
        .expect("was open");
    tx.commit().await.expect("commit");
    let mut tx = pool.begin().await.expect("tx");
    alerts::open(&mut tx, "m_1", "payouts_disabled", "disabled again")
        .await
        .expect("open")
        .expect("a new alert once the old one resolved");
    tx.commit().await.expect("commit");
}

fn summary(rows: &[Value]) -> Vec<String> {
    rows.iter()
        .map(|a| format!("{}/{}/{}", a["merchant_id"], a["kind"], a["status"]).replace('"', ""))
        .collect()
}

#[sqlx::test]
async fn alert_pages_walk_every_matching_row_exactly_once_in_opening_order(pool: PgPool) {
    let app = spawn_app(pool).await;
    open_alerts(&app.pool).await;
    let all = [
        "m_1/no_bank_account/open",
        "m_1/payouts_disabled/resolved",
        "m_2/payout_failed/open",
        "m_2/no_bank_account/open",
        "m_1/funds_unsettled/open",
        "m_1/payouts_disabled/open",
    ];

    // Three alerts share their opened_at: their ids order them, across page boundaries too.
    for limit in ["1", "2", "4", "1000"] {
        let pages = app.walk("/v1/alerts", &[("limit", limit)]).await;
        let rows = pages.concat();
        assert_eq!(summary(&rows), all, "limit {limit}");
        let opened: Vec<&Value> = rows.iter().map(|a| &a["opened_at"]).collect();
        assert!(
            opened[1] == opened[2] && opened[2] == opened[3],
            "{opened:?}"
        );
        let alert_ids: Vec<i64> = rows.iter().map(|a| a["id"].as_i64().expect("id")).collect();
        assert!(alert_ids.windows(2).all(|w| w[0] < w[1]), "{alert_ids:?}");
    }

    let filtered = |query: &'static [(&'static str, &'static str)]| {
        let app = &app;
        async move { summary(&app.walk("/v1/alerts", query).await.concat()) }
    };
    assert_eq!(
        filtered(&[("merchant_id", "m_1"), ("limit", "1")]).await,
        [all[0], all[1], all[4], all[5]]
    );
    assert_eq!(
        filtered(&[("status", "open")]).await,
        [all[0], all[2], all[3], all[4], all[5]]
    );
    assert_eq!(filtered(&[("status", "resolved")]).await, [all[1]]);
    assert_eq!(
        filtered(&[("kind", "payouts_disabled")]).await,
        [all[1], all[5]]
    );
    assert_eq!(
        filtered(&[("merchant_id", "m_2"), ("kind", "no_bank_account")]).await,
        [all[3]]
    );

    let page: Value = app
        .admin_get("/v1/alerts", &[("kind", "payouts_disabled")])
        .await
        .json()
        .await
        .expect("json");
    let resolved = &page["data"][0];
    assert!(resolved["resolved_at"].is_string(), "{resolved}");
    assert!(page["data"][1]["resolved_at"].is_null());
    let first: Value = app
        .admin_get("/v1/alerts", &[("limit", "1")])
        .await
        .json()
        .await
        .expect("json");
    let notified = &first["data"][0];
    assert!(notified["last_notified_at"].is_string(), "{notified}");
    assert_eq!(
        notified.as_object().expect("object").len(),
        8,
        "id, merchant_id, kind, status, opened_at, resolved_at, detail, last_notified_at: {notified}"
    );
    app.stop().await;
}

#[sqlx::test]
async fn alerts_export_as_csv(pool: PgPool) {
    let app = spawn_app(pool).await;
    open_alerts(&app.pool).await;

    let response = app
        .admin_get_csv("/v1/alerts", &[("merchant_id", "m_1"), ("limit", "3")])
        .await;
    assert_eq!(response.status(), 200);
    let link = response.headers()["link"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        link.starts_with("</v1/alerts?merchant_id=m_1&limit=3&cursor="),
        "{link}"
    );
    let records = parse_csv(&response.text().await.expect("body"));
    assert_eq!(
        records[0],
        [
            "id",
            "merchant_id",
            "kind",
            "status",
            "opened_at",
            "resolved_at",
            "detail",
            "last_notified_at"
        ]
    );
    assert_eq!(records.len(), 4);
    assert_eq!(records[1][1..4], ["m_1", "no_bank_account", "open"]);
    assert_eq!(
        records[1][6],
        "no usable bank account, \"none at all\"\nlink one"
    );
    assert_eq!(records[1][5], "", "an open alert has no resolved_at");
    assert!(!records[1][7].is_empty(), "it was notified");
    assert_eq!(records[2][3], "resolved");
    assert!(!records[2][5].is_empty());
    app.stop().await;
}

#[sqlx::test]
async fn bad_payout_and_alert_parameters_are_400_with_a_reason(pool: PgPool) {
    let app = spawn_app(pool).await;
    save_payouts(&app.pool, &payouts_of_two_merchants()).await;
    open_alerts(&app.pool).await;
    let next_cursor = |path: &'static str| {
        let app = &app;
        async move {
            let page: Value = app
                .admin_get(path, &[("limit", "1")])
                .await
                .json()
                .await
                .expect("json");
            page["next_cursor"].as_str().expect("cursor").to_owned()
        }
    };
    let payout_cursor = next_cursor("/v1/payouts").await;
    let alert_cursor = next_cursor("/v1/alerts").await;
    let payouts = "/v1/payouts";
    let lines = "/v1/payouts/po_a/lines";
    let alerts = "/v1/alerts";
    // (path, query, what the message must mention)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            payouts,
            vec![("status", "shipped")],
            "status must be one of: pending",
        ),
        (payouts, vec![("from", "yesterday")], "from must be"),
        (payouts, vec![("to", "2026-12-01")], "to must be"),
        (payouts, vec![("merchant_id", "bad id!")], "merchant_id"),
        (payouts, vec![("limit", "0")], "limit"),
        (payouts, vec![("cursor", &alert_cursor)], "malformed cursor"),
        (payouts, vec![("kind", "paid")], "unknown field `kind`"),
        (lines, vec![("cursor", &payout_cursor)], "malformed cursor"),
        (lines, vec![("cursor", "%%%")], "malformed cursor"),
        (
            lines,
            vec![("merchant_id", "m_1")],
            "unknown field `merchant_id`",
        ),
        (
            alerts,
            vec![("kind", "fraud")],
            "kind must be one of: no_bank_account",
        ),
        (
            alerts,
            vec![("status", "closed")],
            "status must be one of: open, resolved",
        ),
        (alerts, vec![("open", "true")], "unknown field `open`"),
        (alerts, vec![("cursor", &payout_cursor)], "malformed cursor"),
        (alerts, vec![("limit", "1001")], "limit"),
    ];
    for (path, query, expected) in cases {
        let response = app.admin_get(path, &query).await;
        assert_eq!(response.status(), 400, "{path} {query:?}");
        let error: Value = response.json().await.expect("json");
        assert_eq!(error["error"], "bad_request");
        assert!(
            error["message"]
                .as_str()
                .expect("message")
                .contains(expected),
            "{path} {query:?}: {error}"
        );
    }
    for (path, cursor) in [(payouts, &payout_cursor), (alerts, &alert_cursor)] {
        let continued = app.admin_get(path, &[("cursor", cursor)]).await;
        assert_eq!(
            continued.status(),
            200,
            "{path}: a well-formed cursor works"
        );
    }
    app.stop().await;
}

#[sqlx::test]
async fn payout_and_alert_endpoints_require_the_bearer_token(pool: PgPool) {
    let app = spawn_app(pool).await;
    save_payouts(&app.pool, &payouts_of_two_merchants()).await;
    for path in [
        "/v1/payouts",
        "/v1/payouts/po_a",
        "/v1/payouts/po_a/lines",
        "/v1/alerts",
    ] {
        let anonymous = app.client.get(app.url(path)).send().await.expect("request");
        assert_eq!(anonymous.status(), 401, "{path}");
        assert_eq!(
            anonymous.json::<Value>().await.expect("json")["error"],
            "unauthorized"
        );
        let wrong = app
            .client
            .get(app.url(path))
            .bearer_auth("wrong")
            .header("accept", "text/csv")
            .send()
            .await
            .expect("request");
        assert_eq!(wrong.status(), 401, "{path}");
    }
    app.stop().await;
}
