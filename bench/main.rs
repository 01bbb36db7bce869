//! `accredito-bench`: load generator for a running accredito.
//!
//! `accredito-bench intake` measures the webhook path end to end, as Stripe would drive it:
//! it creates a profile of its own through the `/v1` API, sends N distinct, correctly signed
//! `payment_intent.succeeded` events from C concurrent workers, then watches the server's
//! database until every event is stored and published to RabbitMQ. It prints one JSON line
//! on stdout (stderr gets only human notes) and exits non-zero when an event is missing, so
//! a script or CI job can keep the line and trust the exit code. With several `--url`s (one
//! per ingest process) the events go to them in turn, and the CPU of every accredito process,
//! PostgreSQL and each RabbitMQ node is reported per role and per node ([`cpu`]).
//!
//! The bench talks to the server only over HTTP, like Stripe, and reads the database only
//! to learn when the relay is done: a 200 already proves the commit (G1), but the relay's
//! lag behind intake is half of what this measures.
//!
//! `accredito-bench e2e` measures the whole pipeline, webhook to reconciled order: it registers
//! N orders (through `PUT /v1/orders/{id}`, or straight into the database with
//! `--register-orders db`), sends one signed `payment_intent.succeeded` per order that pays it
//! in full, optionally paced at `--rate` events/s, and watches `order_states` until every order
//! is `paid`. It reports webhook throughput, reconciled orders per second and each order's lag
//! from its webhook's 200 to its reconciliation, as one JSON line like `intake`.
//!
//! `accredito-bench console` fills the database with big books and measures each back-office
//! console page's p95 ([`console`]).

mod console;
mod cpu;
mod faults;
mod pgwork;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use accredito::stripe::signature::sign;
use anyhow::{Context, bail};
use clap::builder::RangedU64ValueParser;
use clap::{ArgAction, Args, Parser, Subcommand, ValueEnum};
use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::mpsc;
use tokio::task::JoinSet;

/// How long the bench waits, after the last response, for every event to be published.
const PUBLISH_WAIT_LIMIT: Duration = Duration::from_secs(60);
/// How often the database is asked for progress while waiting.
const POLL_EVERY: Duration = Duration::from_millis(100);
/// How long `e2e` waits, after the last webhook response, for every order to be paid.
const RECONCILE_WAIT_LIMIT: Duration = Duration::from_secs(120);
/// How often `e2e` asks `order_states` which acknowledged orders are paid, at most.
const PAID_POLL_EVERY: Duration = Duration::from_millis(50);
/// After each poll `e2e` waits at least this many times as long as the poll took (but no
/// longer than `PAID_POLL_AT_MOST`), so the watcher takes little of PostgreSQL's CPU: looking
/// up a backlog of 5,000 unpaid orders takes 10-20 ms, and every 50 ms that would skew the
/// measurement.
const POLL_BACKOFF: u32 = 20;
/// The longest pause between two polls.
const PAID_POLL_AT_MOST: Duration = Duration::from_millis(250);
/// Orders one poll asks about at most: the longest-waiting ones. Workers apply roughly in
/// order, so a backlog is seen from its old end; asking about every pending order made each
/// poll grow with the backlog and weigh on the PostgreSQL it measures.
const PAID_POLL_ORDERS: usize = 2000;
/// Orders one poll asks about at least. Between the two, a poll asks about twice as many as
/// the last one found paid: each lookup costs PostgreSQL CPU the bench counts as the
/// service's, and asking 2,000 at every poll was a tenth of it.
const PAID_POLL_ORDERS_AT_LEAST: usize = 128;
/// A request that takes longer is counted as a failure instead of stalling its worker.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// What Stripe's webhook deliveries carry, so the server sees the same headers.
const STRIPE_USER_AGENT: &str = "Stripe/1.0 (+https://stripe.com/docs/webhooks)";
/// A recent API version string; the server does not read it, real events always carry one.
const STRIPE_API_VERSION: &str = "2025-06-30.basil";

#[derive(Debug, Parser)]
#[command(
    name = "accredito-bench",
    about = "Load generator for a running accredito"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Send signed Stripe events to the webhook endpoint, then wait until all are published.
    Intake(IntakeArgs),
    /// Register orders, pay each with a signed webhook, then wait until all are reconciled.
    E2e(E2eArgs),
    /// Steady signed events, each retried until acknowledged, while deploy/fault-test.sh
    /// breaks things; then check nothing was lost or applied twice.
    Faults(faults::FaultsArgs),
    /// Fill the database with a million orders and measure every console page's p95.
    Console(console::ConsoleArgs),
}

/// Where the server is and who the bench is: shared by every subcommand.
#[derive(Debug, Args)]
struct ServerArgs {
    /// Base URL of the running server's public listener (webhooks). Several (repeated, or
    /// comma-separated) for several ingest processes: webhooks go to them in turn, event i to
    /// URL i mod n.
    #[arg(
        long,
        env = "ACCREDITO_BENCH_URL",
        value_delimiter = ',',
        default_value = "http://127.0.0.1:8080"
    )]
    url: Vec<String>,

    /// Base URL of its admin listener (`/v1`).
    #[arg(
        long,
        env = "ACCREDITO_BENCH_ADMIN_URL",
        default_value = "http://127.0.0.1:8081"
    )]
    admin_url: String,

    /// The server's admin token: the bench creates its own profile through `/v1/profiles`.
    #[arg(long, env = "ACCREDITO_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: String,

    /// The server's database, read to learn how far the server got.
    #[arg(
        long,
        env = "DATABASE_URL",
        hide_env_values = true,
        default_value = "postgres://postgres@127.0.0.1:5432/accredito"
    )]
    database_url: String,

    /// Merchant the bench profile is created for (created too if it does not exist).
    #[arg(
        long,
        env = "ACCREDITO_BENCH_MERCHANT",
        default_value = "bench_merchant"
    )]
    merchant: String,

    /// The events' `livemode`: true for a server in live mode (its default), false for test
    /// mode. A mismatch would be stored but never published, so the bench refuses it.
    #[arg(long, env = "ACCREDITO_BENCH_LIVEMODE", default_value_t = true, action = ArgAction::Set)]
    livemode: bool,
}

impl ServerArgs {
    fn admin_base(&self) -> String {
        self.admin_url.trim_end_matches('/').to_owned()
    }

    /// The base URL of every ingest process, without a trailing slash.
    fn ingest_bases(&self) -> Vec<String> {
        self.url
            .iter()
            .map(|u| u.trim().trim_end_matches('/').to_owned())
            .filter(|u| !u.is_empty())
            .collect()
    }

    /// Every ingest process's webhook endpoint for a profile.
    fn webhook_urls(&self, profile_id: &str) -> anyhow::Result<Vec<String>> {
        let urls: Vec<String> = self
            .ingest_bases()
            .iter()
            .map(|base| format!("{base}/webhooks/stripe/{profile_id}"))
            .collect();
        if urls.is_empty() {
            bail!("--url names no server");
        }
        Ok(urls)
    }
}

#[derive(Debug, Args)]
struct IntakeArgs {
    #[command(flatten)]
    server: ServerArgs,

    /// Distinct events to send.
    #[arg(long, env = "ACCREDITO_BENCH_EVENTS", default_value_t = 20_000,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    events: usize,

    /// Requests in flight at once; each worker keeps one keep-alive connection busy.
    #[arg(long, env = "ACCREDITO_BENCH_CONCURRENCY", default_value_t = 64,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    concurrency: usize,
}

#[derive(Debug, Args)]
struct E2eArgs {
    #[command(flatten)]
    server: ServerArgs,

    /// Orders to register and pay, one `payment_intent.succeeded` webhook each.
    #[arg(long, env = "ACCREDITO_BENCH_ORDERS", default_value_t = 5_000,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    orders: usize,

    /// Webhook requests in flight at once (also used to register orders through the API).
    #[arg(long, env = "ACCREDITO_BENCH_CONCURRENCY", default_value_t = 64,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    concurrency: usize,

    /// Webhooks per second: event i is sent no earlier than i/R s after the first; 0 sends as
    /// fast as the concurrency allows. A server slower than R delays the sends (at most
    /// `--concurrency` are in flight), so check `webhook_events_per_sec` in the report.
    #[arg(long, env = "ACCREDITO_BENCH_RATE", default_value_t = 0)]
    rate: u32,

    /// How the orders are registered before they are paid: `api` through
    /// `PUT /v1/orders/{order_id}` (as the platform does), `db` by inserting them into the
    /// server's database directly (for a server without the orders API).
    #[arg(
        long,
        env = "ACCREDITO_BENCH_REGISTER_ORDERS",
        value_enum,
        default_value_t = RegisterOrders::Api
    )]
    register_orders: RegisterOrders,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum RegisterOrders {
    Api,
    Db,
}

impl RegisterOrders {
    fn as_str(self) -> &'static str {
        match self {
            RegisterOrders::Api => "api",
            RegisterOrders::Db => "db",
        }
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    match Cli::parse().command {
        Command::Intake(args) => intake(args).await,
        Command::E2e(args) => e2e(args).await,
        Command::Faults(args) => faults::faults(args).await,
        Command::Console(args) => console::console(args).await,
    }
}

/// The whole `intake` run: set up, send, wait for the relay, report.
async fn intake(args: IntakeArgs) -> anyhow::Result<ExitCode> {
    // Connect first, so a wrong DATABASE_URL fails before any event is sent.
    let mut db = PgConnection::connect(&args.server.database_url)
        .await
        .context("connecting to the server's database")?;
    let client = http_client(args.concurrency)?;

    let run = random_alphanumeric(10).to_lowercase();
    let secret = format!("whsec_{}", random_alphanumeric(32));
    let admin_url = args.server.admin_base();
    let profile = create_profile(&client, &admin_url, &args.server, &secret).await?;
    let webhook_urls = args.server.webhook_urls(&profile.id)?;
    eprintln!(
        "bench run {run}: profile {} ({} mode); sending {} events with {} workers to {} \
         ingest process(es)",
        profile.id,
        profile.mode,
        args.events,
        args.concurrency,
        webhook_urls.len()
    );

    let target = Arc::new(Target {
        client,
        webhook_urls,
        secret,
        run: run.clone(),
        livemode: args.server.livemode,
        events: args.events,
    });
    let pg_before = pgwork::mark(&mut db).await;
    let cpu_before = cpu::Snapshot::take();
    let sent = send_all(target, args.concurrency).await?;
    if let Some(failure) = &sent.tally.first_failure {
        eprintln!("first failed delivery: {failure}");
    }

    let expected = i64::try_from(args.events).context("--events is too large")?;
    let relay = wait_for_relay(&mut db, &profile.id, &event_id_prefix(&run), expected).await?;
    // Through the relay's drain: from the first request until every event is published.
    let cpu_used = cpu_before.until(&cpu::Snapshot::take());
    let pg_written = pgwork::report(&mut db, pg_before, args.events).await;
    db.close().await.ok();

    let mut report = report(&args, &sent, &relay);
    report["cpu"] = cpu_used.report(args.events);
    report["postgresql_writes"] = pg_written;
    println!("{report}");
    if relay.stored == expected && relay.published == expected {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "incomplete: {} of {expected} events stored, {} published after {:.1} s",
            relay.stored,
            relay.published,
            relay.waited.as_secs_f64()
        );
        Ok(ExitCode::FAILURE)
    }
}

/// One client for the whole run, so connections are pooled and kept alive.
fn http_client(concurrency: usize) -> anyhow::Result<reqwest::Client> {
    accredito::stripe::client::install_ring_provider();
    reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .tcp_nodelay(true)
        .timeout(REQUEST_TIMEOUT)
        // The server is reached directly; an HTTP_PROXY in the environment would skew timings.
        .no_proxy()
        .build()
        .context("building the HTTP client")
}

/// The parts of the created profile the bench needs.
struct Profile {
    id: String,
    mode: String,
}

/// Creates a fresh profile, so each run's events and timings are its own and a run never
/// collides with an earlier one's event ids.
async fn create_profile(
    client: &reqwest::Client,
    base_url: &str,
    args: &ServerArgs,
    secret: &str,
) -> anyhow::Result<Profile> {
    let response = client
        .post(format!("{base_url}/v1/profiles"))
        .bearer_auth(&args.admin_token)
        .json(&json!({
            "merchant_id": args.merchant,
            "name": "bench",
            "webhook_secret": secret,
        }))
        .send()
        .await
        .with_context(|| format!("POST {base_url}/v1/profiles: is the server running?"))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .with_context(|| format!("creating the profile: {status} without a JSON body"))?;
    if !status.is_success() {
        bail!("creating the profile: {status}: {body}");
    }
    let text = |field: &str| {
        body.get(field)
            .and_then(Value::as_str)
            .map(str::to_owned)
            .with_context(|| format!("the created profile has no `{field}`: {body}"))
    };
    let profile = Profile {
        id: text("id")?,
        mode: text("mode")?,
    };
    let server_live = profile.mode == "live";
    if server_live != args.livemode {
        bail!(
            "the server creates {} profiles but --livemode is {}: those events would be stored \
             and never published; pass --livemode {server_live}",
            profile.mode,
            args.livemode
        );
    }
    Ok(profile)
}

/// What every worker shares: one client (so connections are pooled and kept alive) and the
/// run's constants.
struct Target {
    client: reqwest::Client,
    /// One webhook endpoint per ingest process; event i goes to the (i mod n)th.
    webhook_urls: Vec<String>,
    secret: String,
    run: String,
    livemode: bool,
    events: usize,
}

/// The result of the sending phase.
struct Sent {
    /// From the first request to the last response.
    wall: Duration,
    tally: Tally,
}

/// Sends every event with `concurrency` workers that take the next index from a shared
/// counter, so a slow request delays only its own worker.
async fn send_all(target: Arc<Target>, concurrency: usize) -> anyhow::Result<Sent> {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = JoinSet::new();
    for _ in 0..concurrency.min(target.events) {
        workers.spawn(worker(target.clone(), next.clone()));
    }
    let mut tally = Tally::default();
    while let Some(done) = workers.join_next().await {
        tally.merge(done.context("a bench worker panicked")?);
    }
    Ok(Sent {
        wall: started.elapsed(),
        tally,
    })
}

async fn worker(target: Arc<Target>, next: Arc<AtomicUsize>) -> Tally {
    let mut tally = Tally::default();
    loop {
        let index = next.fetch_add(1, Ordering::Relaxed);
        if index >= target.events {
            return tally;
        }
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let order = bench_order(&target.run, index);
        let body = event_body(&target.run, index, &order, target.livemode, now);
        tally.record(deliver(&target, index, body, now).await);
    }
}

/// One webhook delivery's outcome.
struct Delivery {
    latency: Duration,
    /// The status code, or why no response came.
    outcome: Result<u16, String>,
    /// A short description of a failure, kept to explain the first one.
    failure: Option<String>,
}

/// Signs and posts event `index` to its ingest process. The timer covers the request and
/// reading the whole response, which is what Stripe waits for; reading it also frees the
/// connection for the next request.
async fn deliver(target: &Target, index: usize, body: Vec<u8>, now: i64) -> Delivery {
    let signature = sign(&body, &target.secret, now);
    let url = &target.webhook_urls[index % target.webhook_urls.len()];
    let started = Instant::now();
    let sent = target
        .client
        .post(url)
        .header(
            reqwest::header::CONTENT_TYPE,
            "application/json; charset=utf-8",
        )
        .header(reqwest::header::USER_AGENT, STRIPE_USER_AGENT)
        .header("stripe-signature", signature)
        .body(body)
        .send()
        .await;
    let read = match sent {
        Ok(response) => {
            let status = response.status().as_u16();
            response.bytes().await.map(|bytes| (status, bytes))
        }
        Err(error) => Err(error),
    };
    let latency = started.elapsed();
    match read {
        Ok((200, _)) => Delivery {
            latency,
            outcome: Ok(200),
            failure: None,
        },
        Ok((status, bytes)) => Delivery {
            latency,
            outcome: Ok(status),
            failure: Some(format!("{status}: {}", String::from_utf8_lossy(&bytes))),
        },
        Err(error) => Delivery {
            latency,
            outcome: Err(transport_failure_kind(&error).to_owned()),
            failure: Some(error_chain(&error)),
        },
    }
}

/// The `status_counts` key for a request that got no response.
fn transport_failure_kind(error: &reqwest::Error) -> &'static str {
    if error.is_timeout() {
        "timeout"
    } else if error.is_connect() {
        "connect_error"
    } else {
        "transport_error"
    }
}

/// reqwest's message names only the URL; the cause ("Connection refused") is in the sources.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}

/// Latencies and outcomes, kept per worker and merged at the end, so workers never contend.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    status_counts: BTreeMap<String, u64>,
    first_failure: Option<String>,
}

impl Tally {
    fn record(&mut self, delivery: Delivery) {
        self.latencies.push(delivery.latency);
        let key = match delivery.outcome {
            Ok(status) => status.to_string(),
            Err(kind) => kind,
        };
        *self.status_counts.entry(key).or_default() += 1;
        if self.first_failure.is_none() {
            self.first_failure = delivery.failure;
        }
    }

    fn merge(&mut self, other: Tally) {
        self.latencies.extend(other.latencies);
        for (key, count) in other.status_counts {
            *self.status_counts.entry(key).or_default() += count;
        }
        if self.first_failure.is_none() {
            self.first_failure = other.first_failure;
        }
    }
}

/// The ids of one run start with this, so its events can be told from any other run's.
fn event_id_prefix(run: &str) -> String {
    format!("evt_bench_{run}_")
}

/// The order an event pays: what the PaymentIntent's `metadata.order_id` and amount say.
struct BenchOrder {
    id: String,
    amount: i64,
}

/// The run's order number `index`, with a random amount in euro cents.
fn bench_order(run: &str, index: usize) -> BenchOrder {
    BenchOrder {
        id: format!("ord_{run}_{index}"),
        amount: rand::rng().random_range(150..50_000),
    }
}

/// A `payment_intent.succeeded` event shaped like a real one (the fields of Stripe's own
/// fixtures, pretty-printed as Stripe sends them, about 2 KB), so the server parses, stores
/// and publishes as much as it would in production. Amounts and ids vary per event; the
/// PaymentIntent pays `order` in full.
fn event_body(
    run: &str,
    index: usize,
    order: &BenchOrder,
    livemode: bool,
    created: i64,
) -> Vec<u8> {
    let event = json!({
        "id": format!("{}{index}", event_id_prefix(run)),
        "object": "event",
        "api_version": STRIPE_API_VERSION,
        "created": created,
        "data": { "object": payment_intent(run, index, order, livemode, created) },
        "livemode": livemode,
        "pending_webhooks": 1,
        "request": {
            "id": format!("req_{}", random_alphanumeric(14)),
            "idempotency_key": format!("{}-{index}", random_alphanumeric(8)),
        },
        "type": "payment_intent.succeeded",
    });
    serde_json::to_vec_pretty(&event).expect("a JSON value always serializes")
}

/// A succeeded card PaymentIntent in euros for a Mobile Commerce order.
fn payment_intent(
    run: &str,
    index: usize,
    order: &BenchOrder,
    livemode: bool,
    created: i64,
) -> Value {
    let amount = order.amount;
    let intent_id = format!("pi_{}", random_alphanumeric(24));
    json!({
        "id": intent_id,
        "object": "payment_intent",
        "amount": amount,
        "amount_capturable": 0,
        "amount_details": { "tip": {} },
        "amount_received": amount,
        "application": null,
        "application_fee_amount": null,
        "automatic_payment_methods": null,
        "canceled_at": null,
        "cancellation_reason": null,
        "capture_method": "automatic_async",
        "client_secret": format!("{intent_id}_secret_{}", random_alphanumeric(25)),
        "confirmation_method": "automatic",
        "created": created - 3,
        "currency": "eur",
        "customer": null,
        "description": format!("Mobile Commerce order {run}-{index}"),
        "last_payment_error": null,
        "latest_charge": format!("ch_{}", random_alphanumeric(24)),
        "livemode": livemode,
        "metadata": {
            "order_id": order.id,
            "channel": "mobile_commerce",
        },
        "next_action": null,
        "on_behalf_of": null,
        "payment_method": format!("pm_{}", random_alphanumeric(24)),
        "payment_method_configuration_details": null,
        "payment_method_options": {
            "card": {
                "installments": null,
                "mandate_options": null,
                "network": null,
                "request_three_d_secure": "automatic",
            },
        },
        "payment_method_types": ["card"],
        "processing": null,
        "receipt_email": null,
        "review": null,
        "setup_future_usage": null,
        "shipping": null,
        "source": null,
        "statement_descriptor": null,
        "statement_descriptor_suffix": null,
        "status": "succeeded",
        "transfer_data": null,
        "transfer_group": null,
    })
}

fn random_alphanumeric(len: usize) -> String {
    rand::rng()
        .sample_iter(Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// How far the server got with this run's events.
struct RelayProgress {
    stored: i64,
    published: i64,
    /// From the end of the sending phase until all were published or the bench gave up.
    waited: Duration,
}

/// Polls until every event of the run is stored and published, or `PUBLISH_WAIT_LIMIT`
/// passes: a 200 already means stored, but publishing happens after the answer.
async fn wait_for_relay(
    db: &mut PgConnection,
    profile_id: &str,
    id_prefix: &str,
    expected: i64,
) -> anyhow::Result<RelayProgress> {
    let started = Instant::now();
    loop {
        let (stored, published) = count_events(db, profile_id, id_prefix).await?;
        let waited = started.elapsed();
        let done = stored >= expected && published >= expected;
        if done || waited >= PUBLISH_WAIT_LIMIT {
            return Ok(RelayProgress {
                stored,
                published,
                waited,
            });
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}

/// This run's rows in the inbox, and how many of them the relay has marked published (on a
/// list of unpublished events, or, before 20261204000001, in `published_at`: the bench drives
/// older builds too, for comparisons).
async fn count_events(
    db: &mut PgConnection,
    profile_id: &str,
    id_prefix: &str,
) -> anyhow::Result<(i64, i64)> {
    let listed: bool = sqlx::query_scalar("select to_regclass('inbox_unpublished') is not null")
        .fetch_one(&mut *db)
        .await?;
    let sql = if listed {
        "select count(*), count(*) filter (where not exists
                    (select 1 from inbox_unpublished u where u.inbox_id = e.id))
         from inbox_events e where profile_id = $1 and starts_with(event_id, $2)"
    } else {
        "select count(*), count(published_at)
         from inbox_events e where profile_id = $1 and starts_with(event_id, $2)"
    };
    sqlx::query_as::<_, (i64, i64)>(sql)
        .bind(profile_id)
        .bind(id_prefix)
        .fetch_one(db)
        .await
        .context("counting the run's events in inbox_events")
}

/// The one JSON line the run prints.
fn report(args: &IntakeArgs, sent: &Sent, relay: &RelayProgress) -> Value {
    let mut latencies = sent.tally.latencies.clone();
    latencies.sort_unstable();
    let wall = sent.wall.as_secs_f64();
    json!({
        "bench": "intake",
        "ingest_urls": args.server.ingest_bases().len(),
        "events": args.events,
        "concurrency": args.concurrency,
        "duration_s": round(wall, 3),
        "events_per_sec": round(args.events as f64 / wall, 1),
        "latency_ms": {
            "p50": millis(percentile(&latencies, 0.50)),
            "p99": millis(percentile(&latencies, 0.99)),
            "max": millis(latencies.last().copied().unwrap_or_default()),
        },
        "status_counts": sent.tally.status_counts,
        "stored": relay.stored,
        "published": relay.published,
        "publish_wait_s": round(relay.waited.as_secs_f64(), 3),
    })
}

/// Nearest-rank percentile of sorted values (zero when there are none).
fn percentile<T: Copy + Default>(sorted: &[T], p: f64) -> T {
    if sorted.is_empty() {
        return T::default();
    }
    let rank = (p * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

fn millis(d: Duration) -> f64 {
    round(d.as_secs_f64() * 1000.0, 3)
}

/// Keeps the JSON line readable: microseconds are noise at these scales.
fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

/// The whole `e2e` run: set up, register the orders, pay each with one webhook while watching
/// `order_states`, report.
async fn e2e(args: E2eArgs) -> anyhow::Result<ExitCode> {
    // Connect first, so a wrong DATABASE_URL fails before anything is sent.
    let mut db = PgConnection::connect(&args.server.database_url)
        .await
        .context("connecting to the server's database")?;
    let client = http_client(args.concurrency)?;

    let run = random_alphanumeric(10).to_lowercase();
    let secret = format!("whsec_{}", random_alphanumeric(32));
    let admin_url = args.server.admin_base();
    let profile = create_profile(&client, &admin_url, &args.server, &secret).await?;
    let orders: Arc<[BenchOrder]> = (0..args.orders).map(|i| bench_order(&run, i)).collect();
    eprintln!(
        "bench run {run}: profile {} ({} mode); registering {} orders of merchant {} ({})",
        profile.id,
        profile.mode,
        args.orders,
        args.server.merchant,
        args.register_orders.as_str()
    );

    let registering = Instant::now();
    match args.register_orders {
        RegisterOrders::Api => {
            register_orders_api(&client, &admin_url, &args, orders.clone()).await?;
        }
        RegisterOrders::Db => register_orders_db(&mut db, &args.server.merchant, &orders).await?,
    }
    let register_s = registering.elapsed();
    eprintln!(
        "registered in {:.2} s; paying them with {} workers, {}",
        register_s.as_secs_f64(),
        args.concurrency,
        match args.rate {
            0 => "as fast as possible".to_owned(),
            rate => format!("{rate} events/s"),
        }
    );

    let target = Arc::new(Target {
        client,
        webhook_urls: args.server.webhook_urls(&profile.id)?,
        secret,
        run,
        livemode: args.server.livemode,
        events: args.orders,
    });
    let (acks, acked) = mpsc::unbounded_channel();
    let pg_before = pgwork::mark(&mut db).await;
    let watcher = tokio::spawn(watch_paid(db, orders.clone(), acked));
    let cpu_before = cpu::Snapshot::take();
    let sent = send_payments(target, orders, args.concurrency, args.rate, acks).await?;
    if let Some(failure) = &sent.tally.first_failure {
        eprintln!("first failed delivery: {failure}");
    }
    let (mut db, watched) = watcher.await.context("the watcher panicked")??;
    // Through the drain: the watcher returns once every order is paid.
    let cpu_used = cpu_before.until(&cpu::Snapshot::take());
    let pg_written = pgwork::report(&mut db, pg_before, args.orders).await;
    db.close().await.ok();

    let mut report = e2e_report(&args, register_s, &sent, &watched);
    report["cpu"] = cpu_used.report(args.orders);
    report["postgresql_writes"] = pg_written;
    println!("{report}");
    if watched.reconciled() == args.orders {
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!(
            "incomplete: {} of {} orders paid ({} webhooks answered 200); gave up {:.1} s after \
             the last webhook",
            watched.reconciled(),
            args.orders,
            watched.acked,
            watched.waited_after_send.as_secs_f64()
        );
        Ok(ExitCode::FAILURE)
    }
}

/// Registers every order with `PUT /v1/orders/{order_id}` from `--concurrency` workers. The
/// first goes alone, so a server without the orders API is told apart from a failing one.
async fn register_orders_api(
    client: &reqwest::Client,
    base_url: &str,
    args: &E2eArgs,
    orders: Arc<[BenchOrder]>,
) -> anyhow::Result<()> {
    let registrar = Arc::new(Registrar {
        client: client.clone(),
        base_url: base_url.to_owned(),
        admin_token: args.server.admin_token.clone(),
        merchant: args.server.merchant.clone(),
        placed_at: placed_at()
            .format(&Rfc3339)
            .context("formatting placed_at")?,
    });
    let first = orders.first().context("no orders to register")?;
    let status = registrar.register(first).await?;
    if status == 404 || status == 405 {
        bail!(
            "PUT {base_url}/v1/orders/{{order_id}} answered {status}: this server has no orders \
             API; run again with --register-orders db"
        );
    }
    let next = Arc::new(AtomicUsize::new(1));
    let mut workers = JoinSet::new();
    for _ in 0..args.concurrency.min(orders.len()) {
        let (registrar, orders, next) = (registrar.clone(), orders.clone(), next.clone());
        workers.spawn(async move {
            while let Some(order) = orders.get(next.fetch_add(1, Ordering::Relaxed)) {
                match registrar.register(order).await? {
                    200..=299 => {}
                    status => bail!("PUT /v1/orders/{} answered {status}", order.id),
                }
            }
            anyhow::Ok(())
        });
    }
    while let Some(done) = workers.join_next().await {
        done.context("a registering worker panicked")??;
    }
    Ok(())
}

/// What the registering workers share.
struct Registrar {
    client: reqwest::Client,
    base_url: String,
    admin_token: String,
    merchant: String,
    placed_at: String,
}

impl Registrar {
    /// Registers one order: the status, or an error for a failure other than 404/405.
    async fn register(&self, order: &BenchOrder) -> anyhow::Result<u16> {
        let url = format!("{}/v1/orders/{}", self.base_url, order.id);
        let response = self
            .client
            .put(&url)
            .bearer_auth(&self.admin_token)
            .json(&json!({
                "merchant_id": self.merchant,
                "amount": order.amount,
                "currency": "eur",
                "placed_at": self.placed_at,
            }))
            .send()
            .await
            .with_context(|| format!("PUT {url}"))?;
        let status = response.status().as_u16();
        let body = response.bytes().await.unwrap_or_default();
        if (200..300).contains(&status) || status == 404 || status == 405 {
            Ok(status)
        } else {
            bail!(
                "PUT {url} answered {status}: {}",
                String::from_utf8_lossy(&body)
            )
        }
    }
}

/// Inserts the merchant (if new) and every order in one transaction, as the orders API would
/// store them; used when the server has no orders API. Nothing is reconciled at this point:
/// no payment for these orders exists yet.
async fn register_orders_db(
    db: &mut PgConnection,
    merchant: &str,
    orders: &[BenchOrder],
) -> anyhow::Result<()> {
    let mut tx = db.begin().await.context("starting a transaction")?;
    sqlx::query("insert into merchants (id) values ($1) on conflict do nothing")
        .bind(merchant)
        .execute(&mut *tx)
        .await
        .context("inserting the merchant")?;
    let placed_at = placed_at();
    for chunk in orders.chunks(10_000) {
        let ids: Vec<&str> = chunk.iter().map(|o| o.id.as_str()).collect();
        let amounts: Vec<i64> = chunk.iter().map(|o| o.amount).collect();
        let inserted = sqlx::query_scalar::<_, i64>(
            "with inserted as (
                 insert into orders (order_id, merchant_id, amount, currency, placed_at)
                 select o, $1, a, 'eur', $2 from unnest($3::text[], $4::bigint[]) as t (o, a)
                 returning 1)
             select count(*) from inserted",
        )
        .bind(merchant)
        .bind(placed_at)
        .bind(&ids)
        .bind(&amounts)
        .fetch_one(&mut *tx)
        .await
        .context("inserting the orders")?;
        if usize::try_from(inserted).ok() != Some(chunk.len()) {
            bail!("inserted {inserted} of {} orders", chunk.len());
        }
    }
    tx.commit().await.context("committing the orders")?;
    Ok(())
}

/// When the bench's orders were placed: a few minutes before they are paid, as in a shop.
fn placed_at() -> OffsetDateTime {
    OffsetDateTime::now_utc() - time::Duration::minutes(5)
}

/// A webhook the server answered 200 (stored): from then on its order is watched.
struct Acked {
    index: usize,
    /// Wall clock when the whole response was read.
    at: OffsetDateTime,
}

/// The result of the paying phase.
struct SentPayments {
    /// Wall clock just before the first request.
    started_at: OffsetDateTime,
    /// From the first request to the last response.
    wall: Duration,
    tally: Tally,
}

/// Sends one payment per order with `concurrency` workers taking the next order from a shared
/// counter. With a rate, order i is not sent before i/rate s after the start.
async fn send_payments(
    target: Arc<Target>,
    orders: Arc<[BenchOrder]>,
    concurrency: usize,
    rate: u32,
    acks: mpsc::UnboundedSender<Acked>,
) -> anyhow::Result<SentPayments> {
    let next = Arc::new(AtomicUsize::new(0));
    let started_at = OffsetDateTime::now_utc();
    let started = tokio::time::Instant::now();
    let mut workers = JoinSet::new();
    for _ in 0..concurrency.min(orders.len()) {
        workers.spawn(payment_worker(
            target.clone(),
            orders.clone(),
            next.clone(),
            Pace { started, rate },
            acks.clone(),
        ));
    }
    // The watcher learns that sending is over when the last worker drops its sender.
    drop(acks);
    let mut tally = Tally::default();
    while let Some(done) = workers.join_next().await {
        tally.merge(done.context("a bench worker panicked")?);
    }
    Ok(SentPayments {
        started_at,
        wall: started.elapsed(),
        tally,
    })
}

#[derive(Clone, Copy)]
struct Pace {
    started: tokio::time::Instant,
    /// Events per second; 0 for no pacing.
    rate: u32,
}

async fn payment_worker(
    target: Arc<Target>,
    orders: Arc<[BenchOrder]>,
    next: Arc<AtomicUsize>,
    pace: Pace,
    acks: mpsc::UnboundedSender<Acked>,
) -> Tally {
    let mut tally = Tally::default();
    loop {
        let index = next.fetch_add(1, Ordering::Relaxed);
        let Some(order) = orders.get(index) else {
            return tally;
        };
        if pace.rate > 0 {
            let due = Duration::from_secs_f64(index as f64 / f64::from(pace.rate));
            tokio::time::sleep_until(pace.started + due).await;
        }
        let now = OffsetDateTime::now_utc().unix_timestamp();
        let body = event_body(&target.run, index, order, target.livemode, now);
        let delivery = deliver(&target, index, body, now).await;
        if matches!(delivery.outcome, Ok(200)) {
            let at = OffsetDateTime::now_utc();
            // Fails only if the watcher has stopped with an error, which main reports.
            let _ = acks.send(Acked { index, at });
        }
        tally.record(delivery);
    }
}

/// What the watcher saw of the acknowledged orders.
#[derive(Default)]
struct Watched {
    /// Webhooks answered 200.
    acked: usize,
    /// Per paid order: its `order_states.updated_at` minus the time its webhook's 200 was read.
    lags_ms: Vec<f64>,
    /// Per paid order: when a poll first saw it paid minus the time its webhook's 200 was read.
    seen_lags_ms: Vec<f64>,
    /// The latest `updated_at` of the paid orders.
    last_paid_at: Option<OffsetDateTime>,
    /// From the last webhook response until all were paid or the watcher gave up.
    waited_after_send: Duration,
}

impl Watched {
    fn reconciled(&self) -> usize {
        self.lags_ms.len()
    }
}

/// Every `PAID_POLL_EVERY` (up to `PAID_POLL_AT_MOST` while a backlog or a busy server makes
/// the query slow, see `POLL_BACKOFF`), asks which acknowledged orders not yet seen paid are
/// paid now, until sending is over and all are, or `RECONCILE_WAIT_LIMIT` after the last
/// response. Only orders whose webhook was answered are asked about, the ones that have waited
/// longest, twice as many as the last poll found paid (`PAID_POLL_ORDERS_AT_LEAST` to
/// `PAID_POLL_ORDERS`), so the query stays small whatever the backlog. A paid row's `updated_at` does not change afterwards, so a slower poll
/// makes only the `seen` lag coarser, not the lag from `updated_at`.
///
/// `order_states.updated_at` is `now()` in the worker's transaction, that is when the
/// transaction began, a few milliseconds before its commit made the row visible; the lag from
/// it is a lower bound, the lag from the first poll that saw the row (at most one poll
/// interval plus a query late while fewer than `PAID_POLL_ORDERS` wait) an upper bound. Both clocks are this machine's wall clock.
async fn watch_paid(
    mut db: PgConnection,
    orders: Arc<[BenchOrder]>,
    mut acked: mpsc::UnboundedReceiver<Acked>,
) -> anyhow::Result<(PgConnection, Watched)> {
    let mut watched = Watched::default();
    let mut pending: HashMap<&str, OffsetDateTime> = HashMap::new();
    // Pending orders in the order their webhooks were answered (paid ones are skipped and
    // dropped from the front as the poll reaches them).
    let mut waiting: VecDeque<&str> = VecDeque::new();
    let mut sending_over: Option<Instant> = None;
    let mut pause = PAID_POLL_EVERY;
    let mut ask = PAID_POLL_ORDERS_AT_LEAST;
    loop {
        tokio::time::sleep(pause).await;
        loop {
            match acked.try_recv() {
                Ok(ack) => {
                    if let Some(order) = orders.get(ack.index) {
                        pending.insert(order.id.as_str(), ack.at);
                        waiting.push_back(order.id.as_str());
                        watched.acked += 1;
                    }
                }
                Err(mpsc::error::TryRecvError::Empty) => break,
                Err(mpsc::error::TryRecvError::Disconnected) => {
                    sending_over.get_or_insert_with(Instant::now);
                    break;
                }
            }
        }
        pause = PAID_POLL_EVERY;
        if !pending.is_empty() {
            let polled = Instant::now();
            while waiting.front().is_some_and(|id| !pending.contains_key(id)) {
                waiting.pop_front();
            }
            let ids: Vec<&str> = waiting
                .iter()
                .copied()
                .filter(|id| pending.contains_key(id))
                .take(ask)
                .collect();
            // One index probe per order whatever the statistics: as `order_id = any($1)` the
            // planner may scan every order state and test each against the whole list.
            let paid = sqlx::query_as::<_, (String, OffsetDateTime)>(
                "select s.order_id, s.updated_at from unnest($1::text[]) as asked(order_id)
                 cross join lateral (
                     select order_id, updated_at from order_states
                     where order_id = asked.order_id and status = 'paid'
                 ) s",
            )
            .bind(&ids)
            .fetch_all(&mut db)
            .await
            .context("reading order_states")?;
            let seen_at = OffsetDateTime::now_utc();
            pause = (polled.elapsed() * POLL_BACKOFF).clamp(PAID_POLL_EVERY, PAID_POLL_AT_MOST);
            ask = (paid.len() * 2).clamp(PAID_POLL_ORDERS_AT_LEAST, PAID_POLL_ORDERS);
            for (order_id, updated_at) in paid {
                if let Some(acked_at) = pending.remove(order_id.as_str()) {
                    watched.lags_ms.push(millis_between(acked_at, updated_at));
                    watched.seen_lags_ms.push(millis_between(acked_at, seen_at));
                    watched.last_paid_at = Some(
                        watched
                            .last_paid_at
                            .map_or(updated_at, |last| last.max(updated_at)),
                    );
                }
            }
        }
        if let Some(over) = sending_over
            && (pending.is_empty() || over.elapsed() >= RECONCILE_WAIT_LIMIT)
        {
            watched.waited_after_send = over.elapsed();
            return Ok((db, watched));
        }
    }
}

/// `to - from` in milliseconds; negative when `to` is earlier.
fn millis_between(from: OffsetDateTime, to: OffsetDateTime) -> f64 {
    (to - from).as_seconds_f64() * 1000.0
}

/// The one JSON line an `e2e` run prints.
fn e2e_report(args: &E2eArgs, register: Duration, sent: &SentPayments, watched: &Watched) -> Value {
    let mut latencies = sent.tally.latencies.clone();
    latencies.sort_unstable();
    let send_s = sent.wall.as_secs_f64();
    // First request to the last order's reconciliation, both on the wall clock.
    let reconcile_s = watched
        .last_paid_at
        .map(|last| (last - sent.started_at).as_seconds_f64());
    json!({
        "bench": "e2e",
        "ingest_urls": args.server.ingest_bases().len(),
        "orders": args.orders,
        "concurrency": args.concurrency,
        "rate": args.rate,
        "register_orders": args.register_orders.as_str(),
        "register_s": round(register.as_secs_f64(), 3),
        "send_s": round(send_s, 3),
        "webhook_events_per_sec": round(args.orders as f64 / send_s, 1),
        "webhook_latency_ms": {
            "p50": millis(percentile(&latencies, 0.50)),
            "p99": millis(percentile(&latencies, 0.99)),
            "max": millis(latencies.last().copied().unwrap_or_default()),
        },
        "status_counts": sent.tally.status_counts,
        "reconciled": watched.reconciled(),
        "reconcile_s": reconcile_s.map(|s| round(s, 3)),
        "reconciled_per_sec": reconcile_s
            .filter(|s| *s > 0.0)
            .map(|s| round(watched.reconciled() as f64 / s, 1)),
        "lag_ms": lag_summary(&watched.lags_ms),
        "seen_lag_ms": lag_summary(&watched.seen_lags_ms),
    })
}

/// p50, p99 and max of lags in milliseconds (zeros when there are none).
fn lag_summary(lags_ms: &[f64]) -> Value {
    let mut sorted = lags_ms.to_vec();
    sorted.sort_unstable_by(f64::total_cmp);
    json!({
        "p50": round(percentile(&sorted, 0.50), 1),
        "p99": round(percentile(&sorted, 0.99), 1),
        "max": round(sorted.last().copied().unwrap_or_default(), 1),
    })
}
