//! Signing in by token into a server-side session, and the session every page reads.
//!
//! The cookie holds 32 random bytes (base64url); PostgreSQL holds only their SHA-256, with the
//! token's name and role, the locale, the CSRF secret and the expiry, so every process behind
//! the proxy knows every session. Each request checks that the session is neither idle for
//! longer than the idle limit nor past its absolute end, and that a token of that name is still
//! configured with that role: removing a token from the configuration ends its sessions.
//!
//! Forms that change something carry a CSRF token, an HMAC of a fixed label under the
//! session's secret, compared in constant time. The sign-in form, before any session exists,
//! is protected the same way by a double-submit cookie.

use axum::Form;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Redirect, Response};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use rand::RngCore;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use time::OffsetDateTime;

use super::i18n::Locale;
use super::{ConsoleConfig, ConsoleError, pages};
use crate::crypto::admin_tokens::Role;
use crate::db;
use crate::http::AppState;
use crate::setup::merchants::Actor;

/// The session cookie. `__Host-` would forbid `Path=/console`; the path keeps the cookie away
/// from `/v1` and the probes.
pub const COOKIE: &str = "accredito_console";
/// The sign-in form's double-submit cookie.
const SIGN_IN_COOKIE: &str = "accredito_console_sign_in";
const CSRF_LABEL: &[u8] = b"accredito console form";
/// How stale a session's recorded activity may be before a request records it again (the same
/// minute as [`db::console::touch_session`]); far below any idle limit.
const TOUCH_EVERY: time::Duration = time::Duration::minutes(1);

/// The signed-in user of a console request.
#[derive(Debug, Clone)]
pub struct Session {
    id_hash: [u8; 32],
    pub token_name: String,
    pub role: Role,
    pub locale: Locale,
    csrf_secret: Vec<u8>,
}

impl Session {
    /// The token every form that changes something must send back.
    pub fn csrf_token(&self) -> String {
        csrf_token(&self.csrf_secret)
    }

    /// Whether `presented` is this session's CSRF token, compared in constant time.
    pub fn csrf_matches(&self, presented: &str) -> bool {
        let expected = self.csrf_token();
        expected.as_bytes().ct_eq(presented.as_bytes()).into()
    }

    /// Refuses a form without this session's CSRF token.
    pub fn check_csrf(&self, presented: Option<&str>) -> Result<(), ConsoleError> {
        match presented {
            Some(token) if self.csrf_matches(token) => Ok(()),
            _ => Err(ConsoleError::Csrf(self.locale)),
        }
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Who the audit trail names for this session's changes: the token's name, as for `/v1`.
    pub fn actor(&self) -> Actor {
        Actor::token(&self.token_name)
    }
}

fn csrf_token(secret: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts keys of any length");
    mac.update(CSRF_LABEL);
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

fn random_bytes() -> [u8; 32] {
    let mut bytes = [0_u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    bytes
}

fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

fn id_hash(cookie: &str) -> Option<[u8; 32]> {
    let bytes = URL_SAFE_NO_PAD.decode(cookie).ok()?;
    (bytes.len() == 32).then(|| Sha256::digest(&bytes).into())
}

/// Whether the request came over TLS: the proxy in front says so with `X-Forwarded-Proto`
/// (the admin listener itself speaks plain HTTP), or the setting says always.
fn secure(settings: &ConsoleConfig, headers: &HeaderMap) -> bool {
    settings.secure_cookie
        || headers
            .get("x-forwarded-proto")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.trim().eq_ignore_ascii_case("https"))
}

fn set_cookie(name: &str, value: &str, max_age: Option<i64>, secure: bool) -> HeaderValue {
    let mut cookie = format!("{name}={value}; Path=/console; HttpOnly; SameSite=Strict");
    if let Some(seconds) = max_age {
        cookie.push_str(&format!("; Max-Age={seconds}"));
    }
    if secure {
        cookie.push_str("; Secure");
    }
    HeaderValue::from_str(&cookie).expect("cookie names and base64url values are header-safe")
}

/// Why no session: a page sends the browser to sign in, saying so when one had ended.
#[derive(Debug)]
pub enum NoSession {
    Missing,
    Ended,
    Database(sqlx::Error),
}

impl IntoResponse for NoSession {
    fn into_response(self) -> Response {
        match self {
            NoSession::Missing => Redirect::to("/console/sign-in").into_response(),
            NoSession::Ended => Redirect::to("/console/sign-in?ended=1").into_response(),
            NoSession::Database(error) => {
                ConsoleError::from_database("read the session")(error).into_response()
            }
        }
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = NoSession;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let Some(hash) = cookie_value(&parts.headers, COOKIE).and_then(id_hash) else {
            return Err(NoSession::Missing);
        };
        let settings = &state.console;
        let mut conn = state.pool.acquire().await.map_err(NoSession::Database)?;
        let Some(row) = db::console::find_session(&mut conn, &hash)
            .await
            .map_err(NoSession::Database)?
        else {
            return Err(NoSession::Ended);
        };
        let now = OffsetDateTime::now_utc();
        let role = Role::parse(&row.role);
        let still_configured =
            role.is_some() && state.admin_tokens.role_of(&row.token_name) == role;
        if row.expires_at <= now || row.last_seen_at + settings.idle <= now || !still_configured {
            db::console::delete_session(&mut conn, &hash)
                .await
                .map_err(NoSession::Database)?;
            return Err(NoSession::Ended);
        }
        // Most page views are this one read: activity is written at most once a minute, and
        // the row just read says whether a minute has passed, so no statement is sent before.
        if now - row.last_seen_at >= TOUCH_EVERY {
            db::console::touch_session(&mut conn, &hash)
                .await
                .map_err(NoSession::Database)?;
        }
        Ok(Session {
            id_hash: hash,
            token_name: row.token_name,
            role: role.expect("checked above"),
            locale: Locale::parse(&row.locale).unwrap_or(Locale::En),
            csrf_secret: row.csrf_secret,
        })
    }
}

/// The locale of a request without a session: what `Accept-Language` prefers.
pub fn request_locale(headers: &HeaderMap) -> Locale {
    Locale::from_accept_language(
        headers
            .get(header::ACCEPT_LANGUAGE)
            .and_then(|v| v.to_str().ok()),
    )
}

#[derive(Debug, Deserialize)]
pub struct SignInQuery {
    ended: Option<String>,
    signed_out: Option<String>,
}

/// The sign-in form, with a fresh double-submit token in a cookie and a hidden field.
pub async fn sign_in_form(
    State(state): State<AppState>,
    headers: HeaderMap,
    axum::extract::Query(query): axum::extract::Query<SignInQuery>,
) -> Response {
    let locale = request_locale(&headers);
    let nonce = URL_SAFE_NO_PAD.encode(random_bytes());
    let notice = if query.ended.is_some() {
        Some("sign_in.expired")
    } else if query.signed_out.is_some() {
        Some("sign_in.signed_out")
    } else {
        None
    };
    let page = pages::sign_in::page(locale, &nonce, notice, None);
    let cookie = set_cookie(
        SIGN_IN_COOKIE,
        &nonce,
        Some(3600),
        secure(&state.console, &headers),
    );
    ([(header::SET_COOKIE, cookie)], page).into_response()
}

#[derive(Deserialize)]
pub struct SignInForm {
    token: String,
    csrf: String,
}

impl std::fmt::Debug for SignInForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignInForm { token: <redacted>, .. }")
    }
}

/// Checks the token and starts a session; a wrong token gets the form again, with 401.
#[tracing::instrument(skip_all)]
pub async fn sign_in(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(form): Form<SignInForm>,
) -> Result<Response, ConsoleError> {
    let locale = request_locale(&headers);
    let expected = cookie_value(&headers, SIGN_IN_COOKIE).unwrap_or_default();
    let form_matches: bool = expected.as_bytes().ct_eq(form.csrf.as_bytes()).into();
    if expected.is_empty() || !form_matches {
        return Err(ConsoleError::Csrf(locale));
    }
    let Some((name, role)) = state.admin_tokens.identify_with_role(form.token.trim()) else {
        state
            .metrics
            .admin_auth_failures
            .get_or_create(&crate::metrics::ReasonLabels {
                reason: "console_sign_in",
            })
            .inc();
        tracing::warn!("console sign-in refused: unknown token");
        let page = pages::sign_in::page(locale, expected, None, Some("sign_in.refused"));
        return Ok((axum::http::StatusCode::UNAUTHORIZED, page).into_response());
    };
    let id = random_bytes();
    let hash: [u8; 32] = Sha256::digest(id).into();
    let csrf_secret = random_bytes();
    let settings = &state.console;
    let write = async {
        let mut conn = state.pool.acquire().await?;
        db::console::delete_expired_sessions(&mut conn, OffsetDateTime::now_utc() - settings.idle)
            .await?;
        db::console::insert_session(
            &mut conn,
            &db::console::NewSession {
                id_hash: &hash,
                token_name: name,
                role: role.as_str(),
                locale: super::i18n::locale_code(locale),
                csrf_secret: &csrf_secret,
                expires_at: OffsetDateTime::now_utc() + settings.max_age,
            },
        )
        .await
    };
    write
        .await
        .map_err(ConsoleError::from_database("start a session"))?;
    tracing::info!(token = name, role = role.as_str(), "console sign-in");
    let secure = secure(settings, &headers);
    let max_age = settings.max_age.whole_seconds();
    let mut response = Redirect::to("/console").into_response();
    let cookies = response.headers_mut();
    cookies.append(
        header::SET_COOKIE,
        set_cookie(COOKIE, &URL_SAFE_NO_PAD.encode(id), Some(max_age), secure),
    );
    cookies.append(
        header::SET_COOKIE,
        set_cookie(SIGN_IN_COOKIE, "", Some(0), secure),
    );
    Ok(response)
}

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    csrf: Option<String>,
}

/// Ends the session here and in the database.
pub async fn sign_out(
    State(state): State<AppState>,
    session: Session,
    headers: HeaderMap,
    Form(form): Form<CsrfForm>,
) -> Result<Response, ConsoleError> {
    session.check_csrf(form.csrf.as_deref())?;
    let delete = async {
        let mut conn = state.pool.acquire().await?;
        db::console::delete_session(&mut conn, &session.id_hash).await
    };
    delete
        .await
        .map_err(ConsoleError::from_database("end a session"))?;
    let mut response = Redirect::to("/console/sign-in?signed_out=1").into_response();
    response.headers_mut().append(
        header::SET_COOKIE,
        set_cookie(COOKIE, "", Some(0), secure(&state.console, &headers)),
    );
    Ok(response)
}

#[derive(Debug, Deserialize)]
pub struct LocaleForm {
    csrf: Option<String>,
    locale: String,
    /// The console page to go back to.
    back: Option<String>,
}

/// Switches the session's language, remembered for the rest of it.
pub async fn switch_locale(
    State(state): State<AppState>,
    session: Session,
    Form(form): Form<LocaleForm>,
) -> Result<Response, ConsoleError> {
    session.check_csrf(form.csrf.as_deref())?;
    let locale = Locale::parse(&form.locale).ok_or_else(|| {
        ConsoleError::BadRequest(session.locale, "locale must be en or it".to_owned())
    })?;
    let update = async {
        let mut conn = state.pool.acquire().await?;
        db::console::set_session_locale(
            &mut conn,
            &session.id_hash,
            super::i18n::locale_code(locale),
        )
        .await
    };
    update
        .await
        .map_err(ConsoleError::from_database("switch the language"))?;
    // Back to a console page only: never an address the form could point elsewhere.
    let back = form
        .back
        .filter(|b| b.starts_with("/console") && !b.contains("//") && !b.contains('\\'))
        .unwrap_or_else(|| "/console".to_owned());
    Ok(Redirect::to(&back).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_http_only_strict_scoped_to_the_console_and_secure_over_tls() {
        let plain = set_cookie(COOKIE, "abc", Some(60), false);
        assert_eq!(
            plain.to_str().expect("ascii"),
            "accredito_console=abc; Path=/console; HttpOnly; SameSite=Strict; Max-Age=60"
        );
        let tls = set_cookie(COOKIE, "abc", None, true);
        assert!(tls.to_str().expect("ascii").ends_with("; Secure"));

        let settings = ConsoleConfig::for_tests();
        let mut headers = HeaderMap::new();
        assert!(!secure(&settings, &headers));
        headers.insert("x-forwarded-proto", HeaderValue::from_static("https"));
        assert!(secure(&settings, &headers));
    }

    #[test]
    fn a_session_cookie_is_read_among_others_and_must_be_32_bytes() {
        let mut headers = HeaderMap::new();
        let id = URL_SAFE_NO_PAD.encode([7_u8; 32]);
        headers.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("other=1; {COOKIE}={id}")).expect("ascii"),
        );
        let value = cookie_value(&headers, COOKIE).expect("found");
        assert_eq!(id_hash(value), Some(Sha256::digest([7_u8; 32]).into()));
        assert_eq!(id_hash("c2hvcnQ"), None);
        assert_eq!(id_hash("not base64!"), None);
    }

    #[test]
    fn csrf_tokens_differ_per_session_and_only_the_sessions_own_matches() {
        let session = |secret: [u8; 32]| Session {
            id_hash: [0; 32],
            token_name: "desk".into(),
            role: Role::Viewer,
            locale: Locale::En,
            csrf_secret: secret.to_vec(),
        };
        let a = session([1; 32]);
        let b = session([2; 32]);
        assert_ne!(a.csrf_token(), b.csrf_token());
        assert!(a.csrf_matches(&a.csrf_token()));
        assert!(!a.csrf_matches(&b.csrf_token()));
        assert!(!a.csrf_matches(""));
        assert!(a.check_csrf(None).is_err());
    }
}
