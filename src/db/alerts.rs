//! Alerts (at most one open per merchant and kind) and their delivery outbox.

use sqlx::PgConnection;
use time::OffsetDateTime;

/// Opens the alert unless one is already open; returns the new alert's id.
pub async fn open(
    conn: &mut PgConnection,
    merchant_id: &str,
    kind: &str,
    detail: &str,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar!(
        "insert into alerts (merchant_id, kind, detail) values ($1, $2, $3)
         on conflict (merchant_id, kind) where resolved_at is null do nothing
         returning id",
        merchant_id,
        kind,
        detail
    )
    .fetch_optional(conn)
    .await
}

/// The detail of the merchant's open alert of this kind, if there is one.
pub async fn open_detail(
    conn: &mut PgConnection,
    merchant_id: &str,
    kind: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar!(
        "select detail from alerts where merchant_id = $1 and kind = $2 and resolved_at is null",
        merchant_id,
        kind
    )
    .fetch_optional(conn)
    .await
}

/// Resolves the open alert of this kind, if any; returns its id and detail.
pub async fn resolve(
    conn: &mut PgConnection,
    merchant_id: &str,
    kind: &str,
) -> Result<Option<(i64, String)>, sqlx::Error> {
    let row = sqlx::query!(
        "update alerts set resolved_at = now() where merchant_id = $1 and kind = $2 and resolved_at is null
         returning id, detail",
        merchant_id,
        kind
    )
    .fetch_optional(conn)
    .await?;
    Ok(row.map(|r| (r.id, r.detail)))
}

pub async fn enqueue_notification(
    conn: &mut PgConnection,
    alert_id: i64,
    transition: &str,
    payload: &serde_json::Value,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "insert into alert_notifications (alert_id, transition, payload) values ($1, $2, $3)",
        alert_id,
        transition,
        payload
    )
    .execute(conn)
    .await
    .map(|_| ())
}

pub struct PendingNotification {
    pub id: i64,
    pub payload: serde_json::Value,
    pub attempts: i32,
}

/// Deliveries that are due, oldest first, locked so two notifiers never send the same one.
/// Claims up to `limit` notifications that are due, oldest first, by moving their next attempt
/// `lease_secs` ahead in one short statement: another notifier skips them, and if this one
/// dies before recording the outcome they are due again when the lease ends.
pub async fn claim_due_notifications(
    conn: &mut PgConnection,
    limit: i64,
    lease_secs: f64,
) -> Result<Vec<PendingNotification>, sqlx::Error> {
    let mut claimed = sqlx::query_as!(
        PendingNotification,
        "update alert_notifications set next_attempt_at = now() + make_interval(secs => $2)
         where id in (
             select id from alert_notifications
             where delivered_at is null and next_attempt_at <= now()
             order by id limit $1 for update skip locked)
         returning id, payload, attempts",
        limit,
        lease_secs
    )
    .fetch_all(conn)
    .await?;
    claimed.sort_by_key(|n| n.id);
    Ok(claimed)
}

pub async fn mark_delivered(conn: &mut PgConnection, id: i64) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update alert_notifications set delivered_at = now(), attempts = attempts + 1, last_error = null where id = $1",
        id
    )
    .execute(conn)
    .await
    .map(|_| ())
}

pub async fn mark_failed(
    conn: &mut PgConnection,
    id: i64,
    error: &str,
    retry_at: OffsetDateTime,
) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "update alert_notifications set attempts = attempts + 1, last_error = $2, next_attempt_at = $3 where id = $1",
        id,
        error,
        retry_at
    )
    .execute(conn)
    .await
    .map(|_| ())
}
