//! Test harness: the app on 127.0.0.1:0 against real PostgreSQL (a database per test, from
//! `#[sqlx::test]`) and real RabbitMQ (a name prefix per test, queues that expire).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use accredito::amqp::{QueueType, Topology};
use accredito::app::{self, Listeners, RunningService, ServiceConfig};
use accredito::config::{ConsoleSettings, LogFormat, Role, Settings};
use accredito::crypto::SecretBox;
use accredito::domain::StripeMode;
use accredito::http::edge::EdgeLimits;
use accredito::stripe::signature;
use accredito::worker::consumer::WorkerSettings;
use futures_util::StreamExt;
use lapin::options::{BasicAckOptions, BasicConsumeOptions};
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use rand::Rng;
use secrecy::SecretString;
use serde_json::{Value, json};
use sqlx::PgPool;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

pub const ADMIN_TOKEN: &str = "test-admin-token-0123456789abcdef";
/// `ACCREDITO_VIEWER_TOKENS` of every test app: the read-only token named `desk`.
pub const VIEWER_TOKEN: &str = "test-viewer-token-0123456789abcdef";
pub const VIEWER_NAME: &str = "desk";
/// The platform's Connect signing secret in tests.
pub const CONNECT_SECRET: &str = "whsec_connect_platform_secret";
pub const RABBITMQ_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// Stripe client retries in milliseconds, so tests of 429/5xx handling stay fast.
pub fn fast_stripe_retries() -> accredito::stripe::client::RetryPolicy {
    accredito::stripe::client::RetryPolicy {
        max_attempts: 3,
        min_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        max_retry_after: Duration::from_millis(50),
    }
}

/// reqwest carries no TLS provider of its own; every test's clients need ring installed.
/// Idle connections are dropped well before the service closes them (after
/// `ACCREDITO_HEADER_TIMEOUT_SECS`, 10 s): on a loaded machine a request sent on a connection
/// the service was closing at that moment failed with an incomplete message.
pub fn http_client() -> reqwest::Client {
    accredito::stripe::client::install_ring_provider();
    reqwest::Client::builder()
        .pool_idle_timeout(Duration::from_secs(4))
        .build()
        .expect("HTTP client")
}

pub fn amqp_url() -> String {
    std::env::var("AMQP_URL").unwrap_or_else(|_| RABBITMQ_URL.to_owned())
}

/// A unique prefix, so parallel tests never share an exchange or queue.
pub fn unique_prefix() -> String {
    let suffix: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(10)
        .map(char::from)
        .collect();
    format!("t_{}", suffix.to_lowercase())
}

pub fn random_secret() -> String {
    let s: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(32)
        .map(char::from)
        .collect();
    format!("whsec_{s}")
}

pub struct AppOptions {
    pub mode: StripeMode,
    pub amqp_url: String,
    pub roles: Vec<Role>,
    pub prefix: String,
    /// A fake Stripe's base URL.
    pub stripe_api_base: Option<String>,
    pub alert_webhook_url: Option<String>,
    /// `ACCREDITO_ADMIN_TOKENS` (named tokens), besides the `admin` one, [`ADMIN_TOKEN`].
    pub admin_tokens: Option<String>,
    /// Timeouts and caps of the listeners.
    pub edge: EdgeLimits,
    /// `ACCREDITO_MASTER_KEY`; a fresh one when `None`. Processes sharing a database share it.
    pub master_key: Option<String>,
    /// Classic queues unless a test needs quorum queues (a cluster's).
    pub queue_type: QueueType,
}

impl Default for AppOptions {
    fn default() -> Self {
        AppOptions {
            mode: StripeMode::Live,
            amqp_url: amqp_url(),
            // Intake tests read the work queues themselves: no worker competes for messages.
            roles: vec![Role::Ingest, Role::Relay],
            prefix: unique_prefix(),
            stripe_api_base: None,
            alert_webhook_url: None,
            admin_tokens: None,
            edge: EdgeLimits::default(),
            master_key: None,
            queue_type: QueueType::Classic,
        }
    }
}

pub fn test_settings(mode: StripeMode, amqp_url: String, prefix: String) -> Settings {
    Settings {
        database_url: "unused: tests pass their own pool".into(),
        amqp_url,
        listen: "127.0.0.1:0".parse().expect("valid address"),
        admin_listen: "127.0.0.1:0".parse().expect("valid address"),
        admin_token: Some(SecretString::from(ADMIN_TOKEN)),
        admin_tokens: None,
        master_key: Some(SecretString::from(SecretBox::generate_master_key())),
        stripe_mode: mode,
        stripe_api_base: "http://127.0.0.1:9".into(),
        alert_webhook_url: None,
        connect_webhook_secret: Some(SecretString::from(CONNECT_SECRET)),
        public_url: Some("https://accredito.example".into()),
        log_format: LogFormat::Pretty,
        signature_tolerance_secs: 300,
        amqp_prefix: prefix,
        quorum_group_size: 3,
        db_max_connections: 8,
        console: ConsoleSettings {
            viewer_tokens: Some(SecretString::from(format!("{VIEWER_NAME}:{VIEWER_TOKEN}"))),
            ..ConsoleSettings::default()
        },
        retention_days: 90,
        previous_master_keys: None,
    }
}

pub struct TestApp {
    /// The public listener (webhooks).
    pub addr: SocketAddr,
    /// The admin listener (`/v1`, `/metrics`, `/readyz` with details).
    pub admin_addr: SocketAddr,
    pub pool: PgPool,
    pub topology: Topology,
    pub client: reqwest::Client,
    pub mode: StripeMode,
    service: Option<RunningService>,
}

pub async fn spawn_app(pool: PgPool) -> TestApp {
    spawn_app_with(pool, AppOptions::default()).await
}

pub async fn spawn_app_with(pool: PgPool, options: AppOptions) -> TestApp {
    accredito::telemetry::init(LogFormat::Pretty);
    let mut settings = test_settings(options.mode, options.amqp_url, options.prefix);
    if let Some(base) = options.stripe_api_base {
        settings.stripe_api_base = base;
    }
    settings.alert_webhook_url = options.alert_webhook_url.map(SecretString::from);
    settings.admin_tokens = options.admin_tokens.map(SecretString::from);
    if let Some(key) = options.master_key {
        settings.master_key = Some(SecretString::from(key));
    }
    let mut config = ServiceConfig::new(settings, options.roles);
    config.topology.ephemeral_after_ms = Some(60_000);
    config.topology.queue_type = options.queue_type;
    config.catch_up_every = Duration::from_millis(200);
    // Fast retries, so tests see backoff and dead-lettering in well under a second.
    config.alert_poll_every = Duration::from_millis(50);
    config.account_sweep_every = Duration::from_millis(200);
    config.catch_up_events_every = Duration::from_millis(300);
    config.key_waits_every = Duration::from_millis(200);
    config.stripe_retry = Some(fast_stripe_retries());
    config.worker = WorkerSettings {
        prefetch: 32,
        max_attempts: 3,
        retry_base: Duration::from_millis(50),
    };
    let topology = config.topology.clone();
    config.edge = options.edge;
    let service = app::start(
        config,
        pool.clone(),
        test_listeners().await,
        CancellationToken::new(),
    )
    .await
    .expect("app starts");
    TestApp {
        addr: service.addr,
        admin_addr: service.admin_addr,
        pool,
        topology,
        client: http_client(),
        mode: options.mode,
        service: Some(service),
    }
}

/// Both listeners on free loopback ports.
pub async fn test_listeners() -> Listeners {
    Listeners {
        public: TcpListener::bind("127.0.0.1:0").await.expect("bind"),
        admin: TcpListener::bind("127.0.0.1:0").await.expect("bind"),
    }
}

/// Which listener serves `path`: the webhooks are public, everything else is admin.
pub fn listener_url(public: SocketAddr, admin: SocketAddr, path: &str) -> String {
    let addr = if path.starts_with("/webhooks/") {
        public
    } else {
        admin
    };
    format!("http://{addr}{path}")
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        listener_url(self.addr, self.admin_addr, path)
    }

    /// `path` on the public listener, whatever it is.
    pub fn public_url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Graceful shutdown, as on SIGTERM; returns once every task has finished.
    pub async fn stop(mut self) {
        if let Some(service) = self.service.take() {
            service.shutdown();
            service.wait().await.expect("service stops cleanly");
        }
    }

    pub async fn admin_post(&self, path: &str, body: Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(ADMIN_TOKEN)
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    /// Creates a profile through the API and returns its id.
    pub async fn create_profile(&self, merchant_id: &str, secret: &str) -> String {
        let response = self
            .admin_post("/v1/profiles", json!({ "merchant_id": merchant_id, "name": "Bar Centrale", "webhook_secret": secret }))
            .await;
        assert_eq!(response.status(), 201);
        let body: Value = response.json().await.expect("json");
        body["id"].as_str().expect("id").to_owned()
    }

    /// POSTs `body` to the profile's webhook URL with the given `Stripe-Signature` header.
    pub async fn deliver_raw(
        &self,
        profile_id: &str,
        body: impl Into<reqwest::Body>,
        header: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self
            .client
            .post(self.url(&format!("/webhooks/stripe/{profile_id}")))
            .body(body);
        if let Some(header) = header {
            request = request.header("Stripe-Signature", header);
        }
        request.send().await.expect("request")
    }

    /// Signs `body` with `secret` now and delivers it.
    pub async fn deliver(&self, profile_id: &str, secret: &str, body: &str) -> reqwest::Response {
        let header = signature::sign(body.as_bytes(), secret, now());
        self.deliver_raw(profile_id, body.to_owned(), Some(&header))
            .await
    }

    /// Delivers `body` again and again until it is answered with `wanted`, for at most
    /// `within` (then the test fails, naming `what`); returns the status.
    pub async fn deliver_until(
        &self,
        what: &str,
        within: Duration,
        (profile_id, secret, body): (&str, &str, &str),
        wanted: u16,
    ) -> u16 {
        eventually(what, within, || async {
            let status = self.deliver(profile_id, secret, body).await.status();
            (status == wanted).then_some(status.as_u16())
        })
        .await
    }

    pub async fn inbox_count(&self) -> i64 {
        sqlx::query_scalar::<_, i64>("select count(*) from inbox_events")
            .fetch_one(&self.pool)
            .await
            .expect("count")
    }

    pub async fn is_published(&self, event_id: &str) -> bool {
        sqlx::query_scalar::<_, bool>(
            // A mismatched event is never listed, and never published.
            "select not e.livemode_mismatch
                    and not exists (select 1 from inbox_unpublished u where u.inbox_id = e.id)
             from inbox_events e where e.event_id = $1",
        )
        .bind(event_id)
        .fetch_optional(&self.pool)
        .await
        .expect("query")
        .unwrap_or(false)
    }

    pub async fn metrics(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics")
            .text()
            .await
            .expect("text")
    }

    // `/v1` reads: JSON, CSV, and every page of a list.

    pub async fn admin_get(&self, path: &str, query: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .get(self.url(&with_query(path, query)))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .await
            .expect("request")
    }

    pub async fn admin_get_csv(&self, path: &str, query: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .get(self.url(&with_query(path, query)))
            .bearer_auth(ADMIN_TOKEN)
            .header("accept", "text/csv")
            .send()
            .await
            .expect("request")
    }

    /// Follows `next_cursor` from the first page to the last, returning every page's `data`.
    pub async fn walk(&self, path: &str, query: &[(&str, &str)]) -> Vec<Vec<Value>> {
        let mut pages = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut q = query.to_vec();
            if let Some(c) = &cursor {
                q.push(("cursor", c));
            }
            let response = self.admin_get(path, &q).await;
            assert_eq!(response.status(), 200, "{path} {q:?}");
            let page: Value = response.json().await.expect("json");
            pages.push(page["data"].as_array().expect("data").clone());
            match page["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => {
                    assert!(page["next_cursor"].is_null());
                    return pages;
                }
            }
            assert!(pages.len() < 100, "pagination does not end");
        }
    }

    /// A consumer on one of this app's queues (`orders`, `payouts`, `accounts`, `dead`).
    pub async fn queue(&self, suffix: &str) -> QueueProbe {
        QueueProbe::open(&self.topology.queue(suffix)).await
    }
}

pub fn now() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// A Stripe-shaped event with `object` as `data.object`, created now.
/// A `charge.succeeded` event of `ch_1`: any event a profile verifies.
pub fn charge_succeeded(id: &str) -> String {
    stripe_event(
        id,
        "charge.succeeded",
        true,
        json!({"id": "ch_1", "object": "charge"}),
    )
}

pub fn stripe_event(id: &str, event_type: &str, livemode: bool, object: Value) -> String {
    stripe_event_at(id, event_type, livemode, now(), object)
}

/// A Stripe-shaped event created at `created` (Unix seconds).
pub fn stripe_event_at(
    id: &str,
    event_type: &str,
    livemode: bool,
    created: i64,
    object: Value,
) -> String {
    json!({
        "id": id,
        "object": "event",
        "api_version": "2026-07-29.basil",
        "created": created,
        "livemode": livemode,
        "pending_webhooks": 1,
        "request": { "id": null, "idempotency_key": null },
        "type": event_type,
        "data": { "object": object, "previous_attributes": null }
    })
    .to_string()
}

pub fn payment_intent(id: &str, status: &str, amount: i64, order_id: &str) -> Value {
    json!({
        "id": id,
        "object": "payment_intent",
        "amount": amount,
        "amount_received": if status == "succeeded" { amount } else { 0 },
        "currency": "eur",
        "status": status,
        "created": now(),
        "metadata": { "order_id": order_id },
        "latest_charge": null,
        "livemode": true
    })
}

/// Polls `check` until it yields `Some`, failing the test after `timeout`.
pub async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// `path?k=v&...` with every byte but the unreserved ones percent-encoded (so a '+' in an
/// offset stays a '+').
pub fn with_query(path: &str, query: &[(&str, &str)]) -> String {
    let encode = |s: &str| {
        s.bytes()
            .map(|b| {
                if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                    char::from(b).to_string()
                } else {
                    format!("%{b:02X}")
                }
            })
            .collect::<String>()
    };
    if query.is_empty() {
        return path.to_owned();
    }
    let pairs: Vec<String> = query
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect();
    format!("{path}?{}", pairs.join("&"))
}

pub fn ids(rows: &[Value], field: &str) -> Vec<String> {
    rows.iter()
        .map(|r| match &r[field] {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

/// A strict RFC 4180 reader, so the tests check what a spreadsheet would read back.
pub fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut field = String::new();
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') if field.is_empty() => quoted = true,
            (false, ',') => record.push(std::mem::take(&mut field)),
            (false, '\r') => {
                assert_eq!(chars.next(), Some('\n'), "records end with CRLF");
                record.push(std::mem::take(&mut field));
                records.push(std::mem::take(&mut record));
            }
            (false, c) => {
                assert!(
                    c != '"' && c != '\n',
                    "unquoted special character in {text:?}"
                );
                field.push(c);
            }
        }
    }
    assert!(!quoted && field.is_empty() && record.is_empty(), "{text:?}");
    records
}

/// Reads messages from a queue, acking each.
pub struct QueueProbe {
    _connection: Connection,
    consumer: lapin::Consumer,
}

pub struct Received {
    pub message_id: String,
    pub routing_key: String,
    pub headers: Value,
    pub body: Vec<u8>,
    pub persistent: bool,
}

impl QueueProbe {
    /// Waits (up to 30 s) for the queue to be declared: the relay declares it once connected.
    pub async fn open(queue: &str) -> Self {
        eventually(
            &format!("queue {queue} declared"),
            Duration::from_secs(30),
            || async {
                // A failed consume closes its channel; start each attempt afresh.
                let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
                    .await
                    .ok()?;
                let channel = connection.create_channel().await.ok()?;
                let consumer = channel
                    .basic_consume(
                        queue.into(),
                        "".into(),
                        BasicConsumeOptions::default(),
                        FieldTable::default(),
                    )
                    .await
                    .ok()?;
                Some(QueueProbe {
                    _connection: connection,
                    consumer,
                })
            },
        )
        .await
    }

    pub async fn next(&mut self, timeout: Duration) -> Option<Received> {
        let delivery = tokio::time::timeout(timeout, self.consumer.next())
            .await
            .ok()??
            .ok()?;
        delivery.ack(BasicAckOptions::default()).await.expect("ack");
        let props = &delivery.properties;
        let headers = props
            .headers()
            .as_ref()
            .map(|h| {
                h.inner()
                    .iter()
                    .map(|(k, v)| {
                        let value = match v {
                            lapin::types::AMQPValue::LongString(s) => Value::String(s.to_string()),
                            other => Value::String(format!("{other:?}")),
                        };
                        (k.to_string(), value)
                    })
                    .collect::<serde_json::Map<_, _>>()
            })
            .unwrap_or_default();
        Some(Received {
            message_id: props
                .message_id()
                .as_ref()
                .map(|s| s.to_string())
                .unwrap_or_default(),
            routing_key: delivery.routing_key.to_string(),
            headers: Value::Object(headers),
            body: delivery.data.clone(),
            persistent: *props.delivery_mode() == Some(2),
        })
    }

    /// Message ids received until `sentinel` arrives (inclusive).
    pub async fn ids_until(&mut self, sentinel: &str) -> Vec<String> {
        let mut ids = Vec::new();
        loop {
            let message = self
                .next(Duration::from_secs(30))
                .await
                .unwrap_or_else(|| panic!("{sentinel} never arrived; got {ids:?}"));
            ids.push(message.message_id.clone());
            if message.message_id == sentinel {
                return ids;
            }
        }
    }
}

/// A TCP proxy in front of a real server that a test can cut and restore, to make an
/// outage of PostgreSQL or RabbitMQ without stopping the shared server.
pub struct CuttableProxy {
    pub addr: SocketAddr,
    up: Arc<AtomicBool>,
    cut: Arc<Notify>,
}

impl CuttableProxy {
    pub async fn start(target: SocketAddr) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("addr");
        let up = Arc::new(AtomicBool::new(true));
        let cut = Arc::new(Notify::new());
        let (up2, cut2) = (up.clone(), cut.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                if !up2.load(Ordering::SeqCst) {
                    continue; // dropped: connection refused in effect
                }
                let cut = cut2.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        () = cut.notified() => {}
                    }
                });
            }
        });
        CuttableProxy { addr, up, cut }
    }

    /// Closes every open connection and refuses new ones.
    pub fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        self.cut.notify_waiters();
    }

    pub fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

/// The URL of a `#[sqlx::test]` database, for running the binary against it.
pub fn database_url_of(pool: &PgPool) -> String {
    let options = pool.connect_options();
    format!(
        "postgres://{}@{}:{}/{}",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        options.get_database().expect("test databases are named")
    )
}

/// A pool to the same test database through `proxy`, failing fast when it is cut.
pub fn pool_through(pool: &PgPool, proxy: &CuttableProxy) -> PgPool {
    let options = pool
        .connect_options()
        .as_ref()
        .clone()
        .host("127.0.0.1")
        .port(proxy.addr.port());
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .acquire_timeout(Duration::from_secs(2))
        .connect_lazy_with(options)
}

/// Deletes what a test that ran the binary (with durable, non-expiring names) declared.
pub async fn delete_topology(prefix: &str) {
    let connection = Connection::connect(&amqp_url(), ConnectionProperties::default())
        .await
        .expect("RabbitMQ");
    let channel = connection.create_channel().await.expect("channel");
    let mut queues: Vec<String> = ["orders", "payouts", "accounts", "dead"]
        .iter()
        .map(|s| format!("{prefix}.{s}"))
        .collect();
    for work in ["orders", "payouts", "accounts"] {
        queues.extend(
            (1..=accredito::amqp::topology::RETRY_LEVELS)
                .map(|level| format!("{prefix}.{work}.retry.{level}")),
        );
    }
    for queue in queues {
        let _ = channel
            .queue_delete(queue.as_str().into(), Default::default())
            .await;
    }
    let _ = channel
        .exchange_delete(
            format!("{prefix}.events").as_str().into(),
            Default::default(),
        )
        .await;
}

/// Runs `deploy/<script>` with `args`; panics with its error output when it fails, else
/// returns what it printed.
pub async fn run_script(script: &str, args: &[&str]) -> String {
    let path = format!("{}/deploy/{script}", env!("CARGO_MANIFEST_DIR"));
    let output = tokio::process::Command::new("bash")
        .arg(&path)
        .args(args)
        .output()
        .await
        .unwrap_or_else(|e| panic!("run {script}: {e}"));
    assert!(
        output.status.success(),
        "{script} {}: {}",
        args.first().unwrap_or(&""),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Makes a profile of `merchant` on `app` (which runs the workers), and delivers a
/// `payment_intent.succeeded` event `event_id` for `order_id` through it until applied.
/// Returns the profile and its signing secret.
pub async fn one_payment_applied(
    app: &TestApp,
    merchant: &str,
    event_id: &str,
    order_id: &str,
) -> (String, String) {
    let secret = random_secret();
    let profile = app.create_profile(merchant, &secret).await;
    let payment = payment_intent(&format!("pi_{event_id}"), "succeeded", 500, order_id);
    let body = stripe_event(event_id, "payment_intent.succeeded", true, payment);
    assert_eq!(app.deliver(&profile, &secret, &body).await.status(), 200);
    wait_applied(&app.pool, event_id).await;
    (profile, secret)
}

/// Waits until a worker has recorded `event_id` as handled.
pub async fn wait_applied(pool: &PgPool, event_id: &str) {
    eventually(
        &format!("{event_id} applied"),
        Duration::from_secs(60),
        || async {
            let done: bool = sqlx::query_scalar(
                "select exists(select 1 from processed_events where event_id = $1)",
            )
            .bind(event_id)
            .fetch_one(pool)
            .await
            .expect("query");
            done.then_some(())
        },
    )
    .await;
}

/// A RabbitMQ node of the tests' own beside the system's broker (`deploy/rabbitmq-node.sh`),
/// plain on [`OWN_NODE_PORT`] and AMQPS on [`OWN_NODE_AMQPS_PORT`]: for TLS, and for users and
/// vhosts the tests may create freely. Started on first use and shared; returns its directory
/// (its CA certificate is `tls/ca.pem` there).
pub async fn own_broker_node() -> std::path::PathBuf {
    let (port, tls_port) = (OWN_NODE_PORT.to_string(), OWN_NODE_AMQPS_PORT.to_string());
    let dir = run_script(
        "rabbitmq-node.sh",
        &["start", OWN_NODE, &port, "--tls", &tls_port],
    )
    .await;
    std::path::PathBuf::from(dir.trim())
}

pub const OWN_NODE: &str = "accredito-tls";
pub const OWN_NODE_PORT: u16 = 5682;
pub const OWN_NODE_AMQPS_PORT: u16 = 5681;

/// `rabbitmqctl` against [`own_broker_node`]; panics with its output when it fails.
pub async fn own_node_ctl(args: &[&str]) {
    let mut all = vec!["ctl", OWN_NODE];
    all.extend_from_slice(args);
    run_script("rabbitmq-node.sh", &all).await;
}

/// Waits until the app's profile directory has a connection listening for changes.
pub async fn listening_for_profile_changes(pool: &PgPool) {
    eventually("the directory listens", Duration::from_secs(10), || async {
        let listening: i64 = sqlx::query_scalar(
            "select count(*) from pg_stat_activity
             where datname = current_database() and query ilike 'listen %accredito_profile_changed%'",
        )
        .fetch_one(pool)
        .await
        .expect("activity");
        (listening > 0).then_some(())
    })
    .await;
}
