//! Orders and the back office through `/v1`: registering orders, reading their
//! reconciliation, and listing (JSON or CSV, page by page) orders and discrepancies.

use std::collections::HashSet;
use std::time::Duration;

use accredito::config::Role;
use accredito::reconcile::DiscrepancyKind;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::*;

const WAIT: Duration = Duration::from_secs(20);

fn order_body(merchant_id: &str, amount: i64, placed_at: &str) -> Value {
    json!({
        "merchant_id": merchant_id,
        "amount": amount,
        "currency": "eur",
        "placed_at": placed_at,
    })
}

impl TestApp {
    async fn admin_put(&self, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .put(self.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .json(body)
            .send()
            .await
            .expect("request")
    }

    /// Registers an order through the API, expecting 200, and returns the answer.
    async fn register(&self, order_id: &str, body: &Value) -> Value {
        let response = self
            .admin_put(&format!("/v1/orders/{order_id}"), body)
            .await;
        assert_eq!(response.status(), 200, "{order_id}: {body}");
        response.json().await.expect("json")
    }

    async fn count(&self, table: &str) -> i64 {
        let sql = match table {
            "orders" => "select count(*) from orders",
            "merchants" => "select count(*) from merchants",
            other => panic!("no count for {other}"),
        };
        sqlx::query_scalar::<_, i64>(sql)
            .fetch_one(&self.pool)
            .await
            .expect("count")
    }
}

#[sqlx::test]
async fn registering_an_order_twice_is_idempotent(pool: PgPool) {
    let app = spawn_app(pool).await;
    let mut body = order_body("m_1", 2500, "2026-11-27T10:15:00+01:00");
    body["description"] = json!("Table 4");

    let first = app.register("o_1", &body).await;
    let second = app.register("o_1", &body).await;

    assert_eq!(first, second);
    assert_eq!(first["order_id"], "o_1");
    assert_eq!(first["merchant_id"], "m_1");
    assert_eq!(first["amount"], 2500);
    assert_eq!(first["currency"], "eur");
    assert_eq!(first["status"], "awaiting_payment");
    assert_eq!(first["amount_paid"], 0);
    assert_eq!(first["open_discrepancies"], 0);
    assert_eq!(first["placed_at"], "2026-11-27T09:15:00Z");
    assert_eq!(first["description"], "Table 4");
    assert_eq!(first["discrepancies"], json!([]));
    assert_eq!(app.count("orders").await, 1);
    assert_eq!(app.count("merchants").await, 1);

    let shown = app.admin_get("/v1/orders/o_1", &[]).await;
    assert_eq!(shown.status(), 200);
    assert_eq!(shown.json::<Value>().await.expect("json"), first);

    // Registering again with new values updates the order: the platform may correct it.
    body["amount"] = json!(3000);
    let updated = app.register("o_1", &body).await;
    assert_eq!(updated["amount"], 3000);
    assert_eq!(app.count("orders").await, 1);
    app.stop().await;
}

#[sqlx::test]
async fn an_order_id_of_another_merchant_is_409_and_changes_nothing(pool: PgPool) {
    let app = spawn_app(pool).await;
    let original = app
        .register("o_1", &order_body("m_1", 2500, "2026-11-27T10:00:00Z"))
        .await;

    let response = app
        .admin_put(
            "/v1/orders/o_1",
            &order_body("m_2", 9900, "2026-11-28T10:00:00Z"),
        )
        .await;

    assert_eq!(response.status(), 409);
    let error: Value = response.json().await.expect("json");
    assert_eq!(error["error"], "conflict");
    assert!(
        error["message"]
            .as_str()
            .expect("message")
            .contains("another merchant"),
        "{error}"
    );
    let shown: Value = app
        .admin_get("/v1/orders/o_1", &[])
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(shown, original);
    let merchants: Vec<String> = sqlx::query_scalar("select id from merchants")
        .fetch_all(&app.pool)
        .await
        .expect("merchants");
    assert_eq!(merchants, vec!["m_1"], "the other merchant is not created");
    app.stop().await;
}

#[sqlx::test]
async fn each_invalid_order_field_is_400_with_a_reason_and_nothing_is_stored(pool: PgPool) {
    let app = spawn_app(pool).await;
    let valid = order_body("m_1", 2500, "2026-11-27T10:00:00Z");
    let with = |field: &str, value: Value| {
        let mut body = valid.clone();
        body[field] = value;
        body
    };
    let without = |field: &str| {
        let mut body = valid.clone();
        body.as_object_mut().expect("object").remove(field);
        body
    };
    let too_long = "x".repeat(129);
    let cases: Vec<(&str, Value, &str)> = vec![
        ("bad%20id", valid.clone(), "order id"),
        (&too_long, valid.clone(), "order id"),
        ("o_1", with("merchant_id", json!("bad id!")), "merchant_id"),
        ("o_1", with("merchant_id", json!("")), "merchant_id"),
        ("o_1", with("amount", json!(-1)), "amount"),
        // Beyond any amount Stripe takes, and large enough for sums to overflow.
        (
            "o_1",
            with("amount", json!(1_000_000_000_001_i64)),
            "amount",
        ),
        ("o_1", with("amount", json!(i64::MAX)), "amount"),
        ("o_1", with("amount", json!(12.5)), "amount"),
        ("o_1", with("amount", json!("2500")), "amount"),
        ("o_1", with("currency", json!("EUR")), "currency"),
        ("o_1", with("currency", json!("euro")), "currency"),
        ("o_1", with("placed_at", json!("yesterday")), "placed_at"),
        (
            "o_1",
            with("placed_at", json!("2026-11-27T10:00:00")),
            "placed_at",
        ),
        (
            "o_1",
            with("description", json!("x".repeat(1001))),
            "description",
        ),
        (
            "o_1",
            with("payment_intent_id", json!("ch_123")),
            "payment_intent_id",
        ),
        (
            "o_1",
            with("colour", json!("red")),
            "unknown field `colour`",
        ),
        ("o_1", without("currency"), "missing field `currency`"),
        ("o_1", without("placed_at"), "missing field `placed_at`"),
    ];
    for (order_id, body, expected) in cases {
        let response = app
            .admin_put(&format!("/v1/orders/{order_id}"), &body)
            .await;
        assert_eq!(response.status(), 400, "{order_id} {body}");
        let error: Value = response.json().await.expect("json");
        assert_eq!(error["error"], "bad_request");
        assert!(
            error["message"]
                .as_str()
                .expect("message")
                .contains(expected),
            "{order_id} {body}: {error}"
        );
    }
    let not_json = app
        .client
        .put(app.url("/v1/orders/o_1"))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .expect("request");
    assert_eq!(not_json.status(), 400);
    assert_eq!(app.count("orders").await, 0);
    assert_eq!(app.count("merchants").await, 0);
    app.stop().await;
}

#[sqlx::test]
async fn an_unknown_order_is_404_and_a_malformed_order_id_400(pool: PgPool) {
    let app = spawn_app(pool).await;
    let unknown = app.admin_get("/v1/orders/o_nowhere", &[]).await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        unknown.json::<Value>().await.expect("json")["error"],
        "not_found"
    );
    let malformed = app.admin_get("/v1/orders/no%20such", &[]).await;
    assert_eq!(malformed.status(), 400);
    app.stop().await;
}

#[sqlx::test]
async fn orders_and_reconciliation_endpoints_require_the_bearer_token(pool: PgPool) {
    let app = spawn_app(pool).await;
    let body = order_body("m_1", 2500, "2026-11-27T10:00:00Z");
    let put = app
        .client
        .put(app.url("/v1/orders/o_1"))
        .json(&body)
        .send()
        .await
        .expect("request");
    assert_eq!(put.status(), 401);
    let wrong = app
        .client
        .put(app.url("/v1/orders/o_1"))
        .bearer_auth("wrong")
        .json(&body)
        .send()
        .await
        .expect("request");
    assert_eq!(wrong.status(), 401);
    for path in [
        "/v1/orders/o_1",
        "/v1/reconciliation/orders",
        "/v1/reconciliation/discrepancies",
    ] {
        let response = app.client.get(app.url(path)).send().await.expect("request");
        assert_eq!(response.status(), 401, "{path}");
        assert_eq!(
            response.json::<Value>().await.expect("json")["error"],
            "unauthorized"
        );
    }
    assert_eq!(app.count("orders").await, 0);
    app.stop().await;
}

#[sqlx::test]
async fn an_order_registered_after_its_payment_reconciles_to_paid_and_resolves_unknown_order(
    pool: PgPool,
) {
    let app = spawn_app_with(
        pool,
        AppOptions {
            roles: Role::all(),
            ..AppOptions::default()
        },
    )
    .await;
    let secret = random_secret();
    let profile = app.create_profile("m_1", &secret).await;
    let event = stripe_event(
        "evt_paid_early",
        "payment_intent.succeeded",
        true,
        payment_intent("pi_early", "succeeded", 2500, "o_late"),
    );
    assert_eq!(app.deliver(&profile, &secret, &event).await.status(), 200);

    // The worker stores the payment and flags it: money arrived for an order nobody registered.
    let open = eventually("unknown_order opened", WAIT, || async {
        let page: Value = app
            .admin_get(
                "/v1/reconciliation/discrepancies",
                &[("kind", "unknown_order"), ("open", "true")],
            )
            .await
            .json()
            .await
            .expect("json");
        let data = page["data"].as_array().expect("data").clone();
        (!data.is_empty()).then_some(data)
    })
    .await;
    assert_eq!(open.len(), 1);
    assert_eq!(open[0]["subject_id"], "pi_early");
    assert_eq!(open[0]["order_id"], "o_late");
    assert_eq!(open[0]["merchant_id"], "m_1");
    assert_eq!(open[0]["event_id"], "evt_paid_early");

    let registered = app
        .register("o_late", &order_body("m_1", 2500, "2026-11-27T10:00:00Z"))
        .await;

    assert_eq!(registered["status"], "paid");
    assert_eq!(registered["amount_paid"], 2500);
    assert_eq!(registered["payment_intent_id"], "pi_early");
    assert_eq!(registered["open_discrepancies"], 0);
    let discrepancies = registered["discrepancies"].as_array().expect("array");
    assert_eq!(discrepancies.len(), 1, "{registered}");
    assert_eq!(discrepancies[0]["kind"], "unknown_order");
    assert_eq!(discrepancies[0]["open"], false);
    assert!(discrepancies[0]["resolved_at"].is_string(), "{registered}");

    let shown: Value = app
        .admin_get("/v1/orders/o_late", &[])
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(shown, registered);
    let still_open: Value = app
        .admin_get("/v1/reconciliation/discrepancies", &[("open", "true")])
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(still_open["data"], json!([]));
    let paid: Value = app
        .admin_get("/v1/reconciliation/orders", &[("status", "paid")])
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(
        ids(paid["data"].as_array().expect("data"), "order_id"),
        ["o_late"]
    );
    app.stop().await;
}

#[sqlx::test]
async fn order_pages_walk_every_matching_row_exactly_once(pool: PgPool) {
    let app = spawn_app(pool).await;
    // Ties on placed_at are broken by order id, so rows sharing a time are neither skipped
    // nor repeated at a page boundary.
    let m1 = [
        ("o_e", "2026-11-27T10:00:00Z"),
        ("o_a", "2026-11-27T10:00:00Z"),
        ("o_c", "2026-11-27T10:00:00Z"),
        ("o_b", "2026-11-27T09:30:00Z"),
        ("o_d", "2026-11-27T12:00:00.000001+01:00"),
        ("o_f", "2026-11-28T00:00:00Z"),
        ("o_early", "2026-11-26T23:59:59Z"),
        ("o_late", "2026-11-29T00:00:00Z"),
    ];
    for (id, at) in m1 {
        app.register(id, &order_body("m_1", 100, at)).await;
    }
    for id in ["o_m2_a", "o_m2_b"] {
        app.register(id, &order_body("m_2", 100, "2026-11-27T10:00:00Z"))
            .await;
    }
    let expected = ["o_b", "o_a", "o_c", "o_e", "o_d", "o_f"];

    for limit in ["1", "2", "4", "6", "1000"] {
        let pages = app
            .walk(
                "/v1/reconciliation/orders",
                &[
                    ("merchant_id", "m_1"),
                    ("from", "2026-11-27T00:00:00Z"),
                    ("to", "2026-11-29T00:00:00+00:00"),
                    ("limit", limit),
                ],
            )
            .await;
        let limit: usize = limit.parse().expect("number");
        assert!(pages.iter().all(|p| p.len() <= limit));
        let walked: Vec<String> = pages.iter().flat_map(|p| ids(p, "order_id")).collect();
        assert_eq!(walked, expected, "limit {limit}");
        let unique: HashSet<&String> = walked.iter().collect();
        assert_eq!(unique.len(), walked.len());
    }

    let everything = app
        .walk("/v1/reconciliation/orders", &[("limit", "3")])
        .await;
    assert_eq!(everything.iter().map(Vec::len).sum::<usize>(), 10);
    let default_page: Value = app
        .admin_get("/v1/reconciliation/orders", &[])
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(default_page["data"].as_array().expect("data").len(), 10);
    assert!(default_page["next_cursor"].is_null());
    app.stop().await;
}

/// Opens discrepancies directly, as the workers would, so the list has rows of every shape.
async fn open_discrepancies(pool: &PgPool) {
    let mut tx = pool.begin().await.expect("tx");
    for n in 0..7 {
        let merchant = if n % 3 == 2 { "m_2" } else { "m_1" };
        accredito::db::orders::open_discrepancy(
            &mut tx,
            DiscrepancyKind::UnknownOrder,
            &format!("pi_{n}"),
            Some(merchant),
            Some(&format!("o_{n}")),
            Some(&format!("evt_{n}")),
            &format!("PaymentIntent pi_{n} (succeeded) names order o_{n}, which merchant {merchant} has not registered"),
        )
        .await
        .expect("open");
    }
    accredito::db::orders::open_discrepancy(
        &mut tx,
        DiscrepancyKind::AmountMismatch,
        "o_9",
        Some("m_1"),
        Some("o_9"),
        None,
        "paid 2600, \"expected\" 2500",
    )
    .await
    .expect("open");
    accredito::db::orders::resolve_discrepancies(&mut tx, "pi_1", &["unknown_order"])
        .await
        .expect("resolve");
    tx.commit().await.expect("commit");
}

#[sqlx::test]
async fn discrepancy_pages_walk_every_matching_row_exactly_once(pool: PgPool) {
    let app = spawn_app(pool).await;
    open_discrepancies(&app.pool).await;

    let pages = app
        .walk(
            "/v1/reconciliation/discrepancies",
            &[
                ("merchant_id", "m_1"),
                ("kind", "unknown_order"),
                ("open", "true"),
                ("limit", "2"),
            ],
        )
        .await;
    let walked: Vec<String> = pages.iter().flat_map(|p| ids(p, "subject_id")).collect();
    assert_eq!(walked, ["pi_0", "pi_3", "pi_4", "pi_6"]);
    assert_eq!(pages.len(), 2);

    let resolved = app
        .walk(
            "/v1/reconciliation/discrepancies",
            &[("open", "false"), ("limit", "1")],
        )
        .await;
    let resolved: Vec<&Value> = resolved.iter().flatten().collect();
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved[0]["subject_id"], "pi_1");
    assert_eq!(resolved[0]["open"], false);

    let all = app
        .walk("/v1/reconciliation/discrepancies", &[("limit", "3")])
        .await;
    let all_ids: Vec<i64> = all
        .iter()
        .flatten()
        .map(|d| d["id"].as_i64().expect("id"))
        .collect();
    assert_eq!(all_ids.len(), 8);
    assert!(all_ids.windows(2).all(|w| w[0] < w[1]), "ordered by id");
    app.stop().await;
}

#[sqlx::test]
async fn csv_exports_have_a_header_and_quote_commas_quotes_and_line_breaks(pool: PgPool) {
    let app = spawn_app(pool).await;
    let description = "Table 4, \"extra\" cheese\nno onions";
    let mut body = order_body("m_1", 2500, "2026-11-27T10:00:00Z");
    body["description"] = json!(description);
    app.register("o_1", &body).await;
    app.register("o_2", &order_body("m_1", 700, "2026-11-27T11:00:00Z"))
        .await;

    let response = app
        .admin_get_csv("/v1/reconciliation/orders", &[("merchant_id", "m_1")])
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/csv; charset=utf-8"
    );
    assert!(response.headers().get("x-next-cursor").is_none());
    let text = response.text().await.expect("body");
    assert!(
        text.contains("\"Table 4, \"\"extra\"\" cheese\nno onions\""),
        "{text}"
    );
    let records = parse_csv(&text);
    assert_eq!(
        records[0],
        [
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
            "payout_id",
            "settled_at"
        ]
    );
    assert_eq!(records.len(), 3);
    assert_eq!(
        records[1],
        [
            "m_1",
            "o_1",
            "2500",
            "eur",
            "awaiting_payment",
            "0",
            "0",
            "0",
            "",
            "",
            "",
            "2026-11-27T10:00:00Z",
            "0",
            description,
            "",
            ""
        ]
    );
    assert_eq!(records[2][1], "o_2");
    assert_eq!(records[2][13], "");

    // Paged CSV: the next page is in X-Next-Cursor and in a Link that keeps the filters.
    let first = app
        .admin_get_csv(
            "/v1/reconciliation/orders",
            &[("merchant_id", "m_1"), ("limit", "1")],
        )
        .await;
    let cursor = first.headers()["x-next-cursor"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let link = first.headers()["link"].to_str().expect("ascii").to_owned();
    let target = link
        .strip_prefix('<')
        .and_then(|l| l.strip_suffix(">; rel=\"next\""))
        .expect("a rel=next link");
    assert!(target.starts_with("/v1/reconciliation/orders?"), "{link}");
    assert!(
        target.contains("merchant_id=m_1") && target.contains("limit=1"),
        "{link}"
    );
    assert!(target.ends_with(&format!("cursor={cursor}")), "{link}");
    assert_eq!(parse_csv(&first.text().await.expect("body"))[1][1], "o_1");
    let second = app
        .client
        .get(app.url(target))
        .bearer_auth(ADMIN_TOKEN)
        .header("accept", "text/csv")
        .send()
        .await
        .expect("request");
    assert!(second.headers().get("link").is_none());
    let second = parse_csv(&second.text().await.expect("body"));
    assert_eq!(second.len(), 2);
    assert_eq!(second[1][1], "o_2");

    // Discrepancy details are prose with commas and quotes.
    open_discrepancies(&app.pool).await;
    let text = app
        .admin_get_csv(
            "/v1/reconciliation/discrepancies",
            &[("kind", "amount_mismatch")],
        )
        .await
        .text()
        .await
        .expect("body");
    let records = parse_csv(&text);
    assert_eq!(
        records[0],
        [
            "id",
            "kind",
            "merchant_id",
            "order_id",
            "subject_id",
            "event_id",
            "detail",
            "opened_at",
            "resolved_at",
            "open"
        ]
    );
    assert_eq!(records.len(), 2);
    assert_eq!(records[1][6], "paid 2600, \"expected\" 2500");
    assert_eq!(records[1][5], "", "a null is an empty field");
    assert_eq!(records[1][9], "true");
    app.stop().await;
}

#[sqlx::test]
async fn malformed_cursors_and_bad_list_parameters_are_400_with_a_reason(pool: PgPool) {
    let app = spawn_app(pool).await;
    app.register("o_1", &order_body("m_1", 100, "2026-11-27T10:00:00Z"))
        .await;
    let discrepancy_cursor = {
        open_discrepancies(&app.pool).await;
        let page: Value = app
            .admin_get("/v1/reconciliation/discrepancies", &[("limit", "1")])
            .await
            .json()
            .await
            .expect("json");
        page["next_cursor"].as_str().expect("cursor").to_owned()
    };
    let orders = "/v1/reconciliation/orders";
    let discrepancies = "/v1/reconciliation/discrepancies";
    // (path, query, what the message must mention)
    type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);
    let cases: Vec<Case> = vec![
        (
            orders,
            vec![("cursor", "not a cursor!")],
            "malformed cursor",
        ),
        (orders, vec![("cursor", "b2s")], "malformed cursor"),
        (
            orders,
            vec![("cursor", &discrepancy_cursor)],
            "malformed cursor",
        ),
        (discrepancies, vec![("cursor", "%%%")], "malformed cursor"),
        (orders, vec![("limit", "0")], "limit"),
        (orders, vec![("limit", "1001")], "limit"),
        (discrepancies, vec![("limit", "ten")], "limit"),
        (orders, vec![("status", "shipped")], "status must be one of"),
        (orders, vec![("from", "yesterday")], "from must be"),
        (orders, vec![("to", "2026-11-27")], "to must be"),
        (orders, vec![("merchant_id", "bad id!")], "merchant_id"),
        (orders, vec![("merchnat_id", "m_1")], "merchnat_id"),
        (
            discrepancies,
            vec![("kind", "fraud")],
            "kind must be one of",
        ),
        (discrepancies, vec![("open", "yes")], "open must be"),
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
    let continued = app
        .admin_get(discrepancies, &[("cursor", &discrepancy_cursor)])
        .await;
    assert_eq!(continued.status(), 200, "a well-formed cursor still works");
    app.stop().await;
}
