//! A three-node RabbitMQ cluster (`deploy/rabbitmq-cluster.sh`, started on first use and
//! shared): `AMQP_URL` lists its nodes, queues are quorum queues with three replicas, and the
//! service carries on through the loss of the node it was connected to.

use std::time::Duration;

use accredito::amqp::QueueType;
use accredito::config::Role;
use serde_json::Value;
use sqlx::PgPool;

use crate::helpers::*;

const NODES: [(&str, u16); 3] = [
    ("accredito-c1", 5701),
    ("accredito-c2", 5702),
    ("accredito-c3", 5703),
];

/// Starts (or finds) the cluster; returns the `AMQP_URL` that lists its nodes.
async fn cluster() -> String {
    run_script("rabbitmq-cluster.sh", &["start"])
        .await
        .trim()
        .to_owned()
}

async fn readiness(app: &TestApp) -> Value {
    app.client
        .get(app.url("/readyz"))
        .send()
        .await
        .expect("readyz")
        .json()
        .await
        .expect("json")
}

#[sqlx::test]
async fn the_service_carries_on_through_the_loss_of_its_rabbitmq_node(pool: PgPool) {
    let amqp_url = cluster().await;
    let app = spawn_app_with(
        pool.clone(),
        AppOptions {
            roles: Role::all(),
            amqp_url,
            queue_type: QueueType::Quorum,
            ..AppOptions::default()
        },
    )
    .await;
    let secret = random_secret();
    let profile = app.create_profile("m_cluster", &secret).await;
    let pay = |n: u32| {
        stripe_event(
            &format!("evt_cluster_{n}"),
            "payment_intent.succeeded",
            true,
            payment_intent(
                &format!("pi_cluster_{n}"),
                "succeeded",
                500,
                &format!("o_{n}"),
            ),
        )
    };
    assert_eq!(app.deliver(&profile, &secret, &pay(1)).await.status(), 200);
    wait_applied(&pool, "evt_cluster_1").await;

    // Every work queue has three replicas, one on each node.
    let orders_queue = app.topology.queue("orders");
    let members = run_script(
        "rabbitmq-node.sh",
        &["ctl", NODES[0].0, "list_queues", "-q", "name", "members"],
    )
    .await;
    let line = members
        .lines()
        .find(|l| l.starts_with(&format!("{orders_queue}\t")))
        .unwrap_or_else(|| panic!("{orders_queue} not listed:\n{members}"));
    for (name, _) in NODES {
        assert!(line.contains(&format!("{name}@localhost")), "{line}");
    }

    // Stop the node the service uses; it moves to another and events keep flowing.
    let ready = readiness(&app).await;
    let used: Vec<String> = serde_json::from_value(ready["rabbitmq_nodes"].clone())
        .unwrap_or_else(|_| panic!("{ready}"));
    let (stopped, port) = NODES
        .iter()
        .find(|(_, port)| used.iter().any(|n| n == &format!("127.0.0.1:{port}")))
        .copied()
        .unwrap_or_else(|| panic!("no cluster node in {ready}"));
    run_script("rabbitmq-node.sh", &["stop", stopped]).await;
    let restart = async {
        run_script("rabbitmq-node.sh", &["start", stopped, &port.to_string()]).await;
    };
    assert_eq!(app.deliver(&profile, &secret, &pay(2)).await.status(), 200);
    wait_applied(&pool, "evt_cluster_2").await;
    let moved = eventually("on another node", Duration::from_secs(30), || async {
        let ready = readiness(&app).await;
        let nodes: Vec<String> =
            serde_json::from_value(ready["rabbitmq_nodes"].clone()).unwrap_or_default();
        (ready["rabbitmq"] == "up"
            && !nodes.is_empty()
            && !nodes.contains(&format!("127.0.0.1:{port}")))
        .then_some(nodes)
    })
    .await;
    restart.await;
    app.stop().await;
    assert!(!moved.is_empty());
}

#[sqlx::test]
async fn quorum_queues_declared_before_the_group_size_was_set_are_kept(pool: PgPool) {
    let amqp_url = cluster().await;
    // An earlier version declared the orders queue without `x-quorum-initial-group-size`;
    // declaring it again with the argument would be refused (PRECONDITION_FAILED).
    let prefix = unique_prefix();
    let first_node = accredito::amqp::connection::urls(&amqp_url)[0].to_owned();
    let connection =
        lapin::Connection::connect(&first_node, lapin::ConnectionProperties::default())
            .await
            .expect("connect");
    let channel = connection.create_channel().await.expect("channel");
    let mut args = lapin::types::FieldTable::default();
    args.insert(
        "x-queue-type".into(),
        lapin::types::AMQPValue::LongString("quorum".into()),
    );
    args.insert(
        "x-expires".into(),
        lapin::types::AMQPValue::LongUInt(60_000),
    );
    channel
        .queue_declare(
            format!("{prefix}.orders").as_str().into(),
            lapin::options::QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            args,
        )
        .await
        .expect("the old declaration");

    let app = spawn_app_with(
        pool.clone(),
        AppOptions {
            roles: Role::all(),
            amqp_url,
            prefix,
            queue_type: QueueType::Quorum,
            ..AppOptions::default()
        },
    )
    .await;
    one_payment_applied(&app, "m_upgrade", "evt_after_upgrade", "o_upgrade").await;
    app.stop().await;
}

#[tokio::test]
async fn a_classic_queue_left_under_a_work_queue_s_name_stays_an_error() {
    let amqp_url = cluster().await;
    let first_node = accredito::amqp::connection::urls(&amqp_url)[0].to_owned();
    let connection =
        lapin::Connection::connect(&first_node, lapin::ConnectionProperties::default())
            .await
            .expect("connect");
    let prefix = unique_prefix();
    let mut args = lapin::types::FieldTable::default();
    args.insert(
        "x-expires".into(),
        lapin::types::AMQPValue::LongUInt(60_000),
    );
    connection
        .create_channel()
        .await
        .expect("channel")
        .queue_declare(
            format!("{prefix}.orders").as_str().into(),
            lapin::options::QueueDeclareOptions {
                durable: true,
                ..Default::default()
            },
            args,
        )
        .await
        .expect("a classic queue");

    // Only a quorum queue that lacks the group size is kept; a queue of the wrong type is a
    // misconfiguration the operator must see.
    let mut topology = accredito::amqp::Topology::new(prefix);
    topology.ephemeral_after_ms = Some(60_000);
    let channel = connection.create_channel().await.expect("channel");
    let error = topology
        .declare(&connection, &channel)
        .await
        .expect_err("a classic queue under the name must fail the declaration");
    assert!(error.to_string().contains("x-queue-type"), "{error}");
}
