//! Payouts itemised into the orders they settled; bank-account signals raising alerts once,
//! delivered to a receiver that may be down; Stripe API failures handled. A local fake Stripe
//! API answers the calls.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use accredito::config::Role;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};
use sqlx::PgPool;
use time::OffsetDateTime;

use crate::fake_stripe::{self, AccountSpec, FakeStripe, Scripted, VALID_KEY};
use crate::helpers::*;

const WAIT: Duration = Duration::from_secs(20);

/// A local alert receiver (Slack-compatible webhook) that records what it gets and can be
/// told to fail.
#[derive(Clone, Default)]
pub(crate) struct AlertReceiver {
    received: Arc<Mutex<Vec<Value>>>,
    failures_left: Arc<Mutex<usize>>,
    /// How long each answer takes, and how many requests are being held that long now.
    delay: Arc<Mutex<Duration>>,
    in_flight: Arc<std::sync::atomic::AtomicUsize>,
}

impl AlertReceiver {
    pub(crate) async fn start(failures: usize) -> (Self, String) {
        Self::start_with(failures, Duration::ZERO).await
    }

    pub(crate) async fn start_with(failures: usize, delay: Duration) -> (Self, String) {
        let receiver = AlertReceiver::default();
        *receiver.failures_left.lock().expect("lock") = failures;
        *receiver.delay.lock().expect("lock") = delay;
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(receive))
            .with_state(receiver.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}/hook", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        (receiver, url)
    }

    pub(crate) fn received(&self) -> Vec<Value> {
        self.received.lock().expect("lock").clone()
    }

    fn in_flight(&self) -> usize {
        self.in_flight.load(std::sync::atomic::Ordering::SeqCst)
    }
}

async fn receive(State(receiver): State<AlertReceiver>, Json(body): Json<Value>) -> StatusCode {
    let delay = *receiver.delay.lock().expect("lock");
    receiver
        .in_flight
        .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep(delay).await;
    receiver
        .in_flight
        .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    let mut left = receiver.failures_left.lock().expect("lock");
    if *left > 0 {
        *left -= 1;
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    receiver.received.lock().expect("lock").push(body);
    StatusCode::OK
}

/// The app against a fake Stripe, with merchant `m_1`'s profile (also used by
/// [`crate::back_office_api`]).
pub(crate) struct Scene {
    pub(crate) app: TestApp,
    pub(crate) fake: FakeStripe,
    pub(crate) profile: String,
    pub(crate) secret: String,
}

impl Scene {
    /// With an alert receiver, the sweeps role runs too (it delivers alerts); without one it
    /// does not, so the only Stripe calls are the workers'.
    pub(crate) async fn start(pool: PgPool, fake: FakeStripe, alert_url: Option<String>) -> Self {
        let roles = match alert_url {
            Some(_) => Role::all(),
            None => vec![Role::Ingest, Role::Relay, Role::Workers],
        };
        let options = AppOptions {
            roles,
            stripe_api_base: Some(fake.base_url()),
            alert_webhook_url: alert_url,
            ..AppOptions::default()
        };
        let app = spawn_app_with(pool, options).await;
        let secret = random_secret();
        let profile = app.create_profile("m_1", &secret).await;
        Scene {
            app,
            fake,
            profile,
            secret,
        }
    }

    pub(crate) async fn set_key(&self, key: &str) {
        let response = self
            .app
            .client
            .put(
                self.app
                    .url(&format!("/v1/profiles/{}/secret-key", self.profile)),
            )
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({ "secret_key": key }))
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 200);
    }

    pub(crate) async fn apply(&self, id: &str, event_type: &str, created: i64, object: Value) {
        let body = stripe_event_at(id, event_type, true, created, object);
        assert_eq!(
            self.app
                .deliver(&self.profile, &self.secret, &body)
                .await
                .status(),
            200
        );
        eventually(&format!("{id} applied"), WAIT, || async {
            let done: bool = sqlx::query_scalar(
                "select exists(select 1 from processed_events where event_id = $1)",
            )
            .bind(id)
            .fetch_one(&self.app.pool)
            .await
            .expect("query");
            done.then_some(())
        })
        .await;
    }

    async fn scalar_i64(&self, sql: &'static str) -> i64 {
        sqlx::query_scalar(sql)
            .fetch_one(&self.app.pool)
            .await
            .expect("query")
    }
}

/// Registers an order that names its PaymentIntent.
pub(crate) async fn register_order(pool: &PgPool, order_id: &str, payment_intent_id: &str) {
    let mut tx = pool.begin().await.expect("tx");
    accredito::db::profiles::ensure_merchant(&mut tx, "m_1")
        .await
        .expect("merchant");
    accredito::db::orders::upsert_order(
        &mut tx,
        &accredito::db::orders::NewOrder {
            order_id,
            merchant_id: "m_1",
            amount: 1000,
            currency: "eur",
            placed_at: OffsetDateTime::now_utc(),
            description: None,
            payment_intent_id: Some(payment_intent_id),
        },
    )
    .await
    .expect("upsert")
    .expect("same merchant");
    tx.commit().await.expect("commit");
}

pub(crate) fn automatic_payout(id: &str, amount: i64, status: &str) -> Value {
    let mut p = fake_stripe::payout(id, amount, "eur", status);
    p["automatic"] = true.into();
    p["reconciliation_status"] = if status == "paid" {
        "completed"
    } else {
        "in_progress"
    }
    .into();
    p["failure_code"] = Value::Null;
    p
}

/// 249 charges of 1000 (fee 30) and the payout's own transaction: 250 in all, 3 pages.
pub(crate) fn charges_and_payout(payout_id: &str, charges: usize) -> (Vec<Value>, i64) {
    let mut transactions: Vec<Value> = (0..charges)
        .map(|i| {
            fake_stripe::balance_transaction(
                &format!("txn_{i}"),
                "charge",
                1000,
                30,
                "eur",
                fake_stripe::charge(&format!("ch_{i}"), Some(&format!("pi_{i}"))),
            )
        })
        .collect();
    let net = 970 * charges as i64;
    transactions.push(fake_stripe::balance_transaction(
        "txn_payout",
        "payout",
        -net,
        0,
        "eur",
        fake_stripe::payout(payout_id, net, "eur", "paid"),
    ));
    (transactions, net)
}

#[sqlx::test]
async fn a_payout_of_250_balance_transactions_over_3_pages_settles_exactly_its_orders(
    pool: PgPool,
) {
    let (transactions, net) = charges_and_payout("po_1", 249);
    let fake = FakeStripe::builder()
        .balance_transactions("po_1", transactions)
        .start()
        .await;
    let scene = Scene::start(pool.clone(), fake, None).await;
    scene.set_key(VALID_KEY).await;
    for i in 0..249 {
        register_order(&pool, &format!("o_{i}"), &format!("pi_{i}")).await;
    }
    register_order(&pool, "o_elsewhere", "pi_elsewhere").await;

    scene
        .apply(
            "evt_paid",
            "payout.paid",
            now(),
            automatic_payout("po_1", net, "paid"),
        )
        .await;

    assert_eq!(
        scene.fake.requests("/v1/balance_transactions"),
        3,
        "every page, once"
    );
    let row: (i64, i64, bool) = sqlx::query_as("select line_count, orders_settled, reconciled from back_office.payouts where payout_id = 'po_1'")
        .fetch_one(&pool)
        .await
        .expect("payout row");
    assert_eq!(row, (250, 249, true));
    let settled: Vec<String> = sqlx::query_scalar("select order_id from back_office.order_reconciliation where payout_id = 'po_1' order by order_id")
        .fetch_all(&pool)
        .await
        .expect("orders");
    assert_eq!(settled.len(), 249);
    assert!(!settled.contains(&"o_elsewhere".to_owned()));
    assert_eq!(
        scene
            .scalar_i64("select count(*) from discrepancies where kind = 'payout_sum_mismatch'")
            .await,
        0
    );
    // A redelivered reconciliation event lists nothing again.
    scene
        .apply(
            "evt_recon",
            "payout.reconciliation_completed",
            now(),
            automatic_payout("po_1", net, "paid"),
        )
        .await;
    assert_eq!(scene.fake.requests("/v1/balance_transactions"), 3);
    scene.app.stop().await;
}

#[sqlx::test]
async fn lines_that_do_not_add_up_to_the_payout_are_flagged(pool: PgPool) {
    let (transactions, net) = charges_and_payout("po_short", 3);
    let fake = FakeStripe::builder()
        .balance_transactions("po_short", transactions)
        .start()
        .await;
    let scene = Scene::start(pool.clone(), fake, None).await;
    scene.set_key(VALID_KEY).await;

    scene
        .apply(
            "evt_paid",
            "payout.paid",
            now(),
            automatic_payout("po_short", net + 500, "paid"),
        )
        .await;

    let detail: String = sqlx::query_scalar("select detail from discrepancies where kind = 'payout_sum_mismatch' and resolved_at is null")
        .fetch_one(&pool)
        .await
        .expect("open discrepancy");
    assert!(detail.contains("po_short"), "{detail}");
    scene.app.stop().await;
}

#[sqlx::test]
async fn a_payout_paid_then_failed_unsettles_its_orders_and_raises_alerts(pool: PgPool) {
    let (transactions, net) = charges_and_payout("po_1", 2);
    let fake = FakeStripe::builder()
        .balance_transactions("po_1", transactions)
        .start()
        .await;
    let scene = Scene::start(pool.clone(), fake, None).await;
    scene.set_key(VALID_KEY).await;
    register_order(&pool, "o_0", "pi_0").await;
    register_order(&pool, "o_1", "pi_1").await;
    let t = now();
    scene
        .apply(
            "evt_paid",
            "payout.paid",
            t,
            automatic_payout("po_1", net, "paid"),
        )
        .await;
    assert_eq!(
        scene
            .scalar_i64("select count(*) from order_settlements")
            .await,
        2
    );

    let mut failed = automatic_payout("po_1", net, "failed");
    failed["failure_code"] = "account_closed".into();
    failed["failure_message"] = "The bank account has been closed".into();
    scene
        .apply("evt_failed", "payout.failed", t + 5, failed)
        .await;

    assert_eq!(
        scene
            .scalar_i64("select count(*) from order_settlements")
            .await,
        0,
        "paid-then-failed un-settles"
    );
    let status: String =
        sqlx::query_scalar("select status from back_office.payouts where payout_id = 'po_1'")
            .fetch_one(&pool)
            .await
            .expect("row");
    assert_eq!(status, "failed");
    let open: Vec<String> = sqlx::query_scalar(
        "select kind from back_office.merchant_alerts where status = 'open' order by kind",
    )
    .fetch_all(&pool)
    .await
    .expect("alerts");
    assert_eq!(
        open,
        vec!["no_bank_account", "payout_failed"],
        "account_closed is a bank-account failure"
    );
    scene.app.stop().await;
}

#[sqlx::test]
async fn a_manual_payout_is_not_itemised_and_says_why(pool: PgPool) {
    let fake = FakeStripe::builder().start().await;
    let scene = Scene::start(pool.clone(), fake, None).await;
    scene.set_key(VALID_KEY).await;
    let mut manual = automatic_payout("po_manual", 5000, "paid");
    manual["automatic"] = false.into();

    scene
        .apply("evt_manual", "payout.paid", now(), manual)
        .await;

    let note: Option<String> = sqlx::query_scalar(
        "select itemization_note from back_office.payouts where payout_id = 'po_manual'",
    )
    .fetch_one(&pool)
    .await
    .expect("row");
    assert!(note.expect("a note").contains("manual payout"));
    assert_eq!(
        scene.fake.requests("/v1/balance_transactions"),
        0,
        "no guessing"
    );
    scene.app.stop().await;
}

#[sqlx::test]
async fn each_bank_account_signal_opens_one_alert_and_linking_an_account_resolves_it(pool: PgPool) {
    let (receiver, url) = AlertReceiver::start(0).await;
    let fake = FakeStripe::builder().start().await;
    let scene = Scene::start(pool.clone(), fake, Some(url)).await;
    let t = now();
    let without = AccountSpec::without_bank_account("acct_1").to_json();
    scene
        .apply("evt_a1", "account.updated", t, without.clone())
        .await;
    scene
        .apply("evt_a2", "account.updated", t + 1, without)
        .await;
    let mut failed = automatic_payout("po_1", 100, "failed");
    failed["failure_code"] = "no_account".into();
    scene.apply("evt_p1", "payout.failed", t + 2, failed).await;
    scene
        .apply(
            "evt_a3",
            "account.external_account.deleted",
            t + 3,
            fake_stripe::bank_account("ba_1", "eur", "new"),
        )
        .await;
    scene.apply("evt_b1", "balance.available", t + 4, json!({ "object": "balance", "available": [{ "amount": 5000, "currency": "eur" }], "pending": [] })).await;

    let no_bank: i64 = scene
        .scalar_i64("select count(*) from alerts where kind = 'no_bank_account'")
        .await;
    assert_eq!(no_bank, 1, "one alert, not one per event");
    let open: Vec<String> = sqlx::query_scalar(
        "select kind from back_office.merchant_alerts where status = 'open' order by kind",
    )
    .fetch_all(&pool)
    .await
    .expect("alerts");
    assert_eq!(
        open,
        vec![
            "funds_unsettled",
            "no_bank_account",
            "payout_failed",
            "payouts_disabled"
        ]
    );

    // The merchant links a bank account; Stripe enables payouts and the next payout is paid.
    scene
        .apply(
            "evt_a4",
            "account.updated",
            t + 5,
            AccountSpec::ready("acct_1").to_json(),
        )
        .await;
    let mut paid = automatic_payout("po_2", 100, "paid");
    paid["automatic"] = false.into();
    scene.apply("evt_p2", "payout.paid", t + 6, paid).await;
    let still_open: i64 = scene
        .scalar_i64("select count(*) from alerts where resolved_at is null")
        .await;
    assert_eq!(still_open, 0, "every alert resolves once the cause is gone");

    let sent = eventually(
        "opened and resolved notifications delivered",
        WAIT,
        || async {
            let sent = receiver.received();
            (sent.len() >= 8).then_some(sent)
        },
    )
    .await;
    let no_bank_sent: Vec<&Value> = sent
        .iter()
        .filter(|n| n["kind"] == "no_bank_account")
        .collect();
    assert_eq!(no_bank_sent.len(), 2);
    assert_eq!(no_bank_sent[0]["status"], "opened");
    assert_eq!(no_bank_sent[1]["status"], "resolved");
    assert!(
        no_bank_sent[0]["text"]
            .as_str()
            .expect("text")
            .contains("m_1"),
        "Slack shows `text`"
    );
    scene.app.stop().await;
}

#[sqlx::test]
async fn an_alert_receiver_that_is_down_is_retried_and_processing_carries_on(pool: PgPool) {
    let (receiver, url) = AlertReceiver::start(3).await;
    let fake = FakeStripe::builder().start().await;
    let scene = Scene::start(pool.clone(), fake, Some(url)).await;
    let t = now();
    scene
        .apply(
            "evt_a1",
            "account.updated",
            t,
            AccountSpec::without_bank_account("acct_1").to_json(),
        )
        .await;
    // Processing does not wait for the receiver.
    scene
        .apply(
            "evt_a2",
            "account.updated",
            t + 1,
            AccountSpec::ready("acct_1").to_json(),
        )
        .await;

    let sent = eventually("delivered once the receiver is back", WAIT, || async {
        let sent = receiver.received();
        (sent.len() >= 4).then_some(sent)
    })
    .await;
    assert!(
        sent.iter()
            .any(|n| n["kind"] == "no_bank_account" && n["status"] == "resolved")
    );
    // The receiver has the payloads before the notifier commits their delivery state.
    eventually("every delivery recorded", WAIT, || async {
        let undelivered = scene
            .scalar_i64("select count(*) from alert_notifications where delivered_at is null")
            .await;
        (undelivered == 0).then_some(())
    })
    .await;
    let retried: i64 = scene
        .scalar_i64("select max(attempts)::bigint from alert_notifications")
        .await;
    assert!(retried > 1, "the first deliveries were retried");
    scene.app.stop().await;
}

#[sqlx::test]
async fn the_notifier_holds_no_transaction_open_while_it_posts(pool: PgPool) {
    let (receiver, url) = AlertReceiver::start_with(0, Duration::from_secs(2)).await;
    let fake = FakeStripe::builder().start().await;
    let scene = Scene::start(pool.clone(), fake, Some(url)).await;
    scene
        .apply(
            "evt_a1",
            "account.updated",
            now(),
            AccountSpec::without_bank_account("acct_1").to_json(),
        )
        .await;

    eventually("a POST held by the receiver", WAIT, || async {
        (receiver.in_flight() > 0).then_some(())
    })
    .await;
    let open: i64 = scene
        .scalar_i64(
            "select count(*) from pg_stat_activity
             where datname = current_database() and state like 'idle in transaction%'
               and query like '%alert_notifications%'",
        )
        .await;
    assert_eq!(
        open, 0,
        "a transaction on alert_notifications waits for the POST"
    );
    let undelivered: i64 = scene
        .scalar_i64("select count(*) from alert_notifications where delivered_at is null")
        .await;
    assert!(undelivered >= 1, "claimed, not yet recorded");

    eventually("recorded once answered", WAIT, || async {
        let undelivered = scene
            .scalar_i64("select count(*) from alert_notifications where delivered_at is null")
            .await;
        (undelivered == 0).then_some(())
    })
    .await;
    assert!(!receiver.received().is_empty());
    scene.app.stop().await;
}

#[sqlx::test]
async fn stripe_429_and_500_are_retried_and_a_revoked_key_is_a_stored_error(pool: PgPool) {
    let fake = FakeStripe::builder()
        .account(AccountSpec::without_bank_account("acct_9"))
        .start()
        .await;
    let scene = Scene::start(pool.clone(), fake, None).await;
    scene.set_key(VALID_KEY).await;
    // Saving the key asked Stripe once already.
    let asked = scene.fake.requests("/v1/account");
    scene
        .fake
        .fail_next("/v1/account", 1, Scripted::rate_limited());
    scene
        .fake
        .fail_next("/v1/account", 1, Scripted::server_error());
    // account.updated with a key on file makes the worker ask Stripe for the account.
    scene
        .apply(
            "evt_a1",
            "account.updated",
            now(),
            AccountSpec::ready("acct_9").to_json(),
        )
        .await;
    assert_eq!(
        scene.fake.requests("/v1/account") - asked,
        3,
        "429, 500, then the answer"
    );
    let payouts_enabled: Option<bool> = sqlx::query_scalar(
        "select payouts_enabled from merchant_bank_states where merchant_id = 'm_1'",
    )
    .fetch_one(&pool)
    .await
    .expect("state");
    assert_eq!(
        payouts_enabled,
        Some(false),
        "Stripe's answer, not the event's, decides"
    );

    scene.fake.revoke_key(VALID_KEY);
    let body = stripe_event(
        "evt_a2",
        "account.updated",
        true,
        AccountSpec::ready("acct_9").to_json(),
    );
    assert_eq!(
        scene
            .app
            .deliver(&scene.profile, &scene.secret, &body)
            .await
            .status(),
        200
    );
    let error: String = eventually(
        "a revoked key parks the event with a clear error",
        WAIT,
        || async {
            sqlx::query_scalar("select error from dead_letters where event_id = 'evt_a2'")
                .fetch_optional(&pool)
                .await
                .expect("query")
        },
    )
    .await;
    assert!(error.contains("rejected the secret key"), "{error}");
    assert!(
        !error.contains(VALID_KEY),
        "the key never appears in an error"
    );
    scene.app.stop().await;
}

#[sqlx::test]
async fn the_account_sweep_finds_a_merchant_without_a_bank_account_and_stores_key_errors(
    pool: PgPool,
) {
    let fake = FakeStripe::builder()
        .account(AccountSpec::without_bank_account("acct_5"))
        .start()
        .await;
    let options = AppOptions {
        roles: vec![Role::Ingest, Role::Sweeps],
        stripe_api_base: Some(fake.base_url()),
        ..AppOptions::default()
    };
    let app = spawn_app_with(pool.clone(), options).await;
    let secret = random_secret();
    let profile = app.create_profile("m_5", &secret).await;
    let scene = Scene {
        app,
        fake,
        profile,
        secret,
    };
    scene.set_key(VALID_KEY).await;

    eventually("the sweep opens no_bank_account without any event", WAIT, || async {
        let open: i64 = sqlx::query_scalar("select count(*) from alerts where merchant_id = 'm_5' and kind = 'no_bank_account' and resolved_at is null")
            .fetch_one(&pool)
            .await
            .expect("count");
        (open == 1).then_some(())
    })
    .await;

    scene.fake.revoke_key(VALID_KEY);
    let error: String = eventually("the 401 is stored on the merchant", WAIT, || async {
        sqlx::query_scalar::<_, Option<String>>(
            "select last_error from merchant_bank_states where merchant_id = 'm_5'",
        )
        .fetch_one(&pool)
        .await
        .expect("state")
    })
    .await;
    assert!(error.contains("rejected the secret key"), "{error}");
    scene.app.stop().await;
}
