//! Merchants (Stripe on or off, the selected profile), the audit trail of merchant and profile
//! changes, and the readiness view.

use sqlx::PgConnection;
use time::OffsetDateTime;

#[derive(Debug, Clone)]
pub struct MerchantRow {
    pub id: String,
    pub name: Option<String>,
    pub stripe_enabled: bool,
    pub selected_profile_id: Option<String>,
    pub created_at: OffsetDateTime,
    pub updated_at: OffsetDateTime,
}

/// Inserts a merchant; `None` when the id is taken.
pub async fn insert(
    conn: &mut PgConnection,
    id: &str,
    name: Option<&str>,
) -> Result<Option<MerchantRow>, sqlx::Error> {
    sqlx::query_as!(
        MerchantRow,
        "insert into merchants (id, name) values ($1, $2) on conflict (id) do nothing
         returning id, name, stripe_enabled, selected_profile_id, created_at, updated_at",
        id,
        name
    )
    .fetch_optional(conn)
    .await
}

/// Locks the merchant's row for the rest of the transaction. `for no key update`: it orders
/// changes to the merchant (enabling Stripe, deleting a profile) without blocking the foreign
/// key checks of rows that name the merchant.
pub async fn find_for_update(
    conn: &mut PgConnection,
    id: &str,
) -> Result<Option<MerchantRow>, sqlx::Error> {
    sqlx::query_as!(
        MerchantRow,
        "select id, name, stripe_enabled, selected_profile_id, created_at, updated_at
         from merchants where id = $1 for no key update",
        id
    )
    .fetch_optional(conn)
    .await
}

pub async fn find(conn: &mut PgConnection, id: &str) -> Result<Option<MerchantRow>, sqlx::Error> {
    sqlx::query_as!(
        MerchantRow,
        "select id, name, stripe_enabled, selected_profile_id, created_at, updated_at
         from merchants where id = $1",
        id
    )
    .fetch_optional(conn)
    .await
}

/// Up to `limit` merchants in id order, after `after` when given (keyset paging on the key:
/// a range of the primary key, so a late page costs what the first does).
pub async fn list(
    conn: &mut PgConnection,
    after: Option<&str>,
    limit: i64,
) -> Result<Vec<MerchantRow>, sqlx::Error> {
    sqlx::query_as!(
        MerchantRow,
        "select id, name, stripe_enabled, selected_profile_id, created_at, updated_at
         from merchants where id > coalesce($1, '') order by id limit $2",
        after,
        limit
    )
    .fetch_all(conn)
    .await
}

pub async fn set_name(
    conn: &mut PgConnection,
    id: &str,
    name: &str,
) -> Result<Option<MerchantRow>, sqlx::Error> {
    sqlx::query_as!(
        MerchantRow,
        "update merchants set name = $2, updated_at = now() where id = $1
         returning id, name, stripe_enabled, selected_profile_id, created_at, updated_at",
        id,
        name
    )
    .fetch_optional(conn)
    .await
}

/// Turns Stripe on or off. Enabling selects `profile_id`; disabling keeps the selection.
pub async fn set_stripe(
    conn: &mut PgConnection,
    id: &str,
    enabled: bool,
    profile_id: Option<&str>,
) -> Result<MerchantRow, sqlx::Error> {
    sqlx::query_as!(
        MerchantRow,
        "update merchants set stripe_enabled = $2,
            selected_profile_id = coalesce($3, selected_profile_id), updated_at = now()
         where id = $1
         returning id, name, stripe_enabled, selected_profile_id, created_at, updated_at",
        id,
        enabled,
        profile_id
    )
    .fetch_one(conn)
    .await
}

/// Forgets the merchant's selection of `profile_id` (Stripe being off); `false` when the
/// merchant had not selected it.
pub async fn unselect_profile(
    conn: &mut PgConnection,
    id: &str,
    profile_id: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query!(
        "update merchants set selected_profile_id = null, updated_at = now()
         where id = $1 and selected_profile_id = $2 and not stripe_enabled",
        id,
        profile_id
    )
    .execute(conn)
    .await
    .map(|r| r.rows_affected() == 1)
}

/// One change to a merchant or a profile. `detail` must never hold a secret value.
pub struct AuditEntry<'a> {
    pub actor: &'a str,
    pub merchant_id: Option<&'a str>,
    pub profile_id: Option<&'a str>,
    pub action: &'a str,
    pub detail: serde_json::Value,
}

pub async fn audit(conn: &mut PgConnection, entry: &AuditEntry<'_>) -> Result<(), sqlx::Error> {
    sqlx::query!(
        "insert into audit_log (actor, merchant_id, profile_id, action, detail)
         values ($1, $2, $3, $4, $5)",
        entry.actor,
        entry.merchant_id,
        entry.profile_id,
        entry.action,
        entry.detail
    )
    .execute(conn)
    .await
    .map(|_| ())
}

#[derive(Debug, Clone)]
pub struct AuditRow {
    pub id: i64,
    pub at: OffsetDateTime,
    pub actor: String,
    pub merchant_id: Option<String>,
    pub profile_id: Option<String>,
    pub action: String,
    pub detail: serde_json::Value,
}

/// The merchant's audit trail (its own changes and its profiles'), oldest first.
pub async fn audit_of(
    conn: &mut PgConnection,
    merchant_id: &str,
) -> Result<Vec<AuditRow>, sqlx::Error> {
    sqlx::query_as!(
        AuditRow,
        "select id, at, actor, merchant_id, profile_id, action, detail from audit_log
         where merchant_id = $1 order by id",
        merchant_id
    )
    .fetch_all(conn)
    .await
}

#[derive(Debug, Clone)]
pub struct ReadinessRow {
    pub position: i32,
    pub step: String,
    pub state: String,
    pub at: Option<OffsetDateTime>,
    pub todo_en: Option<String>,
    pub todo_it: Option<String>,
}

pub async fn readiness(
    conn: &mut PgConnection,
    merchant_id: &str,
) -> Result<Vec<ReadinessRow>, sqlx::Error> {
    sqlx::query_as!(
        ReadinessRow,
        r#"select position as "position!", step as "step!", state as "state!", at, todo_en, todo_it
           from back_office.merchant_readiness where merchant_id = $1 order by position"#,
        merchant_id
    )
    .fetch_all(conn)
    .await
}
