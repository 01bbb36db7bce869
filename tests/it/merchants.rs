//! The platform's setup flow: merchants with Stripe off until enabled with a valid profile of
//! their own, live keys enforced and checked with (a fake) Stripe, readiness step by step in
//! English and Italian, and an audit trail that never holds a secret.

use accredito::config::Role;
use serde_json::{Value, json};
use sqlx::PgPool;

use crate::fake_stripe::{AccountSpec, FakeStripe, VALID_KEY};
use crate::helpers::*;

pub(crate) const PK_LIVE: &str = "pk_live_fake0000000000000000public";
pub(crate) const OTHER_KEY: &str = "rk_live_fake0000000000000000other";

/// The app with the admin API, and a fake Stripe that accepts [`VALID_KEY`] and [`OTHER_KEY`].
pub(crate) struct Setup {
    pub(crate) app: TestApp,
    pub(crate) fake: FakeStripe,
}

impl Setup {
    pub(crate) async fn start(pool: PgPool) -> Self {
        Setup::start_with_roles(pool, vec![Role::Ingest]).await
    }

    pub(crate) async fn start_with_roles(pool: PgPool, roles: Vec<Role>) -> Self {
        let options = AppOptions {
            roles,
            ..AppOptions::default()
        };
        Setup::start_with(pool, options).await
    }

    /// With `options`, the fake Stripe's base URL put in.
    pub(crate) async fn start_with(pool: PgPool, options: AppOptions) -> Self {
        let fake = FakeStripe::builder().valid_key(OTHER_KEY).start().await;
        let options = AppOptions {
            stripe_api_base: Some(fake.base_url()),
            ..options
        };
        let app = spawn_app_with(pool, options).await;
        Setup { app, fake }
    }

    pub(crate) async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value, String) {
        let mut request = self
            .app
            .client
            .request(method, self.app.url(path))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        (status, json, text)
    }

    pub(crate) async fn put_keys(
        &self,
        profile: &str,
        publishable: &str,
        secret: &str,
    ) -> (u16, Value, String) {
        self.send(
            reqwest::Method::PUT,
            &format!("/v1/profiles/{profile}/keys"),
            Some(json!({ "publishable_key": publishable, "secret_key": secret })),
        )
        .await
    }

    pub(crate) async fn enable(&self, merchant: &str, profile: &str) -> (u16, Value, String) {
        self.send(
            reqwest::Method::POST,
            &format!("/v1/merchants/{merchant}/enable-stripe"),
            Some(json!({ "profile_id": profile })),
        )
        .await
    }

    pub(crate) async fn readiness(&self, merchant: &str, language: Option<&str>) -> Value {
        let mut request = self
            .app
            .client
            .get(self.app.url(&format!("/v1/merchants/{merchant}/readiness")))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(language) = language {
            request = request.header("Accept-Language", language);
        }
        let response = request.send().await.expect("request");
        assert_eq!(response.status(), 200);
        response.json().await.expect("json")
    }

    /// The profile's stored keys: (publishable key, whether a secret key is stored).
    pub(crate) async fn stored_keys(&self, profile: &str) -> (Option<String>, bool) {
        sqlx::query_as(
            "select publishable_key, secret_key_ciphertext is not null from stripe_profiles where id = $1",
        )
        .bind(profile)
        .fetch_one(&self.app.pool)
        .await
        .expect("profile")
    }

    pub(crate) async fn audit_text(&self) -> String {
        let rows: Vec<(String, String, Option<String>, Value)> =
            sqlx::query_as("select actor, action, profile_id, detail from audit_log order by id")
                .fetch_all(&self.app.pool)
                .await
                .expect("audit");
        format!("{rows:?}")
    }

    pub(crate) async fn actions(&self) -> Vec<(String, String)> {
        sqlx::query_as("select actor, action from audit_log order by id")
            .fetch_all(&self.app.pool)
            .await
            .expect("audit")
    }
}

pub(crate) fn message(body: &Value) -> &str {
    body["message"].as_str().unwrap_or_default()
}

#[sqlx::test]
async fn test_keys_are_refused_in_live_mode_with_the_seeds_reason(pool: PgPool) {
    let s = Setup::start(pool).await;
    let profile = s.app.create_profile("m_1", &random_secret()).await;

    let (status, body, _) = s
        .put_keys(&profile, "pk_test_abc123", "sk_test_abc123")
        .await;

    assert_eq!(status, 400, "{body}");
    assert!(message(&body).contains("live keys are required"), "{body}");
    assert!(
        message(&body).contains("test mode, where transactions fail"),
        "the seed's reason: {body}"
    );
    assert_eq!(s.stored_keys(&profile).await, (None, false));
    assert_eq!(
        s.fake.requests("/v1/account"),
        0,
        "refused before asking Stripe"
    );
    // The older secret-key-only route enforces live keys too.
    let (status, body, _) = s
        .send(
            reqwest::Method::PUT,
            &format!("/v1/profiles/{profile}/secret-key"),
            Some(json!({ "secret_key": "sk_test_abc123" })),
        )
        .await;
    assert_eq!(status, 400);
    assert!(message(&body).contains("live keys are required"), "{body}");
    s.app.stop().await;
}

#[sqlx::test]
async fn test_mode_accepts_test_keys_and_refuses_live_ones(pool: PgPool) {
    let fake = FakeStripe::builder()
        .valid_key("sk_test_fake000000000000valid")
        .start()
        .await;
    let options = AppOptions {
        mode: accredito::domain::StripeMode::Test,
        roles: vec![Role::Ingest],
        stripe_api_base: Some(fake.base_url()),
        ..AppOptions::default()
    };
    let s = Setup {
        app: spawn_app_with(pool, options).await,
        fake,
    };
    let profile = s.app.create_profile("m_1", &random_secret()).await;
    let (status, body, _) = s.put_keys(&profile, PK_LIVE, VALID_KEY).await;
    assert_eq!(status, 400);
    assert!(message(&body).contains("accepts only test keys"), "{body}");
    let (status, body, _) = s
        .put_keys(
            &profile,
            "pk_test_fake0000",
            "sk_test_fake000000000000valid",
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["profile"]["publishable_key"], "pk_test_fake0000");
    s.app.stop().await;
}

#[sqlx::test]
async fn mixed_and_swapped_keys_are_refused_each_with_its_own_message(pool: PgPool) {
    let s = Setup::start(pool).await;
    let profile = s.app.create_profile("m_1", &random_secret()).await;
    let cases = [
        (
            PK_LIVE,
            "sk_test_abc123",
            "different modes (publishable key live, secret key test)",
        ),
        (
            "pk_test_abc123",
            VALID_KEY,
            "different modes (publishable key test, secret key live)",
        ),
        (
            VALID_KEY,
            PK_LIVE,
            "secret key field holds a publishable key",
        ),
        (PK_LIVE, PK_LIVE, "secret key field holds a publishable key"),
        (
            VALID_KEY,
            VALID_KEY,
            "publishable key field holds a secret key",
        ),
        (
            OTHER_KEY,
            VALID_KEY,
            "publishable key field holds a secret key",
        ),
        ("", VALID_KEY, "publishable key must not be blank"),
        (PK_LIVE, " ", "secret key must not be blank"),
        (PK_LIVE, "whsec_abc", "must look like sk_live_"),
        ("pk_live_", VALID_KEY, "must look like pk_live_"),
    ];
    let mut messages = Vec::new();
    for (publishable, secret, expected) in cases {
        let (status, body, text) = s.put_keys(&profile, publishable, secret).await;
        assert_eq!(status, 400, "{publishable} / {secret}: {body}");
        assert!(
            message(&body).contains(expected),
            "{publishable} / {secret}: {body}"
        );
        for key in [VALID_KEY, OTHER_KEY, "sk_test_abc123"] {
            assert!(!text.contains(key), "a key is never echoed: {text}");
        }
        messages.push(message(&body).to_owned());
    }
    assert_ne!(
        messages[0], messages[2],
        "mixed and swapped read differently"
    );
    assert_eq!(s.stored_keys(&profile).await, (None, false));
    assert_eq!(s.fake.requests("/v1/account"), 0);
    s.app.stop().await;
}

#[sqlx::test]
async fn a_key_stripe_rejects_is_refused_and_nothing_is_stored(pool: PgPool) {
    let s = Setup::start(pool).await;
    let profile = s.app.create_profile("m_1", &random_secret()).await;
    let audit_before = s.actions().await.len();

    s.fake.revoke_key(VALID_KEY);
    let (status, body, text) = s.put_keys(&profile, PK_LIVE, VALID_KEY).await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"], "stripe_key_rejected");
    assert!(
        message(&body).contains("Stripe rejected the secret key"),
        "{body}"
    );
    assert!(message(&body).contains("nothing was stored"), "{body}");
    assert!(!text.contains(VALID_KEY));

    s.fake.expire_key(OTHER_KEY);
    let (status, body, _) = s.put_keys(&profile, PK_LIVE, OTHER_KEY).await;
    assert_eq!(status, 422, "{body}");
    assert!(message(&body).contains("expired"), "{body}");

    assert_eq!(s.fake.requests("/v1/account"), 2);
    assert_eq!(s.stored_keys(&profile).await, (None, false));
    assert_eq!(
        s.actions().await.len(),
        audit_before,
        "no change, no audit row"
    );
    s.app.stop().await;
}

#[sqlx::test]
async fn keys_stripe_accepts_are_stored_with_the_account_and_rotate(pool: PgPool) {
    let s = Setup::start(pool).await;
    // create_profile names it "Bar Centrale", as the fake account's dashboard does.
    let profile = s.app.create_profile("m_1", &random_secret()).await;
    let (status, body, text) = s.put_keys(&profile, PK_LIVE, VALID_KEY).await;
    assert_eq!(status, 200, "{body}");
    assert!(!text.contains(VALID_KEY));
    assert_eq!(body["warnings"], json!([]));
    let shown = &body["profile"];
    assert_eq!(shown["publishable_key"], PK_LIVE);
    assert_eq!(shown["secret_key_set"], true);
    assert_eq!(shown["stripe_account_id"], "acct_fake");
    assert_eq!(shown["stripe_display_name"], "Bar Centrale");
    assert!(shown["keys_checked_at"].is_string());

    // A display name unlike the profile's is a warning, not an error (the same account, its
    // dashboard name changed since).
    s.fake.set_account(AccountSpec {
        display_name: Some("Trattoria Da Mario".into()),
        ..AccountSpec::ready("acct_fake")
    });
    let (status, body, _) = s.put_keys(&profile, PK_LIVE, OTHER_KEY).await;
    assert_eq!(status, 200, "{body}");
    let warning = body["warnings"][0].as_str().expect("a warning");
    assert!(
        warning.contains("Trattoria Da Mario") && warning.contains("Bar Centrale"),
        "{warning}"
    );
    assert_eq!(body["profile"]["stripe_account_id"], "acct_fake");

    // Rotation: the stored key is the new one (the worker's view of it opens to OTHER_KEY).
    let sealed: Vec<u8> =
        sqlx::query_scalar("select secret_key_ciphertext from stripe_profiles where id = $1")
            .bind(&profile)
            .fetch_one(&s.app.pool)
            .await
            .expect("key");
    assert!(
        !sealed
            .windows(OTHER_KEY.len())
            .any(|w| w == OTHER_KEY.as_bytes()),
        "sealed at rest"
    );
    let recorded = s.fake.recorded();
    assert_eq!(
        recorded.last().and_then(|r| r.bearer.as_deref()),
        Some(OTHER_KEY)
    );
    s.app.stop().await;
}

#[sqlx::test]
async fn merchants_are_created_listed_and_renamed_with_stripe_disabled(pool: PgPool) {
    let s = Setup::start(pool).await;
    let (status, body, _) = s
        .send(
            reqwest::Method::POST,
            "/v1/merchants",
            Some(json!({ "id": "m_1", "name": "Bar Centrale" })),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["stripe_enabled"], false);
    assert_eq!(body["selected_profile_id"], Value::Null);
    let (status, body, _) = s
        .send(
            reqwest::Method::POST,
            "/v1/merchants",
            Some(json!({ "id": "m_1" })),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    let (status, _, _) = s
        .send(
            reqwest::Method::POST,
            "/v1/merchants",
            Some(json!({ "id": "bad id" })),
        )
        .await;
    assert_eq!(status, 400);
    let (status, body, _) = s
        .send(
            reqwest::Method::PATCH,
            "/v1/merchants/m_1",
            Some(json!({ "name": "Bar Centrale 2" })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["name"], "Bar Centrale 2");
    let (status, _, _) = s
        .send(
            reqwest::Method::PATCH,
            "/v1/merchants/m_404",
            Some(json!({ "name": "x" })),
        )
        .await;
    assert_eq!(status, 404);

    // A profile (or an order) naming an unknown merchant still creates it, Stripe disabled.
    s.app.create_profile("m_auto", &random_secret()).await;
    let (status, body, _) = s.send(reqwest::Method::GET, "/v1/merchants", None).await;
    assert_eq!(status, 200);
    let ids: Vec<&str> = body["data"]
        .as_array()
        .expect("data")
        .iter()
        .map(|m| m["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, vec!["m_1", "m_auto"]);
    let (_, auto, _) = s
        .send(reqwest::Method::GET, "/v1/merchants/m_auto", None)
        .await;
    assert_eq!(auto["stripe_enabled"], false);
    assert_eq!(
        s.actions().await,
        vec![
            ("admin".to_owned(), "merchant.created".to_owned()),
            ("admin".to_owned(), "merchant.renamed".to_owned()),
            // Created on the fly for the profile that named it.
            ("admin".to_owned(), "merchant.created".to_owned()),
            ("admin".to_owned(), "profile.created".to_owned()),
        ]
    );
    s.app.stop().await;
}

#[sqlx::test]
async fn stripe_is_enabled_only_with_a_valid_profile_of_the_merchant(pool: PgPool) {
    let s = Setup::start(pool).await;
    let profile = s.app.create_profile("m_1", &random_secret()).await;
    let others = s.app.create_profile("m_2", &random_secret()).await;
    // Each profile is its own Stripe account: one profile per account.
    s.fake.set_account(AccountSpec::ready("acct_m2"));
    assert_eq!(s.put_keys(&others, PK_LIVE, OTHER_KEY).await.0, 200);
    s.fake.set_account(AccountSpec::ready("acct_m1"));

    let (status, body, _) = s.enable("m_1", "prof_000000000000000000000000").await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("unknown_profile")),
        "{body}"
    );
    let (status, body, _) = s.enable("m_1", &others).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("profile_of_another_merchant")),
        "{body}"
    );
    let (status, body, _) = s.enable("m_1", &profile).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("profile_not_ready")),
        "{body}"
    );
    assert!(
        message(&body).contains("no live keys checked with Stripe"),
        "{body}"
    );
    // A secret key Stripe accepts, but no publishable key: still not enough.
    let (status, _, _) = s
        .send(
            reqwest::Method::PUT,
            &format!("/v1/profiles/{profile}/secret-key"),
            Some(json!({ "secret_key": VALID_KEY })),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(s.enable("m_1", &profile).await.0, 422);
    let (status, _, _) = s.enable("m_404", &profile).await;
    assert_eq!(status, 404);
    let (_, merchant, _) = s
        .send(reqwest::Method::GET, "/v1/merchants/m_1", None)
        .await;
    assert_eq!(merchant["stripe_enabled"], false);

    assert_eq!(s.put_keys(&profile, PK_LIVE, VALID_KEY).await.0, 200);
    let (status, body, _) = s.enable("m_1", &profile).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["stripe_enabled"], true);
    assert_eq!(body["selected_profile_id"], profile);

    // Disabling keeps the profile; enabling again reuses it.
    let (status, body, _) = s
        .send(
            reqwest::Method::POST,
            "/v1/merchants/m_1/disable-stripe",
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["stripe_enabled"], false);
    assert_eq!(body["selected_profile_id"], profile);

    // A key Stripe stopped accepting since it was saved is caught on enable.
    s.fake.revoke_key(VALID_KEY);
    let (status, body, _) = s.enable("m_1", &profile).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("profile_not_ready")),
        "{body}"
    );
    assert!(message(&body).contains("rejects its secret key"), "{body}");
    s.fake.add_valid_key(VALID_KEY);
    assert_eq!(s.enable("m_1", &profile).await.0, 200);

    let actions: Vec<String> = s.actions().await.into_iter().map(|(_, a)| a).collect();
    assert_eq!(
        actions,
        vec![
            "merchant.created",
            "profile.created",
            "merchant.created",
            "profile.created",
            "profile.keys_set",
            "profile.secret_key_set",
            "profile.keys_set",
            "merchant.stripe_enabled",
            "merchant.stripe_disabled",
            "merchant.stripe_enabled",
        ]
    );
    s.app.stop().await;
}

fn states(readiness: &Value) -> Vec<(String, String)> {
    readiness["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            (
                s["step"].as_str().expect("step").to_owned(),
                s["state"].as_str().expect("state").to_owned(),
            )
        })
        .collect()
}

fn expect_states(readiness: &Value, expected: [&str; 7]) {
    let names = [
        "stripe_enabled",
        "profile_selected",
        "live_keys_accepted",
        "webhook_endpoint",
        "event_received",
        "bank_account_linked",
        "payouts_enabled",
    ];
    let want: Vec<(String, String)> = names
        .iter()
        .zip(expected)
        .map(|(n, s)| ((*n).to_owned(), s.to_owned()))
        .collect();
    assert_eq!(states(readiness), want, "{readiness:#}");
    for step in readiness["steps"].as_array().expect("steps") {
        assert_eq!(
            step["todo"].is_string(),
            step["state"] != "done",
            "what to do exactly when not done: {step}"
        );
    }
}

#[sqlx::test]
async fn readiness_shows_each_missing_step_in_english_and_italian(pool: PgPool) {
    let s = Setup::start(pool.clone()).await;
    let mut profiles = Vec::new();
    for m in ["m_new", "m_enabled", "m_events", "m_ready", "m_off"] {
        let (status, _, _) = s
            .send(
                reqwest::Method::POST,
                "/v1/merchants",
                Some(json!({ "id": m })),
            )
            .await;
        assert_eq!(status, 201);
        if m == "m_new" {
            continue;
        }
        let secret = random_secret();
        let profile = s.app.create_profile(m, &secret).await;
        // Saving keys reads the account from Stripe: its bank and payout state too.
        s.fake.set_account(match m {
            "m_events" => AccountSpec::without_bank_account("acct_e"),
            // One profile per Stripe account.
            _ => AccountSpec::ready(&format!("acct_{m}")),
        });
        assert_eq!(s.put_keys(&profile, PK_LIVE, VALID_KEY).await.0, 200);
        assert_eq!(s.enable(m, &profile).await.0, 200);
        if m != "m_enabled" {
            let body = stripe_event(
                &format!("evt_{m}"),
                "account.updated",
                true,
                json!({ "id": "acct_1", "object": "account" }),
            );
            assert_eq!(s.app.deliver(&profile, &secret, &body).await.status(), 200);
        }
        profiles.push(profile);
    }
    assert_eq!(
        s.send(
            reqwest::Method::POST,
            "/v1/merchants/m_off/disable-stripe",
            None
        )
        .await
        .0,
        200
    );

    let new = s.readiness("m_new", None).await;
    expect_states(
        &new,
        [
            "missing", "missing", "missing", "missing", "missing", "unknown", "unknown",
        ],
    );
    assert_eq!(new["language"], "en");
    assert_eq!(new["ready"], false);
    let todo = |r: &Value, i: usize| {
        r["steps"][i]["todo"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    };
    assert!(
        todo(&new, 0).contains("Switch Stripe from NO to YES"),
        "{new:#}"
    );
    assert!(
        todo(&new, 2).contains("pk_live_") && todo(&new, 2).contains("test"),
        "{new:#}"
    );

    let enabled = s.readiness("m_enabled", Some("en-GB,en;q=0.9")).await;
    expect_states(
        &enabled,
        ["done", "done", "done", "unknown", "missing", "done", "done"],
    );
    assert!(todo(&enabled, 3).contains("Not checked yet"), "{enabled:#}");
    assert!(
        enabled["steps"][2]["at"].is_string(),
        "when the keys were checked"
    );

    let events = s.readiness("m_events", None).await;
    expect_states(
        &events,
        ["done", "done", "done", "done", "done", "missing", "missing"],
    );
    assert!(
        events["steps"][4]["at"].is_string(),
        "when the last event came"
    );
    assert!(
        todo(&events, 5).contains("without it payouts never reach"),
        "{events:#}"
    );

    let no_bank: i64 = sqlx::query_scalar(
        "select count(*) from alerts where merchant_id = 'm_events' and kind = 'no_bank_account' and resolved_at is null",
    )
    .fetch_one(&pool)
    .await
    .expect("alerts");
    assert_eq!(no_bank, 1, "saving the keys found the missing bank account");

    let ready = s.readiness("m_ready", None).await;
    expect_states(&ready, ["done"; 7]);
    assert_eq!(ready["ready"], true);

    // Stripe disabled the endpoint (the account sweep raises the alert): no longer done.
    sqlx::query("insert into alerts (merchant_id, kind, detail) values ('m_ready', 'webhook_endpoint_disabled', 'disabled')")
        .execute(&pool)
        .await
        .expect("alert");
    let disabled = s.readiness("m_ready", Some("it")).await;
    expect_states(
        &disabled,
        ["done", "done", "done", "missing", "done", "done", "done"],
    );
    assert!(
        todo(&disabled, 3).contains("Stripe ha disattivato l'endpoint"),
        "{disabled:#}"
    );

    let off = s.readiness("m_off", None).await;
    expect_states(
        &off,
        ["missing", "done", "done", "done", "done", "done", "done"],
    );

    // Italian for Accept-Language it, whatever the region.
    let nuovo = s.readiness("m_new", Some("it-IT,it;q=0.9,en;q=0.8")).await;
    assert_eq!(nuovo["language"], "it");
    expect_states(
        &nuovo,
        [
            "missing", "missing", "missing", "missing", "missing", "unknown", "unknown",
        ],
    );
    assert!(
        todo(&nuovo, 0).contains("Attiva Stripe (da NO a SÌ)"),
        "{nuovo:#}"
    );
    assert!(
        todo(&nuovo, 2).contains("le transazioni non vanno a buon fine"),
        "{nuovo:#}"
    );
    let conto = s.readiness("m_events", Some("it")).await;
    assert!(
        todo(&conto, 5).contains("Collega un conto bancario"),
        "{conto:#}"
    );

    // The same, for SQL users of the back office.
    let rows: i64 = sqlx::query_scalar(
        "select count(*) from back_office.merchant_readiness where merchant_id = 'm_events' and state = 'missing' and todo_it is not null and todo_en is not null",
    )
    .fetch_one(&pool)
    .await
    .expect("view");
    assert_eq!(rows, 2);
    let (status, _, _) = s
        .send(reqwest::Method::GET, "/v1/merchants/m_404/readiness", None)
        .await;
    assert_eq!(status, 404);
    s.app.stop().await;
}

#[sqlx::test]
async fn no_secret_appears_in_responses_logs_or_the_audit_trail(pool: PgPool) {
    let s = Setup::start(pool.clone()).await;
    let webhook_secret = random_secret();
    let (status, created, created_text) = s
        .send(
            reqwest::Method::POST,
            "/v1/profiles",
            Some(json!({ "merchant_id": "m_1", "name": "Bar Centrale", "webhook_secret": webhook_secret })),
        )
        .await;
    assert_eq!(status, 201);
    let profile = created["id"].as_str().expect("id").to_owned();
    let mut texts = vec![created_text];
    texts.push(s.put_keys(&profile, PK_LIVE, VALID_KEY).await.2);
    texts.push(s.enable("m_1", &profile).await.2);
    texts.push(
        s.send(
            reqwest::Method::GET,
            &format!("/v1/profiles/{profile}"),
            None,
        )
        .await
        .2,
    );
    texts.push(s.send(reqwest::Method::GET, "/v1/profiles", None).await.2);
    texts.push(
        s.send(reqwest::Method::GET, "/v1/merchants/m_1", None)
            .await
            .2,
    );
    texts.push(s.readiness("m_1", None).await.to_string());

    // The CLI: its output and its logs (at debug level).
    let database_url = database_url_of(&pool);
    // One key for every command: a later one opens what an earlier one sealed.
    let master_key = accredito::crypto::SecretBox::generate_master_key();
    let run = |args: Vec<String>| {
        let database_url = database_url.clone();
        let master_key = master_key.clone();
        let base = s.fake.base_url();
        async move {
            let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_accredito"))
                .args(&args)
                .env("DATABASE_URL", &database_url)
                .env("ACCREDITO_MASTER_KEY", &master_key)
                .env("STRIPE_API_BASE", base)
                .env("RUST_LOG", "debug")
                .output()
                .await
                .expect("runs");
            let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
            let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
            (
                output.status.success(),
                format!("{stdout}\n{stderr}"),
                stdout,
            )
        }
    };
    let (ok, out, _) = run(vec![
        "merchant".into(),
        "create".into(),
        "m_cli".into(),
        "--name".into(),
        "Bar".into(),
    ])
    .await;
    assert!(ok, "{out}");
    texts.push(out);
    let cli_secret = random_secret();
    let (ok, out, stdout) = run(vec![
        "profile".into(),
        "create".into(),
        "--merchant".into(),
        "m_cli".into(),
        "--name".into(),
        "Bar Centrale".into(),
        "--webhook-secret".into(),
        cli_secret.clone(),
    ])
    .await;
    assert!(ok, "{out}");
    texts.push(out);
    let cli_profile = serde_json::from_str::<Value>(&stdout).expect("json")["id"]
        .as_str()
        .expect("id")
        .to_owned();
    // Another Stripe account than the API's profile above: one profile per account.
    s.fake.set_account(AccountSpec::ready("acct_cli"));
    let (ok, out, _) = run(vec![
        "profile".into(),
        "set-keys".into(),
        cli_profile.clone(),
        "--publishable-key".into(),
        PK_LIVE.into(),
        "--secret-key".into(),
        OTHER_KEY.into(),
    ])
    .await;
    assert!(ok, "{out}");
    assert!(out.contains("acct_cli"), "{out}");
    texts.push(out);
    let (ok, out, _) = run(vec![
        "profile".into(),
        "set-keys".into(),
        cli_profile.clone(),
        "--publishable-key".into(),
        "pk_test_abc".into(),
        "--secret-key".into(),
        "sk_test_abc".into(),
    ])
    .await;
    assert!(!ok);
    assert!(out.contains("live keys are required"), "{out}");
    texts.push(out);
    let (ok, out, _) = run(vec![
        "merchant".into(),
        "enable-stripe".into(),
        "m_cli".into(),
        "--profile".into(),
        cli_profile.clone(),
    ])
    .await;
    assert!(ok, "{out}");
    texts.push(out);
    let (ok, out, _) = run(vec![
        "merchant".into(),
        "readiness".into(),
        "m_cli".into(),
        "--lang".into(),
        "it".into(),
    ])
    .await;
    assert!(ok, "{out}");
    assert!(out.contains("Nessun evento ancora ricevuto"), "{out}");
    texts.push(out);
    texts.push(s.audit_text().await);

    for text in &texts {
        for secret in [
            VALID_KEY,
            OTHER_KEY,
            "sk_test_abc",
            &webhook_secret,
            &cli_secret,
        ] {
            assert!(!text.contains(secret), "{secret} leaked in: {text}");
        }
    }
    let actors: Vec<(String, String)> = s.actions().await;
    assert!(
        actors.contains(&("cli".to_owned(), "profile.keys_set".to_owned())),
        "{actors:?}"
    );
    assert!(
        actors.contains(&("cli".to_owned(), "merchant.stripe_enabled".to_owned())),
        "{actors:?}"
    );
    assert!(
        actors.contains(&("admin".to_owned(), "profile.keys_set".to_owned())),
        "{actors:?}"
    );
    let kinds: Vec<Value> = sqlx::query_scalar(
        "select detail->'secret_key' from audit_log where action = 'profile.keys_set' order by id",
    )
    .fetch_all(&pool)
    .await
    .expect("audit");
    assert_eq!(
        kinds,
        vec![json!("sk_live"), json!("rk_live")],
        "the kind of key, never its value"
    );
    s.app.stop().await;
}

#[sqlx::test]
async fn registering_the_webhook_endpoint_stores_its_secret_and_rotates_with_overlap(pool: PgPool) {
    let s = Setup::start(pool.clone()).await;
    let profile = s.app.create_profile("m_1", &random_secret()).await;
    let path = format!("/v1/profiles/{profile}/webhook-endpoint");
    let (status, body, _) = s.send(reqwest::Method::POST, &path, None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (422, Some("no_secret_key")),
        "{body}"
    );
    assert_eq!(s.put_keys(&profile, PK_LIVE, VALID_KEY).await.0, 200);

    let (status, first, text) = s.send(reqwest::Method::POST, &path, None).await;
    assert_eq!(status, 201, "{first}");
    let endpoints = s.fake.webhook_endpoints();
    assert_eq!(endpoints.len(), 1);
    let first_secret = endpoints[0]["secret"].as_str().expect("secret").to_owned();
    assert!(
        !text.contains(&first_secret),
        "the signing secret is never returned"
    );
    let url = format!("https://accredito.example/webhooks/stripe/{profile}");
    assert_eq!(endpoints[0]["url"], url.as_str());
    assert_eq!(first["url"], url.as_str());
    let events: Vec<&str> = endpoints[0]["enabled_events"]
        .as_array()
        .expect("events")
        .iter()
        .map(|e| e.as_str().expect("event"))
        .collect();
    for handled in [
        "payment_intent.succeeded",
        "charge.refunded",
        "payout.paid",
        "account.updated",
    ] {
        assert!(events.contains(&handled), "{handled}: {events:?}");
    }
    assert_eq!(first["profile"]["webhook_endpoint_id"], endpoints[0]["id"]);

    // Events signed with the stored secret are accepted.
    let body = stripe_event(
        "evt_1",
        "account.updated",
        true,
        json!({ "id": "acct_1", "object": "account" }),
    );
    assert_eq!(
        s.app.deliver(&profile, &first_secret, &body).await.status(),
        200
    );

    // Registering again: a new endpoint and secret; the old secret verifies for 24 h more, and
    // the old endpoint is deleted from Stripe.
    let (status, second, text) = s.send(reqwest::Method::POST, &path, None).await;
    assert_eq!(status, 201, "{second}");
    let endpoints = s.fake.webhook_endpoints();
    assert_eq!(endpoints.len(), 1, "the old endpoint was deleted");
    assert_ne!(endpoints[0]["id"], first["endpoint_id"]);
    assert_eq!(second["previous_endpoint_deleted"], first["endpoint_id"]);
    let second_secret = endpoints[0]["secret"].as_str().expect("secret").to_owned();
    assert!(!text.contains(&second_secret) && !text.contains(&first_secret));
    let expiring = second["expiring_secret_ids"].as_array().expect("ids");
    assert_eq!(expiring.len(), 1, "the first endpoint's");
    assert_eq!(
        first["expiring_secret_ids"].as_array().map(Vec::len),
        Some(1),
        "the secret given by hand at creation"
    );
    let hours: f64 = sqlx::query_scalar(
        "select extract(epoch from (min(expires_at) - now()))::float8 / 3600 from webhook_secrets where expires_at is not null",
    )
    .fetch_one(&pool)
    .await
    .expect("expiry");
    assert!((23.9..=24.0).contains(&hours), "{hours}");
    for (id, secret) in [("evt_2", &first_secret), ("evt_3", &second_secret)] {
        let body = stripe_event(
            id,
            "account.updated",
            true,
            json!({ "id": "acct_1", "object": "account" }),
        );
        assert_eq!(
            s.app.deliver(&profile, secret, &body).await.status(),
            200,
            "{id}"
        );
    }
    let actions: Vec<String> = s.actions().await.into_iter().map(|(_, a)| a).collect();
    assert_eq!(
        actions
            .iter()
            .filter(|a| *a == "profile.webhook_endpoint_registered")
            .count(),
        2
    );
    let audit = s.audit_text().await;
    assert!(!audit.contains(&first_secret) && !audit.contains(&second_secret));
    s.app.stop().await;
}

/// Every row of a `/v1` list, following `next_cursor` page by page; the pages' sizes too.
async fn every_page(
    s: &Setup,
    path: &str,
    filters: &[(&str, &str)],
    limit: usize,
) -> (Vec<Value>, Vec<usize>) {
    let mut rows = Vec::new();
    let mut sizes = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let limit = limit.to_string();
        let mut query = filters.to_vec();
        query.push(("limit", limit.as_str()));
        if let Some(cursor) = &cursor {
            query.push(("cursor", cursor));
        }
        let (status, body, text) = s
            .send(reqwest::Method::GET, &with_query(path, &query), None)
            .await;
        assert_eq!(status, 200, "{text}");
        let page = body["data"].as_array().expect("data").clone();
        sizes.push(page.len());
        rows.extend(page);
        match body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return (rows, sizes),
        }
    }
}

#[sqlx::test]
async fn merchants_and_profiles_are_listed_page_by_page_and_unknown_parameters_refused(
    pool: PgPool,
) {
    let s = Setup::start(pool).await;
    // Five merchants, each with one profile (made in the merchants' id order) and m_2 with a
    // second.
    let mut profiles = Vec::new();
    for merchant in ["m_1", "m_2", "m_3", "m_4", "m_5"] {
        profiles.push(s.app.create_profile(merchant, &random_secret()).await);
    }
    profiles.push(s.app.create_profile("m_2", &random_secret()).await);

    let (merchants, sizes) = every_page(&s, "/v1/merchants", &[], 2).await;
    assert_eq!(
        ids(&merchants, "id"),
        vec!["m_1", "m_2", "m_3", "m_4", "m_5"]
    );
    assert_eq!(sizes, vec![2, 2, 1]);

    let (listed, sizes) = every_page(&s, "/v1/profiles", &[], 4).await;
    assert_eq!(
        ids(&listed, "id"),
        profiles,
        "every profile once, in creation order"
    );
    assert_eq!(sizes, vec![4, 2]);
    assert!(
        listed
            .iter()
            .all(|p| p["webhook_secrets"].as_array().map(Vec::len) == Some(1)),
        "each page carries each profile's own secrets: {listed:?}"
    );
    let (of_m2, _) = every_page(&s, "/v1/profiles", &[("merchant_id", "m_2")], 1).await;
    assert_eq!(
        ids(&of_m2, "id"),
        vec![profiles[1].clone(), profiles[5].clone()]
    );

    // As CSV: the same rows, the secrets counted.
    let response = s
        .app
        .client
        .get(s.app.url("/v1/profiles?format=csv&merchant_id=m_2"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .expect("csv");
    assert_eq!(response.status(), 200);
    let csv = parse_csv(&response.text().await.expect("body"));
    assert_eq!(csv[0][0], "id");
    assert_eq!(csv[0][13], "webhook_secrets");
    assert_eq!(csv.len(), 3, "a header and m_2's two profiles: {csv:?}");
    assert_eq!(csv[1][13], "1");

    // Anything else is a 400 that says what was wrong.
    for (path, says) in [
        ("/v1/merchants?page=2", "unknown field `page`"),
        ("/v1/merchants?limit=0", "limit must be"),
        ("/v1/merchants?cursor=nonsense", "malformed cursor"),
        ("/v1/profiles?merchant=m_1", "unknown field `merchant`"),
        ("/v1/profiles?merchant_id=bad%20id", "merchant_id must be"),
        ("/v1/profiles?limit=1001", "limit must be"),
        ("/v1/profiles?format=xml", "format must be"),
    ] {
        let (status, _, text) = s.send(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 400, "{path}: {text}");
        assert!(text.contains(says), "{path}: {text}");
    }
    // A cursor of one list is refused by the other.
    let (_, merchants_page, _) = s
        .send(reqwest::Method::GET, "/v1/merchants?limit=1", None)
        .await;
    let merchant_cursor = merchants_page["next_cursor"].as_str().expect("cursor");
    let (status, _, text) = s
        .send(
            reqwest::Method::GET,
            &format!("/v1/profiles?cursor={merchant_cursor}"),
            None,
        )
        .await;
    assert_eq!(status, 400, "{text}");
    s.app.stop().await;
}
