//! The back-office console: the books in a browser, in Italian and English, on the admin
//! listener under `/console` (`/` redirects there).
//!
//! Server-rendered HTML from [`maud`] templates compiled into the binary, one stylesheet and
//! one small script (`assets/`, also compiled in): no front-end build, no CDN, works offline.
//! The script only puts times in the viewer's own time zone; every page works without it.
//!
//! - [`session`]: sign-in by token into a server-side session, roles, CSRF.
//! - [`i18n`]: texts, money and times per locale.
//! - [`layout`]: the page shell, filters, paging and CSV links every list shares.
//! - [`pages`]: one module per page group; all data comes from [`crate::db`].
//!
//! Every response under `/console` carries a Content-Security-Policy without inline script or
//! style, `frame-ancestors 'none'`, `nosniff`, `Referrer-Policy: same-origin` and
//! `Cache-Control: no-store` ([`security_headers`]).

pub mod i18n;
pub mod layout;
pub mod pages;
pub mod session;

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};

use crate::amqp::Topology;
use crate::config::ConsoleSettings;
use crate::http::AppState;
use i18n::{Locale, t};

/// What the console needs besides the shared state: session limits, and where to redrive dead
/// letters.
#[derive(Debug, Clone)]
pub struct ConsoleConfig {
    /// A session ends after this long without a request.
    pub idle: time::Duration,
    /// A session ends this long after sign-in.
    pub max_age: time::Duration,
    /// `Secure` on the cookie whatever the request says.
    pub secure_cookie: bool,
    /// RabbitMQ, for redriving dead letters from the console.
    pub amqp_url: String,
    pub topology: Topology,
}

impl ConsoleConfig {
    pub fn new(settings: &ConsoleSettings, amqp_url: String, topology: Topology) -> Self {
        ConsoleConfig {
            idle: time::Duration::minutes(i64::from(settings.session_idle_minutes)),
            max_age: time::Duration::hours(i64::from(settings.session_max_hours)),
            secure_cookie: settings.secure_cookie,
            amqp_url,
            topology,
        }
    }

    #[cfg(test)]
    pub fn for_tests() -> Self {
        ConsoleConfig::new(
            &ConsoleSettings::default(),
            String::new(),
            Topology::new("test"),
        )
    }
}

const STYLESHEET: &str = include_str!("assets/console.css");
const SCRIPT: &str = include_str!("assets/console.js");

/// `/` and everything under `/console`.
pub fn routes() -> Router<AppState> {
    let console = Router::new()
        .route("/console", get(pages::overview::show))
        .route(
            "/console/sign-in",
            get(session::sign_in_form).post(session::sign_in),
        )
        .route("/console/sign-out", post(session::sign_out))
        .route("/console/locale", post(session::switch_locale))
        .route("/console/assets/console.css", get(stylesheet))
        .route("/console/assets/console.js", get(script))
        .merge(pages::orders::routes())
        .merge(pages::payouts::routes())
        .merge(pages::findings::routes())
        .merge(pages::merchants::routes())
        .merge(pages::dead_letters::routes())
        .merge(pages::audit::routes())
        .layer(axum::middleware::from_fn(security_headers));
    Router::new()
        .route("/", get(|| async { Redirect::to("/console") }))
        .merge(console)
}

async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        STYLESHEET,
    )
}

async fn script() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        SCRIPT,
    )
}

/// The policy every console response carries: scripts and styles only from files served
/// here (no inline ones, so injected markup cannot run), never framed, forms only to here.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'";

async fn security_headers(request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    // Pages show the books as of now, and may hold what a shared machine should not keep.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// A console failure, answered as an HTML page in the reader's language with the right
/// status. Database details are logged, never shown.
#[derive(Debug)]
pub enum ConsoleError {
    /// A filter or form value that cannot be used; the message says what to send instead.
    BadRequest(Locale, String),
    NotFound(Locale),
    /// A viewer asking for a change.
    Forbidden(Locale),
    /// A form without this session's CSRF token.
    Csrf(Locale),
    Unavailable(Locale),
    Internal(Locale),
}

impl ConsoleError {
    /// Logs a database failure once; the page says only whether retrying can help.
    pub fn from_database(operation: &'static str) -> impl FnOnce(sqlx::Error) -> ConsoleError {
        Self::from_database_in(Locale::En, operation)
    }

    pub fn from_database_in(
        locale: Locale,
        operation: &'static str,
    ) -> impl FnOnce(sqlx::Error) -> ConsoleError {
        move |error| {
            tracing::error!(%error, operation, "console database error");
            if crate::http::back_office::is_transient(&error) {
                ConsoleError::Unavailable(locale)
            } else {
                ConsoleError::Internal(locale)
            }
        }
    }

    fn parts(&self) -> (StatusCode, Locale, String) {
        match self {
            ConsoleError::BadRequest(l, message) => (StatusCode::BAD_REQUEST, *l, message.clone()),
            ConsoleError::NotFound(l) => {
                (StatusCode::NOT_FOUND, *l, t(*l, "error.not_found").into())
            }
            ConsoleError::Forbidden(l) => {
                (StatusCode::FORBIDDEN, *l, t(*l, "error.forbidden").into())
            }
            ConsoleError::Csrf(l) => (StatusCode::FORBIDDEN, *l, t(*l, "error.csrf").into()),
            ConsoleError::Unavailable(l) => (
                StatusCode::SERVICE_UNAVAILABLE,
                *l,
                t(*l, "error.unavailable").into(),
            ),
            ConsoleError::Internal(l) => (
                StatusCode::INTERNAL_SERVER_ERROR,
                *l,
                t(*l, "error.internal").into(),
            ),
        }
    }
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let (status, locale, message) = self.parts();
        (status, layout::error_page(locale, status, &message)).into_response()
    }
}

impl From<crate::http::back_office::InvalidRequest> for ConsoleError {
    fn from(e: crate::http::back_office::InvalidRequest) -> Self {
        ConsoleError::BadRequest(Locale::En, e.to_string())
    }
}
