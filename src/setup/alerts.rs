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

/// The alerts that should be open for this state, each with a detail for humans.
pub fn alerts_for(state: &BankState) -> Vec<(AlertKind, String)> {
    let mut open = Vec::new();
    let lacks = lacks_bank_account(state);
    if lacks {
        open.push((
            AlertKind::NoBankAccount,
            "no usable bank account is linked in Stripe (Settings > Bank accounts and scheduling): payouts are never credited".to_owned(),
        ));
    }
    if state.payouts_enabled == Some(false) {
        open.push((
            AlertKind::PayoutsDisabled,
            "Stripe has disabled payouts for this account".to_owned(),
        ));
    }
    if let Some(code) = &state.last_payout_failure_code {
        open.push((
            AlertKind::PayoutFailed,
            format!("the latest payout failed: {code}"),
        ));
    }
    if state.key_rejected {
        open.push((
            AlertKind::StripeKeyRejected,
            "Stripe rejects the profile's secret key (rolled or revoked): events that need it wait until the current keys are saved in the profile".to_owned(),
        ));
    }
    if let Some(balance) = state.available_balance.filter(|b| *b > 0)
        && (lacks || state.payouts_enabled == Some(false))
    {
        open.push((
            AlertKind::FundsUnsettled,
            format!("{balance} (minor units) available in Stripe cannot be paid out"),
        ));
    }
    open
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

    #[test]
    fn retries_back_off_to_a_cap() {
        assert_eq!(retry_after(0), Duration::from_secs(1));
        assert_eq!(retry_after(3), Duration::from_secs(8));
        assert_eq!(retry_after(99), Duration::from_secs(600));
    }
}
