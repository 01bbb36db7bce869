//! TLS to PostgreSQL and RabbitMQ: the whole pipeline over encrypted, verified connections, and
//! connections refused when the server's certificate does not verify.
//!
//! The broker is a node of its own with an AMQPS listener (`deploy/rabbitmq-node.sh`, started
//! on first use and shared by these tests); PostgreSQL is the local server, whose Debian
//! cluster serves TLS with the machine's self-signed "snakeoil" certificate.

use std::path::PathBuf;
use std::time::Duration;

use accredito::config::Role;
use sqlx::postgres::{PgPoolOptions, PgSslMode};
use sqlx::{Connection, PgPool};

use crate::helpers::*;

/// The certificate the local PostgreSQL serves (Debian's `ssl-cert` package).
const POSTGRES_CERTIFICATE: &str = "/etc/ssl/certs/ssl-cert-snakeoil.pem";

async fn tls_broker() -> PathBuf {
    own_broker_node().await.join("tls/ca.pem")
}

fn amqps_url(ca: Option<&PathBuf>) -> String {
    let base = format!("amqps://guest:guest@localhost:{OWN_NODE_AMQPS_PORT}/%2f");
    match ca {
        Some(ca) => format!("{base}?cacertfile={}", ca.display()),
        None => base,
    }
}

/// A pool to the test's database that insists on TLS and checks the server's certificate.
fn verified_tls_pool(pool: &PgPool, root: &str) -> PgPool {
    let options = pool
        .connect_options()
        .as_ref()
        .clone()
        .ssl_mode(PgSslMode::VerifyCa)
        .ssl_root_cert(root);
    PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(5))
        .connect_lazy_with(options)
}

#[sqlx::test]
async fn events_flow_end_to_end_over_tls_to_postgresql_and_rabbitmq(pool: PgPool) {
    let ca = tls_broker().await;
    let tls_pool = verified_tls_pool(&pool, POSTGRES_CERTIFICATE);
    let app = spawn_app_with(
        tls_pool.clone(),
        AppOptions {
            roles: Role::all(),
            amqp_url: amqps_url(Some(&ca)),
            ..AppOptions::default()
        },
    )
    .await;
    // Applied by the worker: it went through the relay, the AMQPS listener and back.
    one_payment_applied(&app, "m_tls", "evt_over_tls", "order_tls").await;

    // Every connection the service holds to its database is encrypted.
    let database = pool
        .connect_options()
        .get_database()
        .expect("named")
        .to_owned();
    // Read over a plain connection, which the statistics must show as such.
    let plain_options = pool
        .connect_options()
        .as_ref()
        .clone()
        .ssl_mode(PgSslMode::Disable);
    let mut plain = sqlx::PgConnection::connect_with(&plain_options)
        .await
        .expect("plain connection");
    let (own_encrypted, others, others_encrypted): (bool, i64, i64) = sqlx::query_as(
        "select (select ssl from pg_stat_ssl where pid = pg_backend_pid()),
                count(*), count(*) filter (where s.ssl)
           from pg_stat_activity a join pg_stat_ssl s using (pid)
          where a.datname = $1 and a.pid <> pg_backend_pid()",
    )
    .bind(&database)
    .fetch_one(&mut plain)
    .await
    .expect("connection stats");
    assert!(
        !own_encrypted,
        "a sslmode=disable connection is shown as plain"
    );
    assert!(
        others > 0 && others_encrypted == others,
        "{others_encrypted} of {others} connections encrypted"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_broker_certificate_from_an_unknown_ca_is_refused() {
    tls_broker().await;
    // The node's CA is not among the system's roots: without `cacertfile` nothing trusts it.
    let error = accredito::amqp::tls::open(&amqps_url(None))
        .await
        .expect_err("an unverified broker must be refused");
    let message = error.to_string().to_lowercase();
    assert!(
        message.contains("certificate") || message.contains("issuer"),
        "{message}"
    );
}

#[tokio::test]
async fn a_broker_reached_over_tls_with_its_ca_accepts_the_connection() {
    let ca = tls_broker().await;
    let connection = accredito::amqp::tls::open(&amqps_url(Some(&ca)))
        .await
        .expect("the node's CA verifies its certificate");
    assert!(connection.status().connected());
    connection.close(200, "done".into()).await.expect("close");
}

#[sqlx::test]
async fn a_database_certificate_for_another_host_is_refused(pool: PgPool) {
    // The server's certificate names the machine, not 127.0.0.1: `verify-full` must refuse it
    // (its CA is trusted, so only the name check can fail).
    let options = pool
        .connect_options()
        .as_ref()
        .clone()
        .host("127.0.0.1")
        .ssl_mode(PgSslMode::VerifyFull)
        .ssl_root_cert(POSTGRES_CERTIFICATE);
    let error = PgPoolOptions::new()
        .max_connections(1)
        .acquire_timeout(Duration::from_secs(5))
        .connect_with(options)
        .await
        .expect_err("a certificate for another host must be refused");
    let message = error.to_string().to_lowercase();
    assert!(
        message.contains("certificate") || message.contains("name"),
        "{message}"
    );
    // `verify-ca` checks the chain only, and accepts it.
    sqlx::query("select 1")
        .execute(&verified_tls_pool(&pool, POSTGRES_CERTIFICATE))
        .await
        .expect("the server's own certificate verifies");
}
