//! Outages and shutdown: PostgreSQL down means 503 (never a 2xx for an unstored event, G1);
//! RabbitMQ down means stored events wait and are published once it is back (G2); SIGTERM
//! loses no acknowledged event.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::*;

fn rabbitmq_addr() -> SocketAddr {
    "127.0.0.1:5672".parse().expect("address")
}

#[sqlx::test]
async fn event_accepted_during_a_rabbitmq_outage_is_published_once_it_is_back(pool: PgPool) {
    let proxy = CuttableProxy::start(rabbitmq_addr()).await;
    let options = AppOptions {
        amqp_url: format!("amqp://guest:guest@{}/%2f", proxy.addr),
        ..AppOptions::default()
    };
    let app = spawn_app_with(pool, options).await;
    let secret = random_secret();
    let profile = app.create_profile("m_1", &secret).await;
    let before = stripe_event(
        "evt_before",
        "charge.succeeded",
        true,
        json!({"id": "ch_1", "object": "charge"}),
    );
    assert_eq!(app.deliver(&profile, &secret, &before).await.status(), 200);
    let mut orders = app.queue("orders").await;
    assert_eq!(orders.ids_until("evt_before").await, vec!["evt_before"]);

    proxy.cut();
    let during = stripe_event(
        "evt_during",
        "charge.refunded",
        true,
        json!({"id": "ch_1", "object": "charge"}),
    );
    let response = app.deliver(&profile, &secret, &during).await;

    assert_eq!(
        response.status(),
        200,
        "intake does not depend on the broker"
    );
    eventually(
        "readyz reports RabbitMQ down",
        Duration::from_secs(10),
        || async {
            let r = app
                .client
                .get(app.url("/readyz"))
                .send()
                .await
                .expect("readyz");
            (r.status() == 503).then_some(())
        },
    )
    .await;
    assert!(!app.is_published("evt_during").await);

    proxy.restore();
    assert_eq!(
        orders.ids_until("evt_during").await,
        vec!["evt_during"],
        "published once, after the outage"
    );
    eventually("row marked published", Duration::from_secs(10), || async {
        app.is_published("evt_during").await.then_some(())
    })
    .await;
    app.stop().await;
}

#[sqlx::test]
async fn relay_started_without_a_broker_publishes_everything_once_it_appears(pool: PgPool) {
    let proxy = CuttableProxy::start(rabbitmq_addr()).await;
    proxy.cut();
    let options = AppOptions {
        amqp_url: format!("amqp://guest:guest@{}/%2f", proxy.addr),
        ..AppOptions::default()
    };
    let app = spawn_app_with(pool, options).await;
    let secret = random_secret();
    let profile = app.create_profile("m_1", &secret).await;
    for i in 0..20 {
        let body = stripe_event(
            &format!("evt_{i}"),
            "charge.succeeded",
            true,
            json!({"id": "ch_1", "object": "charge"}),
        );
        assert_eq!(app.deliver(&profile, &secret, &body).await.status(), 200);
    }
    let ready = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 503);
    assert_eq!(
        ready.json::<Value>().await.expect("json")["rabbitmq"],
        "down"
    );

    proxy.restore();
    eventually("all 20 published", Duration::from_secs(20), || async {
        let unpublished: i64 = sqlx::query_scalar("select count(*) from inbox_unpublished")
            .fetch_one(&app.pool)
            .await
            .expect("count");
        (unpublished == 0).then_some(())
    })
    .await;
    let mut orders = app.queue("orders").await;
    let ids = orders.ids_until("evt_19").await;
    let expected: Vec<String> = (0..20).map(|i| format!("evt_{i}")).collect();
    assert_eq!(ids, expected, "each once, oldest first");
    app.stop().await;
}

#[sqlx::test]
async fn postgresql_unreachable_means_503_never_2xx(pool: PgPool) {
    let (app, proxy) = app_behind_a_database_proxy(&pool).await;
    let secret = random_secret();
    let profile = app.create_profile("m_1", &secret).await;
    let first = stripe_event(
        "evt_1",
        "charge.succeeded",
        true,
        json!({"id": "ch_1", "object": "charge"}),
    );
    assert_eq!(app.deliver(&profile, &secret, &first).await.status(), 200);

    proxy.cut();
    let second = stripe_event(
        "evt_2",
        "charge.succeeded",
        true,
        json!({"id": "ch_2", "object": "charge"}),
    );
    let response = app.deliver(&profile, &secret, &second).await;
    assert_eq!(
        response.status(),
        503,
        "a cached profile but no database: not stored, so not acknowledged"
    );
    assert_eq!(
        response.json::<Value>().await.expect("json")["error"],
        "storage_unavailable"
    );
    let unknown = app
        .deliver("prof_000000000000000000000000", &secret, &second)
        .await;
    assert_eq!(
        unknown.status(),
        503,
        "an unknown profile cannot be told from a database outage"
    );
    let ready = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz");
    assert_eq!(ready.status(), 503);
    assert_eq!(
        ready.json::<Value>().await.expect("json")["postgresql"],
        "down"
    );

    proxy.restore();
    let retried = eventually(
        "Stripe's retry succeeds",
        Duration::from_secs(15),
        || async {
            let r = app.deliver(&profile, &secret, &second).await;
            (r.status() == 200).then_some(r)
        },
    )
    .await;
    assert_eq!(
        retried.json::<Value>().await.expect("json")["duplicate"],
        false
    );
    let stored: i64 = sqlx::query_scalar("select count(*) from inbox_events")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(stored, 2);
    app.stop().await;
}

#[sqlx::test]
async fn sigterm_during_load_loses_no_acknowledged_event(pool: PgPool) {
    let prefix = unique_prefix();
    let free_port = || {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("free port");
        probe.local_addr().expect("addr").port()
    };
    let (port, admin_port) = (free_port(), free_port());
    let base = format!("http://127.0.0.1:{port}");
    let admin_base = format!("http://127.0.0.1:{admin_port}");
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_accredito"))
        .args([
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--admin-listen",
            &format!("127.0.0.1:{admin_port}"),
            "serve",
            "--roles",
            "ingest,relay",
        ])
        .env("DATABASE_URL", database_url_of(&pool))
        .env("AMQP_URL", amqp_url())
        .env(
            "ACCREDITO_MASTER_KEY",
            accredito::crypto::SecretBox::generate_master_key(),
        )
        .env("ACCREDITO_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("ACCREDITO_AMQP_PREFIX", &prefix)
        .kill_on_drop(true)
        .spawn()
        .expect("binary starts");
    let client = http_client();
    eventually("server up", Duration::from_secs(20), || async {
        client
            .get(format!("{base}/healthz"))
            .send()
            .await
            .ok()
            .filter(|r| r.status() == 200)
    })
    .await;
    let secret = random_secret();
    let created: Value = client
        .post(format!("{admin_base}/v1/profiles"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({ "merchant_id": "m_1", "name": "n", "webhook_secret": secret }))
        .send()
        .await
        .expect("create")
        .json()
        .await
        .expect("json");
    let url = format!(
        "{base}/webhooks/stripe/{}",
        created["id"].as_str().expect("id")
    );

    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut senders = Vec::new();
    for worker in 0..8 {
        let (client, url, secret, acked) =
            (client.clone(), url.clone(), secret.clone(), acked.clone());
        senders.push(tokio::spawn(async move {
            for i in 0..10_000 {
                let id = format!("evt_{worker}_{i}");
                let body = stripe_event(
                    &id,
                    "charge.succeeded",
                    true,
                    json!({"id": "ch_1", "object": "charge"}),
                );
                let header = accredito::stripe::signature::sign(body.as_bytes(), &secret, now());
                match client
                    .post(&url)
                    .header("Stripe-Signature", header)
                    .body(body)
                    .send()
                    .await
                {
                    Ok(r) if r.status() == 200 => acked.lock().expect("lock").push(id),
                    Ok(_) => {}
                    Err(_) => return, // the server stopped accepting
                }
            }
        }));
    }
    eventually("load under way", Duration::from_secs(20), || async {
        (acked.lock().expect("lock").len() >= 300).then_some(())
    })
    .await;

    let pid = child.id().expect("pid").to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(40), child.wait())
        .await
        .expect("exits in time")
        .expect("status");
    for s in senders {
        s.await.expect("sender");
    }

    assert!(status.success(), "graceful exit: {status:?}");
    let acked: HashSet<String> = acked.lock().expect("lock").iter().cloned().collect();
    let rows: Vec<(String, bool)> = sqlx::query_as(
        "select event_id, not exists (select 1 from inbox_unpublished u where u.inbox_id = e.id)
             from inbox_events e",
    )
    .fetch_all(&pool)
    .await
    .expect("rows");
    let stored: HashSet<String> = rows.iter().map(|(id, _)| id.clone()).collect();
    let missing: Vec<_> = acked.difference(&stored).collect();
    assert!(
        missing.is_empty(),
        "acknowledged but not stored: {missing:?}"
    );
    let unpublished = rows.iter().filter(|(_, published)| !published).count();
    assert_eq!(unpublished, 0, "shutdown publishes everything it stored");

    let mut orders = QueueProbe::open(&format!("{prefix}.orders")).await;
    let mut seen = HashSet::new();
    while let Some(m) = orders.next(Duration::from_secs(2)).await {
        seen.insert(m.message_id);
    }
    let missing: Vec<_> = stored.difference(&seen).collect();
    assert!(
        missing.is_empty(),
        "stored but never reached RabbitMQ: {} of {}",
        missing.len(),
        stored.len()
    );
    delete_topology(&prefix).await;
}

#[sqlx::test]
async fn an_unknown_profile_id_is_remembered_and_not_looked_up_again(pool: PgPool) {
    let (app, proxy) = app_behind_a_database_proxy(&pool).await;
    let secret = random_secret();
    let body = stripe_event(
        "evt_1",
        "charge.succeeded",
        true,
        json!({"id": "ch_1", "object": "charge"}),
    );
    let made_up = "prof_000000000000000000000009";
    // What the directory learns before it listens for changes it forgets once it does.
    listening_for_profile_changes(&pool).await;
    assert_eq!(app.deliver(made_up, &secret, &body).await.status(), 404);

    // With the database unreachable, the id already known to name nothing is answered from
    // memory; one never asked about cannot be told from an outage.
    proxy.cut();
    let again = app.deliver(made_up, &secret, &body).await;
    let never_asked = app
        .deliver("prof_000000000000000000000010", &secret, &body)
        .await;

    assert_eq!(again.status(), 404, "looked up again");
    assert_eq!(never_asked.status(), 503);
    proxy.restore();
    app.stop().await;
}

#[sqlx::test]
async fn a_secret_expired_while_the_change_listener_was_cut_stops_verifying_once_it_is_back(
    pool: PgPool,
) {
    let (app, proxy) = app_behind_a_database_proxy(&pool).await;
    let secret = random_secret();
    let profile = app.create_profile("m_1", &secret).await;
    // Cached after the notifications of its own creation have been heard.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        app.deliver(&profile, &secret, &charge_succeeded("evt_1"))
            .await
            .status(),
        200,
        "the profile is cached"
    );

    // Another process expires the secret while this one cannot hear of it.
    proxy.cut();
    // The proxy's connections close as soon as their tasks run again.
    tokio::time::sleep(Duration::from_millis(200)).await;
    sqlx::query("update webhook_secrets set expires_at = now() - interval '1 second'")
        .execute(&pool)
        .await
        .expect("expired");
    proxy.restore();

    // Well inside the cache's 10 s TTL: listening again, the process forgets what it cached.
    let refused = app
        .deliver_until(
            "the expired secret is refused",
            Duration::from_secs(4),
            (&profile, &secret, &charge_succeeded("evt_2")),
            400,
        )
        .await;
    assert_eq!(refused, 400);
    app.stop().await;
}

/// The app with its database connections through a proxy the test can cut.
async fn app_behind_a_database_proxy(pool: &PgPool) -> (TestApp, CuttableProxy) {
    let proxy = CuttableProxy::start(SocketAddr::new(
        "127.0.0.1".parse().expect("ip"),
        pool.connect_options().get_port(),
    ))
    .await;
    let app = spawn_app(pool_through(pool, &proxy)).await;
    (app, proxy)
}
