//! Every console page over HTTP: what it shows, in both languages, filters, paging, CSV, 404
//! and 400 pages, the redrive (refused to a viewer), and that no secret is ever rendered.

use reqwest::StatusCode;
use sqlx::PgPool;

use super::fixture::{self, ConsoleClient, csrf_of, location};
use crate::helpers::{ADMIN_TOKEN, VIEWER_TOKEN, parse_csv, spawn_app};

/// Every page a signed-in user can open, with its path.
pub const PAGES: [&str; 11] = [
    "/console",
    "/console/orders",
    "/console/orders/ord-1001",
    "/console/discrepancies",
    "/console/payouts",
    "/console/payouts/po_1ConsolePaid",
    "/console/payouts/po_1ConsoleFailed",
    "/console/alerts",
    "/console/merchants",
    "/console/dead-letters",
    "/console/audit",
];

#[sqlx::test]
async fn every_page_shows_the_books_and_never_a_secret(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    fixture::seed(&pool).await;
    let mut browser = ConsoleClient::new(app.admin_addr);
    browser.sign_in(VIEWER_TOKEN).await;
    for path in PAGES {
        let html = browser.page(path).await;
        assert!(
            !html.contains(fixture::NEVER_SHOWN),
            "{path} shows a secret"
        );
        assert!(
            !html.contains(VIEWER_TOKEN) && !html.contains(ADMIN_TOKEN),
            "{path}"
        );
        assert_eq!(html.matches("<h1").count(), 1, "{path}: one h1");
    }

    // The merchant with Stripe on last heard from Stripe two days ago.
    sqlx::query("update inbox_events set received_at = now() - interval '2 days'")
        .execute(&pool)
        .await
        .expect("age events");
    let overview = browser.page("/console").await;
    assert!(
        overview.contains("awaiting payment"),
        "order counts by status"
    );
    assert!(
        overview.contains("Amount mismatch"),
        "open discrepancies by kind"
    );
    assert!(
        !overview.contains("Duplicate payment"),
        "resolved ones are not open"
    );
    assert!(overview.contains("No bank account"), "open alerts by kind");
    assert_eq!(
        overview.matches("class=\"stale\"").count(),
        1,
        "only the merchant with Stripe on is stale"
    );
    assert!(overview.contains("no event for more than 24 hours"));

    let order = browser.page("/console/orders/ord-1001").await;
    assert!(order.contains("€1,234.56"), "amount in English money");
    assert!(order.contains("evt_1ConsolePiOk") && order.contains("evt_1ConsoleCharge"));
    assert!(
        !order.contains("evt_1ConsoleOther"),
        "another PaymentIntent's event"
    );
    assert!(order.contains("po_1ConsolePaid"), "the settling payout");
    assert!(
        order.contains("Amount mismatch") && order.contains("Duplicate payment"),
        "open and resolved discrepancies"
    );
    assert!(
        order.contains("title=\"") && order.contains(" UTC\""),
        "UTC on hover"
    );

    let json = browser
        .page("/console/orders/ord-1001/events/prof_consoletest0000000000001/evt_1ConsolePiOk")
        .await;
    assert!(
        json.contains("&quot;payment_intent&quot;") || json.contains("\"payment_intent\""),
        "{json}"
    );
    let foreign = browser
        .get("/console/orders/ord-1001/events/prof_consoletest0000000000001/evt_1ConsoleOther")
        .await;
    assert_eq!(
        foreign.status(),
        StatusCode::NOT_FOUND,
        "not an event of this order"
    );

    let payout = browser.page("/console/payouts/po_1ConsolePaid").await;
    for shown in [
        "€1,234.56",
        "-€22.64",
        "-€36.00",
        "€1,175.92",
        "ord-1001",
        "txn_1A",
    ] {
        assert!(payout.contains(shown), "payout page lacks {shown}");
    }
    // The payout's own balance transaction is listed but not summed: the net is the amount.
    let summary = &payout[payout.find("id=\"payout-summary\"").expect("summary")..];
    let summary = &summary[..summary.find("</dl>").expect("end of summary")];
    assert_eq!(
        summary.matches("€1,175.92").count(),
        2,
        "net and amount: {summary}"
    );
    let failed = browser.page("/console/payouts/po_1ConsoleFailed").await;
    assert!(failed.contains("The bank account has been closed."));

    let merchants = browser.page("/console/merchants").await;
    assert!(
        merchants.contains("pk_live … 4242"),
        "publishable key kind and last four"
    );
    assert!(
        !merchants.contains("pk_live_51Habcdefg"),
        "never the whole key"
    );
    assert!(merchants.contains("Next step"));
    assert!(merchants.contains("Link a bank account") || merchants.contains("Not known yet"));

    let yen = browser
        .page("/console/orders?merchant_id=pizzeria-napoli")
        .await;
    assert!(yen.contains("¥1,200"), "a zero-decimal currency");
    app.stop().await;
}

#[sqlx::test]
async fn italian_is_picked_from_accept_language_and_the_switch_is_remembered(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    fixture::seed(&pool).await;
    let form = ConsoleClient::new(app.admin_addr)
        .client
        .get(format!("http://{}/console/sign-in", app.admin_addr))
        .header("accept-language", "it-IT,it;q=0.9,en;q=0.5")
        .send()
        .await
        .expect("form");
    assert!(
        form.text()
            .await
            .expect("body")
            .contains("Accedi al back office")
    );

    let mut browser = ConsoleClient::new(app.admin_addr);
    browser.sign_in_with(VIEWER_TOKEN, "it-IT").await;
    let order = browser.page("/console/orders/ord-1001").await;
    assert!(order.contains("lang=\"it\""));
    assert!(
        order.contains("1.234,56\u{a0}€"),
        "euro formatting in Italian"
    );
    assert!(order.contains("pagato") && order.contains("Importo diverso"));

    let csrf = csrf_of(&order);
    let switched = browser
        .post(
            "/console/locale",
            &[
                ("csrf", csrf.as_str()),
                ("locale", "en"),
                ("back", "/console/orders/ord-1001"),
            ],
        )
        .await;
    assert_eq!(switched.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&switched), "/console/orders/ord-1001");
    let english = browser.page("/console/payouts").await;
    assert!(english.contains("lang=\"en\"") && english.contains("Payouts"));

    let elsewhere = browser
        .post(
            "/console/locale",
            &[
                ("csrf", csrf.as_str()),
                ("locale", "it"),
                ("back", "https://evil.example/"),
            ],
        )
        .await;
    assert_eq!(
        location(&elsewhere),
        "/console",
        "never sent off the console"
    );
    let bad = browser
        .post(
            "/console/locale",
            &[("csrf", csrf.as_str()), ("locale", "de")],
        )
        .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let forged = browser
        .post("/console/locale", &[("csrf", "x"), ("locale", "it")])
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    app.stop().await;
}

#[sqlx::test]
async fn lists_filter_page_and_refuse_bad_filters_with_400(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    fixture::seed(&pool).await;
    fixture::many_orders(&pool, fixture::OTHER_MERCHANT, 120).await;
    let mut browser = ConsoleClient::new(app.admin_addr);
    browser.sign_in(VIEWER_TOKEN).await;

    let paid = browser.page("/console/orders?status=paid").await;
    assert!(paid.contains("ord-1001") && !paid.contains("ord-1002"));
    let roma = browser
        .page("/console/orders?merchant_id=bar-roma&status=&from=&to=")
        .await;
    assert!(roma.contains("ord-1002") && !roma.contains("bulk-"));

    let first = browser
        .page("/console/orders?merchant_id=pizzeria-napoli")
        .await;
    let next = first
        .split("href=\"")
        .find_map(|s| s.split('"').next().filter(|h| h.contains("cursor=")))
        .expect("a next page link")
        .replace("&amp;", "&");
    assert!(next.contains("merchant_id=pizzeria-napoli"), "{next}");
    let second = browser.page(&next).await;
    let ids = |html: &str| -> Vec<String> {
        html.split("href=\"/console/orders/")
            .skip(1)
            .filter_map(|s| s.split('"').next().map(str::to_owned))
            .collect()
    };
    let (a, b) = (ids(&first), ids(&second));
    assert_eq!(a.len(), 50);
    assert!(
        !b.is_empty() && b.iter().all(|id| !a.contains(id)),
        "pages do not overlap"
    );

    for (path, says) in [
        ("/console/orders?status=lost", "status must be one of"),
        ("/console/orders?from=03/12/2026", "YYYY-MM-DD"),
        ("/console/orders?merchant_id=has%20space", "merchant_id"),
        ("/console/orders?cursor=bm9wZQ", "cursor"),
        ("/console/payouts?status=nope", "status must be one of"),
        ("/console/discrepancies?kind=nope", "kind must be one of"),
        ("/console/alerts?status=maybe", "status must be one of"),
        (
            "/console/dead-letters?handler=nope",
            "handler must be one of",
        ),
        ("/console/merchants?status=nope", "status must be one of"),
        ("/console/orders.csv?separator=tab", "separator"),
    ] {
        let response = browser.get(path).await;
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{path}");
        let html = response.text().await.expect("body");
        assert!(html.contains(says), "{path}: {html}");
    }
    for path in [
        "/console/orders/no-such-order",
        "/console/orders/bad%20id",
        "/console/payouts/po_1Nope",
        "/console/payouts/not-a-payout",
    ] {
        let response = browser.get(path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(
            response.text().await.expect("body").contains("Not found."),
            "{path}"
        );
    }
    app.stop().await;
}

#[sqlx::test]
async fn a_csv_download_holds_exactly_the_filtered_rows_for_excel(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    fixture::seed(&pool).await;
    // More than one read of the download (1000 rows each).
    fixture::many_orders(&pool, fixture::OTHER_MERCHANT, 1_500).await;
    let mut browser = ConsoleClient::new(app.admin_addr);
    browser.sign_in(VIEWER_TOKEN).await;

    let response = browser
        .get("/console/orders.csv?merchant_id=pizzeria-napoli&separator=semicolon")
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-disposition"]
            .to_str()
            .expect("ascii")
            .contains("orders.csv")
    );
    let bytes = response.bytes().await.expect("body");
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "UTF-8 BOM, for Excel");
    let text = std::str::from_utf8(&bytes[3..]).expect("utf-8");
    let rows = parse_csv(&text.replace(';', ","));
    assert_eq!(rows[0][0], "merchant_id");
    assert_eq!(rows.len() - 1, 1_502, "every filtered row, no other");
    assert!(rows[1..].iter().all(|r| r[0] == "pizzeria-napoli"));
    let mut ids: Vec<&str> = rows[1..].iter().map(|r| r[1].as_str()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 1_502, "no row twice");

    let comma = browser
        .get("/console/discrepancies.csv?separator=comma&status=open")
        .await;
    let text = comma.text().await.expect("body");
    let rows = parse_csv(text.trim_start_matches('\u{feff}'));
    assert_eq!(rows.len(), 2, "header and the open discrepancy: {text}");
    assert_eq!(rows[1][1], "amount_mismatch");
    for path in [
        "/console/payouts.csv",
        "/console/alerts.csv",
        "/console/dead-letters.csv",
        "/console/audit.csv",
        "/console/payouts/po_1ConsolePaid/lines.csv",
    ] {
        let response = browser.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        let text = response.text().await.expect("body");
        assert!(text.lines().count() >= 2, "{path}: {text}");
    }
    app.stop().await;
}

#[sqlx::test]
async fn v1_lists_answer_csv_for_format_csv_and_semicolons_with_a_bom(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    fixture::seed(&pool).await;
    let get = |query: &'static str| {
        let app = &app;
        async move {
            app.client
                .get(app.url(&format!("/v1/reconciliation/orders{query}")))
                .bearer_auth(VIEWER_TOKEN)
                .send()
                .await
                .expect("GET")
        }
    };
    let csv = get("?format=csv&merchant_id=bar-roma").await;
    assert_eq!(csv.status(), StatusCode::OK);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("text/csv")
    );
    let text = csv.text().await.expect("body");
    assert!(text.starts_with("merchant_id,order_id,"), "{text}");
    assert_eq!(parse_csv(&text).len(), 3);

    let excel = get("?format=csv&separator=semicolon").await;
    let bytes = excel.bytes().await.expect("body");
    assert!(bytes.starts_with("\u{feff}merchant_id;order_id;".as_bytes()));

    let json = get("?format=json").await;
    assert!(
        json.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .starts_with("application/json")
    );
    for bad in ["?format=xml", "?format=csv&separator=tab"] {
        assert_eq!(get(bad).await.status(), StatusCode::BAD_REQUEST, "{bad}");
    }
    for path in [
        "/v1/reconciliation/discrepancies?format=csv&from=2026-01-01T00:00:00Z",
        "/v1/alerts?format=csv&to=2099-01-01T00:00:00Z",
        "/v1/payouts?format=csv",
    ] {
        let response = app
            .client
            .get(app.url(path))
            .bearer_auth(VIEWER_TOKEN)
            .send()
            .await
            .expect("GET");
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(
            response.text().await.expect("body").lines().count() >= 2,
            "{path}"
        );
    }
    app.stop().await;
}

#[sqlx::test]
async fn a_viewer_is_refused_redrive_and_an_admin_redrives_after_confirming(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    fixture::seed(&pool).await;
    let mut viewer = ConsoleClient::new(app.admin_addr);
    viewer.sign_in(VIEWER_TOKEN).await;
    let list = viewer.page("/console/dead-letters").await;
    assert!(list.contains(fixture::DEAD_EVENT));
    assert!(list.contains("Redriving needs an admin token"));
    let confirm = viewer
        .get("/console/dead-letters/redrive?event_id=evt_1ConsoleDead")
        .await;
    assert_eq!(confirm.status(), StatusCode::FORBIDDEN);
    let csrf = csrf_of(&list);
    let refused = viewer
        .post(
            "/console/dead-letters/redrive",
            &[("csrf", csrf.as_str()), ("event_id", fixture::DEAD_EVENT)],
        )
        .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(refused.text().await.expect("body").contains("read-only"));

    let mut admin = ConsoleClient::new(app.admin_addr);
    admin.sign_in(ADMIN_TOKEN).await;
    let confirm = admin
        .page("/console/dead-letters/redrive?event_id=evt_1ConsoleDead")
        .await;
    assert!(confirm.contains("Confirm redrive") && confirm.contains(fixture::DEAD_EVENT));
    let forged = admin
        .post(
            "/console/dead-letters/redrive",
            &[("csrf", "forged"), ("event_id", fixture::DEAD_EVENT)],
        )
        .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);
    let bad = admin
        .post(
            "/console/dead-letters/redrive",
            &[
                ("csrf", csrf_of(&confirm).as_str()),
                ("event_id", "evt bad"),
            ],
        )
        .await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
    let still: Option<time::OffsetDateTime> =
        sqlx::query_scalar("select redriven_at from dead_letters where event_id = $1")
            .bind(fixture::DEAD_EVENT)
            .fetch_one(&pool)
            .await
            .expect("row");
    assert!(still.is_none(), "nothing redriven by refused requests");

    let done = admin
        .post(
            "/console/dead-letters/redrive",
            &[
                ("csrf", csrf_of(&confirm).as_str()),
                ("event_id", fixture::DEAD_EVENT),
            ],
        )
        .await;
    assert_eq!(
        done.status(),
        StatusCode::SEE_OTHER,
        "{}",
        done.text().await.unwrap_or_default()
    );
    let redriven: Option<time::OffsetDateTime> =
        sqlx::query_scalar("select redriven_at from dead_letters where event_id = $1")
            .bind(fixture::DEAD_EVENT)
            .fetch_one(&pool)
            .await
            .expect("row");
    assert!(redriven.is_some());
    let audit = admin.page("/console/audit").await;
    assert!(audit.contains("dead_letters.redrive") && audit.contains("admin"));
    app.stop().await;
}
