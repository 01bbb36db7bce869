//! The one way accredito reaches the Stripe REST API.
//!
//! - The base URL comes from configuration (`STRIPE_API_BASE`); tests point it at a local fake.
//! - One `reqwest::Client` (a connection pool) is shared by every call; TLS is rustls on the
//!   `ring` provider with the platform's root certificates (no OpenSSL, no aws-lc C build).
//! - Every request pins [`STRIPE_API_VERSION`], so objects keep the shape parsed here whatever
//!   API version the merchant's account defaults to.
//! - The secret key is passed to each call and never stored, logged, or put in an error: each
//!   merchant has its own key, and a client built once serves them all. Stripe's own error
//!   messages quote a masked key ("Invalid API Key provided: sk_live_****1234"); those parts
//!   are dropped or redacted before they reach a [`StripeError`].
//! - Network errors, 429 and 5xx are retried with exponential backoff and jitter (`backon`),
//!   honouring `Stripe-Should-Retry` (`false`: never retry; `true`: retry even a 4xx such as a
//!   409 lock conflict) and `Retry-After` (capped). A `POST` carries one `Idempotency-Key` for
//!   all its attempts, so a retry after a lost response cannot create a second object.
//! - List calls follow `has_more`/`starting_after` to the last page.
//! - Unknown fields are ignored everywhere and most fields default, so Stripe adding fields
//!   never breaks parsing.

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use bytes::Bytes;
use rand::Rng;
use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderValue, RETRY_AFTER};
use reqwest::{Method, StatusCode, Url};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tracing::instrument;

/// `GET /v1/payouts/{id}` answers the object webhooks carry.
use super::objects::Payout;
use super::resources::{
    Account, BalanceTransaction, CreatedWebhookEndpoint, ListPage, ListedEvent, WebhookEndpoint,
};

/// The Stripe API version every request pins: the last Basil release (Basil versions after
/// 2025-03-31 are additive only), so the shapes below hold until we move to Clover on purpose.
pub const STRIPE_API_VERSION: &str = "2025-08-27.basil";

/// Stripe's largest page size.
const PAGE_LIMIT: &str = "100";

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How failed requests are retried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (at least 1).
    pub max_attempts: u32,
    /// The first retry's delay before jitter; each later one doubles, up to `max_delay`.
    pub min_delay: Duration,
    pub max_delay: Duration,
    /// The longest `Retry-After` honoured: a larger value waits this long instead, so a
    /// misbehaving header cannot park a worker for minutes.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            min_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(8),
            max_retry_after: Duration::from_secs(10),
        }
    }
}

/// Why a Stripe call failed. No variant ever holds the secret key: messages that come from
/// Stripe are redacted first (see [`redact_keys`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StripeError {
    /// 401: the key is wrong, revoked, rolled or expired. Stripe's message is not kept (it
    /// quotes part of the key); `code` is Stripe's, e.g. `api_key_expired`.
    #[error("Stripe rejected the secret key (401{})", code_suffix(.code))]
    InvalidApiKey { code: Option<String> },
    /// 403: a restricted key lacks a permission this call needs.
    #[error("the secret key lacks a permission this call needs (403): {message}")]
    PermissionDenied { message: String },
    /// 404: no such object (or no such URL).
    #[error("not found on Stripe (404{}): {message}", code_suffix(.code))]
    NotFound {
        code: Option<String>,
        message: String,
    },
    /// 429 on every attempt.
    #[error("rate limited by Stripe (429) on every attempt: {message}")]
    RateLimited { message: String },
    /// 5xx on every attempt (or a 5xx Stripe said not to retry).
    #[error("Stripe server error ({status}): {message}")]
    Server { status: u16, message: String },
    /// 400 or any other 4xx: the request itself is wrong; retrying will not help (unless
    /// Stripe said it would, and it still failed on the last attempt).
    #[error("Stripe refused the request ({status}{}): {message}", code_suffix(.code))]
    InvalidRequest {
        status: u16,
        code: Option<String>,
        message: String,
        param: Option<String>,
    },
    /// Connecting, sending or reading failed, on every attempt.
    #[error("could not reach Stripe: {0}")]
    Network(String),
    /// Stripe answered 2xx with a body that is not the expected object.
    #[error("unexpected response from Stripe: {0}")]
    Decode(String),
}

fn code_suffix(code: &Option<String>) -> String {
    code.as_deref()
        .map(|c| format!(", {c}"))
        .unwrap_or_default()
}

impl StripeError {
    /// Trouble that may clear by itself (worth retrying later, e.g. as a `Retryable` job
    /// error); anything else needs a person or a different request.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StripeError::RateLimited { .. } | StripeError::Server { .. } | StripeError::Network(_)
        )
    }
}

/// The client could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ClientBuildError {
    #[error("STRIPE_API_BASE {0:?} is not an http(s) base URL")]
    InvalidBaseUrl(String),
    /// Usually: no CA certificates on the host (install the `ca-certificates` package).
    #[error("could not build the HTTP client (are the system CA certificates installed?): {0}")]
    Http(String),
}

/// A client for the Stripe REST API. Cheap to clone (the connection pool is shared).
#[derive(Debug, Clone)]
pub struct StripeClient {
    /// Connection pool shared by every call and every clone.
    http: reqwest::Client,
    /// `https://api.stripe.com` in production; paths are appended to it.
    base: Url,
    retry: RetryPolicy,
}

impl StripeClient {
    /// A client for the API at `base_url` (e.g. `https://api.stripe.com`) with the default
    /// [`RetryPolicy`].
    pub fn new(base_url: &str) -> Result<Self, ClientBuildError> {
        let base = Url::parse(base_url)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && !u.cannot_be_a_base())
            .ok_or_else(|| ClientBuildError::InvalidBaseUrl(base_url.to_owned()))?;
        install_ring_provider();
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("accredito/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientBuildError::Http(error_chain(&e)))?;
        Ok(StripeClient {
            http,
            base,
            retry: RetryPolicy::default(),
        })
    }

    pub fn with_retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    pub fn base_url(&self) -> &Url {
        &self.base
    }

    /// `GET /v1/account`: the account the key belongs to.
    #[instrument(skip_all)]
    pub async fn retrieve_account(&self, key: &SecretString) -> Result<Account, StripeError> {
        self.get(key, &["v1", "account"], &[]).await
    }

    /// `GET /v1/payouts/{id}`.
    #[instrument(skip(self, key))]
    pub async fn retrieve_payout(
        &self,
        key: &SecretString,
        payout_id: &str,
    ) -> Result<Payout, StripeError> {
        self.get(key, &["v1", "payouts", payout_id], &[]).await
    }

    /// `GET /v1/balance_transactions?payout=...` with each transaction's source expanded,
    /// every page, in Stripe's order (newest first). For an automatic payout these are the
    /// charges, refunds, disputes and fees it paid out, plus the payout's own transaction.
    #[instrument(skip(self, key))]
    pub async fn list_balance_transactions_for_payout(
        &self,
        key: &SecretString,
        payout_id: &str,
    ) -> Result<Vec<BalanceTransaction>, StripeError> {
        let query = vec![
            ("payout".to_owned(), payout_id.to_owned()),
            ("expand[]".to_owned(), "data.source".to_owned()),
        ];
        self.list_all(
            key,
            &["v1", "balance_transactions"],
            query,
            |t: &BalanceTransaction| &t.id,
        )
        .await
    }

    /// `GET /v1/events?created[gt]=...&types[]=...`, every page, newest first (Stripe's
    /// order; Stripe keeps 30 days of events and takes at most 20 `types`). Each event keeps
    /// its JSON text exactly as Stripe sent it, ready for the inbox.
    #[instrument(skip(self, key))]
    pub async fn list_events(
        &self,
        key: &SecretString,
        created_gt: i64,
        types: &[&str],
    ) -> Result<Vec<ListedEvent>, StripeError> {
        let mut query = vec![("created[gt]".to_owned(), created_gt.to_string())];
        query.extend(
            types
                .iter()
                .map(|t| ("types[]".to_owned(), (*t).to_owned())),
        );
        self.list_all(key, &["v1", "events"], query, |e: &ListedEvent| &e.id)
            .await
    }

    /// `POST /v1/webhook_endpoints`. The endpoint is created with [`STRIPE_API_VERSION`], so
    /// its events have the same shape as the objects this client reads. The signing secret is
    /// returned only here, once.
    #[instrument(skip(self, key))]
    pub async fn create_webhook_endpoint(
        &self,
        key: &SecretString,
        url: &str,
        enabled_events: &[&str],
    ) -> Result<CreatedWebhookEndpoint, StripeError> {
        let mut form = vec![
            ("url".to_owned(), url.to_owned()),
            ("api_version".to_owned(), STRIPE_API_VERSION.to_owned()),
        ];
        form.extend(
            enabled_events
                .iter()
                .map(|e| ("enabled_events[]".to_owned(), (*e).to_owned())),
        );
        let body = self
            .execute(
                key,
                Method::POST,
                &["v1", "webhook_endpoints"],
                &[],
                Some(&form),
            )
            .await?;
        decode(&body)
    }

    /// `GET /v1/webhook_endpoints`, every page.
    #[instrument(skip_all)]
    pub async fn list_webhook_endpoints(
        &self,
        key: &SecretString,
    ) -> Result<Vec<WebhookEndpoint>, StripeError> {
        self.list_all(
            key,
            &["v1", "webhook_endpoints"],
            Vec::new(),
            |w: &WebhookEndpoint| &w.id,
        )
        .await
    }

    /// `DELETE /v1/webhook_endpoints/{id}`. An endpoint already gone is
    /// [`StripeError::NotFound`].
    #[instrument(skip(self, key))]
    pub async fn delete_webhook_endpoint(
        &self,
        key: &SecretString,
        endpoint_id: &str,
    ) -> Result<(), StripeError> {
        let body = self
            .execute(
                key,
                Method::DELETE,
                &["v1", "webhook_endpoints", endpoint_id],
                &[],
                None,
            )
            .await?;
        let deleted: Deleted = decode(&body)?;
        if deleted.deleted {
            Ok(())
        } else {
            Err(StripeError::Decode(format!(
                "webhook endpoint {} not reported deleted",
                deleted.id
            )))
        }
    }

    async fn get<T: DeserializeOwned>(
        &self,
        key: &SecretString,
        path: &[&str],
        query: &[(String, String)],
    ) -> Result<T, StripeError> {
        let body = self.execute(key, Method::GET, path, query, None).await?;
        decode(&body)
    }

    /// Every page of a list: `limit=100`, then `starting_after` = the last id while
    /// `has_more`.
    async fn list_all<T: DeserializeOwned>(
        &self,
        key: &SecretString,
        path: &[&str],
        mut query: Vec<(String, String)>,
        id_of: impl Fn(&T) -> &str,
    ) -> Result<Vec<T>, StripeError> {
        query.push(("limit".to_owned(), PAGE_LIMIT.to_owned()));
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut page_query = query.clone();
            if let Some(after) = &cursor {
                page_query.push(("starting_after".to_owned(), after.clone()));
            }
            let body = self
                .execute(key, Method::GET, path, &page_query, None)
                .await?;
            let page: ListPage<T> = decode(&body)?;
            let has_more = page.has_more;
            let next = page.data.last().map(|t| id_of(t).to_owned());
            all.extend(page.data);
            if !has_more {
                return Ok(all);
            }
            match next {
                // A cursor that does not move would loop forever.
                Some(next) if cursor.as_deref() != Some(next.as_str()) => cursor = Some(next),
                _ => {
                    return Err(StripeError::Decode(
                        "a list page says has_more but gives no new last id".into(),
                    ));
                }
            }
        }
    }

    /// One logical request with retries; returns the body of a 2xx answer.
    async fn execute(
        &self,
        key: &SecretString,
        method: Method,
        path: &[&str],
        query: &[(String, String)],
        form: Option<&[(String, String)]>,
    ) -> Result<Bytes, StripeError> {
        let url = self.url(path);
        let mut auth = HeaderValue::try_from(format!("Bearer {}", key.expose_secret()))
            // A key with a control character can never be valid; say so without quoting it.
            .map_err(|_| StripeError::InvalidApiKey {
                code: Some("malformed_key".into()),
            })?;
        auth.set_sensitive(true);
        // One key for every attempt: Stripe then applies a retried POST at most once.
        let idempotency_key = (method == Method::POST).then(new_idempotency_key);
        let policy = &self.retry;

        let attempt = || async {
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .header(AUTHORIZATION, auth.clone())
                .header("Stripe-Version", STRIPE_API_VERSION);
            if !query.is_empty() {
                request = request.query(query);
            }
            if let Some(form) = form {
                request = request.form(form);
            }
            if let Some(idempotency_key) = &idempotency_key {
                request = request.header("Idempotency-Key", idempotency_key.as_str());
            }
            let response = request.send().await.map_err(Failure::network)?;
            let status = response.status();
            let should_retry = stripe_should_retry(response.headers());
            let retry_after = retry_after(response.headers());
            let body = response.bytes().await.map_err(Failure::network)?;
            if status.is_success() {
                return Ok(body);
            }
            Err(Failure {
                error: map_error(status, &body, key.expose_secret()),
                retry: retry_decision(Some(status), should_retry),
                retry_after,
            })
        };

        attempt
            .retry(backoff(policy))
            .when(|f: &Failure| f.retry)
            .adjust(|f: &Failure, next| next_delay(next, f.retry_after, policy.max_retry_after))
            .notify(|f: &Failure, delay: Duration| {
                tracing::warn!(error = %f.error, ?delay, "Stripe request failed; retrying");
            })
            .await
            .map_err(|f| f.error)
    }

    fn url(&self, path: &[&str]) -> Url {
        let mut url = self.base.clone();
        // `new` refused cannot-be-a-base URLs, so this always succeeds; segments are
        // percent-encoded, so an id cannot change the path.
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().extend(path);
        }
        url
    }
}

/// Installs ring as the process's rustls crypto provider. Call it before building any
/// `reqwest::Client` (`StripeClient::new` does): reqwest is built with `rustls-no-provider`,
/// which keeps aws-lc (a C build) out but makes `Client::build` panic when no provider is
/// installed. Idempotent: an error means a provider is already installed, which is just as good.
pub fn install_ring_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn backoff(policy: &RetryPolicy) -> ExponentialBuilder {
    let retries = policy.max_attempts.max(1) - 1;
    ExponentialBuilder::new()
        .with_min_delay(policy.min_delay)
        .with_max_delay(policy.max_delay)
        .with_max_times(usize::try_from(retries).unwrap_or(usize::MAX))
        .with_jitter()
}

fn new_idempotency_key() -> String {
    let suffix: String = rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(32)
        .map(char::from)
        .collect();
    format!("accredito-{suffix}")
}

/// One failed attempt, and what to do about it.
struct Failure {
    error: StripeError,
    retry: bool,
    retry_after: Option<Duration>,
}

impl Failure {
    fn network(e: reqwest::Error) -> Failure {
        Failure {
            // A request that could not even be built fails the same way every time.
            retry: !e.is_builder(),
            error: StripeError::Network(error_chain(&e.without_url())),
            retry_after: None,
        }
    }
}

/// Whether an attempt is worth repeating: `Stripe-Should-Retry` decides when present;
/// otherwise network errors (`status` None), 429 and 5xx are retried and other 4xx are not.
pub fn retry_decision(status: Option<StatusCode>, stripe_should_retry: Option<bool>) -> bool {
    if let Some(decided) = stripe_should_retry {
        return decided;
    }
    match status {
        None => true,
        Some(s) => s == StatusCode::TOO_MANY_REQUESTS || s.is_server_error(),
    }
}

/// The wait before the next attempt: the backoff's (None: no attempts left), lengthened to
/// `Retry-After` when the server asks for more, but never beyond `cap`.
pub fn next_delay(
    backoff: Option<Duration>,
    retry_after: Option<Duration>,
    cap: Duration,
) -> Option<Duration> {
    let delay = backoff?;
    Some(match retry_after {
        Some(asked) => delay.max(asked.min(cap)),
        None => delay,
    })
}

fn stripe_should_retry(headers: &HeaderMap) -> Option<bool> {
    match headers.get("stripe-should-retry")?.to_str().ok()?.trim() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// `Retry-After` in seconds (Stripe's form; an HTTP date is ignored).
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let secs: f64 = headers
        .get(RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(86_400.0)))
}

/// Stripe's error body: `{"error": {"type", "code", "message", "param", ...}}`.
#[derive(Debug, Default, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    error: ErrorDetail,
}

#[derive(Debug, Default, Deserialize)]
struct ErrorDetail {
    #[serde(default, rename = "type")]
    error_type: Option<String>,
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    param: Option<String>,
}

/// Maps a non-2xx answer to a [`StripeError`]; `key` (and anything shaped like a key) is
/// redacted from Stripe's message.
pub fn map_error(status: StatusCode, body: &[u8], key: &str) -> StripeError {
    // A proxy's HTML 502 is not a Stripe error body: keep the status only.
    let detail = serde_json::from_slice::<ErrorBody>(body)
        .map(|b| b.error)
        .unwrap_or_default();
    let message = detail
        .message
        .as_deref()
        .map(|m| redact_keys(m, key))
        .or_else(|| detail.error_type.clone())
        .unwrap_or_else(|| format!("HTTP {}", status.as_u16()));
    let code = detail.code;
    match status.as_u16() {
        401 => StripeError::InvalidApiKey { code },
        403 => StripeError::PermissionDenied { message },
        404 => StripeError::NotFound { code, message },
        429 => StripeError::RateLimited { message },
        s if s >= 500 => StripeError::Server { status: s, message },
        s => StripeError::InvalidRequest {
            status: s,
            code,
            message,
            param: detail.param,
        },
    }
}

/// Removes `key` and every word that looks like a Stripe secret or restricted key (Stripe's
/// messages quote masked keys such as `sk_live_****1234`).
pub fn redact_keys(message: &str, key: &str) -> String {
    let message = if key.is_empty() {
        message.to_owned()
    } else {
        message.replace(key, "[redacted key]")
    };
    message
        .split(' ')
        .map(|word| {
            let lower = word.to_ascii_lowercase();
            if ["sk_live_", "sk_test_", "rk_live_", "rk_test_"]
                .iter()
                .any(|p| lower.contains(p))
            {
                "[redacted key]"
            } else {
                word
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, StripeError> {
    serde_json::from_slice(body).map_err(|e| StripeError::Decode(e.to_string()))
}

/// An error and its causes on one line ("error sending request: connection refused").
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[derive(Debug, Deserialize)]
struct Deleted {
    id: String,
    #[serde(default)]
    deleted: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stripe::resources::{ExternalAccount, SourceKind, SourceRef};

    const KEY: &str = "sk_live_51Secret0123456789abcdef";

    fn fixture(name: &str) -> serde_json::Value {
        let objects: serde_json::Value =
            serde_json::from_str(include_str!("../../tests/fixtures/stripe-objects.json"))
                .expect("fixture");
        objects[name].clone()
    }

    #[test]
    fn a_401_is_invalid_api_key_and_never_quotes_the_key() {
        let body = format!(
            r#"{{"error":{{"message":"Invalid API Key provided: {KEY}","type":"invalid_request_error"}}}}"#
        );
        let err = map_error(StatusCode::UNAUTHORIZED, body.as_bytes(), KEY);
        assert_eq!(err, StripeError::InvalidApiKey { code: None });
        assert!(!err.to_string().contains("sk_live"));
        assert!(!format!("{err:?}").contains("sk_live"));

        let expired = br#"{"error":{"code":"api_key_expired","message":"Expired API Key provided: sk_live_****cdef","type":"invalid_request_error"}}"#;
        let err = map_error(StatusCode::UNAUTHORIZED, expired, KEY);
        assert_eq!(
            err,
            StripeError::InvalidApiKey {
                code: Some("api_key_expired".into())
            }
        );
    }

    #[test]
    fn masked_and_full_keys_are_redacted_from_stripe_messages() {
        let body = br#"{"error":{"message":"The provided key 'rk_live_*****cdef' does not have the required permissions","type":"invalid_request_error"}}"#;
        let err = map_error(StatusCode::FORBIDDEN, body, KEY);
        let StripeError::PermissionDenied { message } = &err else {
            panic!("expected PermissionDenied, got {err:?}");
        };
        assert!(!message.contains("rk_live"), "{message}");
        assert!(message.contains("does not have the required permissions"));
        assert_eq!(
            redact_keys(&format!("key={KEY} was used"), KEY),
            "key=[redacted key] was used"
        );
    }

    #[test]
    fn statuses_map_to_their_variants() {
        let body = br#"{"error":{"code":"resource_missing","message":"No such payout: 'po_1'","param":"id","type":"invalid_request_error"}}"#;
        assert_eq!(
            map_error(StatusCode::NOT_FOUND, body, KEY),
            StripeError::NotFound {
                code: Some("resource_missing".into()),
                message: "No such payout: 'po_1'".into()
            }
        );
        assert!(matches!(
            map_error(StatusCode::TOO_MANY_REQUESTS, b"{}", KEY),
            StripeError::RateLimited { .. }
        ));
        assert_eq!(
            map_error(StatusCode::BAD_GATEWAY, b"<html>bad gateway</html>", KEY),
            StripeError::Server {
                status: 502,
                message: "HTTP 502".into()
            }
        );
        let bad = br#"{"error":{"code":"parameter_invalid_integer","message":"Invalid integer: x","param":"limit","type":"invalid_request_error"}}"#;
        assert_eq!(
            map_error(StatusCode::BAD_REQUEST, bad, KEY),
            StripeError::InvalidRequest {
                status: 400,
                code: Some("parameter_invalid_integer".into()),
                message: "Invalid integer: x".into(),
                param: Some("limit".into())
            }
        );
        assert!(matches!(
            map_error(StatusCode::CONFLICT, b"{}", KEY),
            StripeError::InvalidRequest { status: 409, .. }
        ));
    }

    #[test]
    fn network_429_and_5xx_are_retried_other_4xx_are_not() {
        assert!(retry_decision(None, None));
        assert!(retry_decision(Some(StatusCode::TOO_MANY_REQUESTS), None));
        assert!(retry_decision(
            Some(StatusCode::INTERNAL_SERVER_ERROR),
            None
        ));
        assert!(retry_decision(Some(StatusCode::SERVICE_UNAVAILABLE), None));
        assert!(!retry_decision(Some(StatusCode::BAD_REQUEST), None));
        assert!(!retry_decision(Some(StatusCode::UNAUTHORIZED), None));
        assert!(!retry_decision(Some(StatusCode::CONFLICT), None));
    }

    #[test]
    fn stripe_should_retry_overrides_the_status() {
        assert!(!retry_decision(
            Some(StatusCode::TOO_MANY_REQUESTS),
            Some(false)
        ));
        assert!(!retry_decision(
            Some(StatusCode::INTERNAL_SERVER_ERROR),
            Some(false)
        ));
        assert!(retry_decision(Some(StatusCode::CONFLICT), Some(true)));
        let mut headers = HeaderMap::new();
        headers.insert("Stripe-Should-Retry", HeaderValue::from_static("false"));
        assert_eq!(stripe_should_retry(&headers), Some(false));
        headers.insert("Stripe-Should-Retry", HeaderValue::from_static("maybe"));
        assert_eq!(stripe_should_retry(&headers), None);
    }

    #[test]
    fn retry_after_lengthens_the_backoff_up_to_the_cap() {
        let cap = Duration::from_secs(10);
        let ms = Duration::from_millis;
        assert_eq!(next_delay(Some(ms(500)), None, cap), Some(ms(500)));
        assert_eq!(
            next_delay(Some(ms(500)), Some(Duration::from_secs(2)), cap),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            next_delay(Some(ms(500)), Some(Duration::from_secs(600)), cap),
            Some(cap)
        );
        assert_eq!(next_delay(Some(ms(500)), Some(ms(100)), cap), Some(ms(500)));
        // No attempts left: Retry-After does not add one.
        assert_eq!(next_delay(None, Some(ms(100)), cap), None);

        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(3)));
        headers.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"),
        );
        assert_eq!(retry_after(&headers), None);
    }

    fn txn(source: serde_json::Value) -> BalanceTransaction {
        let mut t = fixture("balance_transaction");
        t["source"] = source;
        serde_json::from_value(t).expect("balance transaction")
    }

    #[test]
    fn expanded_sources_name_their_charge_and_payment_intent() {
        let mut charge = fixture("charge");
        charge["id"] = "ch_1".into();
        charge["payment_intent"] = "pi_1".into();
        assert_eq!(
            txn(charge).source_ref(),
            Some(SourceRef {
                source_id: "ch_1".into(),
                kind: SourceKind::Charge,
                charge_id: Some("ch_1".into()),
                payment_intent_id: Some("pi_1".into()),
            })
        );

        let mut refund = fixture("refund");
        refund["id"] = "re_1".into();
        refund["charge"] = "ch_1".into();
        refund["payment_intent"] = "pi_1".into();
        assert_eq!(
            txn(refund).source_ref(),
            Some(SourceRef {
                source_id: "re_1".into(),
                kind: SourceKind::Refund,
                charge_id: Some("ch_1".into()),
                payment_intent_id: Some("pi_1".into()),
            })
        );

        let mut dispute = fixture("dispute");
        dispute["id"] = "dp_1".into();
        dispute["charge"] = serde_json::json!({"id": "ch_2", "object": "charge"});
        dispute["payment_intent"] = serde_json::Value::Null;
        assert_eq!(
            txn(dispute).source_ref(),
            Some(SourceRef {
                source_id: "dp_1".into(),
                kind: SourceKind::Dispute,
                charge_id: Some("ch_2".into()),
                payment_intent_id: None,
            })
        );

        let mut payout = fixture("payout");
        payout["id"] = "po_1".into();
        let source = txn(payout).source_ref().expect("source");
        assert_eq!((source.kind, source.charge_id), (SourceKind::Payout, None));
    }

    #[test]
    fn unexpanded_sources_are_told_apart_by_prefix() {
        let r = txn("py_1".into()).source_ref().expect("source");
        assert_eq!(
            (r.kind, r.charge_id.as_deref()),
            (SourceKind::Charge, Some("py_1"))
        );
        let r = txn("re_1".into()).source_ref().expect("source");
        assert_eq!((r.kind, r.charge_id), (SourceKind::Refund, None));
        let r = txn("txr_1".into()).source_ref().expect("source");
        assert_eq!(r.kind, SourceKind::Other);
        assert_eq!(txn(serde_json::Value::Null).source_ref(), None);
    }

    #[test]
    fn stripe_api_fixtures_parse() {
        let account: Account = serde_json::from_value(fixture("account")).expect("account");
        assert!(!account.payouts_enabled);
        assert!(account.external_account_due());
        assert_eq!(account.display_name(), None);
        let bank: ExternalAccount =
            serde_json::from_value(fixture("external_account")).expect("external account");
        assert_eq!(bank.object.as_deref(), Some("bank_account"));
        let payout: Payout = serde_json::from_value(fixture("payout")).expect("payout");
        assert!(payout.automatic);
        let endpoint: WebhookEndpoint =
            serde_json::from_value(fixture("webhook_endpoint")).expect("webhook endpoint");
        assert_eq!(endpoint.enabled_events.len(), 2);
        let event = fixture("event").to_string();
        let listed: ListedEvent = serde_json::from_str(&event).expect("event");
        assert_eq!(listed.raw_json(), event);
        assert_eq!(listed.event_type, "plan.created");
    }

    #[test]
    fn ids_are_path_segments_not_paths() {
        let client = StripeClient::new("http://127.0.0.1:1/base/").expect("client");
        let url = client.url(&["v1", "payouts", "po_1/../../account?x"]);
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:1/base/v1/payouts/po_1%2F..%2F..%2Faccount%3Fx"
        );
        assert!(StripeClient::new("not a url").is_err());
        assert!(StripeClient::new("mailto:x@example.com").is_err());
    }
}
