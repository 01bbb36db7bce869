//! Books for the console's tests, written straight into the tables (as the workers would have
//! left them): two merchants, orders in every interesting state, the Stripe events of one
//! order, a settled payout and a failed one, discrepancies, alerts, a dead letter, an audit
//! entry. Also a session client that signs in the way a browser does.

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use sqlx::PgPool;

pub const OTHER_MERCHANT: &str = "pizzeria-napoli";
pub const DEAD_EVENT: &str = "evt_1ConsoleDead";
/// A secret the merchant page must never show (the sealed key's stand-in, and a webhook
/// secret stored next to it).
pub const NEVER_SHOWN: &str = "sk_live_NeverShownOnAnyPage1234";

pub async fn seed(pool: &PgPool) {
    let statements = [
        "insert into merchants (id, name) values ('bar-roma', 'Bar Roma'), ('pizzeria-napoli', 'Pizzeria Napoli')",
        "insert into stripe_profiles (id, merchant_id, name, mode, publishable_key, secret_key_ciphertext, keys_checked_at)
         values ('prof_consoletest0000000000001', 'bar-roma', 'Bar Roma live', 'live',
                 'pk_live_51HabcdefgHIJK4242', convert_to('sk_live_NeverShownOnAnyPage1234', 'utf8'), now())",
        "update merchants set selected_profile_id = 'prof_consoletest0000000000001', stripe_enabled = true where id = 'bar-roma'",
        "insert into orders (order_id, merchant_id, amount, currency, placed_at, description, payment_intent_id) values
            ('ord-1001', 'bar-roma', 123456, 'eur', now() - interval '2 hours', 'Due cappuccini', 'pi_1ConsolePaid'),
            ('ord-1002', 'bar-roma', 2500, 'eur', now() - interval '1 hour', null, null),
            ('ord-1003', 'pizzeria-napoli', 5000, 'eur', now() - interval '3 days', null, 'pi_1ConsoleRefunded'),
            ('ord-1004', 'pizzeria-napoli', 1200, 'jpy', now() - interval '40 minutes', null, null)",
        "insert into order_states (order_id, status, amount_paid, amount_refunded, payment_intent_id, charge_id, last_event_at) values
            ('ord-1001', 'paid', 123456, 0, 'pi_1ConsolePaid', 'ch_1ConsolePaid', now() - interval '2 hours'),
            ('ord-1003', 'refunded', 5000, 5000, 'pi_1ConsoleRefunded', 'ch_1ConsoleRefunded', now() - interval '2 days')",
        // The charge fact the orders worker would have stored: it links the charge's events to
        // the order's PaymentIntent.
        "insert into stripe_charges (id, merchant_id, payment_intent_id, amount, amount_captured,
            currency, status, last_event_id, last_event_created) values
            ('ch_1ConsolePaid', 'bar-roma', 'pi_1ConsolePaid', 123456, 123456, 'eur', 'succeeded',
             'evt_1ConsoleCharge', now() - interval '119 minutes')",
        "insert into inbox_events (profile_id, merchant_id, event_id, event_type, livemode, event_created_at, raw_body, object_id) values
            ('prof_consoletest0000000000001', 'bar-roma', 'evt_1ConsolePiOk', 'payment_intent.succeeded', true, now() - interval '2 hours',
             convert_to('{\"id\":\"evt_1ConsolePiOk\",\"object\":\"event\",\"type\":\"payment_intent.succeeded\",\"data\":{\"object\":{\"id\":\"pi_1ConsolePaid\",\"object\":\"payment_intent\",\"client_secret\":\"pi_1ConsolePaid_secret_zzz\",\"amount\":123456}}}', 'utf8'), 'pi_1ConsolePaid'),
            ('prof_consoletest0000000000001', 'bar-roma', 'evt_1ConsoleCharge', 'charge.succeeded', true, now() - interval '119 minutes',
             convert_to('{\"id\":\"evt_1ConsoleCharge\",\"object\":\"event\",\"type\":\"charge.succeeded\",\"data\":{\"object\":{\"id\":\"ch_1ConsolePaid\",\"object\":\"charge\",\"payment_intent\":\"pi_1ConsolePaid\"}}}', 'utf8'), 'ch_1ConsolePaid'),
            ('prof_consoletest0000000000001', 'bar-roma', 'evt_1ConsoleOther', 'payment_intent.succeeded', true, now() - interval '1 hour',
             convert_to('{\"id\":\"evt_1ConsoleOther\",\"object\":\"event\",\"data\":{\"object\":{\"id\":\"pi_1SomeoneElse\"}}}', 'utf8'), 'pi_1SomeoneElse'),
            ('prof_consoletest0000000000001', 'bar-roma', 'evt_1ConsoleDead', 'payout.paid', true, now() - interval '30 minutes',
             convert_to('{\"id\":\"evt_1ConsoleDead\",\"object\":\"event\",\"type\":\"payout.paid\",\"data\":{\"object\":{\"id\":\"po_1Unknown\",\"object\":\"payout\"}}}', 'utf8'), 'po_1Unknown')",
        "insert into payouts (id, merchant_id, profile_id, amount, currency, status, arrival_date, automatic, failure_code, failure_message, itemized_at, last_event_id, last_event_created) values
            ('po_1ConsolePaid', 'bar-roma', 'prof_consoletest0000000000001', 117592, 'eur', 'paid', now() - interval '1 hour', true, null, null, now(), 'evt_x1', now()),
            ('po_1ConsoleFailed', 'bar-roma', 'prof_consoletest0000000000001', 9900, 'eur', 'failed', now() - interval '3 days', true, 'account_closed', 'The bank account has been closed.', null, 'evt_x2', now())",
        "insert into payout_lines (payout_id, balance_transaction_id, type, reporting_category, amount, fee, net, currency, charge_id, payment_intent_id, order_id) values
            ('po_1ConsolePaid', 'txn_1A', 'charge', 'charge', 123456, 3600, 119856, 'eur', 'ch_1ConsolePaid', 'pi_1ConsolePaid', 'ord-1001'),
            ('po_1ConsolePaid', 'txn_1B', 'refund', 'refund', -2264, 0, -2264, 'eur', null, null, null),
            ('po_1ConsolePaid', 'txn_1Payout', 'payout', 'payout', -117592, 0, -117592, 'eur', null, null, null)",
        "insert into order_settlements (order_id, payout_id, settled_at) values ('ord-1001', 'po_1ConsolePaid', now() - interval '1 hour')",
        "insert into discrepancies (kind, merchant_id, order_id, subject_id, detail) values
            ('amount_mismatch', 'bar-roma', 'ord-1001', 'ord-1001', 'paid 123456, expected 123400')",
        "insert into discrepancies (kind, merchant_id, order_id, subject_id, detail, resolved_at) values
            ('duplicate_payment', 'bar-roma', 'ord-1001', 'pi_1Dup', 'two payments', now())",
        "insert into alerts (merchant_id, kind, detail) values ('pizzeria-napoli', 'no_bank_account', 'no external account')",
        "insert into dead_letters (handler, profile_id, event_id, event_type, error, attempts, first_failed_at, last_failed_at) values
            ('payouts', 'prof_consoletest0000000000001', 'evt_1ConsoleDead', 'payout.paid', 'payout po_1Unknown not itemizable', 3, now(), now())",
        "insert into audit_log (actor, merchant_id, action, detail) values ('admin', 'bar-roma', 'merchant.stripe_enabled', '{\"profile_id\": \"prof_consoletest0000000000001\"}')",
    ];
    for statement in statements {
        sqlx::query(statement)
            .execute(pool)
            .await
            .unwrap_or_else(|e| panic!("{statement}: {e}"));
    }
}

/// Adds `n` paid orders of `merchant` (for paging and CSV).
pub async fn many_orders(pool: &PgPool, merchant: &str, n: i64) {
    sqlx::query(
        "insert into orders (order_id, merchant_id, amount, currency, placed_at)
         select 'bulk-' || g, $1, 1000 + g, 'eur', now() - interval '5 hours' + g * interval '1 second'
         from generate_series(1, $2) g",
    )
    .bind(merchant)
    .bind(n)
    .execute(pool)
    .await
    .expect("bulk orders");
}

/// A browser stand-in: keeps the session cookie, follows nothing, reads CSRF tokens.
pub struct ConsoleClient {
    pub base: String,
    pub client: reqwest::Client,
    pub cookie: Option<String>,
}

/// The value of the first `name="csrf"` hidden field of a page.
pub fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .expect("a form with a CSRF token");
    let rest = &html[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').expect("closing quote")].to_owned()
}

/// `name=value` of the Set-Cookie header for `name`.
pub fn set_cookie<'a>(response: &'a reqwest::Response, name: &str) -> Option<&'a str> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(&format!("{name}=")))
}

impl ConsoleClient {
    pub fn new(admin_addr: std::net::SocketAddr) -> Self {
        ConsoleClient {
            base: format!("http://{admin_addr}"),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .expect("client"),
            cookie: None,
        }
    }

    /// Signs in with `token`, sending `accept_language`; returns the sign-in response.
    pub async fn sign_in_with(&mut self, token: &str, accept_language: &str) -> reqwest::Response {
        let form = self
            .client
            .get(format!("{}/console/sign-in", self.base))
            .header("accept-language", accept_language)
            .send()
            .await
            .expect("sign-in form");
        let nonce_cookie = set_cookie(&form, "accredito_console_sign_in")
            .expect("double-submit cookie")
            .split(';')
            .next()
            .expect("name=value")
            .to_owned();
        let html = form.text().await.expect("body");
        let csrf = csrf_of(&html);
        let response = self
            .client
            .post(format!("{}/console/sign-in", self.base))
            .header(COOKIE, nonce_cookie)
            .header("accept-language", accept_language)
            .form(&[("token", token), ("csrf", csrf.as_str())])
            .send()
            .await
            .expect("sign in");
        if let Some(cookie) = set_cookie(&response, "accredito_console") {
            let pair = cookie.split(';').next().expect("name=value").to_owned();
            if pair != "accredito_console=" {
                self.cookie = Some(pair);
            }
        }
        response
    }

    pub async fn sign_in(&mut self, token: &str) -> reqwest::Response {
        let response = self.sign_in_with(token, "en").await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "signed in");
        response
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        let mut request = self.client.get(format!("{}{path}", self.base));
        if let Some(cookie) = &self.cookie {
            request = request.header(COOKIE, cookie);
        }
        request.send().await.expect("GET")
    }

    /// GET that must answer 200; the page's HTML.
    pub async fn page(&self, path: &str) -> String {
        let response = self.get(path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        response.text().await.expect("body")
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        let mut request = self.client.post(format!("{}{path}", self.base)).form(form);
        if let Some(cookie) = &self.cookie {
            request = request.header(COOKIE, cookie);
        }
        request.send().await.expect("POST")
    }
}

pub fn location(response: &reqwest::Response) -> &str {
    response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
}
