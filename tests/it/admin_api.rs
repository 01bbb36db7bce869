//! Profiles through `/v1` and the CLI: ids, webhook URLs, secrets never shown.

use serde_json::{Value, json};
use sqlx::PgPool;

use crate::helpers::*;

#[sqlx::test]
async fn creating_a_profile_answers_its_id_and_webhook_url_but_never_the_secret(pool: PgPool) {
    let app = spawn_app(pool).await;
    let secret = random_secret();

    let response = app
        .admin_post(
            "/v1/profiles",
            json!({ "merchant_id": "m_7", "name": "Pizzeria Roma", "webhook_secret": secret }),
        )
        .await;

    assert_eq!(response.status(), 201);
    let text = response.text().await.expect("body");
    assert!(!text.contains(&secret), "the secret is never returned");
    let body: Value = serde_json::from_str(&text).expect("json");
    let id = body["id"].as_str().expect("id");
    assert!(accredito::domain::ProfileId::parse(id).is_some(), "{id}");
    assert_eq!(
        body["webhook_url"],
        format!("https://accredito.example/webhooks/stripe/{id}")
    );
    assert_eq!(body["merchant_id"], "m_7");
    assert_eq!(body["mode"], "live");
    assert_eq!(body["webhook_secrets"][0]["active"], true);

    let stored: Vec<u8> = sqlx::query_scalar("select secret_ciphertext from webhook_secrets")
        .fetch_one(&app.pool)
        .await
        .expect("row");
    assert!(
        !stored.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "the secret is encrypted at rest (G7)"
    );

    let shown = app
        .client
        .get(app.url(&format!("/v1/profiles/{id}")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("get");
    assert_eq!(shown.status(), 200);
    assert!(!shown.text().await.expect("body").contains(&secret));
    app.stop().await;
}

#[sqlx::test]
async fn admin_api_requires_the_bearer_token(pool: PgPool) {
    let app = spawn_app(pool).await;
    let body = json!({ "merchant_id": "m_1", "name": "n", "webhook_secret": random_secret() });
    let no_token = app
        .client
        .post(app.url("/v1/profiles"))
        .json(&body)
        .send()
        .await
        .expect("request");
    assert_eq!(no_token.status(), 401);
    let wrong = app
        .client
        .post(app.url("/v1/profiles"))
        .bearer_auth("wrong")
        .json(&body)
        .send()
        .await
        .expect("request");
    assert_eq!(wrong.status(), 401);
    assert_eq!(
        wrong.json::<Value>().await.expect("json")["error"],
        "unauthorized"
    );
    let list = app
        .client
        .get(app.url("/v1/profiles"))
        .send()
        .await
        .expect("request");
    assert_eq!(list.status(), 401);
    assert_eq!(
        sqlx::query_scalar::<_, i64>("select count(*) from stripe_profiles")
            .fetch_one(&app.pool)
            .await
            .expect("count"),
        0
    );
    app.stop().await;
}

#[sqlx::test]
async fn invalid_profile_requests_are_400_with_a_reason(pool: PgPool) {
    let app = spawn_app(pool).await;
    let cases = [
        (
            json!({ "merchant_id": "m_1", "name": "n", "webhook_secret": "" }),
            "must not be blank",
        ),
        (
            json!({ "merchant_id": "m_1", "name": "n", "webhook_secret": "   " }),
            "must not be blank",
        ),
        (
            json!({ "merchant_id": "m_1", "name": "n", "webhook_secret": "sk_live_123" }),
            "whsec_",
        ),
        (
            json!({ "merchant_id": "m_1", "name": " ", "webhook_secret": random_secret() }),
            "name",
        ),
        (
            json!({ "merchant_id": "bad id!", "name": "n", "webhook_secret": random_secret() }),
            "merchant id",
        ),
        (
            json!({ "merchant_id": "m_1", "name": "n" }),
            "webhook_secret",
        ),
    ];
    for (body, expected) in cases {
        let response = app.admin_post("/v1/profiles", body.clone()).await;
        assert_eq!(response.status(), 400, "{body}");
        let error: Value = response.json().await.expect("json");
        assert!(
            error["message"]
                .as_str()
                .expect("message")
                .contains(expected),
            "{body}: {error}"
        );
    }
    let not_json = app
        .client
        .post(app.url("/v1/profiles"))
        .bearer_auth(ADMIN_TOKEN)
        .header("content-type", "application/json")
        .body("{nope")
        .send()
        .await
        .expect("request");
    assert_eq!(not_json.status(), 400);
    let unknown = app
        .admin_post(
            "/v1/profiles/prof_000000000000000000000000/webhook-secrets",
            json!({ "webhook_secret": random_secret() }),
        )
        .await;
    assert_eq!(unknown.status(), 404);
    assert_eq!(
        sqlx::query_scalar::<_, i64>("select count(*) from stripe_profiles")
            .fetch_one(&app.pool)
            .await
            .expect("count"),
        0
    );
    app.stop().await;
}

#[sqlx::test]
async fn cli_creates_a_profile_rotates_its_secret_and_deletes_it(pool: PgPool) {
    let database_url = database_url_of(&pool);
    let master_key = accredito::crypto::SecretBox::generate_master_key();
    let secret = random_secret();
    let run = |args: &[&str]| {
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_accredito"))
            .args(args)
            .env("DATABASE_URL", &database_url)
            .env("ACCREDITO_MASTER_KEY", &master_key)
            .env("ACCREDITO_PUBLIC_URL", "https://hooks.example")
            .env("RUST_LOG", "info")
            .output()
            .expect("runs");
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
        )
    };

    let (ok, stdout, stderr) = run(&[
        "profile",
        "create",
        "--merchant",
        "m_cli",
        "--name",
        "Bar",
        "--webhook-secret",
        &secret,
    ]);
    assert!(ok, "{stderr}");
    assert!(
        !stdout.contains(&secret) && !stderr.contains(&secret),
        "the secret is never printed or logged"
    );
    let created: Value = serde_json::from_str(&stdout).expect("json output");
    let id = created["id"].as_str().expect("id").to_owned();
    assert_eq!(
        created["webhook_url"],
        format!("https://hooks.example/webhooks/stripe/{id}")
    );

    let (ok, stdout, stderr) = run(&[
        "profile",
        "add-secret",
        &id,
        "--webhook-secret",
        &random_secret(),
    ]);
    assert!(ok, "{stderr}");
    let added: Value = serde_json::from_str(&stdout).expect("json");
    let old_id = created["webhook_secrets"][0]["id"]
        .as_i64()
        .expect("secret id");
    assert_ne!(added["id"].as_i64(), Some(old_id));
    let (ok, stdout, stderr) = run(&[
        "profile",
        "expire-secret",
        &id,
        "--secret-id",
        &old_id.to_string(),
    ]);
    assert!(ok, "{stderr}");
    assert_eq!(
        serde_json::from_str::<Value>(&stdout).expect("json")["active"],
        false
    );

    let (ok, _, stderr) = run(&[
        "profile",
        "create",
        "--merchant",
        "m_cli",
        "--name",
        "Bar",
        "--webhook-secret",
        "",
    ]);
    assert!(!ok);
    assert!(stderr.contains("must not be blank"), "{stderr}");

    let (ok, stdout, stderr) = run(&["profile", "delete", &id]);
    assert!(ok, "{stderr}");
    let deleted: Value = serde_json::from_str(&stdout).expect("json");
    assert_eq!(deleted["id"], id.as_str());
    assert_eq!(
        deleted["webhook_endpoint_deleted"],
        Value::Null,
        "it had none"
    );
    let (ok, _, stderr) = run(&["profile", "show", &id]);
    assert!(!ok);
    assert!(stderr.contains("no such profile"), "{stderr}");
    let actor: String =
        sqlx::query_scalar("select actor from audit_log where action = 'profile.deleted'")
            .fetch_one(&pool)
            .await
            .expect("audited");
    assert_eq!(actor, "cli");
}

#[sqlx::test]
async fn missing_or_malformed_master_key_stops_start_up_with_a_clear_error(pool: PgPool) {
    let database_url = database_url_of(&pool);
    let holder = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let held = holder.local_addr().expect("addr");
    for (key, expected) in [
        (None, "ACCREDITO_MASTER_KEY is not set"),
        (Some("short"), "ACCREDITO_MASTER_KEY is malformed"),
    ] {
        let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_accredito"));
        command
            .args(["--listen", "127.0.0.1:0", "serve"])
            .env("DATABASE_URL", &database_url)
            // Taken: the key is checked first, so the port is never reached.
            .env("ACCREDITO_ADMIN_LISTEN", held.to_string())
            .env_remove("ACCREDITO_MASTER_KEY");
        if let Some(key) = key {
            command.env("ACCREDITO_MASTER_KEY", key);
        }
        let output = command.output().expect("runs");
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(expected), "{stderr}");
    }
}

#[sqlx::test]
async fn each_named_admin_token_is_recorded_in_the_audit_trail_by_its_name(pool: PgPool) {
    let options = AppOptions {
        admin_tokens: Some(
            "ops-alice:alice-token-0123456789abcdef0123456789, platform-sync:sync-token-0123456789abcdef0123456789".into(),
        ),
        ..AppOptions::default()
    };
    let app = spawn_app_with(pool.clone(), options).await;
    let create = |token: &'static str, merchant: &'static str| {
        app.client
            .post(app.url("/v1/merchants"))
            .bearer_auth(token)
            .json(&json!({ "id": merchant }))
            .send()
    };
    for (token, merchant) in [
        ("alice-token-0123456789abcdef0123456789", "m_alice"),
        ("sync-token-0123456789abcdef0123456789", "m_sync"),
        (ADMIN_TOKEN, "m_admin"),
    ] {
        let response = create(token, merchant).await.expect("create");
        assert_eq!(response.status(), 201, "{merchant}");
    }
    for wrong in [
        "alice-token-012345678",
        "ops-alice",
        "ops-alice:alice-token-0123456789abcdef0123456789",
    ] {
        let response = create(wrong, "m_nobody").await.expect("create");
        assert_eq!(response.status(), 401, "{wrong}");
    }

    let actors: Vec<(String, String)> = sqlx::query_as(
        "select merchant_id, actor from audit_log where action = 'merchant.created' order by id",
    )
    .fetch_all(&pool)
    .await
    .expect("audit");
    let expected = [
        ("m_alice", "ops-alice"),
        ("m_sync", "platform-sync"),
        ("m_admin", "admin"),
    ];
    assert_eq!(
        actors,
        expected.map(|(m, a)| (m.to_owned(), a.to_owned())),
        "who, by token name, never the token"
    );
    app.stop().await;
}

#[sqlx::test]
async fn a_malformed_admin_token_list_stops_start_up_without_quoting_a_token(pool: PgPool) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_accredito"))
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0", "serve"])
        .env("DATABASE_URL", database_url_of(&pool))
        .env(
            "ACCREDITO_MASTER_KEY",
            accredito::crypto::SecretBox::generate_master_key(),
        )
        .env(
            "ACCREDITO_ADMIN_TOKENS",
            "ops-alice:secret-value-1-0123456789abcdef0123456789,ops-alice:secret-value-2-0123456789abcdef0123456789",
        )
        .output()
        .expect("runs");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("token name ops-alice is used twice"),
        "{stderr}"
    );
    assert!(!stderr.contains("secret-value"), "{stderr}");
}

#[tokio::test]
async fn short_or_placeholder_admin_tokens_stop_start_up() {
    for (token, says) in [
        ("short-token", "at least 32 characters"),
        ("REPLACE_WITH_A_LONG_RANDOM_TOKEN", "example placeholder"),
        (
            "change-me-admin-token-0123456789abcdef",
            "example placeholder",
        ),
    ] {
        let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_accredito"))
            .args([
                "--listen",
                "127.0.0.1:0",
                "--admin-listen",
                "127.0.0.1:0",
                "serve",
            ])
            .env("DATABASE_URL", "postgres://unused@127.0.0.1:1/none")
            .env(
                "ACCREDITO_MASTER_KEY",
                accredito::crypto::SecretBox::generate_master_key(),
            )
            .env("ACCREDITO_ADMIN_TOKEN", token)
            .output()
            .await
            .expect("runs");
        assert!(!output.status.success(), "{token} was accepted");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(says), "{token}: {stderr}");
        assert!(!stderr.contains(token), "the token is quoted: {stderr}");
    }
}

#[sqlx::test]
async fn refused_admin_requests_are_counted_by_reason(pool: PgPool) {
    let app = spawn_app(pool).await;

    let unknown = app
        .client
        .get(app.url("/v1/profiles"))
        .bearer_auth("not-a-token-of-this-service-0123456789")
        .send()
        .await
        .expect("answered");
    let missing = app
        .client
        .get(app.url("/v1/profiles"))
        .send()
        .await
        .expect("answered");

    assert_eq!(
        (unknown.status().as_u16(), missing.status().as_u16()),
        (401, 401)
    );
    let metrics = app.metrics().await;
    assert!(
        metrics.contains(r#"accredito_admin_auth_failures_total{reason="unknown"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"accredito_admin_auth_failures_total{reason="missing"} 1"#),
        "{metrics}"
    );
    assert!(!metrics.contains("not-a-token"));
}
