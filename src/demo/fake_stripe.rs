//! A LOCAL STAND-IN FOR STRIPE, used only by `accredito demo`. It is not Stripe and talks to
//! nothing outside this process: a minimal axum server on 127.0.0.1 that answers the few
//! Stripe API calls the service makes (`GET /v1/account` per secret key,
//! `GET /v1/balance_transactions?payout=`, `GET /v1/payouts/{id}`, `GET /v1/events` (always
//! empty), `GET`/`POST /v1/webhook_endpoints`) with Stripe-shaped JSON.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

#[derive(Default)]
struct Inner {
    /// Secret key -> the account `GET /v1/account` answers.
    accounts: HashMap<String, Value>,
    /// Payout id -> its balance transactions (newest first, sources expanded).
    balance_transactions: HashMap<String, Vec<Value>>,
    payouts: HashMap<String, Value>,
    /// Secret key -> the webhook endpoints created with it.
    endpoints: HashMap<String, Vec<Value>>,
    created: u64,
}

/// The demo's local stand-in for the Stripe API.
#[derive(Clone, Default)]
pub struct FakeStripe {
    inner: Arc<Mutex<Inner>>,
}

impl FakeStripe {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut inner)
    }

    /// Makes `secret_key` valid, belonging to `account`.
    pub fn add_account(&self, secret_key: &str, account: Value) {
        self.with(|s| s.accounts.insert(secret_key.to_owned(), account));
    }

    /// A payout and the balance transactions it paid out.
    pub fn add_payout(&self, payout: Value, transactions: Vec<Value>) {
        let id = payout["id"].as_str().unwrap_or_default().to_owned();
        self.with(|s| {
            s.payouts.insert(id.clone(), payout);
            s.balance_transactions.insert(id, transactions);
        });
    }

    /// Serves on 127.0.0.1 (a free port) until `shutdown`; returns its address.
    pub async fn start(self, shutdown: CancellationToken) -> anyhow::Result<SocketAddr> {
        let app = Router::new()
            .route("/v1/account", get(account))
            .route("/v1/balance_transactions", get(balance_transactions))
            .route("/v1/payouts/{id}", get(payout))
            .route("/v1/events", get(events))
            .route(
                "/v1/webhook_endpoints",
                get(list_endpoints).post(create_endpoint),
            )
            .with_state(self);
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            let served = axum::serve(listener, app)
                .with_graceful_shutdown(async move { shutdown.cancelled().await })
                .await;
            if let Err(error) = served {
                tracing::warn!(%error, "demo's local stand-in for Stripe (not Stripe) failed");
            }
        });
        tracing::info!(%addr, "demo's local stand-in for Stripe (not Stripe) listening");
        Ok(addr)
    }
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get(axum::http::header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")
        .map(str::to_owned)
}

fn pairs(encoded: &str) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://stand-in.invalid/?{encoded}"))
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default()
}

fn stripe_error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({ "error": { "type": "invalid_request_error", "message": message } })),
    )
        .into_response()
}

fn list(url: &str, data: Vec<Value>) -> Response {
    axum::Json(json!({ "object": "list", "data": data, "has_more": false, "url": url }))
        .into_response()
}

/// The request's key when the stand-in knows it; otherwise answer [`unauthorized`].
fn authorized(fake: &FakeStripe, headers: &HeaderMap, path: &str) -> Option<String> {
    let key = bearer(headers).unwrap_or_default();
    let known = fake.with(|s| s.accounts.contains_key(&key));
    tracing::info!(
        path,
        known,
        "demo's local stand-in for Stripe (not Stripe) answering"
    );
    known.then_some(key)
}

/// Stripe's 401 for an unknown key.
fn unauthorized() -> Response {
    stripe_error(
        StatusCode::UNAUTHORIZED,
        "Invalid API Key provided (demo's local stand-in for Stripe)",
    )
}

async fn account(State(fake): State<FakeStripe>, headers: HeaderMap) -> Response {
    match authorized(&fake, &headers, "/v1/account") {
        Some(key) => {
            let account = fake.with(|s| s.accounts.get(&key).cloned().unwrap_or_default());
            axum::Json(account).into_response()
        }
        None => unauthorized(),
    }
}

async fn balance_transactions(
    State(fake): State<FakeStripe>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if authorized(&fake, &headers, "/v1/balance_transactions").is_none() {
        return unauthorized();
    }
    let query = pairs(query.as_deref().unwrap_or_default());
    let payout = query
        .iter()
        .find(|(k, _)| k == "payout")
        .map(|(_, v)| v.clone())
        .unwrap_or_default();
    let data = fake.with(|s| {
        s.balance_transactions
            .get(&payout)
            .cloned()
            .unwrap_or_default()
    });
    list("/v1/balance_transactions", data)
}

async fn payout(
    State(fake): State<FakeStripe>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if authorized(&fake, &headers, "/v1/payouts/{id}").is_none() {
        return unauthorized();
    }
    match fake.with(|s| s.payouts.get(&id).cloned()) {
        Some(payout) => axum::Json(payout).into_response(),
        None => stripe_error(StatusCode::NOT_FOUND, &format!("No such payout: '{id}'")),
    }
}

async fn events(State(fake): State<FakeStripe>, headers: HeaderMap) -> Response {
    match authorized(&fake, &headers, "/v1/events") {
        Some(_) => list("/v1/events", Vec::new()),
        None => unauthorized(),
    }
}

async fn list_endpoints(State(fake): State<FakeStripe>, headers: HeaderMap) -> Response {
    match authorized(&fake, &headers, "/v1/webhook_endpoints") {
        Some(key) => {
            let data = fake.with(|s| s.endpoints.get(&key).cloned().unwrap_or_default());
            let data = data
                .into_iter()
                .map(|mut e| {
                    if let Some(map) = e.as_object_mut() {
                        map.remove("secret");
                    }
                    e
                })
                .collect();
            list("/v1/webhook_endpoints", data)
        }
        None => unauthorized(),
    }
}

async fn create_endpoint(
    State(fake): State<FakeStripe>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let key = match authorized(&fake, &headers, "POST /v1/webhook_endpoints") {
        Some(key) => key,
        None => return unauthorized(),
    };
    let form = pairs(&String::from_utf8_lossy(&body));
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    let Some(url) = field("url") else {
        return stripe_error(StatusCode::BAD_REQUEST, "Missing required param: url.");
    };
    let enabled: Vec<String> = form
        .iter()
        .filter(|(k, _)| k == "enabled_events[]")
        .map(|(_, v)| v.clone())
        .collect();
    let endpoint = fake.with(|s| {
        s.created += 1;
        let endpoint = json!({
            "id": format!("we_demo{:06}", s.created),
            "object": "webhook_endpoint",
            "api_version": field("api_version"),
            "created": time::OffsetDateTime::now_utc().unix_timestamp(),
            "description": null,
            "enabled_events": enabled,
            "livemode": true,
            "metadata": {},
            "secret": format!("whsec_demo{:026}", s.created),
            "status": "enabled",
            "url": url,
        });
        s.endpoints.entry(key).or_default().push(endpoint.clone());
        endpoint
    });
    axum::Json(endpoint).into_response()
}
