//! Recovery: events Stripe lists whose webhooks never arrived are caught up; stored events
//! replayed are never applied twice.

use std::time::Duration;

use accredito::config::Role;
use serde_json::{Value, json};
use sqlx::PgPool;
use time::OffsetDateTime;

use crate::fake_stripe::{self, FakeStripe, VALID_KEY};
use crate::helpers::*;

const WAIT: Duration = Duration::from_secs(20);

async fn register_order(pool: &PgPool, order_id: &str) {
    accredito::reconcile::orders::register(
        pool,
        &accredito::db::orders::NewOrder {
            order_id,
            merchant_id: "m_1",
            amount: 1000,
            currency: "eur",
            placed_at: OffsetDateTime::now_utc(),
            description: None,
            payment_intent_id: None,
        },
    )
    .await
    .expect("register")
    .expect("same merchant");
}

fn succeeded(pi: &str, order: &str) -> Value {
    json!({
        "id": pi, "object": "payment_intent", "amount": 1000, "amount_received": 1000, "currency": "eur",
        "status": "succeeded", "metadata": { "order_id": order }, "latest_charge": format!("ch_{pi}"),
        "livemode": true
    })
}

/// Saves [`VALID_KEY`] as the profile's secret key, which the fake Stripe accepts.
async fn save_valid_key(app: &TestApp, profile: &str) {
    let response = app
        .client
        .put(app.url(&format!("/v1/profiles/{profile}/secret-key")))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "secret_key": VALID_KEY }))
        .send()
        .await
        .expect("set key");
    assert!(response.status().is_success(), "{}", response.status());
}

async fn order_status(pool: &PgPool, order_id: &str) -> String {
    sqlx::query_scalar("select status from back_office.order_reconciliation where order_id = $1")
        .bind(order_id)
        .fetch_one(pool)
        .await
        .expect("order")
}

#[sqlx::test]
async fn catch_up_stores_events_stripe_lists_whose_webhooks_never_arrived(pool: PgPool) {
    let t = now() - 120;
    let fake = FakeStripe::builder()
        .event(fake_stripe::event(
            "evt_missed_1",
            "payment_intent.succeeded",
            t,
            succeeded("pi_1", "o_1"),
        ))
        .event(fake_stripe::event(
            "evt_missed_2",
            "payment_intent.succeeded",
            t + 1,
            succeeded("pi_2", "o_2"),
        ))
        .start()
        .await;
    let options = AppOptions {
        roles: Role::all(),
        stripe_api_base: Some(fake.base_url()),
        ..AppOptions::default()
    };
    let app = spawn_app_with(pool.clone(), options).await;
    let secret = random_secret();
    let profile = app.create_profile("m_1", &secret).await;
    register_order(&pool, "o_1").await;
    register_order(&pool, "o_2").await;
    // One of the two webhooks did arrive: it must not be stored twice.
    let delivered = stripe_event_at(
        "evt_missed_2",
        "payment_intent.succeeded",
        true,
        t + 1,
        succeeded("pi_2", "o_2"),
    );
    assert_eq!(
        app.deliver(&profile, &secret, &delivered).await.status(),
        200
    );

    save_valid_key(&app, &profile).await;

    eventually(
        "the missed event is caught up and applied",
        WAIT,
        || async { (order_status(&pool, "o_1").await == "paid").then_some(()) },
    )
    .await;
    assert_eq!(order_status(&pool, "o_2").await, "paid");
    let stored: i64 = sqlx::query_scalar("select count(*) from inbox_events")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(stored, 2, "deduplicated like any delivery");
    let raw: Vec<u8> =
        sqlx::query_scalar("select raw_body from inbox_events where event_id = 'evt_missed_1'")
            .fetch_one(&pool)
            .await
            .expect("row");
    let listed: Value = serde_json::from_slice(&raw).expect("json");
    assert_eq!(listed["id"], "evt_missed_1");
    assert!(fake.requests("/v1/events") >= 1);
    app.stop().await;
}

#[sqlx::test]
async fn a_replay_republishes_stored_events_and_applies_nothing_twice(pool: PgPool) {
    let app = spawn_app_with(
        pool.clone(),
        AppOptions {
            roles: Role::all(),
            ..AppOptions::default()
        },
    )
    .await;
    let secret = random_secret();
    let profile = app.create_profile("m_1", &secret).await;
    register_order(&pool, "o_1").await;
    let body = stripe_event(
        "evt_r1",
        "payment_intent.succeeded",
        true,
        succeeded("pi_1", "o_1"),
    );
    assert_eq!(app.deliver(&profile, &secret, &body).await.status(), 200);
    eventually("applied", WAIT, || async {
        (order_status(&pool, "o_1").await == "paid").then_some(())
    })
    .await;

    let selection = accredito::relay::replay::Selection {
        profile_id: Some(&profile),
        ..Default::default()
    };
    let replayed = accredito::relay::replay::replay(
        &pool,
        &amqp_url(),
        &app.topology,
        &selection,
        None,
        accredito::progress::SILENT,
    )
    .await
    .expect("replay");

    assert_eq!(replayed, 1);
    eventually(
        "the replayed copy is acknowledged as already applied",
        WAIT,
        || async {
            app.metrics()
                .await
                .contains(
                    r#"accredito_worker_events_total{handler="orders",outcome="duplicate"} 1"#,
                )
                .then_some(())
        },
    )
    .await;
    let claims: i64 = sqlx::query_scalar("select count(*) from processed_events")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(claims, 1);
    assert_eq!(order_status(&pool, "o_1").await, "paid");
    app.stop().await;
}

#[sqlx::test]
async fn a_caught_up_event_in_the_wrong_mode_is_flagged_like_a_webhook(pool: PgPool) {
    let mut listed = fake_stripe::event(
        "evt_missed_test",
        "payment_intent.succeeded",
        now() - 60,
        succeeded("pi_t", "o_t"),
    );
    listed["livemode"] = false.into();
    let fake = FakeStripe::builder().event(listed).start().await;
    let options = AppOptions {
        roles: Role::all(),
        stripe_api_base: Some(fake.base_url()),
        ..AppOptions::default()
    };
    let app = spawn_app_with(pool.clone(), options).await;
    let profile = app.create_profile("m_1", &random_secret()).await;
    save_valid_key(&app, &profile).await;

    let flagged = eventually(
        "the listed test-mode event is stored and flagged",
        WAIT,
        || async {
            sqlx::query_scalar::<_, String>(
                "select subject_id from discrepancies
                 where kind = 'livemode_mismatch' and resolved_at is null",
            )
            .fetch_optional(&pool)
            .await
            .expect("discrepancies")
        },
    )
    .await;
    assert_eq!(flagged, format!("{profile}/evt_missed_test"));
    let mismatch: bool = sqlx::query_scalar(
        "select livemode_mismatch from inbox_events where event_id = 'evt_missed_test'",
    )
    .fetch_one(&pool)
    .await
    .expect("stored");
    assert!(mismatch, "stored, never published");
    assert!(!app.is_published("evt_missed_test").await);
    app.stop().await;
}

#[sqlx::test]
async fn replaying_an_event_that_is_not_stored_is_an_error(pool: PgPool) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_accredito"))
        .args(["replay", "--event", "evt_never_stored"])
        .env("DATABASE_URL", database_url_of(&pool))
        .env("AMQP_URL", amqp_url())
        .env("ACCREDITO_AMQP_PREFIX", unique_prefix())
        .output()
        .await
        .expect("runs");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("no stored event evt_never_stored to replay"),
        "{stderr}"
    );
}

/// Runs the `accredito` binary on the test's database, with `master_key` and the fake Stripe;
/// answers whether it succeeded, its standard output and its standard error.
async fn run_cli(
    pool: &PgPool,
    master_key: &str,
    stripe: &str,
    args: &[&str],
) -> (bool, String, String) {
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_accredito"))
        .args(args)
        .env("DATABASE_URL", database_url_of(pool))
        .env("ACCREDITO_MASTER_KEY", master_key)
        .env("STRIPE_API_BASE", stripe)
        .output()
        .await
        .expect("runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[sqlx::test]
async fn catch_up_all_covers_every_profile_with_a_key_and_reports_each(pool: PgPool) {
    let fake = FakeStripe::builder()
        .event(fake_stripe::event(
            "evt_missed_1",
            "payment_intent.succeeded",
            now() - 120,
            succeeded("pi_1", "o_1"),
        ))
        .start()
        .await;
    let master_key = accredito::crypto::SecretBox::generate_master_key();
    let options = AppOptions {
        roles: vec![Role::Ingest],
        stripe_api_base: Some(fake.base_url()),
        master_key: Some(master_key.clone()),
        ..AppOptions::default()
    };
    let app = spawn_app_with(pool.clone(), options).await;
    let with_key = app.create_profile("m_1", &random_secret()).await;
    let without_key = app.create_profile("m_2", &random_secret()).await;
    save_valid_key(&app, &with_key).await;

    let (ok, stdout, stderr) =
        run_cli(&pool, &master_key, &fake.base_url(), &["catch-up", "--all"]).await;
    assert!(ok, "{stdout}{stderr}");
    let printed: Value = serde_json::from_str(&stdout).expect("json");
    let reports = printed["profiles"].as_array().expect("profiles");
    assert_eq!(reports.len(), 1, "only the profile with a key: {printed}");
    assert_eq!(reports[0]["profile_id"], with_key.as_str());
    assert_eq!(reports[0]["listed"], 1);
    assert_eq!(reports[0]["stored"], 1);
    assert!(!stdout.contains(&without_key));
    assert!(
        !stderr.contains(" of "),
        "no progress line when standard error is not a terminal: {stderr}"
    );

    // Run again: listed again, stored once.
    let (ok, stdout, stderr) =
        run_cli(&pool, &master_key, &fake.base_url(), &["catch-up", "--all"]).await;
    assert!(ok, "{stdout}{stderr}");
    let printed: Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(printed["profiles"][0]["stored"], 0);
    let stored: i64 = sqlx::query_scalar("select count(*) from inbox_events")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(stored, 1);

    // A profile without a key, named alone, is an error that says why.
    let (ok, stdout, stderr) = run_cli(
        &pool,
        &master_key,
        &fake.base_url(),
        &["catch-up", "--profile", &without_key],
    )
    .await;
    assert!(!ok, "{stdout}");
    assert!(stderr.contains("catch-up failed"), "{stderr}");
    app.stop().await;
}

#[sqlx::test]
async fn read_commands_print_a_table_or_json_as_asked(pool: PgPool) {
    let master_key = accredito::crypto::SecretBox::generate_master_key();
    let options = AppOptions {
        roles: vec![Role::Ingest],
        master_key: Some(master_key.clone()),
        ..AppOptions::default()
    };
    let app = spawn_app_with(pool.clone(), options).await;
    let profile = app.create_profile("m_1", &random_secret()).await;
    let stripe = "http://127.0.0.1:9";

    let (ok, table, stderr) = run_cli(
        &pool,
        &master_key,
        stripe,
        &["merchant", "list", "--output", "table"],
    )
    .await;
    assert!(ok, "{stderr}");
    let lines: Vec<&str> = table.lines().collect();
    assert!(
        lines[0].starts_with("ID") && lines[0].contains("STRIPE_ENABLED"),
        "{table}"
    );
    assert!(
        lines[1].starts_with("m_1 ") && lines[1].contains("false"),
        "{table}"
    );

    // Not a terminal: JSON unless a table is asked for.
    let (ok, json_text, stderr) =
        run_cli(&pool, &master_key, stripe, &["profile", "show", &profile]).await;
    assert!(ok, "{stderr}");
    let shown: Value = serde_json::from_str(&json_text).expect("json by default in a pipe");
    assert_eq!(shown["id"], profile.as_str());
    let (ok, table, stderr) = run_cli(
        &pool,
        &master_key,
        stripe,
        &["profile", "show", &profile, "--output", "table"],
    )
    .await;
    assert!(ok, "{stderr}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with("merchant_id") && l.ends_with("m_1")),
        "{table}"
    );
    assert!(table.contains("\nwebhook_secrets:\n"), "{table}");
    assert!(!table.contains("whsec_"), "never a secret: {table}");

    let (ok, table, stderr) = run_cli(
        &pool,
        &master_key,
        stripe,
        &["dlq", "list", "--output", "table"],
    )
    .await;
    assert!(ok, "{stderr}");
    assert_eq!(table, "(none)\n");
    let (ok, _, stderr) = run_cli(
        &pool,
        &master_key,
        stripe,
        &["dlq", "list", "--output", "xml"],
    )
    .await;
    assert!(!ok);
    assert!(
        stderr.contains("table") && stderr.contains("json"),
        "{stderr}"
    );
    app.stop().await;
}
