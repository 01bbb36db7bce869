use clap::Parser;
use tokio_util::sync::CancellationToken;

use accredito::app::{self, ServiceConfig};
use accredito::config::{Cli, Command};
use accredito::{cli, crypto, telemetry};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let Cli { settings, command } = Cli::parse();
    telemetry::init(settings.log_format);
    match command {
        Command::Migrate => cli::migrate(&settings).await,
        Command::Profile(command) => cli::profile(&settings, command).await,
        Command::GenerateMasterKey => {
            println!("{}", crypto::SecretBox::generate_master_key());
            Ok(())
        }
        Command::Serve(args) => {
            let listener = tokio::net::TcpListener::bind(settings.listen).await?;
            let shutdown = CancellationToken::new();
            let service = app::start(
                ServiceConfig::new(settings, args.roles),
                listener,
                shutdown.clone(),
            )
            .await?;
            app::termination_signal().await;
            shutdown.cancel();
            service.wait().await
        }
    }
}
