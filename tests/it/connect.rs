//! Connect-style routing: one platform endpoint, events routed by their `account`.

use std::time::Duration;

use accredito::stripe::signature;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::*;

fn connect_event(id: &str, account: &str) -> String {
    let mut event: Value = serde_json::from_str(&stripe_event(
        id,
        "charge.succeeded",
        true,
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
