//! Probes and metrics.

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::*;

#[sqlx::test]
async fn healthz_and_readyz_answer_when_dependencies_are_up(pool: PgPool) {
    let app = spawn_app(pool).await;
    let health = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("healthz");
    assert_eq!(health.status(), 200);
    let ready = eventually("ready", std::time::Duration::from_secs(10), || async {
        let r = app
            .client
            .get(app.url("/readyz"))
            .send()
            .await
            .expect("readyz");
        (r.status() == 200).then_some(r)
    })
    .await;
    assert_eq!(
        ready.json::<Value>().await.expect("json"),
        json!({
            "status": "ready", "postgresql": "up", "schema": "current", "rabbitmq": "up",
            "rabbitmq_nodes": [accredito::amqp::connection::node_of(&amqp_url())]
        })
    );
    app.stop().await;
}

#[sqlx::test]
async fn metrics_count_requests_failures_and_publishes(pool: PgPool) {
    let app = spawn_app(pool).await;
    let secret = random_secret();
    let profile = app.create_profile("m_1", &secret).await;
    let body = stripe_event(
        "evt_m",
        "charge.succeeded",
        true,
        json!({"id": "ch_1", "object": "charge"}),
    );
    app.deliver(&profile, &secret, &body).await;
    app.deliver_raw(&profile, body.clone(), Some("garbage"))
        .await;
    eventually("published", std::time::Duration::from_secs(10), || async {
        app.is_published("evt_m").await.then_some(())
    })
    .await;

    let metrics = app.metrics().await;
    for expected in [
        r#"accredito_http_requests_total{route="/webhooks/stripe/{profile_id}",status="200"} 1"#,
        r#"accredito_http_requests_total{route="/webhooks/stripe/{profile_id}",status="400"} 1"#,
        r#"accredito_webhook_verification_failures_total{reason="malformed_header"} 1"#,
        r#"accredito_webhook_events_total{outcome="stored"} 1"#,
        r#"accredito_relay_publishes_total{outcome="confirmed"} 1"#,
        "accredito_publish_latency_seconds_count 1",
        "accredito_inbox_unpublished",
    ] {
        assert!(
            metrics.contains(expected),
            "missing {expected} in\n{metrics}"
        );
    }
    assert!(
        !metrics.contains(&profile),
        "profile ids do not become labels"
    );
    app.stop().await;
}

#[tokio::test]
async fn help_never_shows_the_value_of_a_secret_setting() {
    let secrets = [
        (
            "ACCREDITO_ALERT_WEBHOOK_URL",
            "https://hooks.example/T0/B0/alert-url-credential",
        ),
        (
            "DATABASE_URL",
            "postgres://app:database-password@db/accredito",
        ),
        ("AMQP_URL", "amqp://app:broker-password@mq/%2f"),
        (
            "ACCREDITO_ADMIN_TOKEN",
            "admin-token-value-0123456789abcdef",
        ),
        (
            "ACCREDITO_CONNECT_WEBHOOK_SECRET",
            "whsec_connect-secret-value",
        ),
    ];
    let mut help = tokio::process::Command::new(env!("CARGO_BIN_EXE_accredito"));
    help.arg("--help");
    for (name, value) in secrets {
        help.env(name, value);
    }
    let output = help.output().await.expect("runs");

    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("ACCREDITO_ALERT_WEBHOOK_URL"), "{text}");
    for (name, value) in secrets {
        assert!(!text.contains(value), "--help shows {name}'s value");
    }
}

#[sqlx::test]
async fn the_database_url_can_come_from_a_file(pool: PgPool) {
    let file = std::env::temp_dir().join(format!("accredito-db-url-{}", rand::random::<u64>()));
    std::fs::write(&file, format!("{}\n", database_url_of(&pool))).expect("write");

    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_accredito"))
        .arg("migrate")
        .env_remove("DATABASE_URL")
        .env("DATABASE_URL_FILE", &file)
        .output()
        .await
        .expect("runs");

    std::fs::remove_file(&file).ok();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("\"migrated\":true"));
}

#[sqlx::test]
async fn readiness_fails_while_migrations_are_pending(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    eventually("ready", std::time::Duration::from_secs(10), || async {
        let r = app.client.get(app.url("/readyz")).send().await.ok()?;
        (r.status() == 200).then_some(())
    })
    .await;

    // As if this binary were newer than the database: its latest migration not applied.
    sqlx::query(
        "delete from _sqlx_migrations where version = (select max(version) from _sqlx_migrations)",
    )
    .execute(&pool)
    .await
    .expect("forget the latest migration");
    let admin = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    let public = app
        .client
        .get(app.public_url("/readyz"))
        .send()
        .await
        .expect("readyz");

    assert_eq!(
        (admin.status().as_u16(), public.status().as_u16()),
        (503, 503)
    );
    let body: Value = admin.json().await.expect("json");
    assert_eq!(body["status"], "not_ready");
    assert!(
        body["schema"]
            .as_str()
            .is_some_and(|s| s.contains("migrations pending")),
        "{body}"
    );
    app.stop().await;
}

#[sqlx::test]
async fn pretty_logs_written_to_a_pipe_have_no_colour_codes(pool: PgPool) {
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_accredito"))
        .args([
            "--listen",
            "127.0.0.1:0",
            "--admin-listen",
            "127.0.0.1:0",
            "serve",
            "--roles",
            "ingest",
        ])
        .env("DATABASE_URL", database_url_of(&pool))
        .env(
            "ACCREDITO_MASTER_KEY",
            accredito::crypto::SecretBox::generate_master_key(),
        )
        .env("ACCREDITO_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("ACCREDITO_LOG_FORMAT", "pretty")
        .env_remove("RUST_LOG")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("starts");
    let mut stderr = child.stderr.take().expect("stderr");
    let mut logged = Vec::new();
    let read = async {
        let mut buffer = [0u8; 4096];
        while !String::from_utf8_lossy(&logged).contains("accredito listening") {
            let n = tokio::io::AsyncReadExt::read(&mut stderr, &mut buffer)
                .await
                .expect("read");
            if n == 0 {
                break;
            }
            logged.extend_from_slice(&buffer[..n]);
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(20), read)
        .await
        .expect("the start-up line within 20 s");
    child.kill().await.ok();

    let text = String::from_utf8_lossy(&logged);
    assert!(text.contains("accredito listening"), "{text}");
    assert!(!text.contains('\u{1b}'), "escape codes in a pipe: {text:?}");
    // The start-up summary names every setting, secrets only as set or unset.
    assert!(text.contains("accredito starting"), "{text}");
    assert!(text.contains(r#""master_key":"set""#), "{text}");
    assert!(text.contains(r#""alert_webhook_url":"unset""#), "{text}");
    assert!(!text.contains(ADMIN_TOKEN), "{text}");
}

/// Reads a JSON value, failing on an object that repeats a key (serde_json would keep the last).
struct UniqueKeys(Value);

impl<'de> serde::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = UniqueKeys;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("JSON")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<UniqueKeys, A::Error> {
                let mut object = serde_json::Map::new();
                while let Some((key, UniqueKeys(value))) = map.next_entry::<String, UniqueKeys>()? {
                    if object.insert(key.clone(), value).is_some() {
                        return Err(serde::de::Error::custom(format!("key `{key}` repeated")));
                    }
                }
                Ok(UniqueKeys(Value::Object(object)))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<UniqueKeys, A::Error> {
                let mut items = Vec::new();
                while let Some(UniqueKeys(item)) = seq.next_element()? {
                    items.push(item);
                }
                Ok(UniqueKeys(Value::Array(items)))
            }
            fn visit_str<E>(self, v: &str) -> Result<UniqueKeys, E> {
                Ok(UniqueKeys(Value::String(v.to_owned())))
            }
            fn visit_string<E>(self, v: String) -> Result<UniqueKeys, E> {
                Ok(UniqueKeys(Value::String(v)))
            }
            fn visit_bool<E>(self, v: bool) -> Result<UniqueKeys, E> {
                Ok(UniqueKeys(Value::Bool(v)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<UniqueKeys, E> {
                Ok(UniqueKeys(json!(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<UniqueKeys, E> {
                Ok(UniqueKeys(json!(v)))
            }
            fn visit_f64<E>(self, v: f64) -> Result<UniqueKeys, E> {
                Ok(UniqueKeys(json!(v)))
            }
            fn visit_unit<E>(self) -> Result<UniqueKeys, E> {
                Ok(UniqueKeys(Value::Null))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// Every string anywhere in `value`.
fn strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(s) => out.push(s.clone()),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(map) => map.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

#[sqlx::test]
async fn json_logs_repeat_no_key_and_print_plain_values(pool: PgPool) {
    let database_url = database_url_of(&pool);
    let master_key = accredito::crypto::SecretBox::generate_master_key();
    let run = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_accredito"))
            .args(args)
            .env("DATABASE_URL", &database_url)
            .env("ACCREDITO_MASTER_KEY", &master_key)
            .env("ACCREDITO_LOG_FORMAT", "json")
            .env("RUST_LOG", "info")
            .output()
            .expect("runs");
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stderr).expect("utf-8")
    };
    // The check itself refuses a repeated key.
    assert!(serde_json::from_str::<UniqueKeys>(r#"{"span":{"name":"a","name":"b"}}"#).is_err());
    let log = run(&["merchant", "create", "m_logs", "--name", "Bar Roma"]);

    let mut lines = 0;
    let mut merchant_names = Vec::new();
    for line in log.lines().filter(|l| !l.trim().is_empty()) {
        let UniqueKeys(entry) = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("a log line that is not clean JSON ({e}): {line}"));
        lines += 1;
        let mut values = Vec::new();
        strings(&entry, &mut values);
        assert!(
            !values.iter().any(|v| v.starts_with("Some(") || v == "None"),
            "an Option printed with Debug: {line}"
        );
        if let Some(name) = entry["span"]["merchant_name"].as_str() {
            merchant_names.push(name.to_owned());
        }
    }
    assert!(lines >= 1, "the command logged nothing:\n{log}");
    assert_eq!(
        merchant_names,
        ["Bar Roma"],
        "the merchant's name is a field of its own, beside the span's name:\n{log}"
    );
}

#[sqlx::test]
async fn metrics_show_latency_lag_the_process_and_the_books(pool: PgPool) {
    let app = spawn_app_with(
        pool.clone(),
        AppOptions {
            roles: accredito::config::Role::all(),
            ..AppOptions::default()
        },
    )
    .await;
    // Paid before the order is registered: an open `unknown_order` discrepancy.
    one_payment_applied(&app, "m_metrics", "evt_metrics", "o_not_registered").await;

    let metrics = app.metrics().await;
    for expected in [
        r#"accredito_http_request_duration_seconds_count{route="/webhooks/stripe/{profile_id}"} 1"#,
        r#"accredito_worker_lag_seconds_count{handler="orders"} 1"#,
        r#"accredito_build_info{version=""#,
        r#"accredito_open_discrepancies{kind="unknown_order"} 1"#,
        r#"accredito_open_alerts{kind="no_bank_account"} 0"#,
        "accredito_dead_letters 0",
        "accredito_inbox_oldest_unpublished_seconds 0",
        // The profile has no secret key: not counted as a silent live profile.
        "accredito_silent_live_profiles 0",
        "# EOF",
    ] {
        assert!(
            metrics.contains(expected),
            "missing {expected} in\n{metrics}"
        );
    }
    let gauge = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in\n{metrics}"))
    };
    assert!(gauge("accredito_process_resident_memory_bytes") > 1_000_000.0);
    assert!(gauge("accredito_process_open_fds") > 0.0);
    assert!(gauge("accredito_process_cpu_seconds") > 0.0);

    // Prometheus's own text format when asked for.
    let plain = app
        .client
        .get(app.url("/metrics"))
        .header("Accept", "text/plain;version=0.0.4")
        .send()
        .await
        .expect("metrics");
    assert_eq!(
        plain.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = plain.text().await.expect("text");
    assert!(text.contains("accredito_open_discrepancies") && !text.contains("# EOF"));
    app.stop().await;
}

/// The console migration reads the Stripe object of every event stored before it, so an
/// order's page lists the events of an upgraded database too.
#[sqlx::test(migrations = false)]
async fn events_stored_before_the_console_migration_get_their_object_id(pool: PgPool) {
    const BEFORE_CONSOLE: i64 = 20261204000001;
    let migrator = sqlx::migrate!();
    migrator
        .run_to(BEFORE_CONSOLE, &pool)
        .await
        .expect("migrate to the version before the console");
    for statement in [
        "insert into merchants (id) values ('m_1')",
        "insert into stripe_profiles (id, merchant_id, name, mode)
         values ('prof_0123456789abcdefghijklmn', 'm_1', 'Bar', 'live')",
        r#"insert into inbox_events (profile_id, merchant_id, event_id, event_type, livemode,
                livemode_mismatch, event_created_at, raw_body)
           values ('prof_0123456789abcdefghijklmn', 'm_1', 'evt_old', 'payment_intent.succeeded', true, false,
                   now(), convert_to('{"id":"evt_old","data":{"object":{"id":"pi_old","object":"payment_intent"}}}', 'UTF8'))"#,
    ] {
        sqlx::query(statement)
            .execute(&pool)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }

    migrator.run(&pool).await.expect("the remaining migrations");

    let object_id: Option<String> =
        sqlx::query_scalar("select object_id from inbox_events where event_id = 'evt_old'")
            .fetch_one(&pool)
            .await
            .expect("row");
    assert_eq!(object_id.as_deref(), Some("pi_old"));
}
