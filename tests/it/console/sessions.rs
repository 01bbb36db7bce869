//! Signing in and out, expiry, roles, CSRF and the response headers of the console; the
//! viewer role on `/v1`.

use reqwest::StatusCode;
use serde_json::json;
use sqlx::PgPool;

use super::fixture::{self, ConsoleClient, csrf_of, location, set_cookie};
use crate::helpers::{ADMIN_TOKEN, VIEWER_NAME, VIEWER_TOKEN, spawn_app};

#[sqlx::test]
async fn root_redirects_to_the_console_which_sends_strangers_to_sign_in(pool: PgPool) {
    let app = spawn_app(pool).await;
    let browser = ConsoleClient::new(app.admin_addr);
    let root = browser.get("/").await;
    assert_eq!(root.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&root), "/console");
    for path in ["/console", "/console/orders", "/console/dead-letters"] {
        let page = browser.get(path).await;
        assert_eq!(page.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(location(&page), "/console/sign-in", "{path}");
    }
    app.stop().await;
}

#[sqlx::test]
async fn a_viewer_signs_in_into_a_strict_http_only_cookie_and_sees_its_role(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let mut browser = ConsoleClient::new(app.admin_addr);
    let response = browser.sign_in(VIEWER_TOKEN).await;
    assert_eq!(location(&response), "/console");
    let cookie = set_cookie(&response, "accredito_console").expect("session cookie");
    assert!(cookie.contains("HttpOnly"), "{cookie}");
    assert!(cookie.contains("SameSite=Strict"), "{cookie}");
    assert!(cookie.contains("Path=/console"), "{cookie}");
    assert!(
        !cookie.contains("Secure"),
        "plain HTTP without a proxy saying TLS: {cookie}"
    );

    let overview = browser.page("/console").await;
    assert!(overview.contains(VIEWER_NAME), "the token's name is shown");
    assert!(overview.contains("viewer, read only"));
    assert!(
        !overview.contains(VIEWER_TOKEN),
        "the token itself never is"
    );

    // Only a SHA-256 of the cookie's id is stored, never the id.
    use base64::Engine as _;
    use sha2::Digest as _;
    let value = cookie
        .split(';')
        .next()
        .expect("pair")
        .trim_start_matches("accredito_console=");
    let id = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(value)
        .expect("base64url");
    let stored: Vec<u8> = sqlx::query_scalar("select id_hash from console_sessions")
        .fetch_one(&pool)
        .await
        .expect("one session");
    assert_eq!(stored, sha2::Sha256::digest(&id).to_vec());
    assert_ne!(stored, id);
    let sessions: (String, String) =
        sqlx::query_as("select token_name, role from console_sessions")
            .fetch_one(&pool)
            .await
            .expect("one session");
    assert_eq!(sessions, (VIEWER_NAME.to_owned(), "viewer".to_owned()));
    app.stop().await;
}

#[sqlx::test]
async fn behind_a_tls_proxy_the_session_cookie_is_secure(pool: PgPool) {
    let app = spawn_app(pool).await;
    let browser = ConsoleClient::new(app.admin_addr);
    let form = browser
        .client
        .get(format!("{}/console/sign-in", browser.base))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .expect("form");
    let nonce = set_cookie(&form, "accredito_console_sign_in")
        .expect("cookie")
        .to_owned();
    assert!(nonce.contains("; Secure"), "{nonce}");
    let csrf = csrf_of(&form.text().await.expect("body"));
    let response = browser
        .client
        .post(format!("{}/console/sign-in", browser.base))
        .header("x-forwarded-proto", "https")
        .header("cookie", nonce.split(';').next().expect("pair"))
        .form(&[("token", ADMIN_TOKEN), ("csrf", csrf.as_str())])
        .send()
        .await
        .expect("sign in");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let cookie = set_cookie(&response, "accredito_console").expect("cookie");
    assert!(cookie.contains("; Secure"), "{cookie}");
    app.stop().await;
}

#[sqlx::test]
async fn a_wrong_token_is_refused_with_401_and_starts_no_session(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let mut browser = ConsoleClient::new(app.admin_addr);
    let response = browser
        .sign_in_with("not-a-token-0123456789abcdef0123456789", "en")
        .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert!(set_cookie(&response, "accredito_console").is_none());
    let html = response.text().await.expect("body");
    assert!(html.contains("This token is not valid"), "{html}");
    assert!(!html.contains("not-a-token"), "the token is not echoed");
    let count: i64 = sqlx::query_scalar("select count(*) from console_sessions")
        .fetch_one(&pool)
        .await
        .expect("count");
    assert_eq!(count, 0);
    app.stop().await;
}

#[sqlx::test]
async fn sign_in_without_the_forms_token_is_refused(pool: PgPool) {
    let app = spawn_app(pool).await;
    let browser = ConsoleClient::new(app.admin_addr);
    let response = browser
        .post(
            "/console/sign-in",
            &[("token", ADMIN_TOKEN), ("csrf", "forged")],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(set_cookie(&response, "accredito_console").is_none());
    app.stop().await;
}

#[sqlx::test]
async fn an_idle_or_expired_session_sends_back_to_sign_in_and_is_deleted(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    for expire in [
        "update console_sessions set last_seen_at = now() - interval '9 hours'",
        "update console_sessions set expires_at = now() - interval '1 second'",
    ] {
        let mut browser = ConsoleClient::new(app.admin_addr);
        browser.sign_in(VIEWER_TOKEN).await;
        browser.page("/console/orders").await;
        sqlx::query(expire).execute(&pool).await.expect("expire");
        let response = browser.get("/console/orders").await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{expire}");
        assert_eq!(location(&response), "/console/sign-in?ended=1");
        let left: i64 = sqlx::query_scalar("select count(*) from console_sessions")
            .fetch_one(&pool)
            .await
            .expect("count");
        assert_eq!(left, 0, "{expire}");
        let form = browser.get("/console/sign-in?ended=1").await;
        assert!(
            form.text()
                .await
                .expect("body")
                .contains("Your session has ended")
        );
    }
    app.stop().await;
}

#[sqlx::test]
async fn a_session_ends_when_its_token_is_no_longer_configured_with_that_role(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    let mut browser = ConsoleClient::new(app.admin_addr);
    browser.sign_in(VIEWER_TOKEN).await;
    browser.page("/console").await;
    // As if the operator had removed the token `desk` (and another process had made a session
    // for a name this configuration does not have).
    sqlx::query("update console_sessions set token_name = 'removed-desk'")
        .execute(&pool)
        .await
        .expect("rename");
    assert_eq!(
        browser.get("/console").await.status(),
        StatusCode::SEE_OTHER
    );

    // A name that now has another role is not honoured either.
    let mut browser = ConsoleClient::new(app.admin_addr);
    browser.sign_in(VIEWER_TOKEN).await;
    sqlx::query("update console_sessions set role = 'admin'")
        .execute(&pool)
        .await
        .expect("escalate");
    assert_eq!(
        browser.get("/console").await.status(),
        StatusCode::SEE_OTHER
    );
    app.stop().await;
}

#[sqlx::test]
async fn sign_out_needs_the_sessions_csrf_token_and_ends_the_session(pool: PgPool) {
    let app = spawn_app(pool).await;
    let mut browser = ConsoleClient::new(app.admin_addr);
    browser.sign_in(VIEWER_TOKEN).await;
    let html = browser.page("/console").await;
    for forged in [vec![], vec![("csrf", "forged")]] {
        let refused = browser.post("/console/sign-out", &forged).await;
        assert_eq!(refused.status(), StatusCode::FORBIDDEN, "{forged:?}");
        assert!(
            refused
                .text()
                .await
                .expect("body")
                .contains("Reload the page")
        );
    }
    assert_eq!(
        browser.get("/console").await.status(),
        StatusCode::OK,
        "still signed in"
    );

    let csrf = csrf_of(&html);
    let out = browser.post("/console/sign-out", &[("csrf", &csrf)]).await;
    assert_eq!(out.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&out), "/console/sign-in?signed_out=1");
    let cleared = set_cookie(&out, "accredito_console").expect("cleared");
    assert!(cleared.contains("Max-Age=0"), "{cleared}");
    assert_eq!(
        browser.get("/console").await.status(),
        StatusCode::SEE_OTHER
    );
    app.stop().await;
}

#[sqlx::test]
async fn every_console_response_carries_the_security_headers(pool: PgPool) {
    let app = spawn_app(pool.clone()).await;
    fixture::seed(&pool).await;
    let mut browser = ConsoleClient::new(app.admin_addr);
    let sign_in = browser.get("/console/sign-in").await;
    let mut responses = vec![("/console/sign-in".to_owned(), sign_in)];
    browser.sign_in(VIEWER_TOKEN).await;
    for path in [
        "/console",
        "/console/orders/ord-1001",
        "/console/orders/no-such-order",
        "/console/assets/console.css",
        "/console/orders.csv",
    ] {
        responses.push((path.to_owned(), browser.get(path).await));
    }
    for (path, response) in responses {
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        let csp = header("content-security-policy");
        for directive in [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            "frame-ancestors 'none'",
            "form-action 'self'",
            "base-uri 'none'",
        ] {
            assert!(csp.contains(directive), "{path}: {csp}");
        }
        assert!(!csp.contains("unsafe-inline"), "{path}");
        assert_eq!(header("x-content-type-options"), "nosniff", "{path}");
        assert_eq!(header("referrer-policy"), "same-origin", "{path}");
        assert_eq!(header("cache-control"), "no-store", "{path}");
        if header("content-type").starts_with("text/html") {
            let html = response.text().await.expect("body");
            assert!(!html.contains("<script>"), "{path}: no inline script");
            assert!(!html.contains("style="), "{path}: no inline style");
            assert!(!html.contains("<style"), "{path}: no inline style");
        }
    }
    app.stop().await;
}

#[sqlx::test]
async fn a_viewer_token_reads_v1_and_is_refused_any_change_with_403(pool: PgPool) {
    let app = spawn_app(pool).await;
    let read = app
        .client
        .get(app.url("/v1/reconciliation/orders"))
        .bearer_auth(VIEWER_TOKEN)
        .send()
        .await
        .expect("GET");
    assert_eq!(read.status(), StatusCode::OK);
    let write = app
        .client
        .put(app.url("/v1/orders/o-viewer"))
        .bearer_auth(VIEWER_TOKEN)
        .json(&json!({"merchant_id": "m_1", "amount": 100, "currency": "eur", "placed_at": "2026-12-01T10:00:00Z"}))
        .send()
        .await
        .expect("PUT");
    assert_eq!(write.status(), StatusCode::FORBIDDEN);
    let body: serde_json::Value = write.json().await.expect("json");
    assert_eq!(body["error"], "forbidden");
    let message = body["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("read-only") && message.contains("admin token"),
        "{message}"
    );
    assert!(!message.contains(VIEWER_TOKEN));
    let admin = app
        .client
        .put(app.url("/v1/orders/o-admin"))
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"merchant_id": "m_1", "amount": 100, "currency": "eur", "placed_at": "2026-12-01T10:00:00Z"}))
        .send()
        .await
        .expect("PUT");
    assert!(admin.status().is_success(), "{}", admin.status());
    app.stop().await;
}
