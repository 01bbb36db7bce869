//! `accredito-bench`: load generator for a running accredito.
//!
//! `accredito-bench intake` measures the webhook path end to end, as Stripe would drive it:
//! it creates a profile of its own through the `/v1` API, sends N distinct, correctly signed
//! `payment_intent.succeeded` events from C concurrent workers, then watches the server's
//! database until every event is stored and published to RabbitMQ. It prints one JSON line
//! on stdout (stderr gets only human notes) and exits non-zero when an event is missing, so
//! a script or CI job can keep the line and trust the exit code.
//!
//! The bench talks to the server only over HTTP, like Stripe, and reads the database only
//! to learn when the relay is done: a 200 already proves the commit (G1), but the relay's
//! lag behind intake is half of what this measures.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use accredito::stripe::signature::sign;
use anyhow::{Context, bail};
use clap::builder::RangedU64ValueParser;
use clap::{ArgAction, Args, Parser, Subcommand};
use rand::Rng;
use rand::distr::Alphanumeric;
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};
use time::OffsetDateTime;
use tokio::task::JoinSet;

/// How long the bench waits, after the last response, for every event to be published.
const PUBLISH_WAIT_LIMIT: Duration = Duration::from_secs(60);
/// How often the database is asked for progress while waiting.
const POLL_EVERY: Duration = Duration::from_millis(100);
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
}

#[derive(Debug, Args)]
struct IntakeArgs {
    /// Base URL of the running server.
    #[arg(
        long,
        env = "ACCREDITO_BENCH_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    url: String,

    /// The server's admin token: the bench creates its own profile through `/v1/profiles`.
    #[arg(long, env = "ACCREDITO_ADMIN_TOKEN", hide_env_values = true)]
    admin_token: String,

    /// The server's database, read to learn when the events are stored and published.
    #[arg(
        long,
        env = "DATABASE_URL",
        hide_env_values = true,
        default_value = "postgres://postgres@127.0.0.1:5432/accredito"
    )]
    database_url: String,

    /// Distinct events to send.
    #[arg(long, env = "ACCREDITO_BENCH_EVENTS", default_value_t = 20_000,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    events: usize,

    /// Requests in flight at once; each worker keeps one keep-alive connection busy.
    #[arg(long, env = "ACCREDITO_BENCH_CONCURRENCY", default_value_t = 64,
          value_parser = RangedU64ValueParser::<usize>::new().range(1..))]
    concurrency: usize,

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

#[tokio::main]
async fn main() -> anyhow::Result<ExitCode> {
    match Cli::parse().command {
        Command::Intake(args) => intake(args).await,
    }
}

/// The whole `intake` run: set up, send, wait for the relay, report.
async fn intake(args: IntakeArgs) -> anyhow::Result<ExitCode> {
    let base_url = args.url.trim_end_matches('/').to_owned();
    // Connect first, so a wrong DATABASE_URL fails before any event is sent.
    let mut db = PgConnection::connect(&args.database_url)
        .await
        .context("connecting to the server's database")?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency)
        .tcp_nodelay(true)
        .timeout(REQUEST_TIMEOUT)
        // The server is reached directly; an HTTP_PROXY in the environment would skew timings.
        .no_proxy()
        .build()
        .context("building the HTTP client")?;

    let run = random_alphanumeric(10).to_lowercase();
    let secret = format!("whsec_{}", random_alphanumeric(32));
    let profile = create_profile(&client, &base_url, &args, &secret).await?;
    eprintln!(
        "bench run {run}: profile {} ({} mode); sending {} events with {} workers",
        profile.id, profile.mode, args.events, args.concurrency
    );

    let target = Arc::new(Target {
        client,
        webhook_url: format!("{base_url}/webhooks/stripe/{}", profile.id),
        secret,
        run: run.clone(),
        livemode: args.livemode,
        events: args.events,
    });
    let sent = send_all(target, args.concurrency).await?;
    if let Some(failure) = &sent.tally.first_failure {
        eprintln!("first failed delivery: {failure}");
    }

    let expected = i64::try_from(args.events).context("--events is too large")?;
    let relay = wait_for_relay(&mut db, &profile.id, &event_id_prefix(&run), expected).await?;
    db.close().await.ok();

    println!("{}", report(&args, &sent, &relay));
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
    args: &IntakeArgs,
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
    webhook_url: String,
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
        let body = event_body(&target.run, index, target.livemode, now);
        tally.record(deliver(&target, body, now).await);
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

/// Signs and posts one event. The timer covers the request and reading the whole response,
/// which is what Stripe waits for; reading it also frees the connection for the next request.
async fn deliver(target: &Target, body: Vec<u8>, now: i64) -> Delivery {
    let signature = sign(&body, &target.secret, now);
    let started = Instant::now();
    let sent = target
        .client
        .post(&target.webhook_url)
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

/// A `payment_intent.succeeded` event shaped like a real one (the fields of Stripe's own
/// fixtures, pretty-printed as Stripe sends them, about 2 KB), so the server parses, stores
/// and publishes as much as it would in production. Amounts and ids vary per event.
fn event_body(run: &str, index: usize, livemode: bool, created: i64) -> Vec<u8> {
    let event = json!({
        "id": format!("{}{index}", event_id_prefix(run)),
        "object": "event",
        "api_version": STRIPE_API_VERSION,
        "created": created,
        "data": { "object": payment_intent(run, index, livemode, created) },
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
fn payment_intent(run: &str, index: usize, livemode: bool, created: i64) -> Value {
    let amount: i64 = rand::rng().random_range(150..50_000);
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
            "order_id": format!("ord_{run}_{index}"),
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

/// This run's rows in the inbox, and how many of them the relay has marked published.
async fn count_events(
    db: &mut PgConnection,
    profile_id: &str,
    id_prefix: &str,
) -> anyhow::Result<(i64, i64)> {
    sqlx::query_as::<_, (i64, i64)>(
        "select count(*), count(published_at) from inbox_events
         where profile_id = $1 and starts_with(event_id, $2)",
    )
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

/// Nearest-rank percentile of sorted latencies (zero when there are none).
fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
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
