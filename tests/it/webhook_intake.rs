//! `POST /webhooks/stripe/{profile_id}`: verified, stored once, published once.

use std::time::Duration;

use accredito::domain::StripeMode;
use accredito::stripe::signature;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::*;

#[sqlx::test]
async fn valid_event_is_stored_once_and_published_once_with_routing_key_and_headers(pool: PgPool) {
    let app = spawn_app(pool).await;
    let secret = random_secret();
    let profile = app.create_profile("m_1", &secret).await;
    let mut orders = app.queue("orders").await;
    let body = stripe_event(
        "evt_1",
        "payment_intent.succeeded",
        true,
        payment_intent("pi_1", "succeeded", 1250, "o_1"),
    );

    let response = app.deliver(&profile, &secret, &body).await;

    assert_eq!(response.status(), 200);
    let receipt: Value = response.json().await.expect("json");
    assert_eq!(receipt, json!({ "received": true, "duplicate": false }));
    let stored: (Vec<u8>, String, String) = sqlx::query_as(
        "select raw_body, merchant_id, event_type from inbox_events where event_id = 'evt_1'",
    )
    .fetch_one(&app.pool)
    .await
    .expect("stored");
    assert_eq!(
        stored.0,
        body.as_bytes(),
        "the raw body is kept byte for byte"
    );
    assert_eq!(
        (stored.1.as_str(), stored.2.as_str()),
        ("m_1", "payment_intent.succeeded")
    );

    let message = orders
        .next(Duration::from_secs(10))
        .await
        .expect("published");
    assert_eq!(message.message_id, "evt_1");
    assert_eq!(message.routing_key, "stripe.payment_intent.succeeded");
    assert!(message.persistent);
    assert_eq!(message.body, body.as_bytes());
    assert_eq!(message.headers["profile_id"], profile.as_str());
    assert_eq!(message.headers["merchant_id"], "m_1");
    assert_eq!(message.headers["event_type"], "payment_intent.succeeded");
    let signature = message.headers["accredito_signature"]
        .as_str()
        .unwrap_or_default();
    assert!(
        signature.starts_with("v1="),
        "signed by the relay: {signature:?}"
    );
    eventually("row marked published", Duration::from_secs(5), || async {
        app.is_published("evt_1").await.then_some(())
    })
    .await;

    // Nothing else was published for it: the next message is a later event.
    let sentinel = stripe_event(
        "evt_2",
        "charge.succeeded",
        true,
        json!({"id": "ch_1", "object": "charge"}),
    );
    assert_eq!(
        app.deliver(&profile, &secret, &sentinel).await.status(),
        200
    );
    assert_eq!(orders.ids_until("evt_2").await, vec!["evt_2"]);
    app.stop().await;
}

#[sqlx::test]
async fn duplicate_delivery_is_acknowledged_and_not_republished(pool: PgPool) {
    let app = spawn_app(pool).await;
    let secret = random_secret();
    let profile = app.create_profile("m_1", &secret).await;
    let mut orders = app.queue("orders").await;
    let body = stripe_event(
        "evt_dup",
        "charge.refunded",
        true,
        json!({"id": "ch_1", "object": "charge"}),
    );

    let first = app.deliver(&profile, &secret, &body).await;
    assert_eq!(
        first.json::<Value>().await.expect("json")["duplicate"],
        false
    );
    assert_eq!(
        orders
            .next(Duration::from_secs(10))
            .await
            .expect("published")
            .message_id,
        "evt_dup"
    );

    // Stripe retries with a fresh signature timestamp; the body is the same event.
    for _ in 0..3 {
        let again = app.deliver(&profile, &secret, &body).await;
        assert_eq!(again.status(), 200);
        assert_eq!(
            again.json::<Value>().await.expect("json"),
            json!({ "received": true, "duplicate": true })
        );
    }
    assert_eq!(app.inbox_count().await, 1);
    let sentinel = stripe_event(
        "evt_after",
        "charge.succeeded",
        true,
        json!({"id": "ch_2", "object": "charge"}),
    );
    app.deliver(&profile, &secret, &sentinel).await;
    assert_eq!(
        orders.ids_until("evt_after").await,
        vec!["evt_after"],
        "the duplicate was not republished"
    );
    app.stop().await;
}

#[sqlx::test]
async fn concurrent_copies_of_one_event_store_one_row(pool: PgPool) {
    let app = spawn_app(pool).await;
    let secret = random_secret();
    let profile = app.create_profile("m_1", &secret).await;
    let body = stripe_event(
        "evt_race",
        "charge.succeeded",
        true,
        json!({"id": "ch_1", "object": "charge"}),
    );

    let deliveries = (0..20).map(|_| app.deliver(&profile, &secret, &body));
    let receipts = futures_util::future::join_all(deliveries).await;

    let mut new = 0;
    for r in receipts {
        assert_eq!(r.status(), 200);
        if r.json::<Value>().await.expect("json")["duplicate"] == false {
            new += 1;
        }
    }
    assert_eq!(new, 1, "exactly one delivery is told it was new");
    assert_eq!(app.inbox_count().await, 1);
    app.stop().await;
}

#[sqlx::test]
async fn every_verification_failure_is_a_400_that_leaves_nothing_behind(pool: PgPool) {
    let app = spawn_app(pool).await;
    let secret = random_secret();
    let profile = app.create_profile("m_1", &secret).await;
    let mut orders = app.queue("orders").await;
    let body = stripe_event(
        "evt_bad",
        "charge.succeeded",
        true,
        json!({"id": "ch_1", "object": "charge"}),
    );
    let reencoded =
        serde_json::to_string_pretty(&serde_json::from_str::<Value>(&body).expect("json"))
            .expect("json");
    let t = now();
    let valid = signature::sign(body.as_bytes(), &secret, t);
    let v1 = valid.split("v1=").nth(1).expect("v1").to_owned();

    let cases: Vec<(&str, String, Option<String>)> = vec![
        ("missing_header", body.clone(), None),
        ("missing_header", body.clone(), Some(String::new())),
        (
            "malformed_header",
            body.clone(),
            Some("not a signature".into()),
        ),
        ("malformed_header", body.clone(), Some(format!("v1={v1}"))),
        (
            "no_v1_signature",
            body.clone(),
            Some(format!("t={t},v0={v1}")),
        ),
        (
            "signature_mismatch",
            body.clone(),
            Some(signature::sign(body.as_bytes(), "whsec_other", t)),
        ),
        ("signature_mismatch", reencoded.clone(), Some(valid.clone())),
        (
            "timestamp_outside_tolerance",
            body.clone(),
            Some(signature::sign(body.as_bytes(), &secret, t - 301)),
        ),
        (
            "empty_payload",
            String::new(),
            Some(signature::sign(b"", &secret, t)),
        ),
    ];
    for (reason, body, header) in cases {
        let response = app.deliver_raw(&profile, body, header.as_deref()).await;
        assert_eq!(response.status(), 400, "{reason}");
        let error: Value = response.json().await.expect("json error body");
        assert_eq!(error["error"], reason);
        assert!(!error["message"].as_str().expect("message").is_empty());
        assert!(
            !error.to_string().contains(&secret),
            "the secret never appears in a response"
        );
    }
    let mismatch = app.deliver_raw(&profile, reencoded, Some(&valid)).await;
    let message = mismatch.json::<Value>().await.expect("json")["message"]
        .as_str()
        .expect("message")
        .to_owned();
    assert!(
        message.contains("raw"),
        "a mismatch explains that the raw body must arrive unchanged: {message}"
    );

    assert_eq!(
        app.inbox_count().await,
        0,
        "nothing unverified is stored (G6)"
    );
    let sentinel = stripe_event(
        "evt_good",
        "charge.succeeded",
        true,
        json!({"id": "ch_1", "object": "charge"}),
    );
    app.deliver(&profile, &secret, &sentinel).await;
    assert_eq!(
        orders.ids_until("evt_good").await,
        vec!["evt_good"],
        "nothing unverified is published (G6)"
    );
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(
            r#"accredito_webhook_verification_failures_total{reason="signature_mismatch"} 3"#
        ),
        "{metrics}"
    );
    app.stop().await;
}

#[sqlx::test]
async fn verified_body_that_is_not_a_stripe_event_is_a_400(pool: PgPool) {
    let app = spawn_app(pool).await;
    let secret = random_secret();
    let profile = app.create_profile("m_1", &secret).await;
    let cases = [
        ("invalid_json", "this is not JSON".to_owned()),
        ("not_a_stripe_event", json!({"id": "evt_1", "object": "event"}).to_string()),
        ("not_a_stripe_event", json!({"id": "evt_1", "type": "charge.succeeded", "created": 1, "livemode": true, "data": {}}).to_string()),
        ("thin_event_payload", json!({"id": "evt_1", "object": "v2.core.event", "type": "v1.meter.x"}).to_string()),
    ];
    for (reason, body) in cases {
        let response = app.deliver(&profile, &secret, &body).await;
        assert_eq!(response.status(), 400, "{body}");
        assert_eq!(
            response.json::<Value>().await.expect("json")["error"],
            reason,
            "{body}"
        );
    }
    assert_eq!(app.inbox_count().await, 0);
    app.stop().await;
}

#[sqlx::test]
async fn unknown_profile_is_404(pool: PgPool) {
    let app = spawn_app(pool).await;
    let body = stripe_event(
        "evt_1",
        "charge.succeeded",
        true,
        json!({"id": "ch_1", "object": "charge"}),
    );
    for profile in [
        "prof_000000000000000000000000",
        "not-a-profile-id",
        "prof_x",
    ] {
        let response = app.deliver(profile, "whsec_x", &body).await;
        assert_eq!(response.status(), 404, "{profile}");
        assert_eq!(
            response.json::<Value>().await.expect("json")["error"],
            "unknown_profile"
        );
    }
    assert_eq!(app.inbox_count().await, 0);
    app.stop().await;
}

#[sqlx::test]
async fn oversize_body_is_413_and_not_stored(pool: PgPool) {
    let app = spawn_app(pool).await;
    let secret = random_secret();
    let profile = app.create_profile("m_1", &secret).await;
    let padding = "x".repeat(512 * 1024);
    let body = stripe_event(
        "evt_big",
        "charge.succeeded",
        true,
        json!({"id": "ch_1", "object": "charge", "description": padding}),
    );

    let response = app.deliver(&profile, &secret, &body).await;

    assert_eq!(response.status(), 413);
    assert_eq!(
        response.json::<Value>().await.expect("json")["error"],
        "payload_too_large"
    );
    assert_eq!(app.inbox_count().await, 0);
    // Just under the limit is fine.
    let padding = "x".repeat(500 * 1024);
    let body = stripe_event(
        "evt_fits",
        "charge.succeeded",
        true,
        json!({"id": "ch_1", "object": "charge", "description": padding}),
    );
    assert_eq!(app.deliver(&profile, &secret, &body).await.status(), 200);
    app.stop().await;
}

#[sqlx::test]
async fn rotated_secret_verifies_with_either_secret_until_the_old_one_expires(pool: PgPool) {
    let app = spawn_app(pool).await;
    let old = random_secret();
    let new = random_secret();
    let profile = app.create_profile("m_1", &old).await;
    let added = app
        .admin_post(
            &format!("/v1/profiles/{profile}/webhook-secrets"),
            json!({ "webhook_secret": new }),
        )
        .await;
    assert_eq!(added.status(), 201);
    let old_id = sqlx::query_scalar::<_, i64>("select min(id) from webhook_secrets")
        .fetch_one(&app.pool)
        .await
        .expect("id");

    let by_old = stripe_event(
        "evt_old",
        "charge.succeeded",
        true,
        json!({"id": "ch_1", "object": "charge"}),
    );
    assert_eq!(app.deliver(&profile, &old, &by_old).await.status(), 200);
    let by_new = stripe_event(
        "evt_new",
        "charge.succeeded",
        true,
        json!({"id": "ch_2", "object": "charge"}),
    );
    assert_eq!(app.deliver(&profile, &new, &by_new).await.status(), 200);
    // During a rollover Stripe signs with both: `t=..,v1=<old>,v1=<new>`.
    let both = stripe_event(
        "evt_both",
        "charge.succeeded",
        true,
        json!({"id": "ch_3", "object": "charge"}),
    );
    let t = now();
    let sig_old = signature::sign(both.as_bytes(), &old, t);
    let sig_new = signature::sign(both.as_bytes(), &new, t);
    let header = format!("{sig_old},v1={}", sig_new.split("v1=").nth(1).expect("v1"));
    assert_eq!(
        app.deliver_raw(&profile, both, Some(&header))
            .await
            .status(),
        200
    );

    let expired = app
        .admin_post(
            &format!("/v1/profiles/{profile}/webhook-secrets/{old_id}/expire"),
            json!({}),
        )
        .await;
    assert_eq!(expired.status(), 200);
    let late = stripe_event(
        "evt_late",
        "charge.succeeded",
        true,
        json!({"id": "ch_4", "object": "charge"}),
    );
    assert_eq!(
        app.deliver(&profile, &old, &late).await.status(),
        400,
        "an expired secret no longer verifies"
    );
    assert_eq!(app.deliver(&profile, &new, &late).await.status(), 200);
    app.stop().await;
}

#[sqlx::test]
async fn livemode_mismatch_is_stored_and_marked_but_never_published(pool: PgPool) {
    let app = spawn_app(pool).await;
    assert_eq!(app.mode, StripeMode::Live);
    let secret = random_secret();
    let profile = app.create_profile("m_1", &secret).await;
    let mut orders = app.queue("orders").await;
    let test_event = stripe_event(
        "evt_testmode",
        "payment_intent.succeeded",
        false,
        payment_intent("pi_1", "succeeded", 100, "o_1"),
    );

    let response = app.deliver(&profile, &secret, &test_event).await;

    assert_eq!(response.status(), 200, "stored, so Stripe stops retrying");
    assert_eq!(
        response.json::<Value>().await.expect("json"),
        json!({ "received": true, "duplicate": false, "flagged": "livemode_mismatch" }),
        "the answer says it was flagged, not processed"
    );
    let flagged: bool = sqlx::query_scalar(
        "select livemode_mismatch from inbox_events where event_id = 'evt_testmode'",
    )
    .fetch_one(&app.pool)
    .await
    .expect("stored");
    assert!(flagged);
    let sentinel = stripe_event(
        "evt_live",
        "payment_intent.succeeded",
        true,
        payment_intent("pi_2", "succeeded", 100, "o_2"),
    );
    app.deliver(&profile, &secret, &sentinel).await;
    assert_eq!(
        orders.ids_until("evt_live").await,
        vec!["evt_live"],
        "the mismatched event is not published"
    );
    assert!(!app.is_published("evt_testmode").await);
    app.stop().await;
}

#[sqlx::test]
async fn events_are_routed_to_the_queue_of_their_type(pool: PgPool) {
    let app = spawn_app(pool).await;
    let secret = random_secret();
    let profile = app.create_profile("m_1", &secret).await;
    let cases = [
        ("evt_po", "payout.paid", "payouts"),
        ("evt_ba", "balance.available", "payouts"),
        ("evt_ac", "account.updated", "accounts"),
        ("evt_ea", "account.external_account.created", "accounts"),
        ("evt_rf", "refund.updated", "orders"),
    ];
    // One probe per queue for the whole test: a probe dropped right after its ack could hand
    // the message back to the queue for the next one.
    let mut probes = std::collections::HashMap::new();
    for (id, event_type, queue) in cases {
        if !probes.contains_key(queue) {
            probes.insert(queue, app.queue(queue).await);
        }
        let probe = probes.get_mut(queue).expect("probe");
        let body = stripe_event(id, event_type, true, json!({"id": "x_1", "object": "x"}));
        assert_eq!(app.deliver(&profile, &secret, &body).await.status(), 200);
        let message = probe
            .next(Duration::from_secs(10))
            .await
            .unwrap_or_else(|| panic!("{event_type} not routed"));
        assert_eq!(message.message_id, id);
        assert_eq!(message.routing_key, format!("stripe.{event_type}"));
    }
    // A type no worker handles is stored and marked published (the broker took it).
    let other = stripe_event(
        "evt_cus",
        "customer.created",
        true,
        json!({"id": "cus_1", "object": "customer"}),
    );
    assert_eq!(app.deliver(&profile, &secret, &other).await.status(), 200);
    eventually(
        "unroutable event marked published",
        Duration::from_secs(5),
        || async { app.is_published("evt_cus").await.then_some(()) },
    )
    .await;
    app.stop().await;
}

/// A profile read just before another process deletes it, and whose load finishes only after
/// the deletion was heard, verifies the webhook that was waiting for it but is not kept: the
/// next webhook reads again and finds no profile.
#[sqlx::test]
async fn a_profile_deleted_while_it_was_being_loaded_is_not_cached(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let secret = random_secret();
    let profile = app.create_profile("m_1", &secret).await;
    listening_for_profile_changes(&pool).await;
    // Heard the notifications of the profile's creation: nothing of it is cached.
    tokio::time::sleep(Duration::from_millis(300)).await;

    // The load reads the live profile, then waits for its secrets behind a lock.
    let mut blocker = pool.begin().await.expect("begin");
    sqlx::query("lock table webhook_secrets in access exclusive mode")
        .execute(&mut *blocker)
        .await
        .expect("lock");
    let first = charge_succeeded("evt_1");
    let held = async {
        eventually(
            "the load waits for the secrets",
            Duration::from_secs(10),
            || async {
                let waiting: i64 = sqlx::query_scalar(
                    "select count(*) from pg_locks
                 where relation = 'webhook_secrets'::regclass and not granted",
                )
                .fetch_one(&pool)
                .await
                .expect("locks");
                (waiting > 0).then_some(())
            },
        )
        .await;
        // Another process deletes the profile, and this one hears of it, while the load is
        // held.
        sqlx::query("update stripe_profiles set deleted_at = now() where id = $1")
            .bind(&profile)
            .execute(&pool)
            .await
            .expect("deleted");
        tokio::time::sleep(Duration::from_millis(300)).await;
        blocker.rollback().await.expect("released");
    };
    let (response, ()) = tokio::join!(app.deliver(&profile, &secret, &first), held);

    assert_eq!(
        response.status(),
        200,
        "verified against the profile as it was read"
    );
    assert_eq!(
        app.deliver(&profile, &secret, &charge_succeeded("evt_2"))
            .await
            .status(),
        404,
        "the deleted profile was not kept"
    );
    app.stop().await;
}

#[sqlx::test]
async fn a_secret_expired_through_one_process_stops_verifying_in_another_at_once(pool: PgPool) {
    // Two processes of one deployment: one database, one master key.
    let master_key = Some(accredito::crypto::SecretBox::generate_master_key());
    let options = |master_key| AppOptions {
        master_key,
        ..AppOptions::default()
    };
    let admin = spawn_app_with(pool.clone(), options(master_key.clone())).await;
    let other = spawn_app_with(pool, options(master_key)).await;
    let (old, new) = (random_secret(), random_secret());
    let profile = admin.create_profile("m_1", &old).await;
    let added = admin
        .admin_post(
            &format!("/v1/profiles/{profile}/webhook-secrets"),
            json!({ "webhook_secret": new }),
        )
        .await;
    assert_eq!(added.status(), 201);
    let old_id = sqlx::query_scalar::<_, i64>("select min(id) from webhook_secrets")
        .fetch_one(&admin.pool)
        .await
        .expect("id");
    // The other process has the profile cached, with both secrets.
    assert_eq!(
        other
            .deliver(&profile, &old, &charge_succeeded("evt_1"))
            .await
            .status(),
        200
    );

    let expired = admin
        .admin_post(
            &format!("/v1/profiles/{profile}/webhook-secrets/{old_id}/expire"),
            json!({}),
        )
        .await;
    assert_eq!(expired.status(), 200);

    // Well inside the cache's 10 s TTL, the other process refuses the expired secret.
    let refused = other
        .deliver_until(
            "the other process hears of it",
            Duration::from_secs(3),
            (&profile, &old, &charge_succeeded("evt_2")),
            400,
        )
        .await;
    assert_eq!(refused, 400);
    assert_eq!(
        other
            .deliver(&profile, &new, &charge_succeeded("evt_3"))
            .await
            .status(),
        200
    );
    admin.stop().await;
    other.stop().await;
}
