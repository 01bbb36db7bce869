//! A profile's life after its keys: rotating the secret key alone, keys of another Stripe
//! account, and deleting a profile (its Stripe webhook endpoint with it).

use std::time::Duration;

use accredito::config::Role;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::fake_stripe::{AccountSpec, Scripted, VALID_KEY};
use crate::helpers::*;
use crate::merchants::{OTHER_KEY, PK_LIVE, Setup, message};

/// A profile of `m_1` with live keys Stripe accepted and a webhook endpoint accredito
/// registered; returns the profile id, the endpoint id, and the endpoint's signing secret.
async fn registered_profile(s: &Setup) -> (String, String, String) {
    let profile = s.app.create_profile("m_1", &random_secret()).await;
    assert_eq!(s.put_keys(&profile, PK_LIVE, VALID_KEY).await.0, 200);
    let (status, registered, _) = s
        .send(
            reqwest::Method::POST,
            &format!("/v1/profiles/{profile}/webhook-endpoint"),
            None,
        )
        .await;
    assert_eq!(status, 201, "{registered}");
    let endpoint = registered["endpoint_id"].as_str().expect("id").to_owned();
    let secret = s.fake.webhook_endpoints()[0]["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    (profile, endpoint, secret)
}

async fn delete(s: &Setup, profile: &str) -> (u16, Value, String) {
    s.send(
        reqwest::Method::DELETE,
        &format!("/v1/profiles/{profile}"),
        None,
    )
    .await
}

fn account_updated(id: &str) -> String {
    stripe_event(
        id,
        "account.updated",
        true,
        json!({ "id": "acct_fake", "object": "account" }),
    )
}

async fn count(pool: &PgPool, sql: &'static str, profile: &str) -> i64 {
    sqlx::query_scalar(sql)
        .bind(profile)
        .fetch_one(pool)
        .await
        .expect("count")
}

#[sqlx::test]
async fn deleting_a_profile_removes_its_stripe_endpoint_and_forgets_its_secrets(pool: PgPool) {
    let s = Setup::start(pool.clone()).await;
    let (profile, endpoint, secret) = registered_profile(&s).await;
    let before = account_updated("evt_before");
    assert_eq!(
        s.app.deliver(&profile, &secret, &before).await.status(),
        200
    );

    let (status, deleted, _) = delete(&s, &profile).await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted["webhook_endpoint_deleted"], endpoint.as_str());
    assert_eq!(deleted["warnings"], json!([]));
    assert!(
        s.fake.webhook_endpoints().is_empty(),
        "the endpoint is gone from Stripe"
    );

    // Its webhook URL no longer verifies anything, and the API no longer shows it.
    let after = account_updated("evt_after");
    assert_eq!(s.app.deliver(&profile, &secret, &after).await.status(), 404);
    let path = format!("/v1/profiles/{profile}");
    assert_eq!(s.send(reqwest::Method::GET, &path, None).await.0, 404);
    let (_, listed, _) = s.send(reqwest::Method::GET, "/v1/profiles", None).await;
    assert_eq!(listed["data"], json!([]));
    assert_eq!(delete(&s, &profile).await.0, 404, "deleted once");

    // Keys and signing secrets are forgotten; the events it received are kept.
    assert!(!s.stored_keys(&profile).await.1);
    let secrets = "select count(*) from webhook_secrets where profile_id = $1";
    assert_eq!(count(&pool, secrets, &profile).await, 0);
    let events = "select count(*) from inbox_events where profile_id = $1";
    assert_eq!(count(&pool, events, &profile).await, 1);
    let actions = s.actions().await;
    let admin = |action: &str| ("admin".to_owned(), action.to_owned());
    assert_eq!(
        actions[actions.len() - 2..],
        [
            admin("profile.deleted"),
            admin("profile.webhook_endpoint_deleted")
        ]
    );
    s.app.stop().await;
}

#[sqlx::test]
async fn a_profile_a_merchant_takes_payments_with_cannot_be_deleted(pool: PgPool) {
    let s = Setup::start(pool.clone()).await;
    let (profile, _, _) = registered_profile(&s).await;
    assert_eq!(s.enable("m_1", &profile).await.0, 200);

    let (status, body, _) = delete(&s, &profile).await;
    assert_eq!((status, body["error"].as_str()), (409, Some("conflict")));
    assert!(message(&body).contains("disable Stripe"), "{body}");
    assert_eq!(s.fake.webhook_endpoints().len(), 1, "left untouched");
    assert!(s.stored_keys(&profile).await.1);

    // With Stripe off it can go; the merchant's selection goes with it, and the deleted
    // profile cannot be selected again.
    let (status, _, _) = s
        .send(
            reqwest::Method::POST,
            "/v1/merchants/m_1/disable-stripe",
            None,
        )
        .await;
    assert_eq!(status, 200);
    let (status, deleted, _) = delete(&s, &profile).await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted["unselected"], true);
    let (_, merchant, _) = s
        .send(reqwest::Method::GET, "/v1/merchants/m_1", None)
        .await;
    assert_eq!(merchant["selected_profile_id"], Value::Null);
    let (status, body, _) = s.enable("m_1", &profile).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("unknown_profile"))
    );
    s.app.stop().await;
}

#[sqlx::test]
async fn a_profile_deleted_while_stripe_is_unreachable_is_unusable_and_its_endpoint_removed_later(
    pool: PgPool,
) {
    let s = Setup::start(pool.clone()).await;
    let (profile, endpoint, secret) = registered_profile(&s).await;
    let endpoint_path = format!("/v1/webhook_endpoints/{endpoint}");
    s.fake
        .fail_next(&endpoint_path, 6, Scripted::server_error());

    let (status, deleted, _) = delete(&s, &profile).await;
    assert_eq!(status, 202, "{deleted}");
    assert_eq!(deleted["webhook_endpoint_pending"], endpoint.as_str());
    assert_eq!(deleted["webhook_endpoint_deleted"], Value::Null);
    assert!(
        message_of_warning(&deleted).contains("retries"),
        "{deleted}"
    );
    assert_eq!(s.fake.webhook_endpoints().len(), 1, "still on Stripe");

    // Deleted already: no webhook verifies, and it cannot be selected.
    let event = account_updated("evt_after_delete");
    assert_eq!(s.app.deliver(&profile, &secret, &event).await.status(), 404);
    let (status, body, _) = s.enable("m_1", &profile).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("unknown_profile"))
    );
    assert!(
        s.stored_keys(&profile).await.1,
        "kept to remove the endpoint"
    );
    let (status, _, _) = s
        .send(
            reqwest::Method::POST,
            &format!("/v1/profiles/{profile}/webhook-secrets"),
            Some(json!({ "webhook_secret": random_secret() })),
        )
        .await;
    assert_eq!(status, 404, "no secret for a deleted profile");
    let endpoints_before = s.fake.webhook_endpoints().len();
    let (status, _, _) = s
        .send(
            reqwest::Method::POST,
            &format!("/v1/profiles/{profile}/webhook-endpoint"),
            None,
        )
        .await;
    assert_eq!(status, 404, "no endpoint for a deleted profile");
    assert_eq!(s.fake.webhook_endpoints().len(), endpoints_before);

    // Deleting again retries the removal, until Stripe answers.
    let mut answer = (202, Value::Null);
    for _ in 0..6 {
        let (status, body, _) = delete(&s, &profile).await;
        answer = (status, body);
        if status != 202 {
            break;
        }
    }
    assert_eq!(answer.0, 200, "{}", answer.1);
    assert_eq!(answer.1["webhook_endpoint_deleted"], endpoint.as_str());
    assert!(s.fake.webhook_endpoints().is_empty());
    assert!(!s.stored_keys(&profile).await.1, "the key is forgotten");
    assert_eq!(delete(&s, &profile).await.0, 404);
    s.app.stop().await;
}

#[sqlx::test]
async fn the_account_sweep_removes_the_endpoint_of_a_profile_deleted_while_stripe_was_down(
    pool: PgPool,
) {
    let s = Setup::start_with_roles(pool.clone(), vec![Role::Ingest, Role::Sweeps]).await;
    let (profile, endpoint, _) = registered_profile(&s).await;
    let endpoint_path = format!("/v1/webhook_endpoints/{endpoint}");
    // Far more failures than the request's own attempts: only a sweep, several passes later,
    // can get through.
    s.fake
        .fail_next(&endpoint_path, 30, Scripted::server_error());
    let (status, deleted, _) = delete(&s, &profile).await;
    assert_eq!(status, 202, "{deleted}");

    eventually(
        "the sweep removes the endpoint from Stripe",
        Duration::from_secs(20),
        || async { s.fake.webhook_endpoints().is_empty().then_some(()) },
    )
    .await;
    eventually("and forgets the key", Duration::from_secs(5), || async {
        (!s.stored_keys(&profile).await.1).then_some(())
    })
    .await;
    let removed_by: Vec<String> = s
        .actions()
        .await
        .into_iter()
        .filter(|(_, action)| action == "profile.webhook_endpoint_deleted")
        .map(|(actor, _)| actor)
        .collect();
    assert_eq!(removed_by, ["accredito:account-sweep"]);
    s.app.stop().await;
}

fn message_of_warning(body: &Value) -> &str {
    body["warnings"][0].as_str().unwrap_or_default()
}

#[sqlx::test]
async fn a_profile_whose_key_stripe_rejects_is_deleted_with_a_warning_to_remove_the_endpoint(
    pool: PgPool,
) {
    let s = Setup::start(pool.clone()).await;
    let (profile, endpoint, _) = registered_profile(&s).await;
    s.fake.revoke_key(VALID_KEY);

    let (status, deleted, text) = delete(&s, &profile).await;
    assert_eq!(status, 200, "{deleted}");
    assert_eq!(deleted["webhook_endpoint_deleted"], Value::Null);
    let warning = deleted["warnings"][0].as_str().expect("a warning");
    assert!(warning.contains(&endpoint), "{warning}");
    assert!(warning.contains("Developers > Webhooks"), "{warning}");
    assert!(!text.contains(VALID_KEY));
    assert_eq!(s.fake.webhook_endpoints().len(), 1, "still on Stripe");
    assert!(s.audit_text().await.contains("left on Stripe"));
    s.app.stop().await;
}

#[sqlx::test]
async fn the_secret_key_rotates_alone_only_once_stripe_accepts_it(pool: PgPool) {
    let s = Setup::start(pool.clone()).await;
    let profile = s.app.create_profile("m_1", &random_secret()).await;
    assert_eq!(s.put_keys(&profile, PK_LIVE, VALID_KEY).await.0, 200);
    let path = format!("/v1/profiles/{profile}/secret-key");
    let rotate = |key: &'static str| {
        s.send(
            reqwest::Method::PUT,
            &path,
            Some(json!({ "secret_key": key })),
        )
    };

    let asked = s.fake.requests("/v1/account");
    let (status, body, _) = rotate("sk_live_fake0000000000000revoked").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("stripe_key_rejected")),
        "{body}"
    );
    assert_eq!(s.fake.requests("/v1/account"), asked + 1);
    let (status, body, _) = rotate("sk_test_fake000000000000000000test").await;
    assert_eq!(status, 400, "{body}");
    assert!(message(&body).contains("live keys are required"), "{body}");
    let (status, body, _) = rotate("pk_live_fake0000000000000000public").await;
    assert_eq!(status, 400, "{body}");
    assert_eq!(s.fake.requests("/v1/account"), asked + 1, "refused before");

    // The stored key is still the first one: Stripe can be enabled with it...
    assert_eq!(s.enable("m_1", &profile).await.0, 200);
    // ...and after a rotation the new one is used, the publishable key kept.
    let (status, saved, text) = rotate(OTHER_KEY).await;
    assert_eq!(status, 200, "{saved}");
    assert_eq!(saved["profile"]["publishable_key"], PK_LIVE);
    assert!(!text.contains(OTHER_KEY));
    s.fake.revoke_key(VALID_KEY);
    assert_eq!(s.enable("m_1", &profile).await.0, 200);
    let actions = s.actions().await;
    assert!(actions.contains(&("admin".to_owned(), "profile.secret_key_set".to_owned())));
    assert!(!s.audit_text().await.contains(OTHER_KEY));
    s.app.stop().await;
}

#[sqlx::test]
async fn keys_of_another_stripe_account_are_refused(pool: PgPool) {
    let s = Setup::start(pool.clone()).await;
    s.fake.set_account(AccountSpec::ready("acct_first"));
    let profile = s.app.create_profile("m_1", &random_secret()).await;
    assert_eq!(s.put_keys(&profile, PK_LIVE, VALID_KEY).await.0, 200);

    let sealed_key = || async {
        sqlx::query_scalar::<_, Vec<u8>>(
            "select secret_key_ciphertext from stripe_profiles where id = $1",
        )
        .bind(&profile)
        .fetch_one(&pool)
        .await
        .expect("key")
    };
    let first_key = sealed_key().await;

    s.fake.set_account(AccountSpec::ready("acct_second"));
    for (status, body, _) in [
        s.put_keys(&profile, PK_LIVE, OTHER_KEY).await,
        s.send(
            reqwest::Method::PUT,
            &format!("/v1/profiles/{profile}/secret-key"),
            Some(json!({ "secret_key": OTHER_KEY })),
        )
        .await,
    ] {
        assert_eq!(
            (status, body["error"].as_str()),
            (422, Some("stripe_account_mismatch")),
            "{body}"
        );
        assert!(message(&body).contains("acct_second"), "{body}");
        assert!(message(&body).contains("acct_first"), "{body}");
    }
    let (_, shown, _) = s
        .send(
            reqwest::Method::GET,
            &format!("/v1/profiles/{profile}"),
            None,
        )
        .await;
    assert_eq!(shown["stripe_account_id"], "acct_first");
    assert_eq!(
        sealed_key().await,
        first_key,
        "the first account's key is kept"
    );
    s.app.stop().await;
}

#[sqlx::test]
async fn deleting_a_profile_resolves_only_its_own_disabled_endpoint_alert(pool: PgPool) {
    let s = Setup::start(pool.clone()).await;
    let kept = s.app.create_profile("m_1", &random_secret()).await;
    let spare = s.app.create_profile("m_1", &random_secret()).await;
    sqlx::query(
        "insert into alerts (merchant_id, kind, detail) values ('m_1', 'webhook_endpoint_disabled', $1)",
    )
    .bind(format!(
        "Stripe disabled webhook endpoint we_1 (https://accredito.example/webhooks/stripe/{kept}): events are not being delivered"
    ))
    .execute(&pool)
    .await
    .expect("alert");
    let open_alerts = || async {
        sqlx::query_scalar::<_, i64>(
            "select count(*) from alerts where kind = 'webhook_endpoint_disabled' and resolved_at is null",
        )
        .fetch_one(&pool)
        .await
        .expect("count")
    };

    assert_eq!(delete(&s, &spare).await.0, 200);
    assert_eq!(open_alerts().await, 1, "the alert is about another profile");
    assert_eq!(delete(&s, &kept).await.0, 200);
    assert_eq!(open_alerts().await, 0, "its endpoint is gone with it");
    s.app.stop().await;
}

#[sqlx::test]
async fn a_stripe_account_already_held_by_another_profile_is_refused_with_409(pool: PgPool) {
    let s = Setup::start(pool.clone()).await;
    s.fake.set_account(AccountSpec::ready("acct_shared"));
    let holder = s.app.create_profile("m_1", &random_secret()).await;
    assert_eq!(s.put_keys(&holder, PK_LIVE, VALID_KEY).await.0, 200);
    let second = s.app.create_profile("m_2", &random_secret()).await;

    let (status, body, _) = s.put_keys(&second, PK_LIVE, VALID_KEY).await;

    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("conflict")),
        "{body}"
    );
    assert!(message(&body).contains("acct_shared"), "{body}");
    assert!(message(&body).contains(&holder), "names the holder: {body}");
    let held: Vec<String> = sqlx::query_scalar(
        "select id from stripe_profiles where stripe_account_id = 'acct_shared'",
    )
    .fetch_all(&pool)
    .await
    .expect("read");
    assert_eq!(held, [holder.as_str()]);

    // Once the holder is deleted, the account is free for another profile.
    let (deleted, _, _) = s
        .send(
            reqwest::Method::DELETE,
            &format!("/v1/profiles/{holder}"),
            None,
        )
        .await;
    assert_eq!(deleted, 200);
    assert_eq!(s.put_keys(&second, PK_LIVE, VALID_KEY).await.0, 200);
    s.app.stop().await;
}

/// `accredito rekey` against the test's database, with `key` current and `previous` before it.
async fn rekey(pool: &PgPool, key: &str, previous: Option<&str>) -> (bool, String, String) {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_accredito"));
    command
        .arg("rekey")
        .env("DATABASE_URL", database_url_of(pool))
        .env("ACCREDITO_MASTER_KEY", key)
        .env_remove("ACCREDITO_PREVIOUS_MASTER_KEYS");
    if let Some(previous) = previous {
        command.env("ACCREDITO_PREVIOUS_MASTER_KEYS", previous);
    }
    let output = command.output().await.expect("runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[sqlx::test]
async fn rekey_seals_every_secret_under_the_new_master_key_and_can_run_again(pool: PgPool) {
    let old_key = accredito::crypto::SecretBox::generate_master_key();
    let s = Setup::start_with(
        pool.clone(),
        AppOptions {
            master_key: Some(old_key.clone()),
            ..AppOptions::default()
        },
    )
    .await;
    let secret = random_secret();
    let profile = s.app.create_profile("m_1", &secret).await;
    assert_eq!(s.put_keys(&profile, PK_LIVE, VALID_KEY).await.0, 200);
    let Setup { app, fake } = s;
    app.stop().await;
    let new_key = accredito::crypto::SecretBox::generate_master_key();

    let (ok, _, stderr) = rekey(&pool, &new_key, None).await;
    assert!(!ok, "without the old key nothing opens");
    assert!(stderr.contains("opens under no key given"), "{stderr}");
    assert!(
        !stderr.contains(&old_key) && !stderr.contains(&new_key),
        "{stderr}"
    );

    let (ok, stdout, stderr) = rekey(&pool, &new_key, Some(&old_key)).await;
    assert!(ok, "{stderr}");
    let first: Value = serde_json::from_str(stdout.trim()).expect("json");
    assert_eq!(
        first["resealed"], 2,
        "the webhook secret and the Stripe key: {first}"
    );
    let (ok, stdout, _) = rekey(&pool, &new_key, Some(&old_key)).await;
    assert!(ok);
    let again: Value = serde_json::from_str(stdout.trim()).expect("json");
    assert_eq!(
        (
            again["resealed"].as_u64(),
            again["already_current"].as_u64()
        ),
        (Some(0), Some(2))
    );

    // With the new key alone, the stored secret verifies and the stored Stripe key opens.
    let s = Setup {
        app: spawn_app_with(
            pool.clone(),
            AppOptions {
                master_key: Some(new_key),
                stripe_api_base: Some(fake.base_url()),
                ..AppOptions::default()
            },
        )
        .await,
        fake,
    };
    let event = stripe_event(
        "evt_after_rekey",
        "charge.succeeded",
        true,
        json!({"id": "ch_1", "object": "charge"}),
    );
    assert_eq!(s.app.deliver(&profile, &secret, &event).await.status(), 200);
    assert_eq!(s.enable("m_1", &profile).await.0, 200);
    let audited: i64 =
        sqlx::query_scalar("select count(*) from audit_log where action = 'secrets.rekeyed'")
            .fetch_one(&pool)
            .await
            .expect("count");
    assert_eq!(audited, 2);
    s.app.stop().await;
}
