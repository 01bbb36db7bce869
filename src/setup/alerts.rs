//! Alerts for merchants who cannot be paid: what should be open given a merchant's bank state,
//! opening and resolving them (each transition queued for delivery in the same transaction),
//! and the notifier that POSTs queued deliveries to `ACCREDITO_ALERT_WEBHOOK_URL`.

use std::time::Duration;

use serde_json::json;
use sqlx::{PgConnection, PgPool};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::db;
use crate::db::bank::BankState;
use crate::domain::AlertKind;
use crate::setup::readiness::Language;

/// Payout failure codes that mean the bank account is missing or unusable (Stripe's list);
/// others (`insufficient_funds`, `could_not_process`, ...) do not.
pub const BANK_ACCOUNT_FAILURES: [&str; 8] = [
    "no_account",
    "account_closed",
    "invalid_account_number",
    "bank_account_restricted",
    "account_frozen",
    "invalid_currency",
    "bank_ownership_changed",
    "incorrect_account_holder_name",
];

/// "Lacks a bank account": payouts off with an external account required, no external account
/// at all, or the last payout failed for a bank-account reason.
pub fn lacks_bank_account(state: &BankState) -> bool {
    let required = state.payouts_enabled == Some(false) && state.external_account_due;
    let none_listed = state.external_account_count == Some(0);
    let bank_failure = state
        .last_payout_failure_code
        .as_deref()
        .is_some_and(|code| BANK_ACCOUNT_FAILURES.contains(&code));
    required || none_listed || bank_failure
}

/// What an alert says about a merchant, as one value whatever the language: stored in
/// `alerts.detail` and sent to on-call staff in English ([`AlertText::text`] with
/// [`Language::En`], the text the API shows), shown to a merchant in its own language.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AlertText {
    NoBankAccount,
    PayoutsDisabled,
    /// The latest payout failed with Stripe's `failure_code`.
    PayoutFailed {
        code: String,
    },
    /// Money available in Stripe, in the currency's minor units (the bank state keeps no
    /// currency).
    FundsUnsettled {
        balance: i64,
    },
    StripeKeyRejected,
    /// Stripe disabled the webhook endpoint with this id, which points at `url`.
    WebhookEndpointDisabled {
        endpoint_id: String,
        url: String,
    },
}

const NO_BANK_ACCOUNT_EN: &str = "no usable bank account is linked in Stripe (Settings > Bank accounts and scheduling): payouts are never credited";
const PAYOUTS_DISABLED_EN: &str = "Stripe has disabled payouts for this account";
const PAYOUT_FAILED_EN: &str = "the latest payout failed: ";
const FUNDS_UNSETTLED_EN: &str = " (minor units) available in Stripe cannot be paid out";
const KEY_REJECTED_EN: &str = "Stripe rejects the profile's secret key (rolled or revoked): events that need it wait until the current keys are saved in the profile";
const ENDPOINT_DISABLED_EN: (&str, &str) = (
    "Stripe disabled webhook endpoint ",
    "): events are not being delivered",
);

impl AlertText {
    pub fn kind(&self) -> AlertKind {
        match self {
            AlertText::NoBankAccount => AlertKind::NoBankAccount,
            AlertText::PayoutsDisabled => AlertKind::PayoutsDisabled,
            AlertText::PayoutFailed { .. } => AlertKind::PayoutFailed,
            AlertText::FundsUnsettled { .. } => AlertKind::FundsUnsettled,
            AlertText::StripeKeyRejected => AlertKind::StripeKeyRejected,
            AlertText::WebhookEndpointDisabled { .. } => AlertKind::WebhookEndpointDisabled,
        }
    }

    /// The text in `language`; in English, exactly what is stored and sent.
    pub fn text(&self, language: Language) -> String {
        match (self, language) {
            (AlertText::NoBankAccount, Language::En) => NO_BANK_ACCOUNT_EN.to_owned(),
            (AlertText::NoBankAccount, Language::It) => "nessun conto bancario utilizzabile è collegato in Stripe (Impostazioni > Conti bancari e pianificazione): i bonifici non vengono mai accreditati".to_owned(),
            (AlertText::PayoutsDisabled, Language::En) => PAYOUTS_DISABLED_EN.to_owned(),
            (AlertText::PayoutsDisabled, Language::It) => {
                "Stripe ha disattivato i bonifici per questo account".to_owned()
            }
            (AlertText::PayoutFailed { code }, Language::En) => format!("{PAYOUT_FAILED_EN}{code}"),
            (AlertText::PayoutFailed { code }, Language::It) => {
                format!("l'ultimo bonifico non è riuscito: {code}")
            }
            (AlertText::FundsUnsettled { balance }, Language::En) => {
                format!("{balance}{FUNDS_UNSETTLED_EN}")
            }
            (AlertText::FundsUnsettled { balance }, Language::It) => format!(
                "{balance} (in unità minime della valuta) disponibili in Stripe non possono essere accreditati"
            ),
            (AlertText::StripeKeyRejected, Language::En) => KEY_REJECTED_EN.to_owned(),
            (AlertText::StripeKeyRejected, Language::It) => "Stripe rifiuta la chiave segreta del profilo (rigenerata o revocata): gli eventi che ne hanno bisogno restano in attesa finché le chiavi attuali non vengono salvate nel profilo".to_owned(),
            (AlertText::WebhookEndpointDisabled { endpoint_id, url }, Language::En) => format!(
                "{}{endpoint_id} ({url}{}",
                ENDPOINT_DISABLED_EN.0, ENDPOINT_DISABLED_EN.1
            ),
            (AlertText::WebhookEndpointDisabled { endpoint_id, url }, Language::It) => format!(
                "Stripe ha disattivato l'endpoint webhook {endpoint_id} ({url}): gli eventi non vengono consegnati"
            ),
        }
    }

    /// The alert a stored `kind` and English `detail` describe (as `/v1/alerts` lists them);
    /// `None` for a detail written otherwise, which is then shown as it is.
    pub fn parse(kind: &str, detail: &str) -> Option<AlertText> {
        let text = match kind {
            "no_bank_account" => AlertText::NoBankAccount,
            "payouts_disabled" => AlertText::PayoutsDisabled,
            "stripe_key_rejected" => AlertText::StripeKeyRejected,
            "payout_failed" => AlertText::PayoutFailed {
                code: detail.strip_prefix(PAYOUT_FAILED_EN)?.to_owned(),
            },
            "funds_unsettled" => AlertText::FundsUnsettled {
                balance: detail.strip_suffix(FUNDS_UNSETTLED_EN)?.parse().ok()?,
            },
            "webhook_endpoint_disabled" => {
                let (endpoint_id, url) = detail
                    .strip_prefix(ENDPOINT_DISABLED_EN.0)?
                    .strip_suffix(ENDPOINT_DISABLED_EN.1)?
                    .split_once(" (")?;
                AlertText::WebhookEndpointDisabled {
                    endpoint_id: endpoint_id.to_owned(),
                    url: url.to_owned(),
                }
            }
            _ => return None,
        };
        (text.text(Language::En) == detail).then_some(text)
    }

    /// A stored alert's detail in `language`: translated when it is one [`AlertText::parse`]
    /// reads, else the stored text as it is (shown, never hidden).
    pub fn localize(kind: &str, detail: &str, language: Language) -> String {
        AlertText::parse(kind, detail).map_or_else(|| detail.to_owned(), |t| t.text(language))
    }
}

/// The alerts that should be open for this state.
pub fn alert_texts_for(state: &BankState) -> Vec<AlertText> {
    let mut open = Vec::new();
    let lacks = lacks_bank_account(state);
    if lacks {
        open.push(AlertText::NoBankAccount);
    }
    if state.payouts_enabled == Some(false) {
        open.push(AlertText::PayoutsDisabled);
    }
    if let Some(code) = &state.last_payout_failure_code {
        open.push(AlertText::PayoutFailed { code: code.clone() });
    }
    if state.key_rejected {
        open.push(AlertText::StripeKeyRejected);
    }
    if let Some(balance) = state.available_balance.filter(|b| *b > 0)
        && (lacks || state.payouts_enabled == Some(false))
    {
        open.push(AlertText::FundsUnsettled { balance });
    }
    open
}

/// The alerts that should be open for this state, each with its detail as stored (English).
pub fn alerts_for(state: &BankState) -> Vec<(AlertKind, String)> {
    alert_texts_for(state)
        .into_iter()
        .map(|text| (text.kind(), text.text(Language::En)))
        .collect()
}

/// Opens and resolves the merchant's bank alerts to match `state`.
pub async fn sync_bank_alerts(
    conn: &mut PgConnection,
    state: &BankState,
) -> Result<(), sqlx::Error> {
    let wanted = alerts_for(state);
    db::bank::set_lacks_bank_account(conn, &state.merchant_id, lacks_bank_account(state)).await?;
    for kind in AlertKind::FROM_BANK_STATE {
        match wanted.iter().find(|(k, _)| *k == kind) {
            Some((_, detail)) => open(conn, &state.merchant_id, kind.as_str(), detail).await?,
            None => resolve(conn, &state.merchant_id, kind.as_str()).await?,
        }
    }
    Ok(())
}

pub async fn open(
    conn: &mut PgConnection,
    merchant_id: &str,
    kind: &str,
    detail: &str,
) -> Result<(), sqlx::Error> {
    if let Some(id) = db::alerts::open(conn, merchant_id, kind, detail).await? {
        tracing::warn!(merchant_id, kind, "alert opened");
        let payload = payload(id, merchant_id, kind, "opened", detail);
        db::alerts::enqueue_notification(conn, id, "opened", &payload).await?;
    }
    Ok(())
}

pub async fn resolve(
    conn: &mut PgConnection,
    merchant_id: &str,
    kind: &str,
) -> Result<(), sqlx::Error> {
    if let Some((id, detail)) = db::alerts::resolve(conn, merchant_id, kind).await? {
        tracing::info!(merchant_id, kind, "alert resolved");
        let payload = payload(id, merchant_id, kind, "resolved", &detail);
        db::alerts::enqueue_notification(conn, id, "resolved", &payload).await?;
    }
    Ok(())
}

/// Slack-compatible: an incoming webhook shows `text`; other receivers read the fields.
fn payload(
    alert_id: i64,
    merchant_id: &str,
    kind: &str,
    transition: &str,
    detail: &str,
) -> serde_json::Value {
    let text = match transition {
        "opened" => format!(":warning: accredito: merchant {merchant_id}: {kind}: {detail}"),
        _ => format!(":white_check_mark: accredito: merchant {merchant_id}: {kind} resolved"),
    };
    json!({
        "text": text,
        "alert_id": alert_id,
        "merchant_id": merchant_id,
        "kind": kind,
        "status": transition,
        "detail": detail,
        "at": OffsetDateTime::now_utc().format(&time::format_description::well_known::Rfc3339).unwrap_or_default(),
    })
}

/// Notifications claimed in one pass; each POST may take up to [`POST_TIMEOUT`].
const CLAIM_AT_ONCE: i64 = 20;
const POST_TIMEOUT: Duration = Duration::from_secs(10);
/// Longer than a pass can take (20 POSTs of at most 10 s each), so no other notifier sends a
/// claimed notification while this one still may.
const CLAIM_LEASE: Duration = Duration::from_secs(300);

/// Delivers queued alert notifications, retrying a receiver that is down with backoff. Runs
/// apart from event processing, so a slow or dead receiver never holds up a worker.
pub struct Notifier {
    pub pool: PgPool,
    /// A secret: chat webhook URLs carry their credential.
    pub url: secrecy::SecretString,
    pub client: reqwest::Client,
    pub poll_every: Duration,
    pub shutdown: CancellationToken,
}

impl Notifier {
    pub async fn run(self) {
        let mut tick = tokio::time::interval(self.poll_every);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                () = self.shutdown.cancelled() => return,
            }
            if let Err(error) = self.deliver_due().await {
                tracing::warn!(%error, "alert delivery pass failed");
            }
        }
    }

    /// Claim, send, record: each database step short and on its own, none open across a POST.
    async fn deliver_due(&self) -> Result<(), sqlx::Error> {
        let claimed = {
            let mut conn = self.pool.acquire().await?;
            db::alerts::claim_due_notifications(&mut conn, CLAIM_AT_ONCE, CLAIM_LEASE.as_secs_f64())
                .await?
        };
        for n in claimed {
            let sent = self
                .client
                .post(secrecy::ExposeSecret::expose_secret(&self.url))
                .json(&n.payload)
                .timeout(POST_TIMEOUT)
                .send()
                .await
                .map_err(|e| e.without_url().to_string())
                .and_then(|r| {
                    if r.status().is_success() {
                        Ok(())
                    } else {
                        Err(format!("receiver answered {}", r.status()))
                    }
                });
            let mut conn = self.pool.acquire().await?;
            match sent {
                Ok(()) => db::alerts::mark_delivered(&mut conn, n.id).await?,
                Err(error) => {
                    let retry_in = retry_after(n.attempts);
                    tracing::warn!(notification = n.id, %error, ?retry_in, "alert receiver unreachable; will retry");
                    db::alerts::mark_failed(
                        &mut conn,
                        n.id,
                        &error,
                        OffsetDateTime::now_utc() + retry_in,
                    )
                    .await?;
                }
            }
        }
        Ok(())
    }
}

/// 1 s, 2 s, 4 s ... capped at 10 minutes.
fn retry_after(attempts: i32) -> Duration {
    Duration::from_secs(1u64 << attempts.clamp(0, 10)).min(Duration::from_secs(600))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state() -> BankState {
        BankState {
            merchant_id: "m".into(),
            payouts_enabled: Some(true),
            external_account_count: Some(1),
            external_account_due: false,
            last_payout_failure_code: None,
            available_balance: Some(0),
            key_rejected: false,
        }
    }

    #[test]
    fn a_healthy_account_raises_nothing() {
        assert!(alerts_for(&state()).is_empty());
    }

    #[test]
    fn each_bank_account_signal_means_no_bank_account() {
        let mut due = state();
        due.payouts_enabled = Some(false);
        due.external_account_due = true;
        assert!(lacks_bank_account(&due));
        let mut none = state();
        none.external_account_count = Some(0);
        assert!(lacks_bank_account(&none));
        let mut closed = state();
        closed.last_payout_failure_code = Some("account_closed".into());
        assert!(lacks_bank_account(&closed));
    }

    #[test]
    fn a_rejected_key_is_its_own_alert() {
        let mut s = state();
        s.key_rejected = true;
        let kinds: Vec<_> = alerts_for(&s).into_iter().map(|(k, _)| k).collect();
        assert_eq!(kinds, vec![AlertKind::StripeKeyRejected]);
    }

    #[test]
    fn insufficient_funds_is_a_failed_payout_not_a_missing_account() {
        let mut s = state();
        s.last_payout_failure_code = Some("insufficient_funds".into());
        let kinds: Vec<_> = alerts_for(&s).into_iter().map(|(k, _)| k).collect();
        assert_eq!(kinds, vec![AlertKind::PayoutFailed]);
    }

    #[test]
    fn available_funds_that_cannot_be_paid_out_are_flagged() {
        let mut s = state();
        s.external_account_count = Some(0);
        s.available_balance = Some(5000);
        let kinds: Vec<_> = alerts_for(&s).into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            kinds,
            vec![AlertKind::NoBankAccount, AlertKind::FundsUnsettled]
        );
    }

    /// One of each text; the match makes a new variant fail to compile here until it has one.
    fn one_of_each() -> Vec<AlertText> {
        let texts = vec![
            AlertText::NoBankAccount,
            AlertText::PayoutsDisabled,
            AlertText::PayoutFailed {
                code: "no_account".into(),
            },
            AlertText::FundsUnsettled { balance: 5000 },
            AlertText::StripeKeyRejected,
            AlertText::WebhookEndpointDisabled {
                endpoint_id: "we_1".into(),
                url: "https://accredito.example/webhooks/stripe/prof_1".into(),
            },
        ];
        for text in &texts {
            match text {
                AlertText::NoBankAccount
                | AlertText::PayoutsDisabled
                | AlertText::PayoutFailed { .. }
                | AlertText::FundsUnsettled { .. }
                | AlertText::StripeKeyRejected
                | AlertText::WebhookEndpointDisabled { .. } => {}
            }
        }
        texts
    }

    #[test]
    fn every_alert_has_its_own_italian_text() {
        let texts = one_of_each();
        for kind in AlertKind::ALL {
            assert!(
                texts.iter().any(|t| t.kind() == kind),
                "{kind:?} has no text"
            );
        }
        for text in texts {
            let (en, it) = (text.text(Language::En), text.text(Language::It));
            assert!(!en.trim().is_empty() && !it.trim().is_empty(), "{text:?}");
            assert_ne!(en, it, "{text:?} has no Italian text");
        }
        assert_eq!(
            AlertText::PayoutFailed {
                code: "no_account".into()
            }
            .text(Language::It),
            "l'ultimo bonifico non è riuscito: no_account"
        );
    }

    #[test]
    fn a_stored_detail_reads_back_as_its_alert() {
        for text in one_of_each() {
            let kind = text.kind().as_str();
            let stored = text.text(Language::En);
            assert_eq!(
                AlertText::parse(kind, &stored),
                Some(text.clone()),
                "{stored}"
            );
            assert_eq!(
                AlertText::localize(kind, &stored, Language::It),
                text.text(Language::It)
            );
        }
        // As the account sweep writes it.
        let swept = "Stripe disabled webhook endpoint we_9 (http://127.0.0.1:8080/webhooks/stripe/prof_x): events are not being delivered";
        assert_eq!(
            AlertText::parse("webhook_endpoint_disabled", swept),
            Some(AlertText::WebhookEndpointDisabled {
                endpoint_id: "we_9".into(),
                url: "http://127.0.0.1:8080/webhooks/stripe/prof_x".into()
            })
        );
        // Anything else is shown as stored, in whatever language.
        assert_eq!(AlertText::parse("payout_failed", "something else"), None);
        assert_eq!(AlertText::parse("no_bank_account", "changed wording"), None);
        assert_eq!(
            AlertText::parse(
                "funds_unsettled",
                "x (minor units) available in Stripe cannot be paid out"
            ),
            None
        );
        assert_eq!(
            AlertText::localize("no_bank_account", "changed wording", Language::It),
            "changed wording"
        );
    }

    #[test]
    fn the_stored_details_are_the_english_texts() {
        let mut s = state();
        s.external_account_count = Some(0);
        s.payouts_enabled = Some(false);
        s.last_payout_failure_code = Some("no_account".into());
        s.key_rejected = true;
        s.available_balance = Some(870);
        let stored = alerts_for(&s);
        assert_eq!(stored.len(), 5);
        for (kind, detail) in stored {
            let text = AlertText::parse(kind.as_str(), &detail).expect("reads back");
            assert_eq!(text.kind(), kind);
        }
    }

    #[test]
    fn retries_back_off_to_a_cap() {
        assert_eq!(retry_after(0), Duration::from_secs(1));
        assert_eq!(retry_after(3), Duration::from_secs(8));
        assert_eq!(retry_after(99), Duration::from_secs(600));
    }
}
