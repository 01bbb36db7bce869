//! Connect-style routing: one platform endpoint, events routed by their `account`.

use std::time::Duration;

use accredito::stripe::signature;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::fake_stripe::{AccountSpec, FakeStripe, VALID_KEY};
use crate::helpers::*;
use crate::merchants::PK_LIVE;

/// A Connect event. Stripe's copies of one event are identical, `created` included (it is part
/// of the event's identity in the inbox): every copy built here has the same, today's midnight.
fn connect_event(id: &str, account: &str) -> String {
    let created = now() - now().rem_euclid(86_400);
    let mut event: Value = serde_json::from_str(&stripe_event_at(
        id,
        "charge.succeeded",
        true,
        created,
        json!({ "id": "ch_1", "object": "charge" }),
    ))
    .expect("json");
    event["account"] = account.into();
    event.to_string()
}

async fn deliver_connect(app: &TestApp, secret: &str, body: &str) -> reqwest::Response {
    let header = signature::sign(body.as_bytes(), secret, now());
    app.client
        .post(app.url("/webhooks/stripe/connect"))
        .header("Stripe-Signature", header)
        .body(body.to_owned())
        .send()
        .await
        .expect("request")
}

#[sqlx::test]
async fn connect_events_go_to_the_profile_of_their_account_and_unknown_ones_are_kept(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let profile = app.create_profile("m_1", &random_secret()).await;
    sqlx::query("update stripe_profiles set stripe_account_id = 'acct_known' where id = $1")
        .bind(&profile)
        .execute(&pool)
        .await
        .expect("account id");

    let routed =
        deliver_connect(&app, CONNECT_SECRET, &connect_event("evt_c1", "acct_known")).await;
    assert_eq!(routed.status(), 200);
    let owner: String =
        sqlx::query_scalar("select profile_id from inbox_events where event_id = 'evt_c1'")
            .fetch_one(&pool)
            .await
            .expect("stored under the profile");
    assert_eq!(owner, profile);
    eventually(
        "published like any event",
        Duration::from_secs(20),
        || async { app.is_published("evt_c1").await.then_some(()) },
    )
    .await;

    let unknown = deliver_connect(
        &app,
        CONNECT_SECRET,
        &connect_event("evt_c2", "acct_nobody"),
    )
    .await;
    assert_eq!(unknown.status(), 200, "kept, so Stripe stops retrying");
    assert_eq!(
        unknown.json::<Value>().await.expect("json")["duplicate"],
        false
    );
    let kept: String = sqlx::query_scalar(
        "select stripe_account_id from back_office.unrouted_events where event_id = 'evt_c2'",
    )
    .fetch_one(&pool)
    .await
    .expect("reported");
    assert_eq!(kept, "acct_nobody");
    let again = deliver_connect(
        &app,
        CONNECT_SECRET,
        &connect_event("evt_c2", "acct_nobody"),
    )
    .await;
    assert_eq!(
        again.json::<Value>().await.expect("json")["duplicate"],
        true
    );
    assert!(
        app.metrics()
            .await
            .contains(r#"accredito_webhook_events_total{outcome="unrouted"} 1"#)
    );

    let forged = deliver_connect(
        &app,
        "whsec_not_the_platform",
        &connect_event("evt_c3", "acct_known"),
    )
    .await;
    assert_eq!(
        forged.status(),
        400,
        "verified with the platform's secret only"
    );
    let not_connect = deliver_connect(
        &app,
        CONNECT_SECRET,
        &stripe_event(
            "evt_c4",
            "charge.succeeded",
            true,
            json!({"id": "ch_1", "object": "charge"}),
        ),
    )
    .await;
    assert_eq!(
        not_connect.status(),
        400,
        "an event without `account` is not a Connect event"
    );
    let stored: i64 = sqlx::query_scalar("select count(*) from inbox_events")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(stored, 1);
    app.stop().await;
}

async fn inbox_owner(pool: &PgPool, event_id: &str) -> Vec<String> {
    sqlx::query_scalar("select profile_id from inbox_events where event_id = $1")
        .bind(event_id)
        .fetch_all(pool)
        .await
        .expect("inbox")
}

async fn keep_unrouted(pool: &PgPool, account: &str, event_id: &str) {
    sqlx::query(
        "insert into unrouted_events (stripe_account_id, event_id, event_type, raw_body)
         values ($1, $2, 'charge.succeeded', $3)",
    )
    .bind(account)
    .bind(event_id)
    .bind(connect_event(event_id, account).into_bytes())
    .execute(pool)
    .await
    .expect("kept");
}

#[sqlx::test]
async fn unrouted_events_are_routed_once_a_profile_has_their_account(pool: PgPool) {
    let fake = FakeStripe::builder()
        .account(AccountSpec::ready("acct_late"))
        .start()
        .await;
    let options = AppOptions {
        stripe_api_base: Some(fake.base_url()),
        ..AppOptions::default()
    };
    let app = spawn_app_with(pool.clone(), options).await;
    let early = deliver_connect(&app, CONNECT_SECRET, &connect_event("evt_l1", "acct_late")).await;
    assert_eq!(early.status(), 200);
    assert!(inbox_owner(&pool, "evt_l1").await.is_empty(), "kept aside");

    // Saving keys of that account routes what was waiting, and the relay publishes it.
    let profile = app.create_profile("m_1", &random_secret()).await;
    let saved = app
        .client
        .put(app.url(&format!("/v1/profiles/{profile}/keys")))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "publishable_key": PK_LIVE, "secret_key": VALID_KEY }))
        .send()
        .await
        .expect("keys");
    assert_eq!(saved.status(), 200);
    assert_eq!(inbox_owner(&pool, "evt_l1").await, [profile.as_str()]);
    let waiting: i64 = sqlx::query_scalar("select count(*) from unrouted_events")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(waiting, 0);
    eventually(
        "the routed event is published",
        Duration::from_secs(20),
        || async { app.is_published("evt_l1").await.then_some(()) },
    )
    .await;

    // What the sweep finds later (one kept while the keys were being saved, and a second
    // copy of one already routed) is routed once, never duplicated; other accounts wait.
    keep_unrouted(&pool, "acct_late", "evt_l2").await;
    keep_unrouted(&pool, "acct_late", "evt_l1").await;
    keep_unrouted(&pool, "acct_unknown", "evt_l3").await;
    // More rows that no longer parse than one batch holds do not hold up the ones after them.
    sqlx::query(
        "insert into unrouted_events (stripe_account_id, event_id, event_type, raw_body)
         select 'acct_late', 'evt_bad_' || g, 'charge.succeeded', '{}'::bytea
         from generate_series(1, 450) g",
    )
    .execute(&pool)
    .await
    .expect("unparseable rows");
    keep_unrouted(&pool, "acct_late", "evt_l4").await;
    let routed = accredito::ingest::connect::route_unrouted(&pool, None)
        .await
        .expect("routed");
    assert_eq!(routed, 3);
    for event in ["evt_l1", "evt_l2", "evt_l4"] {
        assert_eq!(
            inbox_owner(&pool, event).await,
            [profile.as_str()],
            "{event}"
        );
    }
    let left: Vec<String> = sqlx::query_scalar(
        "select event_id from unrouted_events where event_id not like 'evt_bad_%'",
    )
    .fetch_all(&pool)
    .await
    .expect("left");
    assert_eq!(left, ["evt_l3"]);
    let bad: i64 = sqlx::query_scalar("select count(*) from unrouted_events")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(bad, 451, "kept and reported, not lost");
    app.stop().await;
}

#[sqlx::test]
async fn a_deleted_profile_is_no_longer_routed_to(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let profile = app.create_profile("m_1", &random_secret()).await;
    sqlx::query("update stripe_profiles set stripe_account_id = 'acct_gone' where id = $1")
        .bind(&profile)
        .execute(&pool)
        .await
        .expect("account id");
    let deleted = app
        .client
        .delete(app.url(&format!("/v1/profiles/{profile}")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("delete");
    assert_eq!(deleted.status(), 200);

    let response =
        deliver_connect(&app, CONNECT_SECRET, &connect_event("evt_g1", "acct_gone")).await;
    assert_eq!(response.status(), 200);
    assert!(inbox_owner(&pool, "evt_g1").await.is_empty());
    keep_unrouted(&pool, "acct_gone", "evt_g2").await;
    let routed = accredito::ingest::connect::route_unrouted(&pool, None)
        .await
        .expect("routed");
    assert_eq!(routed, 0);
    let kept: i64 = sqlx::query_scalar("select count(*) from unrouted_events")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(kept, 2, "kept and reported, not lost");
    app.stop().await;
}

/// Whether the inbox row is flagged, and the open `livemode_mismatch` subjects.
async fn livemode_flags(pool: &PgPool, event_id: &str) -> (bool, Vec<String>) {
    let flagged: bool =
        sqlx::query_scalar("select livemode_mismatch from inbox_events where event_id = $1")
            .bind(event_id)
            .fetch_one(pool)
            .await
            .expect("stored");
    let open: Vec<String> = sqlx::query_scalar(
        "select subject_id from discrepancies where kind = 'livemode_mismatch' and resolved_at is null",
    )
    .fetch_all(pool)
    .await
    .expect("discrepancies");
    (flagged, open)
}

#[sqlx::test]
async fn a_routed_event_in_the_wrong_mode_is_flagged_like_a_webhook(pool: PgPool) {
    let fake = FakeStripe::builder()
        .account(AccountSpec::ready("acct_mode"))
        .start()
        .await;
    let options = AppOptions {
        stripe_api_base: Some(fake.base_url()),
        ..AppOptions::default()
    };
    let app = spawn_app_with(pool.clone(), options).await;
    // A test-mode event for the account arrives before a live profile has it: kept aside.
    let mut event: Value =
        serde_json::from_str(&connect_event("evt_testmode", "acct_mode")).expect("json");
    event["livemode"] = false.into();
    let early = deliver_connect(&app, CONNECT_SECRET, &event.to_string()).await;
    assert_eq!(early.status(), 200);

    let profile = app.create_profile("m_1", &random_secret()).await;
    let saved = app
        .client
        .put(app.url(&format!("/v1/profiles/{profile}/keys")))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "publishable_key": PK_LIVE, "secret_key": VALID_KEY }))
        .send()
        .await
        .expect("keys");
    assert_eq!(saved.status(), 200);

    assert_eq!(inbox_owner(&pool, "evt_testmode").await, [profile.as_str()]);
    let (flagged, open) = livemode_flags(&pool, "evt_testmode").await;
    assert!(flagged, "stored as a mismatch, so never published");
    assert_eq!(open, [format!("{profile}/evt_testmode")]);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!app.is_published("evt_testmode").await);
    app.stop().await;
}
