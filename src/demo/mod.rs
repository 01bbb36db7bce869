//! `accredito demo`: the whole pipeline on one machine in well under a minute.
//!
//! It recreates its own database (the one in `DATABASE_URL` with a `_demo` suffix), starts a
//! **local stand-in for the Stripe API** ([`fake_stripe`], not Stripe), starts the service
//! in-process with every role and a fresh RabbitMQ prefix whose queues expire once unused,
//! then, through the real `/v1` API and the real webhook endpoint, sets up merchants in each
//! state of the setup guide, registers orders, delivers a signed sequence of Stripe events,
//! waits until the workers have applied them all, prints the back-office tables and stops.
//! It speaks English or Italian (`--lang`, else the terminal's locale): headings, columns,
//! statuses, money (`€1,234.56`, `1.234,56 €`), refusals, alerts, discrepancies and each
//! merchant's next step, with ids and event types as Stripe and the API name them.
//! Display reads go through the `/v1` API, except the wait, which polls `processed_events`
//! with a runtime (unchecked) `sqlx::query_scalar`.

pub mod fake_stripe;
mod stripe_objects;
mod tables;
mod texts;

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
use crate::app::{self, Listeners, ServiceConfig};
use crate::config::{DemoArgs, Role, Settings};
use crate::crypto::SecretBox;
use crate::domain::StripeMode;
use crate::i18n::key_refusals::KeyRefusal;
use crate::setup::readiness::Language;
use crate::stripe::signature;
use crate::worker::consumer::WorkerSettings;
use fake_stripe::FakeStripe;
use stripe_objects::{
    account, balance_transaction, charge, dispute, event, payment_intent, payout,
};
use tables::print_tables;
use texts::say;

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
/// With `--serve`, it keeps serving once the scenario is done, until Ctrl-C or SIGTERM; it
/// speaks `--lang`, else the language of the terminal's locale (`LC_ALL`, `LC_MESSAGES`,
/// `LANG`).
pub async fn run(settings: &Settings, args: &DemoArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let language = args
        .lang
        .unwrap_or_else(|| Language::from_environment(|name| std::env::var(name).ok()));
    let serve = args.serve;
    println!("{}", banner(language));

    let database_url = demo_database_url(&settings.database_url)?;
    let shown_url = crate::config::without_password(&database_url);
    step(&say(language, "step.database", &[("url", &shown_url)]));
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
    broker_reachable(&settings.amqp_url).await?;

    let shutdown = CancellationToken::new();
    let fake = FakeStripe::default();
    let stripe_addr = fake.clone().start(shutdown.clone()).await?;
    step(&say(
        language,
        "step.stand_in",
        &[("addr", &stripe_addr.to_string())],
    ));

    let listeners = Listeners {
        public: TcpListener::bind("127.0.0.1:0").await?,
        admin: TcpListener::bind("127.0.0.1:0").await?,
    };
    let addr = listeners.public.local_addr()?;
    let admin_addr = listeners.admin.local_addr()?;
    let admin_token = format!("demo_{}", random_token(32));
    let viewer_token = format!("demo_viewer_{}", random_token(32));
    let prefix = format!("demo_{}", random_token(10));
    let service_settings = Settings {
        database_url: database_url.clone(),
        listen: addr,
        admin_listen: admin_addr,
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
        console: crate::config::ConsoleSettings {
            viewer_tokens: Some(SecretString::from(format!("demo-viewer:{viewer_token}"))),
            ..Default::default()
        },
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
    let service = app::start(config, pool.clone(), listeners, shutdown.clone()).await?;
    step(&say(
        language,
        "step.running",
        &[
            ("addr", &addr.to_string()),
            ("admin", &admin_addr.to_string()),
            ("prefix", &prefix),
        ],
    ));

    crate::stripe::client::install_ring_provider();
    let api = Api {
        client: Client::new(),
        admin_base: format!("http://{admin_addr}"),
        webhook_base: format!("http://{addr}"),
        token: admin_token,
        language,
    };
    let outcome = scenario(&api, &fake, &pool).await;
    if outcome.is_ok() {
        let console = format!("http://{admin_addr}/console");
        println!(
            "\n{}",
            say(language, "console.address", &[("url", &console)])
        );
        println!(
            "{}",
            say(language, "console.viewer", &[("token", &viewer_token)])
        );
        println!(
            "{}",
            say(language, "console.admin", &[("token", &api.token)])
        );
        if serve {
            println!("{}", say(language, "serving", &[]));
            app::termination_signal().await;
        }
    }

    step(&say(language, "step.shutting_down", &[]));
    service.shutdown();
    let stopped = service.wait().await;
    shutdown.cancel();
    pool.close().await;
    outcome?;
    stopped?;
    let seconds = texts::seconds(language, started.elapsed().as_secs_f64());
    println!(
        "\n{}",
        say(
            language,
            "done",
            &[("seconds", &seconds), ("url", &shown_url)]
        )
    );
    Ok(())
}

fn banner(language: Language) -> String {
    let line = "=".repeat(78);
    format!(
        "{line}\n accredito demo\n{}\n{}\n{line}",
        say(language, "banner.stand_in", &[]),
        say(language, "banner.local", &[])
    )
}

fn step(what: &str) {
    println!("-> {what}");
}

struct Api {
    client: Client,
    /// `/v1` lives on the admin listener, webhooks on the public one.
    admin_base: String,
    webhook_base: String,
    token: String,
    /// What the demo prints in, and the `Accept-Language` of the reads that have one.
    language: Language,
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
            .request(method.clone(), format!("{}{path}", self.admin_base))
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

    /// A GET that must succeed, in the demo's language (readiness's steps say what to do in
    /// the language `Accept-Language` asks for).
    async fn get_in_language(&self, path: &str) -> anyhow::Result<Value> {
        let response = self
            .client
            .get(format!("{}{path}", self.admin_base))
            .bearer_auth(&self.token)
            .header(
                reqwest::header::ACCEPT_LANGUAGE,
                crate::console::i18n::locale_code(self.language),
            )
            .send()
            .await
            .with_context(|| format!("GET {path}"))?;
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        if !status.is_success() {
            bail!("GET {path} answered {}: {text}", status.as_u16());
        }
        serde_json::from_str(&text).with_context(|| format!("GET {path}: not JSON"))
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
            .post(format!(
                "{}/webhooks/stripe/{profile_id}",
                self.webhook_base
            ))
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
    let language = api.language;

    println!("\n{}", say(language, "heading.setup", &[]));
    create_merchant(api, &nuovo).await?;
    step(&say(language, "setup.created", &[("merchant", nuovo.id)]));

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
    // The merchant reads why, in its language; the API's message is English.
    let message = refusal["message"].as_str().unwrap_or("(no message)");
    let reason =
        KeyRefusal::from_message(message).map_or_else(|| message.to_owned(), |r| r.text(language));
    step(&say(
        language,
        "setup.refused",
        &[
            ("merchant", prova.id),
            ("status", &status.to_string()),
            ("code", refusal["error"].as_str().unwrap_or("?")),
            ("reason", &reason),
        ],
    ));

    create_merchant(api, &pizzeria).await?;
    let (pizzeria_profile, pizzeria_secret) = create_profile(api, &pizzeria).await?;
    make_live(api, &pizzeria, &pizzeria_profile, PIZZERIA_KEY).await?;
    step(&say(
        language,
        "setup.no_bank",
        &[("merchant", pizzeria.id)],
    ));

    create_merchant(api, &bar).await?;
    let (bar_profile, bar_secret) = create_profile(api, &bar).await?;
    make_live(api, &bar, &bar_profile, BAR_KEY).await?;
    step(&say(language, "setup.ready", &[("merchant", bar.id)]));

    println!("\n{}", say(language, "heading.orders", &[]));
    let placed = time::OffsetDateTime::now_utc()
        .replace_nanosecond(0)
        .unwrap_or_else(|_| time::OffsetDateTime::now_utc())
        .format(&time::format_description::well_known::Rfc3339)?;
    let orders: [(&str, &str, i64, &str); 7] = [
        (bar.id, "o_1001", 1250, "Cappuccino e cornetto x5"),
        (bar.id, "o_1002", 3000, "Aperitivo per 6"),
        (bar.id, "o_1003", 2000, "Torta su ordinazione"),
        (bar.id, "o_1004", 800, "Caffè x8 (ancora da pagare)"),
        (bar.id, "o_1005", 1500, "Brunch"),
        (bar.id, "o_1006", 125_000, "Rinfresco per 80 invitati"),
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
    step(&say(
        language,
        "orders.registered",
        &[("count", &orders.len().to_string())],
    ));

    // The payout that settles Bar Centrale's orders, as Stripe itemises it.
    let lines = vec![
        balance_transaction(
            "txn_1006",
            "charge",
            125_000,
            1900,
            charge(1006, 125_000, 0),
        ),
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
        (
            "evt_demo_09",
            "payment_intent.succeeded",
            payment_intent(1006, "o_1006", 125_000),
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

    println!("\n{}", say(language, "heading.webhooks", &[]));
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
    wait_applied(pool, &ids, language).await?;
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
    wait_applied(pool, &ids, language).await?;

    print_tables(api, &[&nuovo, &prova, &pizzeria, &bar], &prova).await
}

/// Polls `processed_events` until every event has been applied by its worker.
async fn wait_applied(pool: &PgPool, ids: &[String], language: Language) -> anyhow::Result<()> {
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
            step(&say(
                language,
                "events.applied",
                &[("count", &ids.len().to_string())],
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

/// How long the demo waits for RabbitMQ before saying it is not there (the service itself
/// retries forever, which a one-minute demo must not).
const BROKER_PROBE_TIMEOUT: Duration = Duration::from_secs(5);

/// Fails fast, naming the broker and `AMQP_URL`, when RabbitMQ cannot be reached.
async fn broker_reachable(amqp_url: &str) -> anyhow::Result<()> {
    let shown = crate::config::without_password(amqp_url);
    let connection = tokio::time::timeout(
        BROKER_PROBE_TIMEOUT,
        crate::amqp::connection::open_any(amqp_url),
    )
    .await
    .map_err(|_| {
        anyhow::anyhow!(
            "RabbitMQ did not answer at {shown} within {} s (AMQP_URL; is it running?)",
            BROKER_PROBE_TIMEOUT.as_secs()
        )
    })?
    .with_context(|| format!("RabbitMQ is not reachable at {shown} (AMQP_URL; is it running?)"))?;
    let _ = connection.close(200, "probe".into()).await;
    Ok(())
}
