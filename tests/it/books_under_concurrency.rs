//! The books are a function of the facts, whatever came first: settlement whichever of the
//! order, its payment and its payout's itemisation arrives first; a key Stripe rejects
//! recovers by itself once a good key is saved; no transaction waits on a slow Stripe.
//! (Events of one order sent together, by many workers, are in [`crate::convergence`].)

use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::fake_stripe::{FakeStripe, VALID_KEY};
use crate::helpers::*;
use crate::payouts::{Scene, automatic_payout, charges_and_payout};

const WAIT: Duration = Duration::from_secs(20);
const NEW_KEY: &str = "sk_live_fake0000000000000000fresh";

/// The order's `(payout_id, settled_at is set)` as the back-office view shows it.
async fn settlement(pool: &PgPool, order_id: &str) -> (Option<String>, bool) {
    sqlx::query_as(
        "select payout_id, settled_at is not null from back_office.order_reconciliation where order_id = $1",
    )
    .bind(order_id)
    .fetch_one(pool)
    .await
    .expect("order row")
}

fn succeeded_payment(pi: &str, order: &str, charge: &str) -> Value {
    json!({
        "id": pi, "object": "payment_intent", "amount": 1000, "amount_received": 1000,
        "currency": "eur", "status": "succeeded", "metadata": { "order_id": order },
        "latest_charge": charge, "livemode": true
    })
}

async fn put_order(app: &TestApp, order_id: &str, payment_intent_id: Option<&str>) -> Value {
    let mut body = json!({
        "merchant_id": "m_1", "amount": 1000, "currency": "eur",
        "placed_at": "2026-12-01T10:00:00Z"
    });
    if let Some(pi) = payment_intent_id {
        body["payment_intent_id"] = pi.into();
    }
    let response = app
        .client
        .put(app.url(&format!("/v1/orders/{order_id}")))
        .bearer_auth(ADMIN_TOKEN)
        .json(&body)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

#[sqlx::test]
async fn an_order_registered_after_its_payout_was_itemised_is_settled_by_it(pool: PgPool) {
    let (transactions, net) = charges_and_payout("po_1", 2);
    let fake = FakeStripe::builder()
        .balance_transactions("po_1", transactions)
        .start()
        .await;
    let scene = Scene::start(pool.clone(), fake, None).await;
    scene.set_key(VALID_KEY).await;
    scene
        .apply(
            "evt_paid",
            "payout.paid",
            now(),
            automatic_payout("po_1", net, "paid"),
        )
        .await;
    let itemized: bool =
        sqlx::query_scalar("select itemized_at is not null from payouts where id = 'po_1'")
            .fetch_one(&pool)
            .await
            .expect("payout");
    assert!(itemized, "the payout is itemised before any order exists");

    // The order arrives after its payout: registering it settles it, in the answer already.
    let registered = put_order(&scene.app, "o_0", Some("pi_0")).await;
    assert_eq!(registered["payout_id"], "po_1");
    assert!(registered["settled_at"].is_string(), "{registered}");
    assert_eq!(settlement(&pool, "o_0").await, (Some("po_1".into()), true));
    let line_order: Option<String> = sqlx::query_scalar(
        "select order_id from payout_lines where payout_id = 'po_1' and charge_id = 'ch_0'",
    )
    .fetch_one(&pool)
    .await
    .expect("line");
    assert_eq!(
        line_order.as_deref(),
        Some("o_0"),
        "the line names its order now"
    );
    scene.app.stop().await;
}

#[sqlx::test]
async fn an_order_paid_after_its_payout_was_itemised_is_settled_by_it(pool: PgPool) {
    let (transactions, net) = charges_and_payout("po_1", 1);
    let fake = FakeStripe::builder()
        .balance_transactions("po_1", transactions)
        .start()
        .await;
    let scene = Scene::start(pool.clone(), fake, None).await;
    scene.set_key(VALID_KEY).await;
    // The order names no PaymentIntent: only the payment's metadata will tie them.
    put_order(&scene.app, "o_0", None).await;
    scene
        .apply(
            "evt_paid",
            "payout.paid",
            now(),
            automatic_payout("po_1", net, "paid"),
        )
        .await;
    assert_eq!(settlement(&pool, "o_0").await, (None, false));

    scene
        .apply(
            "evt_pi",
            "payment_intent.succeeded",
            now(),
            succeeded_payment("pi_0", "o_0", "ch_0"),
        )
        .await;
    assert_eq!(settlement(&pool, "o_0").await, (Some("po_1".into()), true));

    // A payout that fails later settles nothing, through the same derivation.
    scene
        .apply("evt_failed", "payout.failed", now() + 5, {
            let mut failed = automatic_payout("po_1", net, "failed");
            failed["failure_code"] = "account_closed".into();
            failed
        })
        .await;
    assert_eq!(settlement(&pool, "o_0").await, (None, false));
    scene.app.stop().await;
}

#[sqlx::test]
async fn a_rejected_key_alerts_at_once_and_the_payout_is_itemised_once_a_good_key_is_saved(
    pool: PgPool,
) {
    let (transactions, net) = charges_and_payout("po_1", 2);
    let fake = FakeStripe::builder()
        .balance_transactions("po_1", transactions)
        .start()
        .await;
    let (receiver, alert_url) = crate::payouts::AlertReceiver::start(0).await;
    let scene = Scene::start(pool.clone(), fake, Some(alert_url)).await;
    // Live keys accepted and the profile selected: readiness says the keys step is done.
    let response = scene
        .app
        .client
        .put(scene.app.url(&format!("/v1/profiles/{}/keys", scene.profile)))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "publishable_key": "pk_live_fake000000000000000public", "secret_key": VALID_KEY }))
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 200);
    sqlx::query("update merchants set selected_profile_id = $1 where id = 'm_1'")
        .bind(&scene.profile)
        .execute(&pool)
        .await
        .expect("select profile");
    let keys_step = || async {
        sqlx::query_scalar::<_, String>(
            "select state from back_office.merchant_readiness where merchant_id = 'm_1' and step = 'live_keys_accepted'",
        )
        .fetch_one(&pool)
        .await
        .expect("readiness")
    };
    assert_eq!(keys_step().await, "done");
    put_order(&scene.app, "o_0", Some("pi_0")).await;

    // The merchant rolls the key in Stripe; the next payout cannot be itemised with it.
    scene.fake.expire_key(VALID_KEY);
    let body = stripe_event_at(
        "evt_paid",
        "payout.paid",
        true,
        now(),
        automatic_payout("po_1", net, "paid"),
    );
    assert_eq!(
        scene
            .app
            .deliver(&scene.profile, &scene.secret, &body)
            .await
            .status(),
        200
    );
    let waiting: String = eventually("the event waits for a key", WAIT, || async {
        sqlx::query_scalar(
            "select waiting_for from dead_letters where event_id = 'evt_paid' and redriven_at is null",
        )
        .fetch_optional(&pool)
        .await
        .expect("query")
        .flatten()
    })
    .await;
    assert_eq!(waiting, "stripe_key");
    let open: i64 = sqlx::query_scalar(
        "select count(*) from alerts where merchant_id = 'm_1' and kind = 'stripe_key_rejected' and resolved_at is null",
    )
    .fetch_one(&pool)
    .await
    .expect("alerts");
    assert_eq!(
        open, 1,
        "the alert opened with the rejection, not at the next sweep"
    );
    assert_eq!(keys_step().await, "missing");
    eventually("the alert is POSTed", WAIT, || async {
        receiver
            .received()
            .iter()
            .any(|a| a.to_string().contains("stripe_key_rejected"))
            .then_some(())
    })
    .await;
    assert_eq!(
        scene.fake.requests("/v1/balance_transactions"),
        1,
        "a rejected key is not retried: it waits for a new one"
    );
    assert_eq!(settlement(&pool, "o_0").await, (None, false));

    // A new key is saved: no command, the payout is itemised and the alert resolved.
    scene.fake.add_valid_key(NEW_KEY);
    scene.set_key(NEW_KEY).await;
    eventually("the payout is itemised with the new key", WAIT, || async {
        (settlement(&pool, "o_0").await == (Some("po_1".into()), true)).then_some(())
    })
    .await;
    let (open, redriven): (i64, bool) = sqlx::query_as(
        "select (select count(*) from alerts where merchant_id = 'm_1' and kind = 'stripe_key_rejected' and resolved_at is null),
                (select redriven_at is not null from dead_letters where event_id = 'evt_paid')",
    )
    .fetch_one(&pool)
    .await
    .expect("query");
    assert_eq!((open, redriven), (0, true));
    assert_eq!(keys_step().await, "done");
    scene.app.stop().await;
}

#[sqlx::test]
async fn no_transaction_is_held_open_while_stripe_is_slow(pool: PgPool) {
    let (transactions, net) = charges_and_payout("po_1", 2);
    let fake = FakeStripe::builder()
        .balance_transactions("po_1", transactions)
        .start()
        .await;
    let scene = Scene::start(pool.clone(), fake, None).await;
    scene.set_key(VALID_KEY).await;
    put_order(&scene.app, "o_0", Some("pi_0")).await;
    scene
        .fake
        .slow_down("/v1/balance_transactions", Duration::from_millis(2500));
    let body = stripe_event_at(
        "evt_paid",
        "payout.paid",
        true,
        now(),
        automatic_payout("po_1", net, "paid"),
    );
    assert_eq!(
        scene
            .app
            .deliver(&scene.profile, &scene.secret, &body)
            .await
            .status(),
        200
    );
    // Well into Stripe's delay (requests are counted as they arrive): nothing of ours sits in
    // a transaction waiting for it.
    eventually("the worker is waiting for Stripe", WAIT, || async {
        (scene.fake.requests("/v1/balance_transactions") > 0).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let waiting_in_transaction: i64 = sqlx::query_scalar(
        "select count(*) from pg_stat_activity
         where datname = current_database() and pid <> pg_backend_pid()
           and xact_start < now() - interval '1 second'",
    )
    .fetch_one(&pool)
    .await
    .expect("pg_stat_activity");
    assert_eq!(waiting_in_transaction, 0);
    eventually("itemised once Stripe answers", WAIT, || async {
        (settlement(&pool, "o_0").await == (Some("po_1".into()), true)).then_some(())
    })
    .await;
    scene.app.stop().await;
}
