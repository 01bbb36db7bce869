//! G4 through the real pipeline, checked against a model: the books (every order's
//! reconciliation row, the open discrepancies, the payouts and their lines) are a function of
//! the set of Stripe facts received, whatever the arrival order, duplication, concurrency and
//! number of workers.
//!
//! One app takes webhooks and relays them (ingest + relay); two more apps run the workers on
//! the same queues, so they compete for deliveries. A seeded generator ([`story`]) writes
//! random histories of orders and payouts; each order's events are sent together in a random
//! order, bursts overlapping; then the books are compared with [`model`].
//!
//! `ACCREDITO_CONVERGENCE_SEED` replays a seed (printed at the start of every run);
//! `ACCREDITO_CONVERGENCE_ORDERS` sets the number of orders (150 by default; 10000 is the soak
//! run).

mod compare;
mod model;
mod story;

use std::cell::Cell;
use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use accredito::amqp::QueueType;
use accredito::amqp::topology::bindings;
use accredito::app::{self, RunningService, ServiceConfig};
use accredito::config::{LogFormat, Role};
use accredito::crypto::SecretBox;
use accredito::domain::StripeMode;
use accredito::domain::WorkQueue;
use accredito::stripe::signature;
use accredito::worker::consumer::WorkerSettings;
use futures_util::StreamExt;
use rand::SeedableRng;
use rand::rngs::StdRng;
use secrecy::SecretString;
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use tokio_util::sync::CancellationToken;

use crate::fake_stripe::{FakeStripe, VALID_KEY};
use crate::helpers::*;
use story::{OrderStory, Send, Shapes};

/// Requests in flight at once (webhook deliveries and order registrations).
const IN_FLIGHT: usize = 48;
const DEFAULT_ORDERS: usize = 150;

/// What the processes of one deployment share.
struct Deployment {
    /// RabbitMQ names.
    prefix: String,
    /// The fake Stripe.
    stripe_api_base: String,
    /// So that the workers open the Stripe key the ingest app sealed (`spawn_app_with` gives
    /// each app a key of its own).
    master_key: String,
    /// Unused queues vanish after this: longer than the test, or the retry queues (which never
    /// have consumers) vanish under a long run, and a retry published then is dropped.
    queues_expire_after: Duration,
}

/// One accredito process, with [`spawn_app_with`]'s test settings in a shared [`Deployment`].
struct App {
    addr: SocketAddr,
    admin_addr: SocketAddr,
    client: reqwest::Client,
    service: RunningService,
}

impl App {
    async fn start(pool: PgPool, roles: Vec<Role>, deployment: &Deployment) -> Self {
        accredito::telemetry::init(LogFormat::Pretty);
        let prefix = deployment.prefix.clone();
        let mut settings = test_settings(StripeMode::Live, amqp_url(), prefix);
        settings.master_key = Some(SecretString::from(deployment.master_key.clone()));
        settings.stripe_api_base = deployment.stripe_api_base.clone();
        let mut config = ServiceConfig::new(settings, roles);
        // As in `spawn_app_with`: queues that vanish after the test, quick catch-up and retries.
        let expire = deployment.queues_expire_after.as_millis();
        config.topology.ephemeral_after_ms = Some(u32::try_from(expire).expect("under 49 days"));
        config.topology.queue_type = QueueType::Classic;
        config.catch_up_every = Duration::from_millis(200);
        config.stripe_retry = Some(fast_stripe_retries());
        config.worker = WorkerSettings {
            prefetch: 32,
            max_attempts: 3,
            retry_base: Duration::from_millis(50),
        };
        let service = app::start(
            config,
            pool,
            test_listeners().await,
            CancellationToken::new(),
        )
        .await
        .expect("app starts");
        App {
            addr: service.addr,
            admin_addr: service.admin_addr,
            client: http_client(),
            service,
        }
    }

    fn url(&self, path: &str) -> String {
        listener_url(self.addr, self.admin_addr, path)
    }

    async fn metrics(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }

    /// An admin request with a JSON body; returns the status and the body.
    async fn admin(&self, method: reqwest::Method, path: &str, body: &Value) -> (u16, String) {
        let response = self
            .client
            .request(method, self.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .json(body)
            .send()
            .await
            .expect("request");
        let status = response.status().as_u16();
        (status, response.text().await.expect("body"))
    }

    async fn stop(self) {
        self.service.shutdown();
        self.service.wait().await.expect("service stops cleanly");
    }
}

/// An ingest + relay app and two worker apps on one topology, a fake Stripe that serves
/// payouts' balance transactions, and the profile of merchant `m_1` with a key it accepts.
struct Pipeline {
    ingest: App,
    workers: Vec<App>,
    /// Serves the payouts' balance transactions while the workers run.
    _fake: FakeStripe,
    profile: String,
    secret: String,
    /// Each app's own pool, as separate processes would have.
    pools: Vec<PgPool>,
    /// The test's pool, for reading the books.
    pool: PgPool,
}

/// A pool of its own on the test's database.
fn own_pool(pool: &PgPool, size: u32) -> PgPool {
    PgPoolOptions::new()
        .max_connections(size)
        .acquire_timeout(Duration::from_secs(60))
        .connect_lazy_with(pool.connect_options().as_ref().clone())
}

impl Pipeline {
    /// Apps that may run for up to `run_for`.
    async fn start(pool: PgPool, fake: FakeStripe, run_for: Duration) -> Self {
        let deployment = Deployment {
            prefix: unique_prefix(),
            stripe_api_base: fake.base_url(),
            master_key: SecretBox::generate_master_key(),
            queues_expire_after: run_for + Duration::from_secs(300),
        };
        let pools = vec![
            own_pool(&pool, 16),
            own_pool(&pool, 12),
            own_pool(&pool, 12),
        ];
        let ingest_roles = vec![Role::Ingest, Role::Relay];
        let ingest = App::start(pools[0].clone(), ingest_roles, &deployment).await;
        let mut workers = Vec::new();
        for worker_pool in &pools[1..] {
            let roles = vec![Role::Workers];
            workers.push(App::start(worker_pool.clone(), roles, &deployment).await);
        }
        let secret = random_secret();
        let created = json!({ "merchant_id": story::MERCHANT, "name": "Bar Centrale", "webhook_secret": secret });
        let (status, body) = ingest
            .admin(reqwest::Method::POST, "/v1/profiles", &created)
            .await;
        assert_eq!(status, 201, "{body}");
        let profile = serde_json::from_str::<Value>(&body).expect("json")["id"]
            .as_str()
            .expect("a profile id")
            .to_owned();
        // The payouts worker lists balance transactions with the profile's key.
        let path = format!("/v1/profiles/{profile}/secret-key");
        let (status, body) = ingest
            .admin(
                reqwest::Method::PUT,
                &path,
                &json!({ "secret_key": VALID_KEY }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        Pipeline {
            ingest,
            workers,
            _fake: fake,
            profile,
            secret,
            pools,
            pool,
        }
    }

    async fn send(&self, send: Send<'_>) {
        match send {
            Send::Event(body) => self.deliver(body).await,
            Send::Register(order) => self.register(order).await,
        }
    }

    /// Sends everything, `IN_FLIGHT` requests at a time, starting them in the given order.
    async fn send_all(&self, sends: &[Send<'_>]) {
        futures_util::stream::iter(sends.iter().copied())
            .for_each_concurrent(IN_FLIGHT, |send| self.send(send))
            .await;
    }

    /// Delivers a webhook as Stripe would (signed now); a 5xx is retried.
    async fn deliver(&self, body: &str) {
        let url = self
            .ingest
            .url(&format!("/webhooks/stripe/{}", self.profile));
        for attempt in 1.. {
            let header = signature::sign(body.as_bytes(), &self.secret, now());
            let response = self
                .ingest
                .client
                .post(&url)
                .header("Stripe-Signature", header)
                .body(body.to_owned())
                .send()
                .await
                .expect("request");
            let status = response.status();
            if status == 200 {
                return;
            }
            let text = response.text().await.unwrap_or_default();
            assert!(
                status.is_server_error() && attempt < 10,
                "webhook answered {status} (attempt {attempt}): {text}\n{body}"
            );
            tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
        }
    }

    /// `PUT /v1/orders/{id}`; a 503 (the registration lost a race: "retrying can help") is
    /// retried.
    async fn register(&self, order: &OrderStory) {
        let body = order.registration_body();
        let path = format!("/v1/orders/{}", order.order_id);
        for attempt in 1.. {
            let (status, text) = self.ingest.admin(reqwest::Method::PUT, &path, &body).await;
            if status == 200 {
                return;
            }
            assert!(
                status == 503 && attempt < 10,
                "registering {} answered {status} (attempt {attempt}): {text}",
                order.order_id
            );
            tokio::time::sleep(Duration::from_millis(50 * attempt)).await;
        }
    }

    /// Waits until every event is in the inbox, published, and applied by every handler whose
    /// queue takes it (`claims`), and every delivery has finished, including what a handler
    /// does after its commit: the workers have reported an outcome for each message the relay
    /// published. A parked event fails the test at once.
    async fn wait_until_quiet(&self, events: usize, claims: usize, timeout: Duration) {
        let (events, claims) = (events as i64, claims as i64);
        let started = Instant::now();
        let last_report = Cell::new(Instant::now());
        let applied_at_last_report = Cell::new(-1);
        eventually(
            "every event applied by its handlers and every delivery finished",
            timeout,
            || async {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let (inbox, unpublished, applied, parked): (i64, i64, i64, i64) = sqlx::query_as(
                    "select (select count(*) from inbox_events),
                            (select count(*) from inbox_unpublished),
                            (select count(*) from processed_events),
                            (select count(*) from dead_letters)",
                )
                .fetch_one(&self.pool)
                .await
                .expect("progress");
                if parked > 0 {
                    self.fail_with_dead_letters().await;
                }
                let published = metric_sum(&self.ingest.metrics().await, |line| {
                    line.starts_with("accredito_relay_publishes_total{")
                        && line.contains(r#"outcome="confirmed""#)
                });
                let mut finished = 0;
                for worker in &self.workers {
                    finished += metric_sum(&worker.metrics().await, |line| {
                        line.starts_with("accredito_worker_events_total{")
                            && !line.contains(r#"outcome="retried""#)
                    });
                }
                if last_report.get().elapsed() > Duration::from_secs(10) {
                    last_report.set(Instant::now());
                    eprintln!(
                        "  after {:.0?}: inbox {inbox}/{events}, unpublished {unpublished}, applied {applied}/{claims}, deliveries finished {finished}/{published}",
                        started.elapsed()
                    );
                    if applied == applied_at_last_report.replace(applied) && applied < claims {
                        self.print_unapplied().await;
                    }
                }
                (inbox == events && unpublished == 0 && applied == claims && finished >= published)
                    .then_some(())
            },
        )
        .await;
    }

    /// Events stored but not applied, when progress stalls.
    async fn print_unapplied(&self) {
        let stalled: Vec<(String, String)> = sqlx::query_as(
            "select i.event_id, i.event_type from inbox_events i
             where not exists (select 1 from processed_events p
                               where p.profile_id = i.profile_id and p.event_id = i.event_id)
             order by i.id limit 10",
        )
        .fetch_all(&self.pool)
        .await
        .expect("unapplied events");
        for (id, event_type) in stalled {
            eprintln!("    not applied yet: {id} {event_type}");
        }
    }

    async fn fail_with_dead_letters(&self) -> ! {
        let parked: Vec<(String, String, String, String)> = sqlx::query_as(
            "select handler, event_id, event_type, error from dead_letters order by id limit 20",
        )
        .fetch_all(&self.pool)
        .await
        .expect("dead letters");
        let lines: Vec<String> = parked
            .iter()
            .map(|(h, id, t, e)| format!("  {h} {id} {t}: {e}"))
            .collect();
        panic!(
            "events were parked instead of applied:\n{}",
            lines.join("\n")
        );
    }

    async fn stop(self) {
        for worker in self.workers {
            worker.stop().await;
        }
        self.ingest.stop().await;
        for pool in self.pools {
            pool.close().await;
        }
    }
}

/// The sum of the values of the metric lines `wanted` keeps.
fn metric_sum(text: &str, wanted: impl Fn(&str) -> bool) -> i64 {
    text.lines()
        .filter(|line| wanted(line))
        .filter_map(|line| line.rsplit(' ').next()?.parse::<f64>().ok())
        .sum::<f64>() as i64
}

/// Whether a topic binding (`stripe.charge.#`) takes a routing key (`stripe.charge.refunded`).
fn topic_matches(binding: &[&str], key: &[&str]) -> bool {
    match (binding.first(), key.first()) {
        (None, None) => true,
        (Some(&"#"), _) => {
            topic_matches(&binding[1..], key)
                || (!key.is_empty() && topic_matches(binding, &key[1..]))
        }
        (Some(&"*"), Some(_)) => topic_matches(&binding[1..], &key[1..]),
        (Some(word), Some(k)) => word == k && topic_matches(&binding[1..], &key[1..]),
        _ => false,
    }
}

/// How many (handler, event) applications `events` (unique ids, with their types) make: one
/// per work queue bound to the event's routing key.
fn claims_of<'a>(events: impl Iterator<Item = &'a str>) -> usize {
    events
        .map(|event_type| {
            let key = format!("stripe.{event_type}");
            let key: Vec<&str> = key.split('.').collect();
            WorkQueue::ALL
                .into_iter()
                .filter(|q| {
                    bindings(*q)
                        .iter()
                        .any(|b| topic_matches(&b.split('.').collect::<Vec<_>>(), &key))
                })
                .count()
        })
        .sum()
}

fn seed() -> u64 {
    match std::env::var("ACCREDITO_CONVERGENCE_SEED") {
        Ok(seed) => seed
            .trim()
            .parse()
            .expect("ACCREDITO_CONVERGENCE_SEED is an unsigned integer"),
        Err(_) => rand::random(),
    }
}

fn order_count() -> usize {
    match std::env::var("ACCREDITO_CONVERGENCE_ORDERS") {
        Ok(n) => n
            .trim()
            .parse()
            .expect("ACCREDITO_CONVERGENCE_ORDERS is a number of orders"),
        Err(_) => DEFAULT_ORDERS,
    }
}

#[sqlx::test]
async fn random_order_histories_delivered_concurrently_to_two_workers_match_the_model(
    pool: PgPool,
) {
    let seed = seed();
    let orders = order_count();
    eprintln!("convergence seed: {seed} (replay with ACCREDITO_CONVERGENCE_SEED={seed})");
    let mut rng = StdRng::seed_from_u64(seed);
    let shapes = Shapes::default();
    let world = story::world(&mut rng, &shapes, orders, now());
    let schedule = story::schedule(&mut rng, &world);
    let expected = model::expect(&world);

    let mut fake = FakeStripe::builder();
    for payout in &world.payouts {
        fake = fake.balance_transactions(&payout.id, payout.served.clone());
    }
    // About 8 minutes for 10000 orders on 2 cores; generous beyond that.
    let budget = Duration::from_secs(120) + Duration::from_millis(150) * orders as u32;
    let p = Pipeline::start(pool.clone(), fake.start().await, budget).await;

    let events: BTreeMap<&str, &str> = world
        .orders
        .iter()
        .flat_map(|o| &o.events)
        .chain(world.payouts.iter().flat_map(|p| &p.events))
        .map(|e| (e.id.as_str(), e.event_type.as_str()))
        .collect();
    let claims = claims_of(events.values().copied());
    eprintln!(
        "{orders} orders ({} registered), {} payouts, {} events, {} requests",
        expected.orders.len(),
        world.payouts.len(),
        events.len(),
        schedule.len()
    );
    let started = Instant::now();
    let left = || budget.saturating_sub(started.elapsed());
    p.send_all(&schedule.before).await;
    p.send_all(&schedule.burst).await;
    eprintln!("sent in {:.1?}", started.elapsed());
    p.wait_until_quiet(events.len(), claims, left()).await;
    eprintln!("applied after {:.1?}", started.elapsed());
    p.send_all(&schedule.after).await;
    p.wait_until_quiet(events.len(), claims, left()).await;

    let books = compare::read_books(&pool).await;
    let report = compare::compare(&world, &expected, &books);
    eprintln!("compared after {:.1?}", started.elapsed());
    p.stop().await;
    if !report.is_empty() {
        report.print(seed);
        panic!(
            "{} mismatches with the model; replay with ACCREDITO_CONVERGENCE_SEED={seed} ACCREDITO_CONVERGENCE_ORDERS={orders}",
            report.total()
        );
    }
}

#[sqlx::test]
async fn payment_and_refund_sent_together_for_many_orders_all_count_the_refund(pool: PgPool) {
    const ORDERS: usize = 240;
    let budget = Duration::from_secs(120);
    let p = Pipeline::start(pool.clone(), FakeStripe::builder().start().await, budget).await;
    let shapes = Shapes::default();
    let t0 = now() - 86_400;
    let mut orders = Vec::new();
    let mut bodies: Vec<Vec<String>> = Vec::new();
    let mut event_types = Vec::new();
    for n in 0..ORDERS {
        let order_id = format!("ord_{n:06}");
        let amount = 1000 + 10 * n as i64;
        let refund = 100 + n as i64;
        let at = t0 + 10 * n as i64;
        let pi = story::PaymentIntent {
            id: format!("pi_3Qcv{n:08}a"),
            order_id: Some(order_id.clone()),
            amount,
            amount_received: amount,
            amount_capturable: 0,
            currency: "eur".into(),
            status: "succeeded",
            failed: false,
            latest_charge: Some(format!("ch_3Qcv{n:08}a")),
            manual_capture: false,
            created: at,
        };
        let charge = story::Charge {
            id: format!("ch_3Qcv{n:08}a"),
            payment_intent: pi.id.clone(),
            amount,
            amount_captured: amount,
            captured: true,
            amount_refunded: refund,
            currency: "eur".into(),
            status: "succeeded",
            created: at,
        };
        let re = story::Refund {
            id: format!("re_3Qcv{n:08}0"),
            charge: charge.id.clone(),
            payment_intent: pi.id.clone(),
            amount: refund,
            currency: "eur".into(),
            status: "succeeded",
            created: at + 1,
        };
        // The refund as the charge shows it, as a refund object, or both.
        let mut events = vec![("payment_intent.succeeded", at, shapes.payment_intent(&pi))];
        if n % 3 != 1 {
            events.push(("charge.refunded", at + 1, shapes.charge(&charge)));
        }
        if n % 3 != 0 {
            events.push(("refund.created", at + 1, shapes.refund(&re)));
        }
        let order_bodies = events
            .into_iter()
            .enumerate()
            .map(|(k, (event_type, created, object))| {
                event_types.push(event_type);
                stripe_event_at(
                    &format!("evt_1Qcv{n:08}{k}"),
                    event_type,
                    true,
                    created,
                    object,
                )
            })
            .collect();
        bodies.push(order_bodies);
        orders.push((
            OrderStory {
                order_id,
                amount,
                currency: "eur",
                registration: story::Registration::Before,
                registered_twice: false,
                names_payment_intent: None,
                placed_at: at,
                flow: format!("paid {amount}, refunded {refund}"),
                sightings: Vec::new(),
                events: Vec::new(),
            },
            refund,
        ));
    }
    let registrations: Vec<Send<'_>> = orders.iter().map(|(o, _)| Send::Register(o)).collect();
    p.send_all(&registrations).await;
    // Each order's events next to each other, so they are in flight together.
    let sends: Vec<Send<'_>> = bodies.iter().flatten().map(|b| Send::Event(b)).collect();
    p.send_all(&sends).await;
    let claims = claims_of(event_types.iter().copied());
    p.wait_until_quiet(event_types.len(), claims, budget).await;

    let books = compare::read_books(&pool).await;
    p.stop().await;
    let mut wrong = Vec::new();
    for (order, refund) in &orders {
        let row = books
            .orders
            .get(&order.order_id)
            .expect("a row per registered order");
        let got = (row.status.as_str(), row.amount_paid, row.amount_refunded);
        let want = ("partially_refunded", order.amount, *refund);
        if got != want {
            wrong.push(format!(
                "  {} ({}): expected {want:?}, got {got:?}",
                order.order_id, order.flow
            ));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} of {ORDERS} orders do not count their refund:\n{}",
        wrong.len(),
        wrong.join("\n")
    );
}
