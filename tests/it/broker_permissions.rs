//! The least-privilege RabbitMQ users `deploy/README.md` documents ("RabbitMQ: least
//! privilege"): the service runs under them, and each can do only its part. They are made on
//! the tests' own node, in a vhost of the test's own, with the documented permissions (the
//! prefix in place of `accredito`).

use accredito::config::Role;
use accredito::crypto::SecretBox;
use lapin::options::BasicConsumeOptions;
use lapin::types::FieldTable;
use lapin::{Connection, ConnectionProperties};
use sqlx::PgPool;

use crate::helpers::*;

/// Makes the vhost `prefix` with the relay and worker users; returns their URLs.
async fn least_privilege_users(prefix: &str) -> (String, String) {
    own_broker_node().await;
    own_node_ctl(&["add_vhost", prefix]).await;
    let url = |user: &str, password: &str| {
        format!("amqp://{user}:{password}@127.0.0.1:{OWN_NODE_PORT}/{prefix}")
    };
    let relay = format!("{prefix}-relay");
    let worker = format!("{prefix}-worker");
    let password = hex::encode(rand::random::<[u8; 16]>());
    let p = prefix; // letters, digits and '_' only: nothing to escape in the expressions
    own_node_ctl(&["add_user", &relay, &password]).await;
    let (configure, write, read) = (
        format!(r"^{p}\..*"),
        format!(r"^{p}\..*"),
        format!(r"^{p}\.events$"),
    );
    own_node_ctl(&[
        "set_permissions",
        "-p",
        p,
        &relay,
        &configure,
        &write,
        &read,
    ])
    .await;
    own_node_ctl(&["add_user", &worker, &password]).await;
    let (configure, write, read) = (
        format!(r"^{p}\..*"),
        format!(r"^({p}\..*|amq\.default)$"),
        format!(r"^{p}\..*"),
    );
    own_node_ctl(&[
        "set_permissions",
        "-p",
        p,
        &worker,
        &configure,
        &write,
        &read,
    ])
    .await;
    (url(&relay, &password), url(&worker, &password))
}

#[sqlx::test]
async fn the_service_runs_under_the_documented_least_privilege_users(pool: PgPool) {
    let prefix = unique_prefix();
    let (relay_url, worker_url) = least_privilege_users(&prefix).await;
    let master_key = SecretBox::generate_master_key();
    let ingest = spawn_app_with(
        pool.clone(),
        AppOptions {
            roles: vec![Role::Ingest, Role::Relay],
            amqp_url: relay_url.clone(),
            prefix: prefix.clone(),
            master_key: Some(master_key.clone()),
            ..AppOptions::default()
        },
    )
    .await;
    let workers = spawn_app_with(
        pool.clone(),
        AppOptions {
            roles: vec![Role::Workers],
            amqp_url: worker_url,
            prefix: prefix.clone(),
            master_key: Some(master_key),
            ..AppOptions::default()
        },
    )
    .await;
    let secret = random_secret();
    let profile = ingest.create_profile("m_least", &secret).await;
    let body = stripe_event(
        "evt_least_privilege",
        "payment_intent.succeeded",
        true,
        payment_intent("pi_least", "succeeded", 700, "order_least"),
    );
    assert_eq!(ingest.deliver(&profile, &secret, &body).await.status(), 200);
    wait_applied(&pool, "evt_least_privilege").await;

    // The relay's user publishes but cannot read a work queue (nor take its events).
    let connection = Connection::connect(&relay_url, ConnectionProperties::default())
        .await
        .expect("relay user connects");
    let channel = connection.create_channel().await.expect("channel");
    let refused = channel
        .basic_consume(
            format!("{prefix}.orders").into(),
            "intruder".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect_err("the relay user must not consume");
    assert!(refused.to_string().contains("ACCESS_REFUSED"), "{refused}");
    ingest.stop().await;
    workers.stop().await;
    own_node_ctl(&["delete_vhost", &prefix]).await;
}
