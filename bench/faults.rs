//! `accredito-bench faults`: the load side of `deploy/fault-test.sh`. It registers orders,
//! then sends a steady stream of signed events (one payment and several refunds per order,
//! each order's events sent together in one burst, as Stripe does after an outage), retrying
//! each event until it is acknowledged, while the script kills and restarts accredito,
//! RabbitMQ and PostgreSQL. Afterwards it checks that every acknowledged
//! event is stored, published and applied exactly once: each order's paid and refunded amounts
//! must equal the sums of its events.

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use accredito::stripe::signature::sign;
use anyhow::Context;
use clap::Args;
use serde_json::{Value, json};
use sqlx::{Connection, PgConnection};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::Mutex;
use tokio::task::JoinSet;

use super::{ServerArgs, create_profile, http_client, random_alphanumeric};

#[derive(Debug, Args)]
pub struct FaultsArgs {
    #[command(flatten)]
    server: ServerArgs,
    /// Orders to pay and refund.
    #[arg(long, default_value_t = 100)]
    orders: usize,
    /// Refund events per order (each refunds a distinct amount).
    #[arg(long, default_value_t = 20)]
    refunds_per_order: usize,
    /// Events per second the stream is paced at.
    #[arg(long, default_value_t = 100)]
    rate: u32,
    /// How long to keep retrying and waiting before giving up, in seconds.
    #[arg(long, default_value_t = 300)]
    deadline_secs: u64,
    /// Base URL of a second ingest process: attempts alternate between the two, so a retry
    /// goes to the other one (`deploy/cluster-fault-test.sh`). The same as a second `--url`.
    #[arg(long)]
    also_url: Option<String>,
}

const ORDER_AMOUNT: i64 = 10_000;

struct Planned {
    id: String,
    body: String,
}

/// What the run expects each order to end with.
struct Expected {
    paid: i64,
    refunded: i64,
}

pub async fn faults(args: FaultsArgs) -> anyhow::Result<ExitCode> {
    let client = http_client(16)?;
    let secret = format!("whsec_{}", random_alphanumeric(32));
    let admin = args.server.admin_base();
    let profile = create_profile(&client, &admin, &args.server, &secret).await?;
    let run = random_alphanumeric(8).to_lowercase();
    let deadline = Instant::now() + Duration::from_secs(args.deadline_secs);

    let mut expected = BTreeMap::new();
    let placed_at = OffsetDateTime::now_utc().format(&Rfc3339).context("time")?;
    for i in 0..args.orders {
        let order = format!("o_{run}_{i}");
        retry_until_2xx(deadline, || {
            client
                .put(format!("{admin}/v1/orders/{order}"))
                .bearer_auth(&args.server.admin_token)
                .json(&json!({ "merchant_id": args.server.merchant, "amount": ORDER_AMOUNT, "currency": "eur", "placed_at": placed_at }))
        })
        .await
        .with_context(|| format!("registering {order}"))?;
        expected.insert(
            order,
            Expected {
                paid: ORDER_AMOUNT,
                refunded: 0,
            },
        );
    }

    // Each order's payment and refunds form one burst, sent all at once.
    let created = OffsetDateTime::now_utc().unix_timestamp();
    let mut plan: Vec<Vec<Planned>> = Vec::new();
    for i in 0..args.orders {
        let (order, pi) = (format!("o_{run}_{i}"), format!("pi_{run}_{i}"));
        let object = json!({
            "id": pi, "object": "payment_intent", "amount": ORDER_AMOUNT, "amount_received": ORDER_AMOUNT,
            "currency": "eur", "status": "succeeded", "metadata": { "order_id": order },
            "latest_charge": format!("ch_{run}_{i}"), "livemode": args.server.livemode
        });
        plan.push(vec![event(
            &format!("evt_{run}_{i}_pi"),
            "payment_intent.succeeded",
            created,
            args.server.livemode,
            object,
        )]);
    }
    for k in 0..args.refunds_per_order {
        for (i, burst) in plan.iter_mut().enumerate() {
            let amount = 10 * (k as i64 + 1);
            let object = json!({
                "id": format!("re_{run}_{i}_{k}"), "object": "refund", "amount": amount, "currency": "eur",
                "status": "succeeded", "charge": format!("ch_{run}_{i}"), "payment_intent": format!("pi_{run}_{i}")
            });
            burst.push(event(
                &format!("evt_{run}_{i}_re{k}"),
                "refund.created",
                created + 1,
                args.server.livemode,
                object,
            ));
            if let Some(e) = expected.get_mut(&format!("o_{run}_{i}")) {
                e.refunded += amount;
            }
        }
    }

    let endpoints: Vec<String> = args
        .server
        .ingest_bases()
        .into_iter()
        .chain(
            args.also_url
                .as_deref()
                .map(|u| u.trim_end_matches('/').to_owned()),
        )
        .map(|b| format!("{b}/webhooks/stripe/{}", profile.id))
        .collect();
    let sent = send_paced(&client, &endpoints, &secret, plan, args.rate, deadline).await?;
    let counts = wait_for_application(
        &args.server.database_url,
        &profile.id,
        sent.acknowledged,
        deadline,
    )
    .await?;
    // The checker's own connection must outlive the faults too: PostgreSQL may restart after
    // the last event was sent, or while the orders are read back.
    let wrong = loop {
        match wrong_orders(&args.server.database_url, &expected, deadline).await {
            Ok(wrong) => break wrong,
            Err(error) if Instant::now() < deadline => {
                eprintln!("checker: lost its database connection ({error:#}); reading again");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(error) => return Err(error),
        }
    };
    let report = json!({
        "bench": "faults",
        "events": sent.acknowledged,
        "sent_attempts": sent.attempts,
        "failed_attempts": sent.failures,
        "acknowledged": sent.acknowledged,
        "stored": counts.stored,
        "published": counts.published,
        "applied": counts.applied,
        "dead_lettered": counts.dead_lettered,
        "orders_checked": expected.len(),
        "orders_wrong": wrong.len(),
        "wrong": wrong.iter().take(5).collect::<Vec<_>>(),
    });
    println!("{report}");
    let lossless = counts.stored == sent.acknowledged
        && counts.published == sent.acknowledged
        && counts.applied == sent.acknowledged
        && counts.dead_lettered == 0
        && wrong.is_empty();
    Ok(if lossless {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn event(id: &str, event_type: &str, created: i64, livemode: bool, object: Value) -> Planned {
    let body = json!({
        "id": id, "object": "event", "api_version": "2025-08-27.basil", "created": created,
        "livemode": livemode, "pending_webhooks": 1, "type": event_type, "data": { "object": object }
    })
    .to_string();
    Planned {
        id: id.to_owned(),
        body,
    }
}

async fn retry_until_2xx<F>(deadline: Instant, request: F) -> anyhow::Result<()>
where
    F: Fn() -> reqwest::RequestBuilder,
{
    loop {
        match request().send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            _ if Instant::now() > deadline => anyhow::bail!("no 2xx before the deadline"),
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

struct SentTotals {
    acknowledged: usize,
    attempts: usize,
    failures: BTreeMap<String, usize>,
}

/// Sends the plan at `rate` events/s from a few workers, each burst's events at once; each
/// event is retried (with a fresh signature, as Stripe does) until it gets a 2xx.
async fn send_paced(
    client: &reqwest::Client,
    urls: &[String],
    secret: &str,
    plan: Vec<Vec<Planned>>,
    rate: u32,
    deadline: Instant,
) -> anyhow::Result<SentTotals> {
    let events: usize = plan.iter().map(Vec::len).sum();
    // When each burst may start: the stream is paced by events, not by bursts.
    let mut starts = Vec::with_capacity(plan.len());
    let mut before = 0;
    for burst in &plan {
        starts.push(before);
        before += burst.len();
    }
    let plan: Arc<[(usize, Vec<Planned>)]> = starts.into_iter().zip(plan).collect();
    let sender = Arc::new(Sender {
        client: client.clone(),
        urls: urls.to_vec(),
        secret: secret.to_owned(),
        attempts: AtomicUsize::new(0),
        failures: Mutex::new(BTreeMap::new()),
        deadline,
    });
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let gap = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let mut workers = JoinSet::new();
    for _ in 0..8 {
        let (plan, next, sender) = (plan.clone(), next.clone(), sender.clone());
        workers.spawn(async move {
            loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                let Some((first_event, burst)) = plan.get(index) else {
                    return anyhow::Ok(());
                };
                tokio::time::sleep_until(
                    (start + gap * u32::try_from(*first_event).unwrap_or(u32::MAX)).into(),
                )
                .await;
                futures_util::future::try_join_all(burst.iter().map(|p| sender.send(p))).await?;
            }
        });
    }
    while let Some(done) = workers.join_next().await {
        done.context("a sender panicked")??;
    }
    let failures = sender.failures.lock().await.clone();
    Ok(SentTotals {
        acknowledged: events,
        attempts: sender.attempts.load(Ordering::Relaxed),
        failures,
    })
}

struct Sender {
    client: reqwest::Client,
    /// The ingest processes' endpoints, taken in turn by successive attempts.
    urls: Vec<String>,
    secret: String,
    attempts: AtomicUsize,
    failures: Mutex<BTreeMap<String, usize>>,
    deadline: Instant,
}

impl Sender {
    async fn send(&self, planned: &Planned) -> anyhow::Result<()> {
        loop {
            let attempt = self.attempts.fetch_add(1, Ordering::Relaxed);
            let url = &self.urls[attempt % self.urls.len()];
            let now = OffsetDateTime::now_utc().unix_timestamp();
            let header = sign(planned.body.as_bytes(), &self.secret, now);
            let outcome = self
                .client
                .post(url)
                .header("Stripe-Signature", header)
                .body(planned.body.clone())
                .timeout(Duration::from_secs(10))
                .send()
                .await;
            let failure = match outcome {
                Ok(r) if r.status().is_success() => return Ok(()),
                Ok(r) => format!("http_{}", r.status().as_u16()),
                Err(e) if e.is_connect() => "connect_error".to_owned(),
                Err(e) if e.is_timeout() => "timeout".to_owned(),
                Err(_) => "transport_error".to_owned(),
            };
            *self.failures.lock().await.entry(failure).or_default() += 1;
            if Instant::now() > self.deadline {
                anyhow::bail!("{} never acknowledged", planned.id);
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

struct Counts {
    stored: usize,
    published: usize,
    applied: usize,
    dead_lettered: usize,
}

/// Orders whose paid and refunded amounts differ from the sums of their events.
async fn wrong_orders(
    database_url: &str,
    expected: &BTreeMap<String, Expected>,
    deadline: Instant,
) -> anyhow::Result<Vec<Value>> {
    let mut db = connect_until(database_url, deadline).await?;
    let mut wrong = Vec::new();
    for (order, want) in expected {
        let row: Option<(i64, i64)> = sqlx::query_as(
            "select amount_paid, amount_refunded from back_office.order_reconciliation where order_id = $1",
        )
        .bind(order)
        .fetch_optional(&mut db)
        .await?;
        if row != Some((want.paid, want.refunded)) {
            wrong.push(
                json!({ "order": order, "expected": [want.paid, want.refunded], "found": row }),
            );
        }
    }
    Ok(wrong)
}

/// Connects, retrying while PostgreSQL is restarting, until the deadline.
async fn connect_until(database_url: &str, deadline: Instant) -> anyhow::Result<PgConnection> {
    loop {
        match PgConnection::connect(database_url).await {
            Ok(db) => return Ok(db),
            Err(error) if Instant::now() < deadline => {
                eprintln!("checker: database unavailable ({error}); retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(error) => return Err(error).context("connecting to the database"),
        }
    }
}

async fn count(db: &mut PgConnection, profile_id: &str) -> Result<Counts, sqlx::Error> {
    let (stored, published): (i64, i64) = sqlx::query_as(
        "select count(*), count(*) filter (where not exists
                    (select 1 from inbox_unpublished u where u.inbox_id = e.id))
         from inbox_events e where profile_id = $1",
    )
    .bind(profile_id)
    .fetch_one(&mut *db)
    .await?;
    let applied: i64 = sqlx::query_scalar(
        "select count(*) from processed_events where handler = 'orders' and profile_id = $1",
    )
    .bind(profile_id)
    .fetch_one(&mut *db)
    .await?;
    let dead: i64 = sqlx::query_scalar(
        "select count(*) from dead_letters where profile_id = $1 and redriven_at is null",
    )
    .bind(profile_id)
    .fetch_one(&mut *db)
    .await?;
    Ok(Counts {
        stored: usize::try_from(stored).unwrap_or(0),
        published: usize::try_from(published).unwrap_or(0),
        applied: usize::try_from(applied).unwrap_or(0),
        dead_lettered: usize::try_from(dead).unwrap_or(0),
    })
}

/// Waits until every acknowledged event is published and applied (or the deadline passes),
/// reconnecting whenever a fault takes the checker's connection.
async fn wait_for_application(
    database_url: &str,
    profile_id: &str,
    expected: usize,
    deadline: Instant,
) -> anyhow::Result<Counts> {
    let mut db = connect_until(database_url, deadline).await?;
    loop {
        let counts = match count(&mut db, profile_id).await {
            Ok(counts) => counts,
            Err(error) if Instant::now() < deadline => {
                eprintln!("checker: lost its database connection ({error}); reconnecting");
                tokio::time::sleep(Duration::from_millis(500)).await;
                db = connect_until(database_url, deadline).await?;
                continue;
            }
            Err(error) => return Err(error).context("counting what was applied"),
        };
        if (counts.applied + counts.dead_lettered >= expected && counts.published >= expected)
            || Instant::now() > deadline
        {
            return Ok(counts);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
