//! `accredito rekey`: every stored secret (webhook signing secrets, Stripe keys) sealed again
//! under the current master key, after a rotation. Page by page, each value in its own short
//! update that only replaces it if unchanged, so it can be stopped and run again at any time;
//! values already under the current key are skipped. One audit entry records the counts.

use serde::Serialize;
use sqlx::PgPool;

use crate::crypto::SecretBox;
use crate::db;
use crate::db::merchants::AuditEntry;
use crate::db::profiles::{Sealed, SealedIn};
use crate::setup::profiles::secret_key_context;

const PAGE: i64 = 200;

#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Rekeyed {
    /// Sealed again under the current key.
    pub resealed: u64,
    /// Already under the current key.
    pub already_current: u64,
    /// Changed by someone else meanwhile (already sealed under the current key by them).
    pub changed_meanwhile: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum RekeyError {
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// A value no key opens: `ACCREDITO_PREVIOUS_MASTER_KEYS` lacks the key it was sealed under.
    #[error(
        "the {what} of profile {profile_id} opens under no key given: add the key it was sealed under to ACCREDITO_PREVIOUS_MASTER_KEYS; nothing after it was changed"
    )]
    Unopenable {
        what: &'static str,
        profile_id: String,
    },
}

pub async fn rekey(
    pool: &PgPool,
    secret_box: &SecretBox,
    actor: &str,
) -> Result<Rekeyed, RekeyError> {
    let mut done = Rekeyed::default();
    let mut after_id = 0;
    loop {
        let page = {
            let mut conn = pool.acquire().await?;
            db::profiles::sealed_secrets_after(&mut conn, after_id, PAGE).await?
        };
        let Some(SealedIn::WebhookSecret(last_id)) = page.last().map(|s| s.place) else {
            break;
        };
        after_id = last_id;
        for item in &page {
            reseal(
                pool,
                secret_box,
                item,
                &item.profile_id,
                "webhook secret",
                &mut done,
            )
            .await?;
        }
    }
    let mut after = String::new();
    loop {
        let page = {
            let mut conn = pool.acquire().await?;
            db::profiles::sealed_keys_after(&mut conn, &after, PAGE).await?
        };
        let Some(last) = page.last() else { break };
        after = last.profile_id.clone();
        for item in &page {
            let context = secret_key_context(&item.profile_id);
            reseal(
                pool,
                secret_box,
                item,
                &context,
                "Stripe secret key",
                &mut done,
            )
            .await?;
        }
    }
    let mut conn = pool.acquire().await?;
    db::merchants::audit(
        &mut conn,
        &AuditEntry {
            actor,
            merchant_id: None,
            profile_id: None,
            action: "secrets.rekeyed",
            detail: serde_json::to_value(&done).unwrap_or_default(),
        },
    )
    .await?;
    Ok(done)
}

async fn reseal(
    pool: &PgPool,
    secret_box: &SecretBox,
    item: &Sealed,
    context: &str,
    what: &'static str,
    done: &mut Rekeyed,
) -> Result<(), RekeyError> {
    if secret_box.is_current(&item.sealed) {
        done.already_current += 1;
        return Ok(());
    }
    let opened = secret_box
        .open(&item.sealed, context)
        .map_err(|_| RekeyError::Unopenable {
            what,
            profile_id: item.profile_id.clone(),
        })?;
    let sealed = secret_box.seal(secrecy::ExposeSecret::expose_secret(&opened), context);
    let mut conn = pool.acquire().await?;
    if db::profiles::reseal(&mut conn, item, &sealed).await? {
        done.resealed += 1;
    } else {
        done.changed_meanwhile += 1;
    }
    Ok(())
}
