//! The commands other than `serve`: each opens what it needs, does one thing, prints JSON.

use std::io::Read;
use std::sync::Arc;

use anyhow::Context;
use secrecy::SecretString;
use sqlx::PgPool;
use sqlx::migrate::MigrateDatabase;
use time::OffsetDateTime;

use crate::amqp::Topology;
use crate::config::{DlqCommand, MerchantCommand, ProfileCommand, Settings};
use crate::db;
use crate::setup::merchants::{Actor, MerchantView, Merchants};
use crate::setup::profiles::{NewProfile, ProfileView, Profiles};
use crate::setup::readiness::{self, Language};
use crate::stripe::client::StripeClient;
use crate::worker::dead_letters;

/// Rows a list command reads per query; it prints them all.
const LIST_PAGE: i64 = 500;

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

pub async fn merchant(settings: &Settings, command: MerchantCommand) -> anyhow::Result<()> {
    let secret_box = Arc::new(settings.secret_box()?);
    let pool = connect(settings).await?;
    let stripe = StripeClient::new(&settings.stripe_api_base)?;
    let merchants = Merchants::new(pool.clone(), secret_box, settings.stripe_mode, stripe);
    let actor = Actor::cli();
    let output = match command {
        MerchantCommand::Create { merchant, name } => {
            serde_json::to_value(merchants.create(&merchant, name.as_deref(), &actor).await?)?
        }
        MerchantCommand::Rename { merchant, name } => {
            serde_json::to_value(merchants.rename(&merchant, &name, &actor).await?)?
        }
        MerchantCommand::Show { merchant } => {
            serde_json::to_value(merchants.show(&merchant).await?)?
        }
        MerchantCommand::List => {
            let mut all = Vec::new();
            loop {
                let after = all.last().map(|m: &MerchantView| m.id.clone());
                let page = merchants.list(after.as_deref(), LIST_PAGE).await?;
                let last_page = page.len() < LIST_PAGE as usize;
                all.extend(page);
                if last_page {
                    break;
                }
            }
            serde_json::to_value(all)?
        }
        MerchantCommand::EnableStripe { merchant, profile } => {
            serde_json::to_value(merchants.enable_stripe(&merchant, &profile, &actor).await?)?
        }
        MerchantCommand::DisableStripe { merchant } => {
            serde_json::to_value(merchants.disable_stripe(&merchant, &actor).await?)?
        }
        MerchantCommand::Readiness { merchant, lang } => {
            let language = Language::parse(&lang).unwrap_or(Language::En);
            let readiness = readiness::of_merchant(&pool, &merchant, language)
                .await?
                .with_context(|| format!("no merchant {merchant}"))?;
            serde_json::to_value(readiness)?
        }
    };
    println!("{}", serde_json::to_string_pretty(&output)?);
    Ok(())
}

pub async fn profile(settings: &Settings, command: ProfileCommand) -> anyhow::Result<()> {
    let secret_box = Arc::new(settings.secret_box()?);
    let pool = connect(settings).await?;
    let profiles = Profiles::new(
        pool,
        secret_box,
        settings.stripe_mode,
        settings.public_base_url(),
        StripeClient::new(&settings.stripe_api_base)?,
    );
    let actor = Actor::cli();
    let output = match command {
        ProfileCommand::Create {
            merchant,
            name,
            webhook_secret,
        } => {
            let view = profiles
                .create(
                    NewProfile {
                        merchant_id: merchant,
                        name,
                        webhook_secret: read_secret(webhook_secret)?,
                    },
                    &actor,
                )
                .await?;
            serde_json::to_value(view)?
        }
        ProfileCommand::AddSecret {
            profile,
            webhook_secret,
            expires_at,
        } => serde_json::to_value(
            profiles
                .add_secret(&profile, &read_secret(webhook_secret)?, expires_at, &actor)
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
                    &actor,
                )
                .await?,
        )?,
        ProfileCommand::SetKeys {
            profile,
            publishable_key,
            secret_key,
        } => serde_json::to_value(
            profiles
                .set_keys(
                    &profile,
                    &publishable_key,
                    &read_secret(secret_key)?,
                    &actor,
                )
                .await?,
        )?,
        ProfileCommand::SetSecretKey {
            profile,
            secret_key,
        } => serde_json::to_value(
            profiles
                .set_secret_key(&profile, &read_secret(secret_key)?, &actor)
                .await?,
        )?,
        ProfileCommand::Delete { profile } => {
            serde_json::to_value(profiles.delete(&profile, &actor).await?)?
        }
        ProfileCommand::RegisterWebhookEndpoint { profile } => {
            serde_json::to_value(profiles.register_webhook_endpoint(&profile, &actor).await?)?
        }
        ProfileCommand::Show { profile } => serde_json::to_value(profiles.show(&profile).await?)?,
        ProfileCommand::List { merchant } => {
            let mut all = Vec::new();
            loop {
                let after = all
                    .last()
                    .map(|p: &ProfileView| (p.created_at, p.id.clone()));
                let after = after.as_ref().map(|(at, id)| (*at, id.as_str()));
                let page = profiles.list(merchant.as_deref(), after, LIST_PAGE).await?;
                let last_page = page.len() < LIST_PAGE as usize;
                all.extend(page);
                if last_page {
                    break;
                }
            }
            serde_json::to_value(all)?
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
            let topology = Topology::of(settings);
            let redriven =
                dead_letters::redrive(&pool, &settings.amqp_url, &topology, event.as_deref())
                    .await?;
            serde_json::json!({ "redriven": redriven.len(), "events": redriven })
        }
    };
    println!("{}", serde_json::to_string_pretty(&output)?);
    Ok(())
}

/// Seals every stored secret again under the current master key.
pub async fn rekey(settings: &Settings) -> anyhow::Result<()> {
    let secret_box = settings.secret_box()?;
    let pool = connect(settings).await?;
    let done = crate::setup::rekey::rekey(&pool, &secret_box, "cli").await?;
    println!("{}", serde_json::to_string(&done)?);
    Ok(())
}

/// One retention pass: months created ahead, months past the retention dropped.
pub async fn prune(settings: &Settings) -> anyhow::Result<()> {
    settings.validate().map_err(anyhow::Error::msg)?;
    let pool = connect(settings).await?;
    let pruned = crate::sweeps::retention::prune(
        &pool,
        settings.retention_days,
        time::OffsetDateTime::now_utc(),
    )
    .await
    .context("partition maintenance failed")?;
    println!(
        "{}",
        serde_json::json!({
            "retention_days": settings.retention_days,
            "partitions_created": pruned.created,
            "partitions_dropped": pruned.dropped,
        })
    );
    Ok(())
}

pub async fn replay(
    settings: &Settings,
    selection: &crate::relay::replay::Selection<'_>,
) -> anyhow::Result<()> {
    let pool = connect(settings).await?;
    let topology = Topology::of(settings);
    let published =
        crate::relay::replay::replay(&pool, &settings.amqp_url, &topology, selection).await?;
    // Asked for one event by id: none is a mistake (a typo, another profile's id), not a
    // quiet zero.
    if let (Some(event_id), 0) = (selection.event_id, published) {
        anyhow::bail!(
            "no stored event {event_id} to replay (mode-mismatched events are never replayed)"
        );
    }
    println!("{}", serde_json::json!({ "replayed": published }));
    Ok(())
}

pub async fn catch_up(
    settings: &Settings,
    profile_id: &str,
    since: OffsetDateTime,
) -> anyhow::Result<()> {
    let secret_box = Arc::new(settings.secret_box()?);
    let pool = connect(settings).await?;
    let context = crate::setup::stripe_keys::StripeKeys {
        stripe: crate::stripe::client::StripeClient::new(&settings.stripe_api_base)?,
        secret_box,
    };
    let report = crate::sweeps::catch_up::catch_up_profile(&pool, &context, profile_id, since)
        .await
        .map_err(|e| anyhow::anyhow!("catch-up failed: {e}"))?;
    println!("{}", serde_json::to_string(&report)?);
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
