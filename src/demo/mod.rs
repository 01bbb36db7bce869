//! `accredito demo`: the whole pipeline on one machine in well under a minute.
//!
//! It recreates its own database (the one in `DATABASE_URL` with a `_demo` suffix), starts a
//! **local stand-in for the Stripe API** ([`fake_stripe`], not Stripe), starts the service
//! in-process with every role and a fresh RabbitMQ prefix whose queues expire once unused,
//! then, through the real `/v1` API and the real webhook endpoint, sets up merchants in each
//! state of the setup guide, registers orders, delivers a signed sequence of Stripe events,
//! waits until the workers have applied them all, prints the back-office tables and stops.
//! Display reads go through the `/v1` API, except the wait, which polls `processed_events`
//! with a runtime (unchecked) `sqlx::query_scalar`.

pub mod fake_stripe;

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use rand::Rng;
use reqwest::{Client, Method};
use secrecy::SecretString;
use serde_json::{Value, json};
use sqlx::PgPool;
use sqlx::migrate::MigrateDatabase;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::amqp::QueueType;
use crate::app::{self, ServiceConfig};
use crate::config::{Role, Settings};
use crate::crypto::SecretBox;
use crate::domain::StripeMode;
use crate::stripe::signature;
use crate::worker::consumer::WorkerSettings;
use fake_stripe::FakeStripe;

/// How long the demo waits for the workers.
const APPLY_TIMEOUT: Duration = Duration::from_secs(40);

const BAR_KEY: &str = "sk_live_demoBarCentrale000000000000";
const PIZZERIA_KEY: &str = "sk_live_demoPizzeriaDaMario00000000";

/// `DATABASE_URL` with `_demo` appended to the database name.
pub fn demo_database_url(database_url: &str) -> anyhow::Result<String> {
    let mut url = reqwest::Url::parse(database_url).context("DATABASE_URL is not a URL")?;
    let name = url.path().trim_start_matches('/').to_owned();
    if name.is_empty() {
        bail!("DATABASE_URL names no database");
    }
    url.set_path(&format!("/{name}_demo"));
    Ok(url.to_string())
}

fn random_token(len: usize) -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(len)
        .map(char::from)
        .collect::<String>()
        .to_lowercase()
}

/// Runs the demo against `settings` (`DATABASE_URL`, `AMQP_URL`; everything else is its own).
pub async fn run(settings: &Settings) -> anyhow::Result<()> {
    let started = Instant::now();
    println!("{}", banner());

    let database_url = demo_database_url(&settings.database_url)?;
    step(&format!(
        "recreating database {} and applying migrations",
        redact(&database_url)
    ));
    sqlx::Postgres::force_drop_database(&database_url)
        .await
        .context("dropping the demo database (is PostgreSQL reachable through DATABASE_URL?)")?;
    sqlx::Postgres::create_database(&database_url)
        .await
        .context("creating the demo database")?;
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(8)
        .connect(&database_url)
        .await
        .context("connecting to the demo database")?;
    crate::db::migrate(&pool)
        .await
        .context("migrating the demo database")?;

    let shutdown = CancellationToken::new();
    let fake = FakeStripe::default();
    let stripe_addr = fake.clone().start(shutdown.clone()).await?;
    step(&format!(
        "local stand-in for the Stripe API (not Stripe) on http://{stripe_addr}"
    ));

    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let admin_token = format!("demo_{}", random_token(24));
    let prefix = format!("demo_{}", random_token(10));
    let service_settings = Settings {
        database_url: database_url.clone(),
        listen: addr,
        admin_token: Some(SecretString::from(admin_token.clone())),
        admin_tokens: None,
        master_key: Some(SecretString::from(SecretBox::generate_master_key())),
        stripe_mode: StripeMode::Live,
        stripe_api_base: format!("http://{stripe_addr}"),
        connect_webhook_secret: None,
        alert_webhook_url: None,
        public_url: Some(format!("http://{addr}")),
        signature_tolerance_secs: 300,
        amqp_prefix: prefix.clone(),
        db_max_connections: 8,
        ..settings.clone()
    };
    let mut config = ServiceConfig::new(service_settings, Role::all());
    config.topology.ephemeral_after_ms = Some(30_000);
    config.topology.queue_type = QueueType::Classic;
    config.catch_up_every = Duration::from_millis(200);
    config.account_sweep_every = Duration::from_secs(2);
    config.catch_up_events_every = Duration::from_secs(2);
    config.worker = WorkerSettings {
        prefetch: 32,
        max_attempts: 3,
        retry_base: Duration::from_millis(200),
    };
    let service = app::start(config, pool.clone(), listener, shutdown.clone()).await?;
    step(&format!(
        "accredito running in-process on http://{addr} (RabbitMQ prefix {prefix}, queues expire 30 s after the demo)"
    ));

    crate::stripe::client::install_ring_provider();
    let api = Api {
        client: Client::new(),
        base: format!("http://{addr}"),
        token: admin_token,
    };
    let outcome = scenario(&api, &fake, &pool).await;

    step("shutting down");
    service.shutdown();
    let stopped = service.wait().await;
    shutdown.cancel();
    pool.close().await;
    outcome?;
    stopped?;
    println!(
        "\nDone in {:.1} s. The demo database {} is kept for inspection; `accredito demo` recreates it.",
        started.elapsed().as_secs_f64(),
        redact(&database_url)
    );
    Ok(())
}

fn banner() -> String {
    let line = "=".repeat(78);
    format!(
        "{line}\n accredito demo\n The Stripe API here is a LOCAL STAND-IN started by this demo, not Stripe:\n no request leaves this machine. PostgreSQL and RabbitMQ are the real servers.\n{line}"
    )
}

fn step(what: &str) {
    println!("-> {what}");
}

/// The URL without its password.
fn redact(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "(unparsable URL)".into(),
    }
}

struct Api {
    client: Client,
    base: String,
    token: String,
}

impl Api {
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<(u16, Value)> {
        let mut request = self
            .client
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("{method} {path}"))?;
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        Ok((status, value))
    }

    /// A call that must succeed.
    async fn ok(&self, method: Method, path: &str, body: Option<Value>) -> anyhow::Result<Value> {
        let (status, value) = self.call(method.clone(), path, body).await?;
        if !(200..300).contains(&status) {
            bail!("{method} {path} answered {status}: {value}");
        }
        Ok(value)
    }

    async fn data(&self, path: &str) -> anyhow::Result<Vec<Value>> {
        let value = self.ok(Method::GET, path, None).await?;
        Ok(value["data"].as_array().cloned().unwrap_or_default())
    }

    /// Signs `event` with `secret` and posts it to the profile's webhook endpoint.
    async fn deliver(&self, profile_id: &str, secret: &str, event: &Value) -> anyhow::Result<()> {
        let body = event.to_string();
        let header = signature::sign(
            body.as_bytes(),
            secret,
            time::OffsetDateTime::now_utc().unix_timestamp(),
        );
        let response = self
            .client
            .post(format!("{}/webhooks/stripe/{profile_id}", self.base))
            .header("Stripe-Signature", header)
            .body(body)
            .send()
            .await
            .context("delivering a webhook")?;
        if !response.status().is_success() {
            bail!(
                "webhook {} answered {}",
                event["id"],
                response.status().as_u16()
            );
        }
        Ok(())
    }
}

/// A merchant with a profile (`create_profile`) as the setup guide's steps leave it.
struct Merchant {
    id: &'static str,
    name: &'static str,
}

async fn create_merchant(api: &Api, merchant: &Merchant) -> anyhow::Result<()> {
    api.ok(
        Method::POST,
        "/v1/merchants",
        Some(json!({ "id": merchant.id, "name": merchant.name })),
    )
    .await?;
    Ok(())
}

/// Creates the merchant's profile; returns (profile id, webhook secret).
async fn create_profile(api: &Api, merchant: &Merchant) -> anyhow::Result<(String, String)> {
    let secret = format!("whsec_{}", random_token(32));
    let profile = api
        .ok(
            Method::POST,
            "/v1/profiles",
            Some(json!({ "merchant_id": merchant.id, "name": merchant.name, "webhook_secret": secret })),
        )
        .await?;
    let id = profile["id"]
        .as_str()
        .context("profile without an id")?
        .to_owned();
    Ok((id, secret))
}

/// Live keys, the endpoint registered on the (stand-in) Stripe account, Stripe enabled.
async fn make_live(api: &Api, merchant: &Merchant, profile: &str, key: &str) -> anyhow::Result<()> {
    let publishable = key.replacen("sk_live_", "pk_live_", 1);
    api.ok(
        Method::PUT,
        &format!("/v1/profiles/{profile}/keys"),
        Some(json!({ "publishable_key": publishable, "secret_key": key })),
    )
    .await?;
    api.ok(
        Method::POST,
        &format!("/v1/profiles/{profile}/webhook-endpoint"),
        None,
    )
    .await?;
    api.ok(
        Method::POST,
        &format!("/v1/merchants/{}/enable-stripe", merchant.id),
        Some(json!({ "profile_id": profile })),
    )
    .await?;
    Ok(())
}

fn account(id: &str, name: &str, bank: Option<&str>) -> Value {
    let banks: Vec<Value> = bank
        .map(|b| {
            json!({
                "id": b, "object": "bank_account", "account_holder_name": name,
                "bank_name": "Banca Demo", "country": "IT", "currency": "eur",
                "default_for_currency": true, "last4": "3000", "status": "verified"
            })
        })
        .into_iter()
        .collect();
    let due: Vec<&str> = if bank.is_some() {
        Vec::new()
    } else {
        vec!["external_account"]
    };
    json!({
        "id": id, "object": "account", "type": "standard", "country": "IT",
        "default_currency": "eur",
        "business_profile": { "name": name },
        "settings": { "dashboard": { "display_name": name } },
        "charges_enabled": true,
        "payouts_enabled": bank.is_some(),
        "details_submitted": true,
        "requirements": {
            "currently_due": due, "eventually_due": due, "past_due": [], "disabled_reason": null
        },
        "external_accounts": {
            "object": "list", "data": banks, "has_more": false,
            "url": format!("/v1/accounts/{id}/external_accounts")
        }
    })
}

fn event(id: &str, event_type: &str, created: i64, object: Value) -> Value {
    json!({
        "id": id, "object": "event", "api_version": crate::stripe::client::STRIPE_API_VERSION,
        "created": created, "livemode": true, "pending_webhooks": 1,
        "request": { "id": null, "idempotency_key": null },
        "type": event_type,
        "data": { "object": object, "previous_attributes": null }
    })
}

fn payment_intent(n: u32, order_id: &str, amount: i64) -> Value {
    json!({
        "id": format!("pi_{n}"), "object": "payment_intent", "amount": amount,
        "amount_received": amount, "currency": "eur", "status": "succeeded",
        "metadata": { "order_id": order_id }, "latest_charge": format!("ch_{n}"),
        "last_payment_error": null, "livemode": true
    })
}

fn charge(n: u32, amount: i64, refunded: i64) -> Value {
    json!({
        "id": format!("ch_{n}"), "object": "charge", "amount": amount, "amount_captured": amount,
        "amount_refunded": refunded, "refunded": refunded >= amount, "currency": "eur",
        "status": "succeeded", "payment_intent": format!("pi_{n}"), "livemode": true
    })
}

fn dispute(n: u32, amount: i64, status: &str) -> Value {
    json!({
        "id": format!("dp_{n}"), "object": "dispute", "amount": amount, "currency": "eur",
        "status": status, "reason": "fraudulent", "charge": format!("ch_{n}"),
        "payment_intent": format!("pi_{n}"), "livemode": true
    })
}

fn payout(id: &str, amount: i64, status: &str, destination: &str, arrival: i64) -> Value {
    json!({
        "id": id, "object": "payout", "amount": amount, "currency": "eur", "status": status,
        "arrival_date": arrival, "automatic": true, "method": "standard",
        "destination": destination, "failure_code": null, "failure_message": null,
        "reconciliation_status": if status == "paid" { "completed" } else { "in_progress" },
        "livemode": true
    })
}

fn balance_transaction(id: &str, kind: &str, amount: i64, fee: i64, source: Value) -> Value {
    let category = match kind {
        "charge" => "charge",
        "refund" => "refund",
        "adjustment" => "dispute",
        _ => "payout",
    };
    json!({
        "id": id, "object": "balance_transaction", "type": kind,
        "reporting_category": category, "amount": amount, "fee": fee, "net": amount - fee,
        "currency": "eur", "status": "available", "source": source
    })
}

async fn scenario(api: &Api, fake: &FakeStripe, pool: &PgPool) -> anyhow::Result<()> {
    let nuovo = Merchant {
        id: "m_gelateria",
        name: "Gelateria Nuova",
    };
    let prova = Merchant {
        id: "m_trattoria",
        name: "Trattoria Prova",
    };
    let pizzeria = Merchant {
        id: "m_pizzeria",
        name: "Pizzeria Da Mario",
    };
    let bar = Merchant {
        id: "m_bar",
        name: "Bar Centrale",
    };
    fake.add_account(
        BAR_KEY,
        account("acct_demobar", bar.name, Some("ba_demobar")),
    );
    fake.add_account(PIZZERIA_KEY, account("acct_demopizza", pizzeria.name, None));

    println!("\n## Merchant setup (through the /v1 API)");
    create_merchant(api, &nuovo).await?;
    step(&format!("{}: created, no Stripe profile yet", nuovo.id));

    create_merchant(api, &prova).await?;
    let (prova_profile, _) = create_profile(api, &prova).await?;
    let (status, refusal) = api
        .call(
            Method::PUT,
            &format!("/v1/profiles/{prova_profile}/keys"),
            Some(json!({
                "publishable_key": "pk_test_demoTrattoria0000000000000",
                "secret_key": "sk_test_demoTrattoria0000000000000"
            })),
        )
        .await?;
    step(&format!(
        "{}: profile created; its TEST keys are refused ({status} {}): {}",
        prova.id,
        refusal["error"].as_str().unwrap_or("?"),
        refusal["message"].as_str().unwrap_or("(no message)")
    ));

    create_merchant(api, &pizzeria).await?;
    let (pizzeria_profile, pizzeria_secret) = create_profile(api, &pizzeria).await?;
    make_live(api, &pizzeria, &pizzeria_profile, PIZZERIA_KEY).await?;
    step(&format!(
        "{}: live keys accepted, webhook endpoint registered, Stripe enabled, but no bank account",
        pizzeria.id
    ));

    create_merchant(api, &bar).await?;
    let (bar_profile, bar_secret) = create_profile(api, &bar).await?;
    make_live(api, &bar, &bar_profile, BAR_KEY).await?;
    step(&format!("{}: fully set up", bar.id));

    println!("\n## Orders registered (PUT /v1/orders/{{id}})");
    let placed = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc())
        .format(&time::format_description::well_known::Rfc3339)?;
    let orders: [(&str, &str, i64, &str); 6] = [
        (bar.id, "o_1001", 1250, "Cappuccino e cornetto x5"),
        (bar.id, "o_1002", 3000, "Aperitivo per 6"),
        (bar.id, "o_1003", 2000, "Torta su ordinazione"),
        (bar.id, "o_1004", 800, "Caffè x8 (not paid yet)"),
        (bar.id, "o_1005", 1500, "Brunch"),
        (pizzeria.id, "o_2001", 900, "Margherita e bibita"),
    ];
    for (merchant, order, amount, description) in orders {
        api.ok(
            Method::PUT,
            &format!("/v1/orders/{order}"),
            Some(json!({
                "merchant_id": merchant, "amount": amount, "currency": "eur",
                "placed_at": placed, "description": description
            })),
        )
        .await?;
    }
    step("6 orders registered");

    // The payout that settles Bar Centrale's orders, as Stripe itemises it.
    let lines = vec![
        balance_transaction("txn_1005", "charge", 1400, 53, charge(1005, 1400, 0)),
        balance_transaction(
            "txn_1003d",
            "adjustment",
            -2000,
            1500,
            dispute(1003, 2000, "lost"),
        ),
        balance_transaction("txn_1003", "charge", 2000, 78, charge(1003, 2000, 0)),
        balance_transaction(
            "txn_1002r",
            "refund",
            -1000,
            0,
            json!({ "id": "re_1002", "object": "refund", "amount": 1000, "charge": "ch_1002", "payment_intent": "pi_1002" }),
        ),
        balance_transaction("txn_1002", "charge", 3000, 108, charge(1002, 3000, 1000)),
        balance_transaction("txn_1001", "charge", 1250, 56, charge(1001, 1250, 0)),
    ];
    let net: i64 = lines.iter().filter_map(|l| l["net"].as_i64()).sum();
    let arrival = time::OffsetDateTime::now_utc().unix_timestamp() + 2 * 86_400;
    let bar_payout = payout("po_demobar", net, "paid", "ba_demobar", arrival);
    let mut all_lines = vec![balance_transaction(
        "txn_po_demobar",
        "payout",
        -net,
        0,
        bar_payout.clone(),
    )];
    all_lines.extend(lines);
    fake.add_payout(bar_payout.clone(), all_lines);
    let mut failed = payout("po_demopizza", 870, "failed", "ba_gone", arrival);
    failed["failure_code"] = "no_account".into();
    failed["failure_message"] = "The bank account details on file are probably incorrect. No bank account could be located with those details.".into();
    fake.add_payout(failed.clone(), Vec::new());

    let t = time::OffsetDateTime::now_utc().unix_timestamp() - 60;
    let payments: Vec<(&str, &str, Value)> = vec![
        (
            "evt_demo_01",
            "payment_intent.succeeded",
            payment_intent(1001, "o_1001", 1250),
        ),
        (
            "evt_demo_02",
            "payment_intent.succeeded",
            payment_intent(1002, "o_1002", 3000),
        ),
        (
            "evt_demo_03",
            "payment_intent.succeeded",
            payment_intent(1003, "o_1003", 2000),
        ),
        (
            "evt_demo_04",
            "payment_intent.succeeded",
            payment_intent(1005, "o_1005", 1400),
        ),
        ("evt_demo_05", "charge.refunded", charge(1002, 3000, 1000)),
        (
            "evt_demo_06",
            "charge.dispute.created",
            dispute(1003, 2000, "needs_response"),
        ),
        (
            "evt_demo_07",
            "charge.dispute.funds_withdrawn",
            dispute(1003, 2000, "needs_response"),
        ),
        (
            "evt_demo_08",
            "charge.dispute.closed",
            dispute(1003, 2000, "lost"),
        ),
    ];
    let pizzeria_events: Vec<(&str, &str, Value)> = vec![
        (
            "evt_demo_21",
            "payment_intent.succeeded",
            payment_intent(2001, "o_2001", 900),
        ),
        (
            "evt_demo_22",
            "account.updated",
            account("acct_demopizza", pizzeria.name, None),
        ),
    ];

    println!("\n## Signed webhooks delivered to POST /webhooks/stripe/{{profile}}");
    let mut ids = Vec::new();
    let mut created = t;
    let deliveries = [
        (&bar.id, &bar_profile, &bar_secret, &payments),
        (
            &pizzeria.id,
            &pizzeria_profile,
            &pizzeria_secret,
            &pizzeria_events,
        ),
    ];
    for (merchant, profile, secret, events) in deliveries {
        for (id, event_type, object) in events {
            created += 1;
            api.deliver(
                profile,
                secret,
                &event(id, event_type, created, object.clone()),
            )
            .await?;
            ids.push((*id).to_owned());
            step(&format!("{merchant}  {id}  {event_type}"));
        }
    }
    wait_applied(pool, &ids).await?;
    // Payouts after the payments they settle, as Stripe sends them days later.
    created += 1;
    api.deliver(
        &bar_profile,
        &bar_secret,
        &event("evt_demo_31", "payout.paid", created, bar_payout),
    )
    .await?;
    step(&format!(
        "{}  evt_demo_31  payout.paid (po_demobar)",
        bar.id
    ));
    created += 1;
    api.deliver(
        &pizzeria_profile,
        &pizzeria_secret,
        &event("evt_demo_32", "payout.failed", created, failed),
    )
    .await?;
    step(&format!(
        "{}  evt_demo_32  payout.failed (po_demopizza, no_account)",
        pizzeria.id
    ));
    ids.push("evt_demo_31".into());
    ids.push("evt_demo_32".into());
    wait_applied(pool, &ids).await?;

    print_tables(api, &[&nuovo, &prova, &pizzeria, &bar]).await
}

/// Polls `processed_events` until every event has been applied by its worker.
async fn wait_applied(pool: &PgPool, ids: &[String]) -> anyhow::Result<()> {
    let deadline = Instant::now() + APPLY_TIMEOUT;
    loop {
        let applied: i64 = sqlx::query_scalar(
            "select count(distinct event_id) from processed_events where event_id = any($1)",
        )
        .bind(ids)
        .fetch_one(pool)
        .await
        .context("reading processed_events")?;
        if applied >= ids.len() as i64 {
            step(&format!(
                "the workers have applied all {} events",
                ids.len()
            ));
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!(
                "only {applied} of {} events applied after {} s (see `accredito dlq list`)",
                ids.len(),
                APPLY_TIMEOUT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn cell(value: &Value) -> String {
    match value {
        Value::Null => "-".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// A plain text table: a header, a rule, the rows; columns as wide as their widest cell.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, c) in row.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let line = |cells: Vec<&str>| -> String {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c}{}", " ".repeat(w.saturating_sub(c.chars().count()))))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = vec![line(headers.to_vec())];
    out.push(line(
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect(),
    ));
    for row in rows {
        out.push(line(row.iter().map(String::as_str).collect()));
    }
    if rows.is_empty() {
        out.push("(none)".into());
    }
    out.join("\n")
}

fn pick(row: &Value, fields: &[&str]) -> Vec<String> {
    fields.iter().map(|f| cell(&row[*f])).collect()
}

async fn print_tables(api: &Api, merchants: &[&Merchant]) -> anyhow::Result<()> {
    let orders = api.data("/v1/reconciliation/orders").await?;
    let fields = [
        "merchant_id",
        "order_id",
        "amount",
        "status",
        "amount_paid",
        "amount_refunded",
        "amount_disputed",
        "open_discrepancies",
        "payout_id",
    ];
    let rows: Vec<Vec<String>> = orders.iter().map(|o| pick(o, &fields)).collect();
    println!("\n## Order reconciliation (GET /v1/reconciliation/orders; amounts in cents)");
    println!(
        "{}",
        table(
            &[
                "merchant",
                "order",
                "amount",
                "status",
                "paid",
                "refunded",
                "disputed",
                "open disc.",
                "payout"
            ],
            &rows
        )
    );

    let payouts = api.data("/v1/payouts").await?;
    let rows: Vec<Vec<String>> = payouts
        .iter()
        .map(|p| {
            let mut row = pick(
                p,
                &[
                    "merchant_id",
                    "payout_id",
                    "amount",
                    "status",
                    "failure_code",
                    "line_count",
                    "orders_settled",
                    "reconciled",
                ],
            );
            let settled: Vec<String> = orders
                .iter()
                .filter(|o| o["payout_id"] == p["payout_id"])
                .map(|o| cell(&o["order_id"]))
                .collect();
            row.push(if settled.is_empty() {
                "-".into()
            } else {
                settled.join(",")
            });
            row
        })
        .collect();
    println!("\n## Payouts (GET /v1/payouts)");
    println!(
        "{}",
        table(
            &[
                "merchant",
                "payout",
                "amount",
                "status",
                "failure",
                "lines",
                "orders",
                "reconciled",
                "settled orders"
            ],
            &rows
        )
    );

    let discrepancies = api
        .data("/v1/reconciliation/discrepancies?open=true")
        .await?;
    let rows: Vec<Vec<String>> = discrepancies
        .iter()
        .map(|d| {
            pick(
                d,
                &["merchant_id", "kind", "order_id", "subject_id", "detail"],
            )
        })
        .collect();
    println!("\n## Open discrepancies (GET /v1/reconciliation/discrepancies?open=true)");
    println!(
        "{}",
        table(&["merchant", "kind", "order", "subject", "detail"], &rows)
    );

    println!("\n## Merchant readiness (GET /v1/merchants/{{id}}/readiness)");
    let mut readiness = Vec::new();
    for merchant in merchants {
        readiness.push(
            api.ok(
                Method::GET,
                &format!("/v1/merchants/{}/readiness", merchant.id),
                None,
            )
            .await?,
        );
    }
    let steps: Vec<String> = readiness
        .first()
        .and_then(|r| r["steps"].as_array())
        .map(|s| s.iter().map(|s| cell(&s["step"])).collect())
        .unwrap_or_default();
    let mut rows: Vec<Vec<String>> = steps
        .iter()
        .map(|step| {
            let mut row = vec![step.clone()];
            for r in &readiness {
                let state = r["steps"]
                    .as_array()
                    .and_then(|s| s.iter().find(|s| s["step"] == step.as_str()))
                    .map(|s| cell(&s["state"]))
                    .unwrap_or_else(|| "-".into());
                row.push(state);
            }
            row
        })
        .collect();
    let mut ready = vec!["READY".to_owned()];
    ready.extend(readiness.iter().map(|r| cell(&r["ready"])));
    rows.push(ready);
    let mut headers = vec!["step"];
    headers.extend(merchants.iter().map(|m| m.id));
    println!("{}", table(&headers, &rows));
    for (merchant, r) in merchants.iter().zip(&readiness) {
        let todo = r["steps"]
            .as_array()
            .and_then(|s| s.iter().find(|s| s["state"] != "done"))
            .map(|s| format!("{}: {}", cell(&s["step"]), cell(&s["todo"])));
        if let Some(todo) = todo {
            println!("  {} next: {todo}", merchant.id);
        }
    }

    let alerts = api.data("/v1/alerts").await?;
    let rows: Vec<Vec<String>> = alerts
        .iter()
        .map(|a| pick(a, &["merchant_id", "kind", "status", "detail"]))
        .collect();
    println!("\n## Alerts raised (GET /v1/alerts)");
    println!(
        "{}",
        table(&["merchant", "kind", "status", "detail"], &rows)
    );
    Ok(())
}
