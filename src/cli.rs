//! The commands other than `serve`: each opens what it needs, does one thing, prints JSON.

use std::io::Read;
use std::sync::Arc;

use anyhow::Context;
use secrecy::SecretString;
use sqlx::PgPool;
use sqlx::migrate::MigrateDatabase;
use time::OffsetDateTime;

use crate::amqp::Topology;
use crate::config::{DlqCommand, ProfileCommand, Settings};
use crate::crypto::SecretBox;
use crate::db;
use crate::profiles::{NewProfile, Profiles};
use crate::worker::dead_letters;

pub async fn connect(settings: &Settings) -> anyhow::Result<PgPool> {
    let pool = db::connect_lazy(&settings.database_url, 2)?;
    db::ping(&pool)
        .await
        .context("cannot reach PostgreSQL (check DATABASE_URL)")?;
    Ok(pool)
}

/// Creates the database if it does not exist yet, then applies the migrations.
pub async fn migrate(settings: &Settings) -> anyhow::Result<()> {
    let url = &settings.database_url;
    if !sqlx::Postgres::database_exists(url)
        .await
        .context("cannot reach PostgreSQL (check DATABASE_URL)")?
    {
        sqlx::Postgres::create_database(url)
            .await
            .context("creating the database")?;
        tracing::info!("database created");
    }
    let pool = connect(settings).await?;
    db::migrate(&pool).await.context("migration failed")?;
    println!("{}", serde_json::json!({ "migrated": true }));
    Ok(())
}

pub async fn profile(settings: &Settings, command: ProfileCommand) -> anyhow::Result<()> {
    let secret_box = Arc::new(SecretBox::from_master_key(settings.master_key.as_ref())?);
    let pool = connect(settings).await?;
    let profiles = Profiles::new(
        pool,
        secret_box,
        settings.stripe_mode,
        settings.public_base_url(),
    );
    let output = match command {
        ProfileCommand::Create {
            merchant,
            name,
            webhook_secret,
        } => {
            let view = profiles
                .create(NewProfile {
                    merchant_id: merchant,
                    name,
                    webhook_secret: read_secret(webhook_secret)?,
                })
                .await?;
            serde_json::to_value(view)?
        }
        ProfileCommand::AddSecret {
            profile,
            webhook_secret,
            expires_at,
        } => serde_json::to_value(
            profiles
                .add_secret(&profile, &read_secret(webhook_secret)?, expires_at)
                .await?,
        )?,
        ProfileCommand::ExpireSecret {
            profile,
            secret_id,
            at,
        } => serde_json::to_value(
            profiles
                .expire_secret(
                    &profile,
                    secret_id,
                    at.unwrap_or_else(OffsetDateTime::now_utc),
                )
                .await?,
        )?,
        ProfileCommand::SetSecretKey {
            profile,
            secret_key,
        } => {
            profiles
                .set_secret_key(&profile, &read_secret(secret_key)?)
                .await?;
            serde_json::json!({ "profile_id": profile, "secret_key_set": true })
        }
        ProfileCommand::Show { profile } => serde_json::to_value(profiles.show(&profile).await?)?,
        ProfileCommand::List { merchant } => {
            serde_json::to_value(profiles.list(merchant.as_deref()).await?)?
        }
    };
    println!("{}", serde_json::to_string_pretty(&output)?);
    Ok(())
}

pub async fn dlq(settings: &Settings, command: DlqCommand) -> anyhow::Result<()> {
    let pool = connect(settings).await?;
    let output = match command {
        DlqCommand::List { event } => {
            serde_json::to_value(dead_letters::list(&pool, event.as_deref()).await?)?
        }
        DlqCommand::Redrive { event, all: _ } => {
            let topology = Topology::new(settings.amqp_prefix.clone());
            let redriven =
                dead_letters::redrive(&pool, &settings.amqp_url, &topology, event.as_deref())
                    .await?;
            serde_json::json!({ "redriven": redriven.len(), "events": redriven })
        }
    };
    println!("{}", serde_json::to_string_pretty(&output)?);
    Ok(())
}

/// `-` reads the secret from standard input, keeping it out of shell history and `ps`.
fn read_secret(arg: String) -> anyhow::Result<SecretString> {
    if arg != "-" {
        return Ok(SecretString::from(arg));
    }
    let mut value = String::new();
    std::io::stdin()
        .read_to_string(&mut value)
        .context("reading the secret from standard input")?;
    Ok(SecretString::from(value.trim().to_owned()))
}
