//! The commands other than `serve`: each opens what it needs, does one thing, and prints
//! the result: JSON, or for the read commands a table on a terminal ([`output`]).

pub mod output;

use std::io::Read;
use std::sync::Arc;

use anyhow::Context;
use secrecy::SecretString;
use sqlx::PgPool;
use sqlx::migrate::MigrateDatabase;
use time::OffsetDateTime;

use crate::amqp::Topology;
use crate::config::Output;
use crate::config::{DlqCommand, MerchantCommand, ProfileCommand, Settings};
use crate::db;
use crate::setup::merchants::{Actor, MerchantView, Merchants};
use crate::setup::profiles::{NewProfile, ProfileView, Profiles};
use crate::setup::readiness::{self, Language};
use crate::stripe::client::StripeClient;
use crate::worker::dead_letters;
use output::TerminalProgress;

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
    let printed = match command {
        MerchantCommand::Create { merchant, name } => {
            written(merchants.create(&merchant, name.as_deref(), &actor).await?)?
        }
        MerchantCommand::Rename { merchant, name } => {
            written(merchants.rename(&merchant, &name, &actor).await?)?
        }
        MerchantCommand::Show { merchant, output } => (
            serde_json::to_value(merchants.show(&merchant).await?)?,
            Shape::Record(output::chosen(output)),
        ),
        MerchantCommand::List { output } => {
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
            (
                serde_json::to_value(all)?,
                Shape::List(output::MERCHANT_COLUMNS, output::chosen(output)),
            )
        }
        MerchantCommand::EnableStripe { merchant, profile } => {
            written(merchants.enable_stripe(&merchant, &profile, &actor).await?)?
        }
        MerchantCommand::DisableStripe { merchant } => {
            written(merchants.disable_stripe(&merchant, &actor).await?)?
        }
        MerchantCommand::Readiness {
            merchant,
            lang,
            output,
        } => {
            let language = Language::parse(&lang).unwrap_or(Language::En);
            let readiness = readiness::of_merchant(&pool, &merchant, language)
                .await?
                .with_context(|| format!("no merchant {merchant}"))?;
            (
                serde_json::to_value(readiness)?,
                Shape::Record(output::chosen(output)),
            )
        }
    };
    print(printed);
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
    let printed = match command {
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
            written(view)?
        }
        ProfileCommand::AddSecret {
            profile,
            webhook_secret,
            expires_at,
        } => written(
            profiles
                .add_secret(&profile, &read_secret(webhook_secret)?, expires_at, &actor)
                .await?,
        )?,
        ProfileCommand::ExpireSecret {
            profile,
            secret_id,
            at,
        } => written(
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
        } => written(
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
        } => written(
            profiles
                .set_secret_key(&profile, &read_secret(secret_key)?, &actor)
                .await?,
        )?,
        ProfileCommand::Delete { profile } => written(profiles.delete(&profile, &actor).await?)?,
        ProfileCommand::RegisterWebhookEndpoint { profile } => {
            written(profiles.register_webhook_endpoint(&profile, &actor).await?)?
        }
        ProfileCommand::Show { profile, output } => (
            serde_json::to_value(profiles.show(&profile).await?)?,
            Shape::Record(output::chosen(output)),
        ),
        ProfileCommand::List { merchant, output } => {
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
            (
                serde_json::to_value(all)?,
                Shape::List(output::PROFILE_COLUMNS, output::chosen(output)),
            )
        }
    };
    print(printed);
    Ok(())
}

pub async fn dlq(settings: &Settings, command: DlqCommand) -> anyhow::Result<()> {
    let pool = connect(settings).await?;
    let printed = match command {
        DlqCommand::List { event, output } => (
            serde_json::to_value(dead_letters::list(&pool, event.as_deref()).await?)?,
            Shape::List(output::DEAD_LETTER_COLUMNS, output::chosen(output)),
        ),
        DlqCommand::Redrive { event, all: _ } => {
            let topology = Topology::of(settings);
            let progress = TerminalProgress::new("redriven");
            let redriven = dead_letters::redrive(
                &pool,
                &settings.amqp_url,
                &topology,
                event.as_deref(),
                &|done, total| progress.report(done, total),
            )
            .await;
            progress.finish();
            let redriven = redriven?;
            let summary = serde_json::json!({ "redriven": redriven.len(), "events": redriven });
            (summary, Shape::Record(Output::Json))
        }
    };
    print(printed);
    Ok(())
}

/// How a command's result is printed.
enum Shape {
    Record(Output),
    List(output::Columns, Output),
}

fn print((value, shape): (serde_json::Value, Shape)) {
    let text = match shape {
        Shape::Record(chosen) => output::record(&value, chosen),
        Shape::List(columns, chosen) => output::list(&value, columns, chosen),
    };
    print!("{text}");
}

/// What a command that changes something printed: the result, as JSON.
fn written(result: impl serde::Serialize) -> anyhow::Result<(serde_json::Value, Shape)> {
    Ok((serde_json::to_value(result)?, Shape::Record(Output::Json)))
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
    let progress = TerminalProgress::new("replayed");
    // Signed like the relay's, so workers need not read them back.
    let signer = settings.secret_box().ok();
    let published = crate::relay::replay::replay(
        &pool,
        &settings.amqp_url,
        &topology,
        selection,
        signer.as_ref(),
        &|done, total| progress.report(done, total),
    )
    .await;
    progress.finish();
    let published = published?;
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

/// Catches up one profile, or with `profile` None every profile with a key, each from `since`
/// or by default from an hour before its newest stored event. Prints one report per profile;
/// a profile that fails is reported and the others still run, and the command then fails.
pub async fn catch_up(
    settings: &Settings,
    profile: Option<&str>,
    since: Option<OffsetDateTime>,
) -> anyhow::Result<()> {
    use crate::sweeps::catch_up::{catch_up_profile, default_since};

    let secret_box = Arc::new(settings.secret_box()?);
    let pool = connect(settings).await?;
    let context = crate::setup::stripe_keys::StripeKeys {
        stripe: crate::stripe::client::StripeClient::new(&settings.stripe_api_base)?,
        secret_box,
    };
    let profiles = match profile {
        Some(one) => vec![one.to_owned()],
        None => {
            let mut conn = pool.acquire().await?;
            db::profiles::profiles_with_keys(&mut conn).await?
        }
    };
    let progress = TerminalProgress::new("profiles caught up");
    let mut reports = Vec::with_capacity(profiles.len());
    let mut failed = 0;
    for (done, profile_id) in profiles.iter().enumerate() {
        progress.report(done, profiles.len());
        let since = match since {
            Some(since) => since,
            None => default_since(&pool, profile_id).await?,
        };
        let report = match catch_up_profile(&pool, &context, profile_id, since).await {
            Ok(report) => serde_json::json!({
                "profile_id": profile_id,
                "since": since.format(&time::format_description::well_known::Rfc3339)?,
                "listed": report.listed,
                "stored": report.stored,
            }),
            Err(error) if profile.is_some() => {
                progress.finish();
                anyhow::bail!("catch-up failed: {error}");
            }
            Err(error) => {
                failed += 1;
                serde_json::json!({ "profile_id": profile_id, "error": error.to_string() })
            }
        };
        reports.push(report);
    }
    progress.report(profiles.len(), profiles.len());
    progress.finish();
    match profile {
        Some(_) => println!("{}", reports.first().unwrap_or(&serde_json::Value::Null)),
        None => println!("{}", serde_json::json!({ "profiles": reports })),
    }
    if failed > 0 {
        anyhow::bail!(
            "catch-up failed for {failed} of {} profiles",
            profiles.len()
        );
    }
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
