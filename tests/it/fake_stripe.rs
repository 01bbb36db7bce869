//! A fake Stripe REST API for tests: an axum server on 127.0.0.1:0 that answers with
//! Stripe-shaped JSON built from `tests/fixtures/stripe-objects.json` (so responses carry the
//! many fields real objects have, which the client must ignore).
//!
//! ```ignore
//! use crate::fake_stripe::{self, AccountSpec, FakeStripe, Scripted, VALID_KEY};
//!
//! let fake = FakeStripe::builder()
//!     .valid_key("rk_live_other")                             // besides VALID_KEY
//!     .account(AccountSpec::without_bank_account("acct_1"))   // GET /v1/account
//!     .payout(fake_stripe::payout("po_1", 1_000, "eur", "paid"))
//!     .balance_transactions("po_1", vec![                     // GET /v1/balance_transactions?payout=po_1
//!         fake_stripe::balance_transaction("txn_1", "charge", 1_000, 30, "eur",
//!             fake_stripe::charge("ch_1", Some("pi_1"))),
//!     ])
//!     .event(fake_stripe::event("evt_1", "payout.paid", 1_767_225_600, payout_json))
//!     .start()
//!     .await;
//! let client = StripeClient::new(&fake.base_url())?;           // or Settings::stripe_api_base
//!
//! fake.fail_next("/v1/account", 2, Scripted::server_error()); // the next 2 answer 500
//! fake.fail_next("/v1/account", 1, Scripted::rate_limited().should_retry(false));
//! fake.expire_key(VALID_KEY);                                 // now 401 api_key_expired
//! fake.set_account(AccountSpec::ready("acct_1"));             // a bank account was linked
//! assert_eq!(fake.requests("/v1/account"), 4);                // every request, failed or not
//! ```
//!
//! Routes: `GET /v1/account`; `GET /v1/payouts/{id}`; `GET /v1/balance_transactions`
//! (`payout`, `limit` 1..=100 default 10, `starting_after`, `expand[]=data.source`: without
//! it, expanded sources are collapsed to their id); `GET /v1/events` (`created[gt|gte|lt|lte]`,
//! `type`, `types[]`, `limit`, `starting_after`; newest first; each event's JSON text is served
//! exactly as it was added); `POST /v1/webhook_endpoints` (form: `url`, `enabled_events[]`,
//! `api_version`, `description`), `GET /v1/webhook_endpoints[/{id}]`,
//! `DELETE /v1/webhook_endpoints/{id}`. Anything else is Stripe's 404.
//!
//! Objects: `AccountSpec` (`ready`, `without_bank_account`, then `payouts_enabled`,
//! `currently_due`, `past_due`, `external_account`), `bank_account`, `payout`, `charge`,
//! `refund`, `dispute`, `balance_transaction`, `event`, and any `fixture(name)`. Keys:
//! `add_valid_key`, `expire_key` (401 `api_key_expired`), `revoke_key` (401 invalid key).
//! Network trouble without the fake: `unreachable_base_url()` (nothing listens) and
//! `connection_dropper()` (accepts, then hangs up; counts connections).
//!
//! Every request is counted per path (`requests`) and recorded (`recorded`) before anything
//! else, then a scripted failure for its path answers if one is queued (`fail_next`), then the
//! bearer key is checked (401 with Stripe's error body, the key masked as Stripe masks it).
//! The state is behind `Arc<Mutex<..>>`: every method takes `&self` and may be called while
//! requests are in flight. Dropping the `FakeStripe` stops the server.

#![allow(dead_code)] // A toolkit for every test file; each uses only part of it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State as AxumState;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use rand::Rng;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The key the builder accepts unless told otherwise.
pub const VALID_KEY: &str = "sk_live_fake0000000000000000valid";

/// One Stripe object of each kind, as Stripe's API fixtures show it.
pub fn fixture(name: &str) -> Value {
    let objects: Value =
        serde_json::from_str(include_str!("../fixtures/stripe-objects.json")).expect("fixtures");
    let object = objects[name].clone();
    assert!(!object.is_null(), "no fixture named {name}");
    object
}

// ---------------------------------------------------------------------------------------
// Object builders
// ---------------------------------------------------------------------------------------

/// What `GET /v1/account` answers; see [`AccountSpec::ready`] and
/// [`AccountSpec::without_bank_account`].
#[derive(Debug, Clone)]
pub struct AccountSpec {
    pub id: String,
    pub display_name: Option<String>,
    pub payouts_enabled: bool,
    pub charges_enabled: bool,
    pub details_submitted: bool,
    pub currently_due: Vec<String>,
    pub past_due: Vec<String>,
    pub external_accounts: Vec<Value>,
}

impl AccountSpec {
    /// Onboarded, with a verified EUR bank account: payouts can settle.
    pub fn ready(id: &str) -> Self {
        AccountSpec {
            id: id.to_owned(),
            display_name: Some("Bar Centrale".into()),
            payouts_enabled: true,
            charges_enabled: true,
            details_submitted: true,
            currently_due: Vec::new(),
            past_due: Vec::new(),
            external_accounts: vec![bank_account(
                &format!("ba_{}", id.trim_start_matches("acct_")),
                "eur",
                "verified",
            )],
        }
    }

    /// Charges work but no bank account is linked: Stripe asks for `external_account` and
    /// payouts are disabled.
    pub fn without_bank_account(id: &str) -> Self {
        AccountSpec {
            payouts_enabled: false,
            currently_due: vec!["external_account".into()],
            external_accounts: Vec::new(),
            ..AccountSpec::ready(id)
        }
    }

    pub fn payouts_enabled(mut self, enabled: bool) -> Self {
        self.payouts_enabled = enabled;
        self
    }

    pub fn currently_due(mut self, fields: &[&str]) -> Self {
        self.currently_due = fields.iter().map(|f| (*f).to_owned()).collect();
        self
    }

    pub fn past_due(mut self, fields: &[&str]) -> Self {
        self.past_due = fields.iter().map(|f| (*f).to_owned()).collect();
        self
    }

    pub fn external_account(mut self, account: Value) -> Self {
        self.external_accounts.push(account);
        self
    }

    pub fn to_json(&self) -> Value {
        let mut a = fixture("account");
        a["id"] = self.id.clone().into();
        a["business_profile"]["name"] = self.display_name.clone().into();
        a["settings"]["dashboard"]["display_name"] = self.display_name.clone().into();
        a["payouts_enabled"] = self.payouts_enabled.into();
        a["charges_enabled"] = self.charges_enabled.into();
        a["details_submitted"] = self.details_submitted.into();
        let due: Vec<&String> = self.currently_due.iter().chain(&self.past_due).collect();
        a["requirements"]["currently_due"] = json!(self.currently_due);
        a["requirements"]["eventually_due"] = json!(due);
        a["requirements"]["past_due"] = json!(self.past_due);
        a["requirements"]["disabled_reason"] = if !self.past_due.is_empty() {
            "requirements.past_due".into()
        } else {
            Value::Null
        };
        a["external_accounts"] = json!({
            "object": "list",
            "data": self.external_accounts,
            "has_more": false,
            "url": format!("/v1/accounts/{}/external_accounts", self.id),
        });
        a
    }
}

/// A bank account (`status`: `new`, `validated`, `verified`, `verification_failed`,
/// `errored`), the default for its currency.
pub fn bank_account(id: &str, currency: &str, status: &str) -> Value {
    let mut b = fixture("external_account");
    b["id"] = id.into();
    b["currency"] = currency.into();
    b["status"] = status.into();
    b["default_for_currency"] = true.into();
    b
}

pub fn payout(id: &str, amount: i64, currency: &str, status: &str) -> Value {
    let mut p = fixture("payout");
    p["id"] = id.into();
    p["amount"] = amount.into();
    p["currency"] = currency.into();
    p["status"] = status.into();
    p
}

pub fn charge(id: &str, payment_intent: Option<&str>) -> Value {
    let mut c = fixture("charge");
    c["id"] = id.into();
    c["payment_intent"] = payment_intent.into();
    c
}

pub fn refund(id: &str, charge: &str, payment_intent: Option<&str>) -> Value {
    let mut r = fixture("refund");
    r["id"] = id.into();
    r["charge"] = charge.into();
    r["payment_intent"] = payment_intent.into();
    r
}

pub fn dispute(id: &str, charge: &str, payment_intent: Option<&str>) -> Value {
    let mut d = fixture("dispute");
    d["id"] = id.into();
    d["charge"] = charge.into();
    d["payment_intent"] = payment_intent.into();
    d
}

/// A balance transaction; `source` is the expanded object (see [`charge`], [`refund`],
/// [`dispute`], [`payout`]) or an id string. `net` = `amount` - `fee`.
pub fn balance_transaction(
    id: &str,
    kind: &str,
    amount: i64,
    fee: i64,
    currency: &str,
    source: Value,
) -> Value {
    let mut t = fixture("balance_transaction");
    t["id"] = id.into();
    t["type"] = kind.into();
    t["reporting_category"] = match kind {
        "charge" | "payment" => "charge",
        "refund" | "payment_refund" => "refund",
        "adjustment" => "dispute",
        "payout" => "payout",
        "stripe_fee" => "fee",
        other => other,
    }
    .into();
    t["amount"] = amount.into();
    t["fee"] = fee.into();
    t["net"] = (amount - fee).into();
    t["currency"] = currency.into();
    t["source"] = source;
    t
}

/// An event (v1 snapshot) around `object`.
pub fn event(id: &str, event_type: &str, created: i64, object: Value) -> Value {
    let mut e = fixture("event");
    e["id"] = id.into();
    e["type"] = event_type.into();
    e["created"] = created.into();
    e["livemode"] = true.into();
    e["data"] = json!({ "object": object });
    e
}

// ---------------------------------------------------------------------------------------
// Scripted failures
// ---------------------------------------------------------------------------------------

/// An answer to give instead of the real one (see [`FakeStripe::fail_next`]).
#[derive(Debug, Clone)]
pub struct Scripted {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Value,
}

impl Scripted {
    /// Any status with Stripe's error body.
    pub fn error(status: u16, error_type: &str, code: Option<&str>, message: &str) -> Self {
        Scripted {
            status,
            headers: Vec::new(),
            body: json!({ "error": { "type": error_type, "code": code, "message": message } }),
        }
    }

    /// 500 `api_error`.
    pub fn server_error() -> Self {
        Scripted::error(500, "api_error", None, "An unknown error occurred")
    }

    /// 429, as Stripe's rate limiter answers.
    pub fn rate_limited() -> Self {
        Scripted::error(
            429,
            "invalid_request_error",
            Some("rate_limit"),
            "Request rate limit exceeded. Learn more about rate limits here https://stripe.com/docs/rate-limits.",
        )
    }

    /// 409 `lock_timeout`: another request holds the object.
    pub fn lock_timeout() -> Self {
        Scripted::error(
            409,
            "invalid_request_error",
            Some("lock_timeout"),
            "This object cannot be accessed right now because another API request or Stripe process is currently accessing it.",
        )
    }

    /// Adds `Stripe-Should-Retry: true|false`.
    pub fn should_retry(self, retry: bool) -> Self {
        self.header("Stripe-Should-Retry", if retry { "true" } else { "false" })
    }

    /// Adds `Retry-After: secs`.
    pub fn retry_after(self, secs: u64) -> Self {
        self.header("Retry-After", &secs.to_string())
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }

    fn into_response(self) -> Response {
        let mut response = json_response(self.status, self.body.to_string());
        for (name, value) in self.headers {
            if let (Ok(name), Ok(value)) = (
                axum::http::HeaderName::try_from(name),
                axum::http::HeaderValue::try_from(value),
            ) {
                response.headers_mut().insert(name, value);
            }
        }
        response
    }
}

// ---------------------------------------------------------------------------------------
// The server
// ---------------------------------------------------------------------------------------

/// A request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    /// Decoded query pairs, in order (repeated keys such as `types[]` repeat).
    pub query: Vec<(String, String)>,
    /// Decoded form pairs of a POST.
    pub form: Vec<(String, String)>,
    pub bearer: Option<String>,
    pub stripe_version: Option<String>,
    pub idempotency_key: Option<String>,
}

#[derive(Default)]
struct State {
    valid_keys: HashSet<String>,
    /// Keys Stripe knows but that were rolled or expired: 401 `api_key_expired`.
    expired_keys: HashSet<String>,
    account: Option<Value>,
    payouts: HashMap<String, Value>,
    /// (payout id, transaction), in Stripe's order (newest first).
    balance_transactions: Vec<(String, Value)>,
    /// Each event's JSON text exactly as added, in the order added.
    events: Vec<String>,
    /// Oldest first; each with its `secret`, which only creation returns.
    webhook_endpoints: Vec<Value>,
    endpoints_created: u64,
    scripted: HashMap<String, VecDeque<Scripted>>,
    /// How long requests to a path wait before they are answered (a slow Stripe).
    delays: HashMap<String, std::time::Duration>,
    counts: HashMap<String, usize>,
    recorded: Vec<Recorded>,
}

type Shared = Arc<Mutex<State>>;

fn lock(state: &Shared) -> MutexGuard<'_, State> {
    state.lock().expect("fake Stripe state lock")
}

/// Configures a [`FakeStripe`] before it starts.
pub struct FakeStripeBuilder {
    state: State,
}

impl FakeStripeBuilder {
    /// Accepts `key` as a valid secret key (any number of keys).
    pub fn valid_key(mut self, key: &str) -> Self {
        self.state.valid_keys.insert(key.to_owned());
        self
    }

    pub fn account(mut self, account: AccountSpec) -> Self {
        self.state.account = Some(account.to_json());
        self
    }

    /// Any JSON as the account (e.g. a fixture with odd fields).
    pub fn account_json(mut self, account: Value) -> Self {
        self.state.account = Some(account);
        self
    }

    pub fn payout(mut self, payout: Value) -> Self {
        let id = string_field(&payout, "id");
        self.state.payouts.insert(id, payout);
        self
    }

    /// Transactions paid out by `payout_id`, in the order Stripe lists them.
    pub fn balance_transactions(mut self, payout_id: &str, transactions: Vec<Value>) -> Self {
        self.state
            .balance_transactions
            .extend(transactions.into_iter().map(|t| (payout_id.to_owned(), t)));
        self
    }

    pub fn event(mut self, event: Value) -> Self {
        self.state.events.push(event.to_string());
        self
    }

    /// An event served as exactly this JSON text (whitespace and key order included).
    pub fn event_raw(mut self, json_text: &str) -> Self {
        self.state.events.push(json_text.to_owned());
        self
    }

    pub async fn start(self) -> FakeStripe {
        let state: Shared = Arc::new(Mutex::new(self.state));
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake Stripe");
        let addr = listener.local_addr().expect("fake Stripe address");
        let shutdown = CancellationToken::new();
        let router = Router::new().fallback(handle).with_state(state.clone());
        let stop = shutdown.clone().cancelled_owned();
        tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(stop)
                .await
                .expect("fake Stripe serves");
        });
        FakeStripe {
            addr,
            state,
            shutdown,
        }
    }
}

/// A running fake; stops when dropped.
pub struct FakeStripe {
    addr: SocketAddr,
    /// Everything the fake serves and has seen; shared with the server task.
    state: Shared,
    /// Cancelled on drop, which stops the server.
    shutdown: CancellationToken,
}

impl Drop for FakeStripe {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl FakeStripe {
    /// Accepts [`VALID_KEY`] and serves [`AccountSpec::ready`]`("acct_fake")` until told
    /// otherwise. Use `builder()` for a different start.
    pub fn builder() -> FakeStripeBuilder {
        FakeStripeBuilder {
            state: State::default(),
        }
        .valid_key(VALID_KEY)
        .account(AccountSpec::ready("acct_fake"))
    }

    /// A fake with the builder's defaults.
    pub async fn start() -> FakeStripe {
        FakeStripe::builder().start().await
    }

    /// The base URL to give the client (`STRIPE_API_BASE`), e.g. `http://127.0.0.1:41234`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub fn add_valid_key(&self, key: &str) {
        let mut s = self.state();
        s.expired_keys.remove(key);
        s.valid_keys.insert(key.to_owned());
    }

    /// The key stops working as a rolled key does: 401 with code `api_key_expired`.
    pub fn expire_key(&self, key: &str) {
        let mut s = self.state();
        s.valid_keys.remove(key);
        s.expired_keys.insert(key.to_owned());
    }

    /// The key stops working and is unknown: 401 "Invalid API Key provided".
    pub fn revoke_key(&self, key: &str) {
        let mut s = self.state();
        s.valid_keys.remove(key);
        s.expired_keys.remove(key);
    }

    pub fn set_account(&self, account: AccountSpec) {
        self.state().account = Some(account.to_json());
    }

    pub fn set_account_json(&self, account: Value) {
        self.state().account = Some(account);
    }

    /// Adds or replaces a payout (by id).
    pub fn put_payout(&self, payout: Value) {
        let id = string_field(&payout, "id");
        self.state().payouts.insert(id, payout);
    }

    pub fn add_balance_transactions(&self, payout_id: &str, transactions: Vec<Value>) {
        self.state()
            .balance_transactions
            .extend(transactions.into_iter().map(|t| (payout_id.to_owned(), t)));
    }

    pub fn add_event(&self, event: Value) {
        self.state().events.push(event.to_string());
    }

    /// An event served as exactly this JSON text.
    pub fn add_event_raw(&self, json_text: &str) {
        self.state().events.push(json_text.to_owned());
    }

    /// The next `times` requests to `path` (e.g. `/v1/balance_transactions`, no query) answer
    /// `answer` instead, whatever their key. Queued after any failures already scripted.
    pub fn fail_next(&self, path: &str, times: usize, answer: Scripted) {
        let mut s = self.state();
        let queue = s.scripted.entry(path.to_owned()).or_default();
        queue.extend(std::iter::repeat_n(answer, times));
    }

    /// Every later request to `path` waits `delay` before it is answered.
    pub fn slow_down(&self, path: &str, delay: std::time::Duration) {
        self.state().delays.insert(path.to_owned(), delay);
    }

    /// Requests to `path` so far, failed ones included.
    pub fn requests(&self, path: &str) -> usize {
        self.state().counts.get(path).copied().unwrap_or(0)
    }

    pub fn total_requests(&self) -> usize {
        self.state().counts.values().sum()
    }

    /// Every request so far, oldest first.
    pub fn recorded(&self) -> Vec<Recorded> {
        self.state().recorded.clone()
    }

    /// Webhook endpoints as stored (each with its `secret`), oldest first.
    pub fn webhook_endpoints(&self) -> Vec<Value> {
        self.state().webhook_endpoints.clone()
    }
}

/// A base URL where nothing listens (a port bound then released): every request fails to
/// connect.
pub async fn unreachable_base_url() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    drop(listener);
    format!("http://{addr}")
}

/// A server that accepts connections and closes them at once, without answering: a network
/// error after connecting. Returns its base URL and a count of accepted connections.
pub async fn connection_dropper() -> (String, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            drop(socket);
        }
    });
    (format!("http://{addr}"), accepted)
}

// ---------------------------------------------------------------------------------------
// Request handling
// ---------------------------------------------------------------------------------------

async fn handle(
    AxumState(state): AxumState<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_owned();
    let query = pairs(uri.query().unwrap_or(""));
    let form = pairs(std::str::from_utf8(&body).unwrap_or(""));
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let bearer = header("authorization").and_then(|a| a.strip_prefix("Bearer ").map(str::to_owned));

    let delay = {
        let mut s = lock(&state);
        *s.counts.entry(path.clone()).or_default() += 1;
        s.recorded.push(Recorded {
            method: method.to_string(),
            path: path.clone(),
            query: query.clone(),
            form: form.clone(),
            bearer: bearer.clone(),
            stripe_version: header("stripe-version"),
            idempotency_key: header("idempotency-key"),
        });
        s.delays.get(&path).copied()
    };
    if let Some(delay) = delay {
        tokio::time::sleep(delay).await;
    }
    let mut s = lock(&state);
    if let Some(answer) = s.scripted.get_mut(&path).and_then(VecDeque::pop_front) {
        return answer.into_response();
    }
    if let Some(refusal) = check_key(&s, bearer.as_deref()) {
        return refusal;
    }

    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let request = Request {
        query: &query,
        form: &form,
    };
    match (method.as_str(), segments.as_slice()) {
        ("GET", ["v1", "account"]) => match &s.account {
            Some(account) => ok(account),
            None => ok(&AccountSpec::ready("acct_fake").to_json()),
        },
        ("GET", ["v1", "payouts", id]) => match s.payouts.get(*id) {
            Some(payout) => ok(payout),
            None => no_such("payout", id),
        },
        ("GET", ["v1", "balance_transactions"]) => list_balance_transactions(&s, &request),
        ("GET", ["v1", "events"]) => list_events(&s, &request),
        ("POST", ["v1", "webhook_endpoints"]) => create_webhook_endpoint(&mut s, &request),
        ("GET", ["v1", "webhook_endpoints"]) => {
            let listed: Vec<Value> = s
                .webhook_endpoints
                .iter()
                .rev()
                .map(without_secret)
                .collect();
            paginate(
                &request,
                "/v1/webhook_endpoints",
                &listed,
                "webhook_endpoint",
            )
        }
        ("GET", ["v1", "webhook_endpoints", id]) => {
            match s.webhook_endpoints.iter().find(|w| w["id"] == *id) {
                Some(endpoint) => ok(&without_secret(endpoint)),
                None => no_such("webhook_endpoint", id),
            }
        }
        ("DELETE", ["v1", "webhook_endpoints", id]) => {
            match s.webhook_endpoints.iter().position(|w| w["id"] == *id) {
                Some(index) => {
                    s.webhook_endpoints.remove(index);
                    ok(&json!({ "id": id, "object": "webhook_endpoint", "deleted": true }))
                }
                None => no_such("webhook_endpoint", id),
            }
        }
        _ => stripe_error(
            404,
            "invalid_request_error",
            None,
            None,
            &format!(
                "Unrecognized request URL ({method}: {path}). Please see https://stripe.com/docs or we can help at https://support.stripe.com/."
            ),
        ),
    }
}

struct Request<'a> {
    query: &'a [(String, String)],
    form: &'a [(String, String)],
}

impl Request<'_> {
    fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn params(&self, name: &str) -> Vec<&str> {
        self.query
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }

    fn field(&self, name: &str) -> Option<&str> {
        self.form
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn fields(&self, name: &str) -> Vec<&str> {
        self.form
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .collect()
    }
}

fn check_key(s: &State, bearer: Option<&str>) -> Option<Response> {
    let Some(key) = bearer.filter(|k| !k.is_empty()) else {
        return Some(stripe_error(
            401,
            "invalid_request_error",
            None,
            None,
            "You did not provide an API key. You need to provide your API key in the Authorization header, using Bearer auth (e.g. 'Authorization: Bearer YOUR_SECRET_KEY').",
        ));
    };
    if s.valid_keys.contains(key) {
        return None;
    }
    Some(if s.expired_keys.contains(key) {
        stripe_error(
            401,
            "invalid_request_error",
            Some("api_key_expired"),
            None,
            &format!("Expired API Key provided: {}", masked(key)),
        )
    } else {
        stripe_error(
            401,
            "invalid_request_error",
            None,
            None,
            &format!("Invalid API Key provided: {}", masked(key)),
        )
    })
}

/// As Stripe shows a key in its messages: prefix, stars, last four.
fn masked(key: &str) -> String {
    let prefix_len = key.match_indices('_').nth(1).map_or(0, |(i, _)| i + 1);
    let tail = key.len().saturating_sub(4).max(prefix_len);
    format!(
        "{}{}{}",
        &key[..prefix_len],
        "*".repeat(tail - prefix_len),
        &key[tail..]
    )
}

fn list_balance_transactions(s: &State, request: &Request<'_>) -> Response {
    let expand_source = request.params("expand[]").contains(&"data.source");
    let payout = request.param("payout");
    let listed: Vec<Value> = s
        .balance_transactions
        .iter()
        .filter(|(p, _)| payout.is_none_or(|want| want == p))
        .map(|(_, t)| {
            let mut t = t.clone();
            if !expand_source && t["source"].is_object() {
                t["source"] = t["source"]["id"].clone();
            }
            t
        })
        .collect();
    paginate(
        request,
        "/v1/balance_transactions",
        &listed,
        "balance_transaction",
    )
}

fn list_events(s: &State, request: &Request<'_>) -> Response {
    let bound = |name: &str| -> Result<Option<i64>, Box<Response>> {
        match request.param(name) {
            None => Ok(None),
            Some(v) => v.parse().map(Some).map_err(|_| {
                Box::new(stripe_error(
                    400,
                    "invalid_request_error",
                    Some("parameter_invalid_integer"),
                    Some(name),
                    &format!("Invalid integer: {v}"),
                ))
            }),
        }
    };
    let (gt, gte, lt, lte) = match (
        bound("created[gt]"),
        bound("created[gte]"),
        bound("created[lt]"),
        bound("created[lte]"),
    ) {
        (Ok(a), Ok(b), Ok(c), Ok(d)) => (a, b, c, d),
        (Err(e), ..) | (_, Err(e), ..) | (_, _, Err(e), _) | (.., Err(e)) => return *e,
    };
    let types = request.params("types[]");
    let single = request.param("type");
    let type_matches = |t: &str| {
        (types.is_empty() || types.contains(&t))
            && single.is_none_or(|want| match want.strip_suffix('*') {
                Some(prefix) => t.starts_with(prefix),
                None => t == want,
            })
    };
    let mut matching: Vec<(usize, i64, &str, Value)> = s
        .events
        .iter()
        .enumerate()
        .filter_map(|(i, raw)| {
            let v: Value = serde_json::from_str(raw).ok()?;
            let created = v["created"].as_i64()?;
            let ok = gt.is_none_or(|b| created > b)
                && gte.is_none_or(|b| created >= b)
                && lt.is_none_or(|b| created < b)
                && lte.is_none_or(|b| created <= b)
                && type_matches(v["type"].as_str()?);
            ok.then_some((i, created, raw.as_str(), v))
        })
        .collect();
    // Newest first, as Stripe lists; among equal times, the last added first.
    matching.sort_by_key(|m| std::cmp::Reverse((m.1, m.0)));
    let ids: Vec<Value> = matching.iter().map(|m| m.3["id"].clone()).collect();
    let (range, has_more) = match page_range(request, &ids, "event") {
        Ok(page) => page,
        Err(response) => return *response,
    };
    // The list is written by hand so that each event's text goes out byte for byte.
    let data: Vec<&str> = matching[range].iter().map(|m| m.2).collect();
    json_response(
        200,
        format!(
            r#"{{"object":"list","data":[{}],"has_more":{has_more},"url":"/v1/events"}}"#,
            data.join(",")
        ),
    )
}

fn create_webhook_endpoint(s: &mut State, request: &Request<'_>) -> Response {
    let Some(url) = request.field("url") else {
        return stripe_error(
            400,
            "invalid_request_error",
            Some("parameter_missing"),
            Some("url"),
            "Missing required param: url.",
        );
    };
    let enabled_events = request.fields("enabled_events[]");
    if enabled_events.is_empty() {
        return stripe_error(
            400,
            "invalid_request_error",
            Some("parameter_missing"),
            Some("enabled_events"),
            "Missing required param: enabled_events.",
        );
    }
    s.endpoints_created += 1;
    let secret: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(32)
        .map(char::from)
        .collect();
    let mut endpoint = fixture("webhook_endpoint");
    endpoint["id"] = format!("we_fake{:06}", s.endpoints_created).into();
    endpoint["url"] = url.into();
    endpoint["enabled_events"] = json!(enabled_events);
    endpoint["api_version"] = request.field("api_version").into();
    endpoint["description"] = request.field("description").into();
    endpoint["livemode"] = true.into();
    endpoint["status"] = "enabled".into();
    endpoint["secret"] = format!("whsec_{secret}").into();
    s.webhook_endpoints.push(endpoint.clone());
    ok(&endpoint)
}

fn without_secret(endpoint: &Value) -> Value {
    let mut e = endpoint.clone();
    if let Some(map) = e.as_object_mut() {
        map.remove("secret");
    }
    e
}

/// One page of `items` (already in list order) after `starting_after`, `limit` long.
fn paginate(request: &Request<'_>, url: &str, items: &[Value], object: &str) -> Response {
    let ids: Vec<Value> = items.iter().map(|i| i["id"].clone()).collect();
    match page_range(request, &ids, object) {
        Ok((range, has_more)) => ok(&json!({
            "object": "list",
            "data": &items[range],
            "has_more": has_more,
            "url": url,
        })),
        Err(response) => *response,
    }
}

fn page_range(
    request: &Request<'_>,
    ids: &[Value],
    object: &str,
) -> Result<(std::ops::Range<usize>, bool), Box<Response>> {
    let limit = match request.param("limit") {
        None => 10,
        Some(l) => match l.parse::<usize>() {
            Ok(n) if (1..=100).contains(&n) => n,
            _ => {
                return Err(Box::new(stripe_error(
                    400,
                    "invalid_request_error",
                    Some("parameter_invalid_integer"),
                    Some("limit"),
                    "This value must be greater than or equal to 1 and less than or equal to 100.",
                )));
            }
        },
    };
    let start = match request.param("starting_after") {
        None => 0,
        Some(after) => match ids.iter().position(|id| id == after) {
            Some(i) => i + 1,
            None => {
                return Err(Box::new(stripe_error(
                    400,
                    "invalid_request_error",
                    Some("resource_missing"),
                    Some("starting_after"),
                    &format!("No such {object}: '{after}'"),
                )));
            }
        },
    };
    let end = (start + limit).min(ids.len());
    Ok((start..end, end < ids.len()))
}

fn pairs(encoded: &str) -> Vec<(String, String)> {
    if encoded.is_empty() {
        return Vec::new();
    }
    reqwest::Url::parse(&format!("http://fake.invalid/?{encoded}"))
        .map(|u| u.query_pairs().into_owned().collect())
        .unwrap_or_default()
}

fn string_field(object: &Value, field: &str) -> String {
    object[field]
        .as_str()
        .unwrap_or_else(|| panic!("object without a string {field}: {object}"))
        .to_owned()
}

fn ok(body: &Value) -> Response {
    json_response(200, body.to_string())
}

fn no_such(object: &str, id: &str) -> Response {
    stripe_error(
        404,
        "invalid_request_error",
        Some("resource_missing"),
        Some("id"),
        &format!("No such {object}: '{id}'"),
    )
}

fn stripe_error(
    status: u16,
    error_type: &str,
    code: Option<&str>,
    param: Option<&str>,
    message: &str,
) -> Response {
    let mut error = json!({ "type": error_type, "message": message });
    if let Some(code) = code {
        error["code"] = code.into();
        error["doc_url"] = format!("https://stripe.com/docs/error-codes/{code}").into();
    }
    if let Some(param) = param {
        error["param"] = param.into();
    }
    json_response(status, json!({ "error": error }).to_string())
}

fn json_response(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).expect("a valid status");
    let mut response = (status, body).into_response();
    response.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    response.headers_mut().insert(
        "request-id",
        axum::http::HeaderValue::from_static("req_fake"),
    );
    response
}
