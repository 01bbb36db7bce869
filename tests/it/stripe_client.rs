//! The Stripe API client against the fake Stripe: pagination, retries, error mapping, and
//! events kept byte for byte.

use std::time::{Duration, Instant};

use accredito::stripe::client::{RetryPolicy, STRIPE_API_VERSION, StripeClient, StripeError};
use accredito::stripe::resources::SourceKind;
use secrecy::SecretString;
use serde_json::Value;

use crate::fake_stripe::{self, AccountSpec, FakeStripe, Scripted, VALID_KEY};

const ATTEMPTS: u32 = 3;

/// Retries in milliseconds, so the tests take no time.
fn fast_retries() -> RetryPolicy {
    RetryPolicy {
        max_attempts: ATTEMPTS,
        min_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(20),
        max_retry_after: Duration::from_millis(50),
    }
}

fn client(base_url: &str) -> StripeClient {
    StripeClient::new(base_url)
        .expect("client")
        .with_retry_policy(fast_retries())
}

fn key() -> SecretString {
    SecretString::from(VALID_KEY)
}

/// Transactions `txn_000`.. in Stripe's order, cycling through charges, refunds and disputes.
fn transactions(payout_id: &str, count: usize) -> Vec<Value> {
    (0..count)
        .map(|i| {
            let id = format!("txn_{payout_id}_{i:03}");
            let (kind, amount, source) = match i % 3 {
                0 => (
                    "charge",
                    1_000,
                    fake_stripe::charge(&format!("ch_{i}"), Some(&format!("pi_{i}"))),
                ),
                1 => (
                    "refund",
                    -400,
                    fake_stripe::refund(
                        &format!("re_{i}"),
                        &format!("ch_{}", i - 1),
                        Some(&format!("pi_{}", i - 1)),
                    ),
                ),
                _ => (
                    "adjustment",
                    -600,
                    fake_stripe::dispute(&format!("dp_{i}"), &format!("ch_{}", i - 2), None),
                ),
            };
            fake_stripe::balance_transaction(&id, kind, amount, 30, "eur", source)
        })
        .collect()
}

#[tokio::test]
async fn all_balance_transactions_of_a_payout_come_back_once_in_order() {
    let expected = transactions("po_1", 250);
    let fake = FakeStripe::builder()
        .balance_transactions("po_other", transactions("po_other", 7))
        .balance_transactions("po_1", expected.clone())
        .start()
        .await;

    let listed = client(&fake.base_url())
        .list_balance_transactions_for_payout(&key(), "po_1")
        .await
        .expect("transactions");

    let ids: Vec<&str> = listed.iter().map(|t| t.id.as_str()).collect();
    let expected_ids: Vec<&str> = expected
        .iter()
        .map(|t| t["id"].as_str().expect("id"))
        .collect();
    assert_eq!(ids, expected_ids);
    assert_eq!(fake.requests("/v1/balance_transactions"), 3);

    // Each page asked for the payout, 100 rows and expanded sources; pages 2 and 3 continue
    // after the last id of the page before.
    let pages = fake.recorded();
    let cursors: Vec<Option<String>> = pages
        .iter()
        .map(|r| {
            assert!(r.query.contains(&("payout".into(), "po_1".into())));
            assert!(r.query.contains(&("limit".into(), "100".into())));
            assert!(r.query.contains(&("expand[]".into(), "data.source".into())));
            assert_eq!(r.stripe_version.as_deref(), Some(STRIPE_API_VERSION));
            r.query
                .iter()
                .find(|(k, _)| k == "starting_after")
                .map(|(_, v)| v.clone())
        })
        .collect();
    assert_eq!(
        cursors,
        vec![
            None,
            Some("txn_po_1_099".to_owned()),
            Some("txn_po_1_199".to_owned())
        ]
    );

    // Expanded sources lead back to the charge and PaymentIntent.
    let charge = listed[3].source_ref().expect("source");
    assert_eq!(
        (
            charge.kind,
            charge.charge_id.as_deref(),
            charge.payment_intent_id.as_deref()
        ),
        (SourceKind::Charge, Some("ch_3"), Some("pi_3"))
    );
    let refund = listed[4].source_ref().expect("source");
    assert_eq!(
        (
            refund.kind,
            refund.source_id.as_str(),
            refund.charge_id.as_deref(),
            refund.payment_intent_id.as_deref()
        ),
        (SourceKind::Refund, "re_4", Some("ch_3"), Some("pi_3"))
    );
    let dispute = listed[5].source_ref().expect("source");
    assert_eq!(
        (dispute.kind, dispute.charge_id.as_deref()),
        (SourceKind::Dispute, Some("ch_3"))
    );
    assert_eq!(
        (listed[0].amount, listed[0].fee, listed[0].net),
        (1_000, 30, 970)
    );
}

#[tokio::test]
async fn a_rate_limited_request_is_retried_within_the_retry_after_cap() {
    let fake = FakeStripe::start().await;
    // Retry-After says a second; the policy caps it at 50 ms.
    fake.fail_next("/v1/account", 1, Scripted::rate_limited().retry_after(1));

    let started = Instant::now();
    let account = client(&fake.base_url())
        .retrieve_account(&key())
        .await
        .expect("account");

    assert_eq!(account.id, "acct_fake");
    assert_eq!(fake.requests("/v1/account"), 2);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(50) && waited < Duration::from_millis(900),
        "waited {waited:?}"
    );
}

#[tokio::test]
async fn two_server_errors_then_success_is_a_success() {
    let fake = FakeStripe::builder()
        .payout(fake_stripe::payout("po_1", 12_345, "eur", "paid"))
        .start()
        .await;
    fake.fail_next("/v1/payouts/po_1", 2, Scripted::server_error());

    let payout = client(&fake.base_url())
        .retrieve_payout(&key(), "po_1")
        .await
        .expect("payout");

    assert_eq!((payout.id.as_str(), payout.amount), ("po_1", 12_345));
    assert_eq!(payout.status, "paid");
    assert_eq!(fake.requests("/v1/payouts/po_1"), 3);
}

#[tokio::test]
async fn server_errors_on_every_attempt_stop_after_the_last_attempt() {
    let fake = FakeStripe::start().await;
    fake.fail_next("/v1/account", 10, Scripted::server_error());

    let err = client(&fake.base_url())
        .retrieve_account(&key())
        .await
        .expect_err("fails");

    assert!(
        matches!(err, StripeError::Server { status: 500, .. }),
        "{err:?}"
    );
    assert!(err.is_transient());
    assert_eq!(fake.requests("/v1/account"), ATTEMPTS as usize);
}

#[tokio::test]
async fn stripe_should_retry_false_is_not_retried() {
    let fake = FakeStripe::start().await;
    fake.fail_next(
        "/v1/account",
        1,
        Scripted::rate_limited().should_retry(false),
    );
    let client = client(&fake.base_url());

    let err = client.retrieve_account(&key()).await.expect_err("fails");
    assert!(matches!(err, StripeError::RateLimited { .. }), "{err:?}");
    assert_eq!(fake.requests("/v1/account"), 1);

    fake.fail_next(
        "/v1/account",
        1,
        Scripted::server_error().should_retry(false),
    );
    let err = client.retrieve_account(&key()).await.expect_err("fails");
    assert!(matches!(err, StripeError::Server { .. }), "{err:?}");
    assert_eq!(fake.requests("/v1/account"), 2);
}

#[tokio::test]
async fn stripe_should_retry_true_retries_even_a_conflict() {
    let fake = FakeStripe::start().await;
    let client = client(&fake.base_url());

    // Without the header a 409 is final...
    fake.fail_next("/v1/account", 1, Scripted::lock_timeout());
    let err = client.retrieve_account(&key()).await.expect_err("fails");
    assert!(
        matches!(&err, StripeError::InvalidRequest { status: 409, code: Some(code), .. } if code == "lock_timeout"),
        "{err:?}"
    );
    assert_eq!(fake.requests("/v1/account"), 1);

    // ...and with `Stripe-Should-Retry: true` it is retried.
    fake.fail_next(
        "/v1/account",
        1,
        Scripted::lock_timeout().should_retry(true),
    );
    client.retrieve_account(&key()).await.expect("account");
    assert_eq!(fake.requests("/v1/account"), 3);
}

#[tokio::test]
async fn a_revoked_key_is_invalid_api_key_and_no_message_names_it() {
    let fake = FakeStripe::start().await;
    let client = client(&fake.base_url());
    let revoked = "sk_live_51RevokedKeyQx7Zq9876";

    let err = client
        .retrieve_account(&SecretString::from(revoked))
        .await
        .expect_err("refused");

    assert_eq!(err, StripeError::InvalidApiKey { code: None });
    assert!(!err.is_transient());
    for text in [err.to_string(), format!("{err:?}"), format!("{client:?}")] {
        assert!(!text.contains(revoked), "{text}");
        assert!(!text.contains("sk_live"), "{text}");
        assert!(!text.contains("9876"), "{text}");
    }
    // A 401 is final: not retried.
    assert_eq!(fake.requests("/v1/account"), 1);

    fake.expire_key(VALID_KEY);
    let err = client.retrieve_account(&key()).await.expect_err("expired");
    assert_eq!(
        err,
        StripeError::InvalidApiKey {
            code: Some("api_key_expired".into())
        }
    );
    assert!(!err.to_string().contains(VALID_KEY));
}

#[tokio::test]
async fn nothing_listening_is_a_network_error_after_every_attempt() {
    let err = client(&fake_stripe::unreachable_base_url().await)
        .retrieve_account(&key())
        .await
        .expect_err("unreachable");
    assert!(matches!(err, StripeError::Network(_)), "{err:?}");
    assert!(err.is_transient());
    assert!(!err.to_string().contains(VALID_KEY));

    // A server that hangs up without answering: each attempt is a fresh connection.
    let (base_url, accepted) = fake_stripe::connection_dropper().await;
    let err = client(&base_url)
        .retrieve_account(&key())
        .await
        .expect_err("dropped");
    assert!(matches!(err, StripeError::Network(_)), "{err:?}");
    assert_eq!(
        accepted.load(std::sync::atomic::Ordering::SeqCst),
        ATTEMPTS as usize
    );
}

#[tokio::test]
async fn listed_events_keep_their_json_byte_for_byte() {
    // Whitespace, key order, escapes and number spellings that re-encoding would change.
    let odd = |id: &str, created: i64| {
        format!(
            "{{ \"object\" : \"event\",\"id\":\"{id}\", \"type\":\"payout.paid\",\n  \"created\":{created},\"livemode\":true,\"api_version\":\"2025-08-27.basil\",\
             \"data\":{{\"object\":{{\"id\":\"po_{id}\",\"object\":\"payout\",\"amount\":1.50e3,\"description\":\"caf\\u00e9 \\\"Centrale\\\" \u{1F600}\"}}}},\"pending_webhooks\":0}}"
        )
    };
    let mut builder = FakeStripe::builder();
    let mut wanted = Vec::new();
    for i in 0..130 {
        let text = odd(&format!("evt_{i:03}"), 1_767_225_601 + i);
        builder = builder.event_raw(&text);
        wanted.push(text);
    }
    // Filtered out: too old, or of a type not asked for.
    builder = builder
        .event_raw(&odd("evt_old", 1_767_225_600))
        .event(fake_stripe::event(
            "evt_other",
            "charge.refunded",
            1_767_230_000,
            fake_stripe::refund("re_1", "ch_1", None),
        ));
    let fake = builder.start().await;

    let events = client(&fake.base_url())
        .list_events(&key(), 1_767_225_600, &["payout.paid", "payout.failed"])
        .await
        .expect("events");

    // Newest first, as Stripe lists them.
    wanted.reverse();
    let texts: Vec<&str> = events.iter().map(|e| e.raw_json()).collect();
    assert_eq!(texts, wanted);
    assert_eq!(events[0].id, "evt_129");
    assert_eq!(events[0].event_type, "payout.paid");
    assert_eq!(events[0].created, 1_767_225_730);
    assert!(events[0].livemode);
    assert_eq!(fake.requests("/v1/events"), 2);
    let first = &fake.recorded()[0];
    assert!(
        first
            .query
            .contains(&("created[gt]".into(), "1767225600".into()))
    );
    let types: Vec<&str> = first
        .query
        .iter()
        .filter(|(k, _)| k == "types[]")
        .map(|(_, v)| v.as_str())
        .collect();
    assert_eq!(types, ["payout.paid", "payout.failed"]);
}

#[tokio::test]
async fn the_account_shows_whether_payouts_can_settle() {
    let fake = FakeStripe::builder()
        .account(AccountSpec::without_bank_account("acct_1"))
        .start()
        .await;
    let client = client(&fake.base_url());

    let account = client.retrieve_account(&key()).await.expect("account");
    assert_eq!(account.id, "acct_1");
    assert!(!account.payouts_enabled);
    assert!(account.charges_enabled);
    assert!(account.external_account_due());
    assert!(account.external_accounts.data.is_empty());
    assert_eq!(account.display_name(), Some("Bar Centrale"));

    fake.set_account(AccountSpec::ready("acct_1"));
    let account = client.retrieve_account(&key()).await.expect("account");
    assert!(account.payouts_enabled);
    assert!(!account.external_account_due());
    let bank = &account.external_accounts.data[0];
    assert_eq!(
        (
            bank.object.as_deref(),
            bank.status.as_deref(),
            bank.currency.as_deref()
        ),
        (Some("bank_account"), Some("verified"), Some("eur"))
    );
    assert!(bank.default_for_currency);
}

#[tokio::test]
async fn webhook_endpoints_are_created_listed_and_deleted() {
    let fake = FakeStripe::start().await;
    let client = client(&fake.base_url());
    // The first POST fails: the retry must carry the same idempotency key.
    fake.fail_next("/v1/webhook_endpoints", 1, Scripted::server_error());

    let created = client
        .create_webhook_endpoint(
            &key(),
            "https://accredito.example/webhooks/stripe/prof_1",
            &["payout.paid", "account.updated"],
        )
        .await
        .expect("created");
    assert_eq!(created.status, "enabled");
    assert!(secrecy::ExposeSecret::expose_secret(&created.secret).starts_with("whsec_"));
    assert!(!format!("{created:?}").contains("whsec_"));

    let posts: Vec<_> = fake
        .recorded()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(posts.len(), 2);
    assert!(posts[0].idempotency_key.is_some());
    assert_eq!(posts[0].idempotency_key, posts[1].idempotency_key);
    let form = &posts[1].form;
    assert!(form.contains(&("api_version".into(), STRIPE_API_VERSION.into())));
    assert!(form.contains(&("enabled_events[]".into(), "payout.paid".into())));
    assert!(form.contains(&("enabled_events[]".into(), "account.updated".into())));

    let listed = client.list_webhook_endpoints(&key()).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, created.id);
    assert_eq!(
        listed[0].url,
        "https://accredito.example/webhooks/stripe/prof_1"
    );
    assert_eq!(listed[0].enabled_events, ["payout.paid", "account.updated"]);

    client
        .delete_webhook_endpoint(&key(), &created.id)
        .await
        .expect("deleted");
    assert!(fake.webhook_endpoints().is_empty());
    let err = client
        .delete_webhook_endpoint(&key(), &created.id)
        .await
        .expect_err("already gone");
    assert!(matches!(err, StripeError::NotFound { .. }), "{err:?}");
}
