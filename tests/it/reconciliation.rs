//! Orders reconciled through the real pipeline: webhook, inbox, relay, RabbitMQ, orders worker.

use std::time::Duration;

use accredito::config::Role;
use accredito::domain::{EventId, MerchantId, StoredEvent};
use accredito::setup::stripe_keys::StripeKeys;
use accredito::worker::{Applied, Handler, apply_batch, apply_once};
use serde_json::{Value, json};
use sqlx::PgPool;
use time::OffsetDateTime;

use crate::helpers::*;

const WAIT: Duration = Duration::from_secs(20);

/// An order, the events it receives (type, object), and the status they lead to.
type Scenario = (&'static str, Vec<(&'static str, Value)>, &'static str);

/// (order id, subject id) of an open discrepancy.
type OpenDiscrepancy = (Option<String>, String);

/// An app with every role, a profile of merchant `m_1`, and ways to feed it events.
struct Pipeline {
    app: TestApp,
    profile: String,
    secret: String,
}

impl Pipeline {
    async fn start(pool: PgPool) -> Self {
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
        Pipeline {
            app,
            profile,
            secret,
        }
    }

    /// Delivers the event and waits until the orders worker has applied it.
    async fn apply(&self, body: &str) {
        let response = self.app.deliver(&self.profile, &self.secret, body).await;
        assert_eq!(response.status(), 200, "{body}");
        let id = serde_json::from_str::<Value>(body).expect("json")["id"]
            .as_str()
            .expect("id")
            .to_owned();
        self.wait_applied(&id).await;
    }

    async fn wait_applied(&self, event_id: &str) {
        eventually(&format!("{event_id} applied"), WAIT, || async {
            let done: bool = sqlx::query_scalar(
                "select exists(select 1 from processed_events where event_id = $1)",
            )
            .bind(event_id)
            .fetch_one(&self.app.pool)
            .await
            .expect("query");
            done.then_some(())
        })
        .await;
    }

    async fn register_order(&self, merchant_id: &str, order_id: &str, amount: i64, currency: &str) {
        register_order(&self.app.pool, merchant_id, order_id, amount, currency).await;
    }

    async fn order(&self, order_id: &str) -> OrderRow {
        order_row(&self.app.pool, order_id).await
    }

    /// (order id, subject id) of each open discrepancy of `kind`.
    async fn open_discrepancies(&self, kind: &str) -> Vec<OpenDiscrepancy> {
        sqlx::query_as("select order_id, subject_id from discrepancies where kind = $1 and resolved_at is null order by id")
            .bind(kind)
            .fetch_all(&self.app.pool)
            .await
            .expect("query")
    }
}

async fn register_order(
    pool: &PgPool,
    merchant_id: &str,
    order_id: &str,
    amount: i64,
    currency: &str,
) {
    accredito::reconcile::orders::register(
        pool,
        &accredito::db::orders::NewOrder {
            order_id,
            merchant_id,
            amount,
            currency,
            placed_at: OffsetDateTime::now_utc(),
            description: None,
            payment_intent_id: None,
        },
    )
    .await
    .expect("register")
    .expect("same merchant");
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
struct OrderRow {
    status: String,
    amount_paid: i64,
    amount_refunded: i64,
    amount_disputed: i64,
    open_discrepancies: i64,
}

async fn order_row(pool: &PgPool, order_id: &str) -> OrderRow {
    sqlx::query_as(
        "select status, amount_paid, amount_refunded, amount_disputed, open_discrepancies
         from back_office.order_reconciliation where order_id = $1",
    )
    .bind(order_id)
    .fetch_one(pool)
    .await
    .expect("order row")
}

fn pi(id: &str, order_id: &str, status: &str, amount: i64, received: i64) -> Value {
    json!({
        "id": id, "object": "payment_intent", "amount": amount, "amount_received": received,
        "currency": "eur", "status": status, "metadata": { "order_id": order_id },
        "latest_charge": if status == "succeeded" { Value::String(format!("ch_{id}")) } else { Value::Null },
        "last_payment_error": null, "livemode": true
    })
}

fn charge(pi_id: &str, amount: i64, refunded: i64) -> Value {
    json!({
        "id": format!("ch_{pi_id}"), "object": "charge", "amount": amount, "amount_captured": amount,
        "amount_refunded": refunded, "refunded": refunded >= amount, "currency": "eur",
        "status": "succeeded", "payment_intent": pi_id, "livemode": true
    })
}

fn dispute(pi_id: &str, amount: i64, status: &str) -> Value {
    json!({
        "id": format!("dp_{pi_id}"), "object": "dispute", "amount": amount, "currency": "eur",
        "status": status, "charge": format!("ch_{pi_id}"), "payment_intent": pi_id, "livemode": true
    })
}

#[sqlx::test]
async fn every_order_status_is_reached_through_the_pipeline(pool: PgPool) {
    let p = Pipeline::start(pool).await;
    let mut failed = pi("pi_failed", "o_failed", "requires_payment_method", 1000, 0);
    failed["last_payment_error"] = json!({ "code": "card_declined" });
    let scenarios: Vec<Scenario> = vec![
        ("o_waiting", vec![], "awaiting_payment"),
        (
            "o_processing",
            vec![(
                "payment_intent.processing",
                pi("pi_processing", "o_processing", "processing", 1000, 0),
            )],
            "processing",
        ),
        (
            "o_paid",
            vec![(
                "payment_intent.succeeded",
                pi("pi_paid", "o_paid", "succeeded", 1000, 1000),
            )],
            "paid",
        ),
        (
            "o_failed",
            vec![("payment_intent.payment_failed", failed)],
            "payment_failed",
        ),
        (
            "o_canceled",
            vec![(
                "payment_intent.canceled",
                pi("pi_canceled", "o_canceled", "canceled", 1000, 0),
            )],
            "canceled",
        ),
        (
            "o_partial",
            vec![
                (
                    "payment_intent.succeeded",
                    pi("pi_partial", "o_partial", "succeeded", 1000, 1000),
                ),
                ("charge.refunded", charge("pi_partial", 1000, 400)),
            ],
            "partially_refunded",
        ),
        (
            "o_refunded",
            vec![
                (
                    "payment_intent.succeeded",
                    pi("pi_refunded", "o_refunded", "succeeded", 1000, 1000),
                ),
                ("charge.refunded", charge("pi_refunded", 1000, 1000)),
            ],
            "refunded",
        ),
        (
            "o_disputed",
            vec![
                (
                    "payment_intent.succeeded",
                    pi("pi_disputed", "o_disputed", "succeeded", 1000, 1000),
                ),
                (
                    "charge.dispute.created",
                    dispute("pi_disputed", 1000, "needs_response"),
                ),
            ],
            "disputed",
        ),
        (
            "o_won",
            vec![
                (
                    "payment_intent.succeeded",
                    pi("pi_won", "o_won", "succeeded", 1000, 1000),
                ),
                (
                    "charge.dispute.created",
                    dispute("pi_won", 1000, "needs_response"),
                ),
                ("charge.dispute.closed", dispute("pi_won", 1000, "won")),
            ],
            "dispute_won",
        ),
        (
            "o_lost",
            vec![
                (
                    "payment_intent.succeeded",
                    pi("pi_lost", "o_lost", "succeeded", 1000, 1000),
                ),
                (
                    "charge.dispute.funds_withdrawn",
                    dispute("pi_lost", 1000, "needs_response"),
                ),
                ("charge.dispute.closed", dispute("pi_lost", 1000, "lost")),
            ],
            "dispute_lost",
        ),
    ];
    for (order_id, events, expected) in scenarios {
        p.register_order("m_1", order_id, 1000, "eur").await;
        for (i, (event_type, object)) in events.into_iter().enumerate() {
            let body = stripe_event_at(
                &format!("evt_{order_id}_{i}"),
                event_type,
                true,
                now() + i as i64,
                object,
            );
            p.apply(&body).await;
        }
        assert_eq!(p.order(order_id).await.status, expected, "{order_id}");
    }
    let paid = p.order("o_lost").await;
    assert_eq!((paid.amount_paid, paid.amount_disputed), (1000, 1000));
    assert_eq!(p.order("o_partial").await.amount_refunded, 400);
    p.app.stop().await;
}

#[sqlx::test]
async fn every_discrepancy_kind_opens_and_clears_with_the_state(pool: PgPool) {
    let p = Pipeline::start(pool).await;

    // amount_mismatch: 900 received for an order of 1000; the platform corrects the order.
    p.register_order("m_1", "o_short", 1000, "eur").await;
    p.apply(&stripe_event(
        "evt_short",
        "payment_intent.succeeded",
        true,
        pi("pi_short", "o_short", "succeeded", 900, 900),
    ))
    .await;
    assert_eq!(
        p.open_discrepancies("amount_mismatch").await,
        vec![(Some("o_short".into()), "o_short".into())]
    );
    p.register_order("m_1", "o_short", 900, "eur").await;
    assert!(
        p.open_discrepancies("amount_mismatch").await.is_empty(),
        "resolved when the state clears it"
    );

    // currency_mismatch
    p.register_order("m_1", "o_usd", 1000, "usd").await;
    p.apply(&stripe_event(
        "evt_usd",
        "payment_intent.succeeded",
        true,
        pi("pi_usd", "o_usd", "succeeded", 1000, 1000),
    ))
    .await;
    assert_eq!(p.open_discrepancies("currency_mismatch").await.len(), 1);

    // unknown_order: paid before the order is registered, then registered.
    p.apply(&stripe_event(
        "evt_early",
        "payment_intent.succeeded",
        true,
        pi("pi_early", "o_late", "succeeded", 1000, 1000),
    ))
    .await;
    assert_eq!(
        p.open_discrepancies("unknown_order").await,
        vec![(Some("o_late".into()), "pi_early".into())]
    );
    p.register_order("m_1", "o_late", 1000, "eur").await;
    assert!(p.open_discrepancies("unknown_order").await.is_empty());
    assert_eq!(
        p.order("o_late").await.status,
        "paid",
        "an order registered after its payment still reconciles"
    );

    // unknown_order: the order belongs to another merchant.
    p.register_order("m_2", "o_theirs", 1000, "eur").await;
    p.apply(&stripe_event(
        "evt_theirs",
        "payment_intent.succeeded",
        true,
        pi("pi_theirs", "o_theirs", "succeeded", 1000, 1000),
    ))
    .await;
    assert_eq!(
        p.open_discrepancies("unknown_order").await,
        vec![(Some("o_theirs".into()), "pi_theirs".into())]
    );
    assert_eq!(
        p.order("o_theirs").await.status,
        "awaiting_payment",
        "another merchant's payment is not applied"
    );

    // duplicate_payment
    p.register_order("m_1", "o_twice", 1000, "eur").await;
    p.apply(&stripe_event(
        "evt_twice_1",
        "payment_intent.succeeded",
        true,
        pi("pi_twice_1", "o_twice", "succeeded", 1000, 1000),
    ))
    .await;
    p.apply(&stripe_event(
        "evt_twice_2",
        "payment_intent.succeeded",
        true,
        pi("pi_twice_2", "o_twice", "succeeded", 1000, 1000),
    ))
    .await;
    assert_eq!(p.open_discrepancies("duplicate_payment").await.len(), 1);

    // refund_exceeds_payment
    p.register_order("m_1", "o_over", 1000, "eur").await;
    p.apply(&stripe_event(
        "evt_over_1",
        "payment_intent.succeeded",
        true,
        pi("pi_over", "o_over", "succeeded", 1000, 1000),
    ))
    .await;
    let mut over = charge("pi_over", 1000, 1500);
    over["amount"] = json!(1500);
    p.apply(&stripe_event("evt_over_2", "charge.refunded", true, over))
        .await;
    assert_eq!(
        p.open_discrepancies("refund_exceeds_payment").await.len(),
        1
    );

    // livemode_mismatch: a test-mode event on a live profile, stored and flagged at intake.
    let test_event = stripe_event(
        "evt_testmode",
        "payment_intent.succeeded",
        false,
        pi("pi_t", "o_t", "succeeded", 1, 1),
    );
    assert_eq!(
        p.app
            .deliver(&p.profile, &p.secret, &test_event)
            .await
            .status(),
        200
    );
    let flagged = p.open_discrepancies("livemode_mismatch").await;
    assert_eq!(flagged.len(), 1);
    assert!(flagged[0].1.ends_with("/evt_testmode"));
    p.app.stop().await;
}

/// The lifecycle of one order as five events (created one second apart).
fn five_events(n: usize, t0: i64) -> Vec<String> {
    let (order, pi_id) = (format!("o_perm_{n}"), format!("pi_perm_{n}"));
    vec![
        stripe_event_at(
            &format!("evt_{n}_a"),
            "payment_intent.processing",
            true,
            t0,
            pi(&pi_id, &order, "processing", 1000, 0),
        ),
        stripe_event_at(
            &format!("evt_{n}_b"),
            "payment_intent.succeeded",
            true,
            t0 + 1,
            pi(&pi_id, &order, "succeeded", 1000, 1000),
        ),
        stripe_event_at(
            &format!("evt_{n}_c"),
            "charge.refunded",
            true,
            t0 + 2,
            charge(&pi_id, 1000, 300),
        ),
        stripe_event_at(
            &format!("evt_{n}_d"),
            "charge.refunded",
            true,
            t0 + 3,
            charge(&pi_id, 1000, 1000),
        ),
        stripe_event_at(
            &format!("evt_{n}_e"),
            "charge.dispute.closed",
            true,
            t0 + 4,
            dispute(&pi_id, 1000, "lost"),
        ),
    ]
}

fn permutations(items: &[usize]) -> Vec<Vec<usize>> {
    if items.len() <= 1 {
        return vec![items.to_vec()];
    }
    let mut all = Vec::new();
    for (i, first) in items.iter().enumerate() {
        let mut rest = items.to_vec();
        rest.remove(i);
        for mut tail in permutations(&rest) {
            tail.insert(0, *first);
            all.push(tail);
        }
    }
    all
}

/// Each order `o_perm_{n}`, whatever the order its five events came in, ends in the row the
/// last of them gives.
async fn each_order_ends_lost_in_dispute(pool: &PgPool, orders: &[Vec<usize>]) {
    let expected = OrderRow {
        status: "dispute_lost".into(),
        amount_paid: 1000,
        amount_refunded: 1000,
        amount_disputed: 1000,
        open_discrepancies: 0,
    };
    for (n, order) in orders.iter().enumerate() {
        assert_eq!(
            order_row(pool, &format!("o_perm_{n}")).await,
            expected,
            "events in the order {order:?}"
        );
    }
}

/// Delivers each order's five events in one of the 120 orders (each applied before the next is
/// sent), `copies` times each, and checks every order ends in the same row.
async fn every_delivery_order_converges(pool: PgPool, copies: usize) {
    let p = Pipeline::start(pool).await;
    let orders = permutations(&[0, 1, 2, 3, 4]);
    assert_eq!(orders.len(), 120);
    let t0 = now() - 60;
    for n in 0..orders.len() {
        p.register_order("m_1", &format!("o_perm_{n}"), 1000, "eur")
            .await;
    }
    let runs = orders.iter().enumerate().map(|(n, order)| {
        let p = &p;
        async move {
            let events = five_events(n, t0);
            for &i in order {
                for _ in 0..copies {
                    p.apply(&events[i]).await;
                }
            }
        }
    });
    futures_util::future::join_all(runs).await;

    each_order_ends_lost_in_dispute(&p.app.pool, &orders).await;
    let applied: i64 = sqlx::query_scalar("select count(*) from processed_events")
        .fetch_one(&p.app.pool)
        .await
        .expect("count");
    assert_eq!(applied, 600, "each event applied once");
    p.app.stop().await;
}

#[sqlx::test]
async fn five_events_in_all_120_delivery_orders_end_in_the_same_row(pool: PgPool) {
    every_delivery_order_converges(pool, 1).await;
}

#[sqlx::test]
async fn five_events_each_delivered_twice_in_all_120_orders_end_in_the_same_row(pool: PgPool) {
    every_delivery_order_converges(pool, 2).await;
}

/// The worker's batch path: each batch holds the events of three orders, all five of each in
/// one of the 120 orders and one of them twice, so a PaymentIntent is first seen and then
/// updated within one batch, and one recompute covers several orders. Batches run
/// concurrently, as a worker's do.
#[sqlx::test]
async fn five_events_of_each_order_in_one_batch_in_all_120_orders_end_in_the_same_row(
    pool: PgPool,
) {
    let orders = permutations(&[0, 1, 2, 3, 4]);
    let t0 = now() - 60;
    let mut messages = Vec::new();
    for (n, order) in orders.iter().enumerate() {
        register_order(&pool, "m_1", &format!("o_perm_{n}"), 1000, "eur").await;
        let events = five_events(n, t0);
        let mut stored = Vec::new();
        for &i in order {
            let event: Value = serde_json::from_str(&events[i]).expect("event");
            let id = event["id"].as_str().expect("id");
            let event_type = event["type"].as_str().expect("type");
            stored.push(stored_in_the_inbox(&pool, id, event_type, &events[i]).await);
        }
        // A redelivery inside the batch, of a different event for each order.
        stored.push(stored[n % 5].clone());
        messages.push(stored);
    }
    let context = offline_stripe_keys();
    let batches = messages.chunks(3).map(|orders| {
        let (pool, context) = (&pool, &context);
        async move {
            let batch: Vec<&StoredEvent> = orders.iter().flatten().collect();
            let applied = apply_batch(pool, Handler::Orders, context, &batch)
                .await
                .expect("the batch applies");
            let now = applied.iter().filter(|a| **a == Applied::Now).count();
            assert_eq!(now, 5 * orders.len(), "each event once, its copy not again");
        }
    });
    futures_util::future::join_all(batches).await;

    each_order_ends_lost_in_dispute(&pool, &orders).await;
    let statuses: Vec<String> =
        sqlx::query_scalar("select distinct status from stripe_payment_intents")
            .fetch_all(&pool)
            .await
            .expect("statuses");
    assert_eq!(
        statuses,
        ["succeeded"],
        "the latest state of every PaymentIntent"
    );
}

/// Deliveries are acknowledged once applied, several batches in flight at once and finishing
/// in any order: once the workers stop, no delivery goes back to the queue.
#[sqlx::test]
async fn every_applied_delivery_is_acknowledged(pool: PgPool) {
    const EVENTS: usize = 400;
    let p = Pipeline::start(pool).await;
    let bodies: Vec<String> = (0..EVENTS)
        .map(|n| {
            stripe_event(
                &format!("evt_ack_{n}"),
                "payment_intent.succeeded",
                true,
                pi(
                    &format!("pi_ack_{n}"),
                    &format!("o_ack_{n}"),
                    "succeeded",
                    1000,
                    1000,
                ),
            )
        })
        .collect();
    let deliveries = bodies.iter().map(|body| async {
        let response = p.app.deliver(&p.profile, &p.secret, body).await;
        assert_eq!(response.status(), 200);
    });
    futures_util::future::join_all(deliveries).await;
    for n in 0..EVENTS {
        p.wait_applied(&format!("evt_ack_{n}")).await;
    }
    let queue = p.app.topology.queue("orders");
    let pool = p.app.pool.clone();
    // Stopping closes the workers' channels: a delivery left unacknowledged is requeued.
    p.app.stop().await;
    let connection =
        lapin::Connection::connect(&amqp_url(), lapin::ConnectionProperties::default())
            .await
            .expect("connect");
    let channel = connection.create_channel().await.expect("channel");
    let declared = channel
        .queue_declare(
            queue.as_str().into(),
            lapin::options::QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            lapin::types::FieldTable::default(),
        )
        .await
        .expect("the orders queue");
    assert_eq!(
        declared.message_count(),
        0,
        "every delivery was acknowledged"
    );
    let applied: i64 = sqlx::query_scalar("select count(*) from processed_events")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(applied, EVENTS as i64);
}

const PROFILE: &str = "prof_000000000000000000000001";

/// Stores the event in the inbox as intake would (for merchant `m_1`), and returns it as the
/// relay publishes it.
async fn stored_in_the_inbox(
    pool: &PgPool,
    event_id: &str,
    event_type: &str,
    body: &str,
) -> StoredEvent {
    sqlx::query("insert into merchants (id) values ('m_1') on conflict do nothing")
        .execute(pool)
        .await
        .expect("merchant");
    sqlx::query(
        "insert into stripe_profiles (id, merchant_id, name, mode) values ($1, 'm_1', 'Bar', 'live')
         on conflict do nothing",
    )
    .bind(PROFILE)
    .execute(pool)
    .await
    .expect("profile");
    let created: OffsetDateTime = sqlx::query_scalar(
        "insert into inbox_events (profile_id, merchant_id, event_id, event_type, livemode,
            event_created_at, raw_body)
         values ($1, 'm_1', $2, $3, true, date_trunc('second', now()), $4)
         returning event_created_at",
    )
    .bind(PROFILE)
    .bind(event_id)
    .bind(event_type)
    .bind(body.as_bytes())
    .fetch_one(pool)
    .await
    .expect("stored");
    // As the relay publishes it: with Stripe's `created`, which narrows the read-back.
    StoredEvent {
        created: Some(created),
        ..message(event_id, event_type, body)
    }
}

fn message(event_id: &str, event_type: &str, body: &str) -> StoredEvent {
    StoredEvent {
        event_id: EventId::from_stored(event_id),
        profile_id: PROFILE.into(),
        merchant_id: MerchantId::from_stored("m_1"),
        event_type: event_type.into(),
        body: body.as_bytes().to_vec().into(),
        created: None,
        signature: None,
    }
}

/// `event` as a relay holding `secret_box`'s master key publishes it, delivered: signed.
fn signed_by(event: &StoredEvent, secret_box: &accredito::crypto::SecretBox) -> StoredEvent {
    let mut delivery =
        lapin::message::Delivery::mock(1, "".into(), "".into(), false, event.body.to_vec());
    delivery.properties = accredito::amqp::message::properties_of(event, Some(secret_box));
    accredito::amqp::message::event_of(&delivery).expect("a well-formed message")
}

/// Keys for handlers that never call Stripe (the orders handler).
fn offline_stripe_keys() -> StripeKeys {
    StripeKeys {
        stripe: accredito::stripe::client::StripeClient::new("http://127.0.0.1:9").expect("client"),
        secret_box: std::sync::Arc::new(
            accredito::crypto::SecretBox::from_master_key(Some(&secrecy::SecretString::from(
                accredito::crypto::SecretBox::generate_master_key(),
            )))
            .expect("key"),
        ),
    }
}

#[sqlx::test]
async fn a_message_the_relay_signed_is_applied_without_reading_the_inbox_and_once_only(
    pool: PgPool,
) {
    register_order(&pool, "m_1", "o_1", 1000, "eur").await;
    let context = offline_stripe_keys();
    let body = refund_of_pi_1("evt_signed", 300);
    // With `created`, as the relay publishes every stored event. Left out of the inbox here
    // to show the worker does not look there: the relay signs only what it read from it.
    let published = StoredEvent {
        created: Some(
            OffsetDateTime::now_utc()
                .replace_nanosecond(0)
                .expect("time"),
        ),
        ..message("evt_signed", "charge.refunded", &body)
    };
    let signed = signed_by(&published, &context.secret_box);
    assert!(signed.signature.is_some());

    let first = apply_batch(&pool, Handler::Orders, &context, &[&signed, &signed])
        .await
        .expect("applies");
    let again = apply_once(&pool, Handler::Orders, &context, &signed)
        .await
        .expect("applies");

    assert_eq!(first, [Applied::Now, Applied::Before]);
    assert_eq!(
        again,
        Applied::Before,
        "the record of handled events is still read"
    );
    assert_eq!(refunded(&pool, "pi_1").await, 300);
}

#[sqlx::test]
async fn a_message_signed_under_another_key_or_altered_after_signing_is_read_back(pool: PgPool) {
    register_order(&pool, "m_1", "o_1", 1000, "eur").await;
    let context = offline_stripe_keys();
    let other_deployment = offline_stripe_keys().secret_box;
    // Signed, but not by this deployment's relay, and stored nowhere: refused.
    let forged_body = refund_of_pi_1("evt_forged", 900);
    let forged = signed_by(
        &message("evt_forged", "charge.refunded", &forged_body),
        &other_deployment,
    );
    let refused = apply_once(&pool, Handler::Orders, &context, &forged).await;
    assert_refused(&refused);
    assert_eq!(refunded(&pool, "pi_1").await, 0);

    // Signed by the relay, then given another body on the way: the stored body is applied.
    let body = refund_of_pi_1("evt_real", 300);
    let stored = stored_in_the_inbox(&pool, "evt_real", "charge.refunded", &body).await;
    let mut altered = signed_by(&stored, &context.secret_box);
    altered.body = forged_body.into_bytes().into();
    // In a batch with a message that is intact: the batch is read back whole.
    let intact_body = stripe_event(
        "evt_other",
        "payment_intent.succeeded",
        true,
        json!({"id": "pi_2", "object": "payment_intent", "amount": 500, "amount_received": 500,
               "currency": "eur", "status": "succeeded", "metadata": {}}),
    );
    let intact = signed_by(
        &stored_in_the_inbox(&pool, "evt_other", "payment_intent.succeeded", &intact_body).await,
        &context.secret_box,
    );
    assert_eq!(
        apply_batch(&pool, Handler::Orders, &context, &[&altered, &intact])
            .await
            .expect("applies the stored events"),
        [Applied::Now, Applied::Now]
    );
    assert_eq!(refunded(&pool, "pi_1").await, 300);
}

/// `charge.refunded` for pi_1's charge of 1000, `refunded` of it refunded.
fn refund_of_pi_1(event_id: &str, refunded: i64) -> String {
    stripe_event(
        event_id,
        "charge.refunded",
        true,
        charge("pi_1", 1000, refunded),
    )
}

fn assert_refused<T: std::fmt::Debug>(result: &Result<T, accredito::worker::HandlerError>) {
    assert!(
        matches!(result, Err(accredito::worker::HandlerError::Refused(_))),
        "{result:?}"
    );
}

/// What the stored charges of the PaymentIntent say was refunded (0 when none is stored).
async fn refunded(pool: &PgPool, payment_intent_id: &str) -> i64 {
    sqlx::query_scalar(
        "select coalesce(sum(amount_refunded), 0)::bigint from stripe_charges where payment_intent_id = $1",
    )
    .bind(payment_intent_id)
    .fetch_one(pool)
    .await
    .expect("charges")
}

#[sqlx::test]
async fn a_message_that_is_not_a_stored_event_changes_nothing(pool: PgPool) {
    register_order(&pool, "m_1", "o_1", 1000, "eur").await;
    let context = offline_stripe_keys();
    // Forged: published straight to the broker, never received from Stripe.
    let forged_body = refund_of_pi_1("evt_forged1", 900);
    let forged = message("evt_forged1", "charge.refunded", &forged_body);
    let refused = apply_once(&pool, Handler::Orders, &context, &forged).await;
    assert_refused(&refused);
    assert_eq!(refunded(&pool, "pi_1").await, 0);

    // Altered: a stored event's id with another body. The stored body is the one applied.
    let body = refund_of_pi_1("evt_real", 300);
    let stored = stored_in_the_inbox(&pool, "evt_real", "charge.refunded", &body).await;
    let mut altered = stored.clone();
    altered.body = forged_body.into_bytes().into();
    assert_eq!(
        apply_once(&pool, Handler::Orders, &context, &altered)
            .await
            .expect("applies the stored event"),
        Applied::Now
    );
    assert_eq!(refunded(&pool, "pi_1").await, 300);

    // Another merchant's claim on a stored event is refused too.
    let mut misdirected = stored.clone();
    misdirected.merchant_id = MerchantId::from_stored("m_2");
    let refused = apply_once(&pool, Handler::Orders, &context, &misdirected).await;
    assert!(matches!(
        refused,
        Err(accredito::worker::HandlerError::Refused(_))
    ));

    // So is a stored event's id with a `created` that is not the stored event's: the
    // read-back looks in that month's partition only, and finds nothing there.
    let mut misdated = stored;
    misdated.created = misdated.created.map(|c| c - time::Duration::days(40));
    let refused = apply_once(&pool, Handler::Orders, &context, &misdated).await;
    assert_refused(&refused);
}

#[sqlx::test]
async fn a_message_published_without_its_created_time_is_still_applied(pool: PgPool) {
    register_order(&pool, "m_1", "o_1", 1000, "eur").await;
    let body = refund_of_pi_1("evt_old_relay", 400);
    // As a relay from before the `event_created` header published it: the read-back then
    // looks in every partition of the inbox.
    let stored = stored_in_the_inbox(&pool, "evt_old_relay", "charge.refunded", &body).await;
    let without_created = StoredEvent {
        created: None,
        ..stored
    };
    let context = offline_stripe_keys();
    assert_eq!(
        apply_once(&pool, Handler::Orders, &context, &without_created)
            .await
            .expect("applies the stored event"),
        Applied::Now
    );
    assert_eq!(refunded(&pool, "pi_1").await, 400);
}

#[sqlx::test]
async fn an_event_redelivered_after_its_commit_is_not_applied_again(pool: PgPool) {
    register_order(&pool, "m_1", "o_1", 1000, "eur").await;
    let body = refund_of_pi_1("evt_once", 300);
    let message = stored_in_the_inbox(&pool, "evt_once", "charge.refunded", &body).await;
    let context = offline_stripe_keys();
    // The first delivery commits; the worker dies before its ack, so RabbitMQ delivers again.
    assert_eq!(
        apply_once(&pool, Handler::Orders, &context, &message)
            .await
            .expect("applies"),
        Applied::Now
    );
    assert_eq!(
        apply_once(&pool, Handler::Orders, &context, &message)
            .await
            .expect("no-op"),
        Applied::Before
    );
    let claims: i64 = sqlx::query_scalar("select count(*) from processed_events")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(claims, 1);
}

#[sqlx::test]
async fn redelivered_messages_through_rabbitmq_are_acknowledged_without_effect(pool: PgPool) {
    let p = Pipeline::start(pool).await;
    p.register_order("m_1", "o_1", 1000, "eur").await;
    let body = stripe_event(
        "evt_dup",
        "payment_intent.succeeded",
        true,
        pi("pi_1", "o_1", "succeeded", 1000, 1000),
    );
    p.apply(&body).await;
    // Publish the same stored event twice more straight onto the work queue, as a broker
    // redelivery after a lost ack would.
    let connection =
        lapin::Connection::connect(&amqp_url(), lapin::ConnectionProperties::default())
            .await
            .expect("amqp");
    let channel = connection.create_channel().await.expect("channel");
    for _ in 0..2 {
        let mut headers = lapin::types::FieldTable::default();
        for (k, v) in [
            ("profile_id", p.profile.as_str()),
            ("merchant_id", "m_1"),
            ("event_type", "payment_intent.succeeded"),
        ] {
            headers.insert(k.into(), lapin::types::AMQPValue::LongString(v.into()));
        }
        channel
            .basic_publish(
                "".into(),
                p.app.topology.queue("orders").as_str().into(),
                Default::default(),
                body.as_bytes(),
                lapin::BasicProperties::default()
                    .with_message_id("evt_dup".into())
                    .with_headers(headers),
            )
            .await
            .expect("publish");
    }
    eventually("both redeliveries acknowledged", WAIT, || async {
        p.app
            .metrics()
            .await
            .contains(r#"accredito_worker_events_total{handler="orders",outcome="duplicate"} 2"#)
            .then_some(())
    })
    .await;
    assert_eq!(p.order("o_1").await.amount_paid, 1000);
    p.app.stop().await;
}

#[sqlx::test]
async fn a_failing_event_is_retried_then_parked_then_redriven_by_the_command(pool: PgPool) {
    let p = Pipeline::start(pool.clone()).await;
    p.register_order("m_1", "o_1", 1000, "eur").await;
    p.apply(&stripe_event(
        "evt_pi",
        "payment_intent.succeeded",
        true,
        pi("pi_1", "o_1", "succeeded", 1000, 1000),
    ))
    .await;
    // Break the charges table: every attempt fails with a database error (retryable).
    sqlx::query("alter table stripe_charges rename to stripe_charges_away")
        .execute(&pool)
        .await
        .expect("rename");
    let body = refund_of_pi_1("evt_refund", 1000);
    assert_eq!(
        p.app.deliver(&p.profile, &p.secret, &body).await.status(),
        200
    );

    let (attempts, error): (i32, String) =
        eventually("parked after the last attempt", WAIT, || async {
            sqlx::query_as("select attempts, error from dead_letters where event_id = 'evt_refund'")
                .fetch_optional(&pool)
                .await
                .expect("query")
        })
        .await;
    assert_eq!(attempts, 3, "max_attempts in the test settings");
    assert!(error.contains("stripe_charges"), "{error}");
    let mut dead = p.app.queue("dead").await;
    let parked = dead
        .next(Duration::from_secs(10))
        .await
        .expect("a copy in the dead-letter queue");
    assert_eq!(parked.message_id, "evt_refund");
    assert!(
        parked.headers["x-accredito-error"]
            .as_str()
            .expect("error header")
            .contains("stripe_charges")
    );
    assert_eq!(
        p.order("o_1").await.status,
        "paid",
        "nothing of the failed event was applied"
    );
    let metrics = p.app.metrics().await;
    assert!(
        metrics.contains(r#"accredito_worker_events_total{handler="orders",outcome="retried"} 2"#),
        "{metrics}"
    );

    // Fixed; the operator redrives it with the command.
    sqlx::query("alter table stripe_charges_away rename to stripe_charges")
        .execute(&pool)
        .await
        .expect("rename back");
    let prefix = p
        .app
        .topology
        .exchange()
        .trim_end_matches(".events")
        .to_owned();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_accredito"))
            .args(args)
            .env("DATABASE_URL", database_url_of(&pool))
            .env("AMQP_URL", amqp_url())
            .env("ACCREDITO_AMQP_PREFIX", &prefix)
            .output()
            .expect("runs")
    };
    let listed = run(&["dlq", "list"]);
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    let listed: Value = serde_json::from_slice(&listed.stdout).expect("json");
    assert_eq!(listed[0]["event_id"], "evt_refund");
    assert_eq!(listed[0]["attempts"], 3);
    let redriven = run(&["dlq", "redrive", "--event", "evt_refund"]);
    assert!(
        redriven.status.success(),
        "{}",
        String::from_utf8_lossy(&redriven.stderr)
    );
    assert_eq!(
        serde_json::from_slice::<Value>(&redriven.stdout).expect("json")["redriven"],
        1
    );

    p.wait_applied("evt_refund").await;
    assert_eq!(p.order("o_1").await.status, "refunded");
    let still_parked: i64 =
        sqlx::query_scalar("select count(*) from dead_letters where redriven_at is null")
            .fetch_one(&pool)
            .await
            .expect("count");
    assert_eq!(still_parked, 0);
    p.app.stop().await;
}

#[sqlx::test]
async fn a_malformed_object_is_parked_at_once_as_permanent(pool: PgPool) {
    let p = Pipeline::start(pool.clone()).await;
    let broken = json!({ "id": "pi_broken", "object": "payment_intent", "status": "succeeded" });
    let body = stripe_event("evt_broken", "payment_intent.succeeded", true, broken);
    assert_eq!(
        p.app.deliver(&p.profile, &p.secret, &body).await.status(),
        200
    );
    let (attempts, error): (i32, String) = eventually("parked", WAIT, || async {
        sqlx::query_as("select attempts, error from dead_letters where event_id = 'evt_broken'")
            .fetch_optional(&pool)
            .await
            .expect("query")
    })
    .await;
    assert_eq!(attempts, 1, "a permanent error is not retried");
    assert!(error.contains("malformed"), "{error}");
    p.app.stop().await;
}

#[sqlx::test]
async fn workers_resume_after_losing_rabbitmq(pool: PgPool) {
    let proxy = CuttableProxy::start("127.0.0.1:5672".parse().expect("address")).await;
    let options = AppOptions {
        roles: Role::all(),
        amqp_url: format!("amqp://guest:guest@{}/%2f", proxy.addr),
        ..AppOptions::default()
    };
    let app = spawn_app_with(pool, options).await;
    let secret = random_secret();
    let profile = app.create_profile("m_1", &secret).await;
    let p = Pipeline {
        app,
        profile,
        secret,
    };
    p.register_order("m_1", "o_1", 1000, "eur").await;
    p.apply(&stripe_event(
        "evt_1",
        "payment_intent.succeeded",
        true,
        pi("pi_1", "o_1", "succeeded", 1000, 1000),
    ))
    .await;

    proxy.cut();
    let refund = stripe_event("evt_2", "charge.refunded", true, charge("pi_1", 1000, 1000));
    assert_eq!(
        p.app.deliver(&p.profile, &p.secret, &refund).await.status(),
        200
    );
    proxy.restore();

    p.wait_applied("evt_2").await;
    assert_eq!(p.order("o_1").await.status, "refunded");
    p.app.stop().await;
}

#[sqlx::test]
async fn refunds_of_one_order_applied_concurrently_all_count(pool: PgPool) {
    let p = Pipeline::start(pool).await;
    p.register_order("m_1", "o_1", 100_000, "eur").await;
    p.apply(&stripe_event(
        "evt_pi",
        "payment_intent.succeeded",
        true,
        pi("pi_1", "o_1", "succeeded", 100_000, 100_000),
    ))
    .await;
    // Many refunds at once: workers apply them in concurrent transactions that all reconcile
    // the same order; each must see what the others committed.
    let bodies: Vec<String> = (0..60)
        .map(|i| {
            let refund = json!({
                "id": format!("re_{i}"), "object": "refund", "amount": 100, "currency": "eur",
                "status": "succeeded", "charge": "ch_pi_1", "payment_intent": "pi_1"
            });
            stripe_event(&format!("evt_re_{i}"), "refund.created", true, refund)
        })
        .collect();
    let deliveries = bodies
        .iter()
        .map(|b| p.app.deliver(&p.profile, &p.secret, b));
    for response in futures_util::future::join_all(deliveries).await {
        assert_eq!(response.status(), 200);
    }
    for i in 0..60 {
        p.wait_applied(&format!("evt_re_{i}")).await;
    }
    let row = p.order("o_1").await;
    assert_eq!(
        (row.status.as_str(), row.amount_refunded),
        ("partially_refunded", 6_000)
    );
    p.app.stop().await;
}

/// Two batches updating the same stored PaymentIntents, their events listed in opposite
/// orders, both apply as batches, round after round: rows are locked in id order, whatever
/// order the events came in, so neither batch waits on the other in a cycle. (A deadlock fails
/// one batch, which the consumer then replays one event at a time, a second late.)
#[sqlx::test]
async fn batches_updating_the_same_payment_intents_in_opposite_orders_do_not_deadlock(
    pool: PgPool,
) {
    const INTENTS: usize = 12;
    const ROUNDS: i64 = 4;
    let context = offline_stripe_keys();
    let t0 = now() - 600;
    let intent = |n: usize| (format!("pi_lock_{n:02}"), format!("o_lock_{n:02}"));
    let mut first_sightings = Vec::new();
    for n in 0..INTENTS {
        let (pi_id, order) = intent(n);
        register_order(&pool, "m_1", &order, 1000, "eur").await;
        let body = stripe_event_at(
            &format!("evt_lock_{n}"),
            "payment_intent.created",
            true,
            t0,
            pi(&pi_id, &order, "requires_payment_method", 1000, 0),
        );
        first_sightings.push(
            stored_in_the_inbox(
                &pool,
                &format!("evt_lock_{n}"),
                "payment_intent.created",
                &body,
            )
            .await,
        );
    }
    let first: Vec<&StoredEvent> = first_sightings.iter().collect();
    apply_batch(&pool, Handler::Orders, &context, &first)
        .await
        .expect("the first sightings apply");

    for round in 1..=ROUNDS {
        let mut sides = Vec::new();
        for side in ["up", "down"] {
            let mut stored = Vec::new();
            for n in 0..INTENTS {
                let (pi_id, order) = intent(n);
                let id = format!("evt_lock_{round}_{side}_{n}");
                let body = stripe_event_at(
                    &id,
                    "payment_intent.requires_action",
                    true,
                    t0 + round,
                    pi(&pi_id, &order, "requires_action", 1000, 0),
                );
                stored.push(
                    stored_in_the_inbox(&pool, &id, "payment_intent.requires_action", &body).await,
                );
            }
            if side == "down" {
                stored.reverse();
            }
            sides.push(stored);
        }
        let up: Vec<&StoredEvent> = sides[0].iter().collect();
        let down: Vec<&StoredEvent> = sides[1].iter().collect();
        let (up, down) = tokio::join!(
            apply_batch(&pool, Handler::Orders, &context, &up),
            apply_batch(&pool, Handler::Orders, &context, &down),
        );
        assert!(
            up.is_ok() && down.is_ok(),
            "round {round}: both batches apply (up: {:?}, down: {:?})",
            up.err(),
            down.err()
        );
    }
    let statuses: Vec<String> = sqlx::query_scalar(
        "select distinct status from stripe_payment_intents where id like 'pi_lock_%'",
    )
    .fetch_all(&pool)
    .await
    .expect("statuses");
    assert_eq!(statuses, ["requires_action"], "the latest state of each");
}
