//! The HTTP edge: slow, idle and too many clients are cut off or turned away, and the admin
//! API is not on the public listener.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use accredito::http::edge::EdgeLimits;
use serde_json::Value;
use sqlx::PgPool;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

const UNKNOWN_PROFILE: &str = "prof_000000000000000000000000";

fn limits(header_secs: u64, body_secs: u64) -> EdgeLimits {
    EdgeLimits {
        header_timeout: Duration::from_secs(header_secs),
        body_timeout: Duration::from_secs(body_secs),
        ..EdgeLimits::default()
    }
}

async fn app_with(pool: PgPool, edge: EdgeLimits) -> TestApp {
    spawn_app_with(
        pool,
        AppOptions {
            edge,
            ..AppOptions::default()
        },
    )
    .await
}

/// Reads until the server closes the connection (or `within` passes); returns what it sent
/// and how long the close took.
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> (String, Duration) {
    let started = Instant::now();
    let mut received = Vec::new();
    let mut buffer = [0u8; 4096];
    loop {
        let left = within.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break,
            Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
            Err(_) => panic!(
                "the server kept the connection open for {within:?}; it sent {:?}",
                String::from_utf8_lossy(&received)
            ),
        }
    }
    (
        String::from_utf8_lossy(&received).into_owned(),
        started.elapsed(),
    )
}

/// The request head of a webhook whose body is announced but (not yet) sent.
fn webhook_head(profile: &str, content_length: usize) -> String {
    format!(
        "POST /webhooks/stripe/{profile} HTTP/1.1\r\nhost: accredito\r\ncontent-type: application/json\r\n\
         stripe-signature: t=1,v1=00\r\ncontent-length: {content_length}\r\n\r\n"
    )
}

fn status_of(response: &str) -> u16 {
    response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not an HTTP response: {response:?}"))
}

#[sqlx::test]
async fn an_idle_connection_is_closed_after_the_header_timeout(pool: PgPool) {
    let app = app_with(pool, limits(1, 15)).await;

    let mut idle = TcpStream::connect(app.addr).await.expect("connect");
    let (sent, took) = read_until_closed(&mut idle, Duration::from_secs(5)).await;

    assert!(
        sent.is_empty() || status_of(&sent) == 408,
        "unexpected answer: {sent:?}"
    );
    assert!(
        took >= Duration::from_millis(900),
        "closed before the timeout: {took:?}"
    );
}

#[sqlx::test]
async fn a_request_head_trickled_byte_by_byte_is_cut_off_at_the_header_timeout(pool: PgPool) {
    let app = app_with(pool, limits(1, 15)).await;
    let head = webhook_head(UNKNOWN_PROFILE, 10);

    let mut slow = TcpStream::connect(app.addr).await.expect("connect");
    let started = Instant::now();
    let mut cut_off = false;
    for byte in head.as_bytes() {
        if slow.write_all(&[*byte]).await.is_err() {
            cut_off = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        if started.elapsed() > Duration::from_secs(5) {
            break;
        }
    }
    if !cut_off {
        let (_, _) = read_until_closed(&mut slow, Duration::from_secs(1)).await;
    }
    // Sending the whole head this way would take about 30 s.
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "the trickle was not cut off: {:?}",
        started.elapsed()
    );
}

#[sqlx::test]
async fn a_kept_alive_connection_left_idle_is_closed(pool: PgPool) {
    let app = app_with(pool, limits(1, 15)).await;

    let mut client = TcpStream::connect(app.addr).await.expect("connect");
    client
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: accredito\r\n\r\n")
        .await
        .expect("send");
    let (sent, took) = read_until_closed(&mut client, Duration::from_secs(5)).await;

    assert_eq!(status_of(&sent), 200, "{sent}");
    assert!(
        took >= Duration::from_millis(900),
        "closed before the idle timeout: {took:?}"
    );
}

#[sqlx::test]
async fn a_stalled_webhook_body_is_answered_408_at_the_body_timeout(pool: PgPool) {
    let app = app_with(pool, limits(30, 1)).await;
    let profile = app.create_profile("m_1", &random_secret()).await;

    let mut client = TcpStream::connect(app.addr).await.expect("connect");
    client
        .write_all(webhook_head(&profile, 1000).as_bytes())
        .await
        .expect("send head");
    client.write_all(b"{\"id\":").await.expect("send a little");
    let (sent, took) = read_until_closed(&mut client, Duration::from_secs(5)).await;

    assert_eq!(status_of(&sent), 408, "{sent}");
    assert!(sent.contains("request_timeout"), "{sent}");
    assert!(took >= Duration::from_millis(900), "{took:?}");
    assert_eq!(app.inbox_count().await, 0);
}

#[sqlx::test]
async fn a_stalled_admin_body_is_answered_408_at_the_body_timeout(pool: PgPool) {
    let app = app_with(pool, limits(30, 1)).await;

    let mut client = TcpStream::connect(app.admin_addr).await.expect("connect");
    let head = format!(
        "PUT /v1/orders/o_1 HTTP/1.1\r\nhost: accredito\r\nauthorization: Bearer {ADMIN_TOKEN}\r\n\
         content-type: application/json\r\ncontent-length: 500\r\n\r\n{{\"merchant_id\":"
    );
    client.write_all(head.as_bytes()).await.expect("send");
    let (sent, _) = read_until_closed(&mut client, Duration::from_secs(5)).await;

    assert_eq!(status_of(&sent), 408, "{sent}");
}

#[sqlx::test]
async fn a_webhook_for_an_unknown_profile_is_refused_without_reading_its_body(pool: PgPool) {
    // A body timeout far longer than the test: a 404 in time means the body was never awaited.
    let app = app_with(pool, limits(30, 60)).await;

    let mut client = TcpStream::connect(app.addr).await.expect("connect");
    client
        .write_all(webhook_head(UNKNOWN_PROFILE, 500 * 1024).as_bytes())
        .await
        .expect("send head");
    let (sent, took) = read_until_closed(&mut client, Duration::from_secs(5)).await;

    assert_eq!(status_of(&sent), 404, "{sent}");
    assert!(sent.contains("unknown_profile"), "{sent}");
    assert!(took < Duration::from_secs(5));
}

/// Resident memory of this test process, in KiB.
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

#[sqlx::test]
async fn stalled_bodies_to_a_made_up_profile_hold_no_memory(pool: PgPool) {
    let app = app_with(pool, limits(30, 30)).await;
    let half_a_body = vec![b' '; 256 * 1024];
    let before = rss_kib();

    let mut clients = Vec::new();
    for _ in 0..200 {
        let mut client = TcpStream::connect(app.addr).await.expect("connect");
        client
            .write_all(webhook_head(UNKNOWN_PROFILE, 512 * 1024).as_bytes())
            .await
            .expect("send head");
        // The server may already have answered and closed: a failed write is fine.
        let _ =
            tokio::time::timeout(Duration::from_millis(200), client.write_all(&half_a_body)).await;
        clients.push(client);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let grown_mib = rss_kib().saturating_sub(before) / 1024;

    // Buffering them would take about 50 MiB (200 x 256 KiB).
    assert!(
        grown_mib < 25,
        "200 stalled bodies grew the process by {grown_mib} MiB"
    );
    drop(clients);
}

#[sqlx::test]
async fn connections_past_the_cap_are_answered_503_with_retry_after(pool: PgPool) {
    let edge = EdgeLimits {
        max_connections: 3,
        ..limits(30, 15)
    };
    let app = app_with(pool, edge).await;

    let mut held = Vec::new();
    for _ in 0..3 {
        held.push(TcpStream::connect(app.addr).await.expect("connect"));
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut extra = TcpStream::connect(app.addr).await.expect("connect");
    extra
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: accredito\r\n\r\n")
        .await
        .expect("send");
    let (sent, _) = read_until_closed(&mut extra, Duration::from_secs(3)).await;

    assert_eq!(status_of(&sent), 503, "{sent}");
    assert!(
        sent.to_ascii_lowercase().contains("retry-after: 1"),
        "{sent}"
    );
    assert!(sent.contains("\"overloaded\""), "{sent}");

    // A freed slot serves the next client again.
    drop(held.pop());
    let response = eventually("a slot frees up", Duration::from_secs(5), || async {
        let response = app
            .client
            .get(app.public_url("/healthz"))
            .send()
            .await
            .ok()?;
        (response.status() == 200).then_some(response)
    })
    .await;
    assert_eq!(response.status(), 200);
}

#[sqlx::test]
async fn requests_past_the_in_flight_cap_are_answered_503_with_retry_after(pool: PgPool) {
    let edge = EdgeLimits {
        max_in_flight: 2,
        ..limits(30, 30)
    };
    let app = app_with(pool, edge).await;
    let profile = app.create_profile("m_1", &random_secret()).await;

    // Two webhooks whose bodies never finish hold both slots.
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut client = TcpStream::connect(app.addr).await.expect("connect");
        client
            .write_all(webhook_head(&profile, 1000).as_bytes())
            .await
            .expect("send head");
        held.push(client);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let refused = app
        .client
        .get(app.public_url("/healthz"))
        .send()
        .await
        .expect("answered");

    assert_eq!(refused.status(), 503);
    assert_eq!(refused.headers()["retry-after"], "1");
    let body: Value = refused.json().await.expect("json");
    assert_eq!(body["error"], "overloaded");
    // The admin listener has its own budget.
    let admin = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .expect("answered");
    assert_eq!(admin.status(), 200);

    drop(held);
    let ok = eventually("the slots free up", Duration::from_secs(5), || async {
        let response = app
            .client
            .get(app.public_url("/healthz"))
            .send()
            .await
            .ok()?;
        (response.status() == 200).then_some(())
    })
    .await;
    assert_eq!(ok, ());
}

async fn get(app: &TestApp, addr: SocketAddr, path: &str) -> (u16, String) {
    let response = app
        .client
        .get(format!("http://{addr}{path}"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("answered");
    (
        response.status().as_u16(),
        response.text().await.expect("body"),
    )
}

#[sqlx::test]
async fn the_public_listener_serves_webhooks_and_bare_probes_only(pool: PgPool) {
    let app = spawn_app(pool).await;

    for path in ["/v1/profiles", "/v1/openapi.json", "/metrics"] {
        let (public, _) = get(&app, app.addr, path).await;
        let (admin, _) = get(&app, app.admin_addr, path).await;
        assert_eq!(public, 404, "{path} answered on the public listener");
        assert_eq!(admin, 200, "{path} on the admin listener");
    }
    let public_ready = eventually("ready", Duration::from_secs(10), || async {
        let (status, body) = get(&app, app.addr, "/readyz").await;
        (status == 200).then_some(body)
    })
    .await;
    let public_ready: Value = serde_json::from_str(&public_ready).expect("json");
    assert_eq!(public_ready, serde_json::json!({ "status": "ready" }));
    let (_, admin_ready) = get(&app, app.admin_addr, "/readyz").await;
    let admin_ready: Value = serde_json::from_str(&admin_ready).expect("json");
    assert_eq!(admin_ready["postgresql"], "up");
    let (status, _) = get(&app, app.admin_addr, "/webhooks/stripe/connect").await;
    assert_eq!(status, 404, "webhooks are not on the admin listener");
}

#[sqlx::test]
async fn unknown_paths_and_methods_get_the_json_error_body(pool: PgPool) {
    let app = spawn_app(pool).await;
    let send = |method: reqwest::Method, url: String| {
        let request = app.client.request(method, url).bearer_auth(ADMIN_TOKEN);
        async move {
            let response = request.send().await.expect("answered");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.expect("a JSON body"))
        }
    };

    let (status, body) = send(reqwest::Method::GET, app.url("/v1/no-such-thing")).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
    assert_eq!(body["message"], "no route GET /v1/no-such-thing");

    let (status, body) = send(reqwest::Method::PATCH, app.url("/v1/profiles")).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (405, Some("method_not_allowed"))
    );
    assert_eq!(body["message"], "/v1/profiles does not take PATCH");

    let (status, body) = send(reqwest::Method::GET, app.public_url("/webhooks/stripe/x/y")).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
}

#[sqlx::test]
async fn every_answer_carries_a_request_id_echoing_a_sensible_one(pool: PgPool) {
    let app = spawn_app(pool).await;

    let given = app
        .client
        .get(app.url("/v1/profiles"))
        .bearer_auth(ADMIN_TOKEN)
        .header("x-request-id", "platform-req-42")
        .send()
        .await
        .expect("answered");
    let fresh = app
        .client
        .get(app.public_url("/healthz"))
        .header("x-request-id", "not sensible\tid")
        .send()
        .await
        .expect("answered");

    assert_eq!(given.headers()["x-request-id"], "platform-req-42");
    let made = fresh.headers()["x-request-id"].to_str().expect("ascii");
    assert_eq!(made.len(), 32, "{made}");
    assert!(made.bytes().all(|b| b.is_ascii_hexdigit()), "{made}");
}
