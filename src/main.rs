use clap::Parser;
use tokio_util::sync::CancellationToken;

use accredito::app::{self, ServiceConfig};
use accredito::config::{Cli, Command};
use accredito::http::edge::EdgeLimits;
use accredito::worker::consumer::WorkerSettings;
use accredito::{cli, crypto, db, telemetry};
use std::time::Duration;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Cli {
        mut settings,
        command,
    } = Cli::parse();
    telemetry::init(settings.log_format);
    settings
        .read_secret_files(|name| std::env::var(name).ok())
        .map_err(anyhow::Error::msg)?;
    match command {
        Command::Migrate => cli::migrate(&settings).await,
        Command::Merchant(command) => cli::merchant(&settings, command).await,
        Command::Profile(command) => cli::profile(&settings, command).await,
        Command::Dlq(command) => cli::dlq(&settings, command).await,
        Command::Replay {
            event,
            profile,
            since,
            until,
            event_type,
        } => {
            let selection = accredito::relay::replay::Selection {
                event_id: event.as_deref(),
                profile_id: profile.as_deref(),
                since,
                until,
                event_type: event_type.as_deref(),
            };
            cli::replay(&settings, &selection).await
        }
        Command::CatchUp {
            profile,
            all: _,
            since,
        } => cli::catch_up(&settings, profile.as_deref(), since).await,
        Command::Prune => cli::prune(&settings).await,
        Command::Rekey => cli::rekey(&settings).await,
        Command::Demo(args) => accredito::demo::run(&settings, &args).await,
        Command::GenerateMasterKey => {
            println!("{}", crypto::SecretBox::generate_master_key());
            Ok(())
        }
        Command::Serve(args) => {
            settings.validate().map_err(anyhow::Error::msg)?;
            // A missing or malformed master key is said before any port is taken.
            settings.secret_box()?;
            let listeners = app::Listeners::bind(settings.listen, settings.admin_listen).await?;
            let pool = db::connect_lazy(&settings.database_url, settings.db_max_connections)?;
            let shutdown = CancellationToken::new();
            let mut config = ServiceConfig::new(settings, args.roles.clone());
            config.worker = WorkerSettings {
                prefetch: args.worker_prefetch,
                max_attempts: args.worker_max_attempts.max(1),
                retry_base: Duration::from_millis(args.worker_retry_base_ms),
            };
            config.account_sweep_every = Duration::from_secs(args.account_sweep_secs.max(1));
            config.catch_up_events_every = Duration::from_secs(args.catch_up_secs.max(1));
            config.edge = EdgeLimits {
                header_timeout: Duration::from_secs(args.header_timeout_secs.max(1)),
                body_timeout: Duration::from_secs(args.body_timeout_secs.max(1)),
                max_connections: args.max_connections.max(1),
                max_in_flight: args.max_in_flight.max(1),
            };
            let service = app::start(config, pool.clone(), listeners, shutdown.clone()).await?;
            app::termination_signal().await;
            shutdown.cancel();
            let stopped = service.wait().await;
            pool.close().await;
            stopped
        }
    }
}
