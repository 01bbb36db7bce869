//! Building and running the service: pool, RabbitMQ, inbox writers, relay, HTTP server, and
//! an orderly shutdown (stop accepting, finish requests, commit, publish, exit).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::amqp::{AmqpHealth, Topology};
use crate::config::{Role, Settings};
use crate::http::edge::EdgeLimits;
use crate::http::{self, AppState};
use crate::ingest::writer::InboxWriter;
use crate::metrics::Metrics;
use crate::relay::{Relay, RelayTarget};
use crate::setup::alerts::Notifier;
use crate::setup::merchants::Merchants;
use crate::setup::profiles::Profiles;
use crate::setup::profiles::directory::ProfileDirectory;
use crate::setup::stripe_keys::StripeKeys;
use crate::stripe::client::{RetryPolicy, StripeClient};
use crate::sweeps::AccountSweep;
use crate::sweeps::catch_up::CatchUp;
use crate::sweeps::retention::RetentionSweep;
use crate::worker::Handler;
use crate::worker::consumer::{Consumer, WorkerSettings};

/// How long background work may take to finish after the HTTP server has stopped.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

/// Everything `serve` needs; tests build one with their own topology and timings.
pub struct ServiceConfig {
    pub settings: Settings,
    pub roles: Vec<Role>,
    pub topology: Topology,
    /// How long a cached profile is trusted.
    pub profile_cache_ttl: Duration,
    /// How often the relay looks for rows the hot path missed.
    pub catch_up_every: Duration,
    pub inbox_writers: usize,
    pub worker: WorkerSettings,
    /// How often every profile's Stripe account is checked.
    pub account_sweep_every: Duration,
    /// How often the catch-up pass lists Stripe's events.
    pub catch_up_events_every: Duration,
    /// How often queued alert notifications are looked for.
    pub alert_poll_every: Duration,
    /// Retry policy of the Stripe client (tests shorten it).
    pub stripe_retry: Option<RetryPolicy>,
    /// How often workers look for events whose rejected Stripe key has been replaced.
    pub key_waits_every: Duration,
    /// Timeouts and caps of both HTTP listeners.
    pub edge: EdgeLimits,
    /// How often partitions are created ahead and old ones dropped.
    pub retention_every: Duration,
}

impl ServiceConfig {
    pub fn new(settings: Settings, roles: Vec<Role>) -> Self {
        let topology = Topology::of(&settings);
        ServiceConfig {
            settings,
            roles,
            topology,
            profile_cache_ttl: Duration::from_secs(10),
            catch_up_every: Duration::from_secs(2),
            inbox_writers: 2,
            worker: WorkerSettings::default(),
            account_sweep_every: Duration::from_secs(3600),
            alert_poll_every: Duration::from_secs(1),
            catch_up_events_every: Duration::from_secs(900),
            stripe_retry: None,
            key_waits_every: Duration::from_secs(5),
            edge: EdgeLimits::default(),
            retention_every: Duration::from_secs(24 * 3600),
        }
    }
}

/// The two listeners: webhooks for the internet, the rest for the operator's network.
pub struct Listeners {
    pub public: TcpListener,
    pub admin: TcpListener,
}

impl Listeners {
    pub async fn bind(public: SocketAddr, admin: SocketAddr) -> anyhow::Result<Self> {
        let bind = |addr: SocketAddr, setting: &'static str| async move {
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} ({setting})"))
        };
        Ok(Listeners {
            public: bind(public, "ACCREDITO_LISTEN").await?,
            admin: bind(admin, "ACCREDITO_ADMIN_LISTEN").await?,
        })
    }
}

/// A started service. Dropping it does not stop it; call `shutdown` and `wait`.
pub struct RunningService {
    /// The public listener's address (webhooks).
    pub addr: SocketAddr,
    /// The admin listener's address (`/v1`, `/metrics`).
    pub admin_addr: SocketAddr,
    shutdown: CancellationToken,
    handle: JoinHandle<anyhow::Result<()>>,
}

impl RunningService {
    pub fn shutdown(&self) {
        self.shutdown.cancel();
    }

    pub async fn wait(self) -> anyhow::Result<()> {
        self.handle.await.context("service task panicked")?
    }
}

/// Starts the service on `listeners` with `pool`; it runs until `shutdown` fires.
pub async fn start(
    config: ServiceConfig,
    pool: PgPool,
    listeners: Listeners,
    shutdown: CancellationToken,
) -> anyhow::Result<RunningService> {
    let settings = &config.settings;
    settings.validate().map_err(anyhow::Error::msg)?;
    // A missing CA or client certificate would otherwise show only as endless retries.
    for url in crate::amqp::connection::urls(&settings.amqp_url) {
        crate::amqp::tls::tls_config(url).map_err(anyhow::Error::msg)?;
    }
    tracing::info!(
        roles = ?config.roles,
        configuration = %settings.summary(),
        "accredito starting"
    );
    let secret_box = Arc::new(settings.secret_box()?);
    let ingest = config.roles.contains(&Role::Ingest);
    let relay_role = config.roles.contains(&Role::Relay);
    let admin_tokens = Arc::new(settings.admin_credentials().map_err(anyhow::Error::msg)?);
    if ingest && admin_tokens.is_empty() {
        tracing::warn!(
            "neither ACCREDITO_ADMIN_TOKEN nor ACCREDITO_ADMIN_TOKENS is set: the /v1 API refuses every request"
        );
    }

    let (metrics, registry) = Metrics::new();
    let tracker = TaskTracker::new();

    // One connection flag per component that talks to RabbitMQ; /readyz wants them all up.
    let mut amqp_health = Vec::new();
    let hot = match relay_role.then(AmqpHealth::default) {
        Some(health) => {
            amqp_health.push(health.clone());
            let target = RelayTarget {
                amqp_url: settings.amqp_url.clone(),
                topology: config.topology.clone(),
                signer: secret_box.clone(),
            };
            let (relay, hot) = Relay::new(
                pool.clone(),
                target,
                metrics.clone(),
                health.clone(),
                config.catch_up_every,
                shutdown.clone(),
            );
            tracker.spawn(relay.run());
            Some(hot)
        }
        None => None,
    };
    let mut stripe = StripeClient::new(&settings.stripe_api_base)?;
    if let Some(retry) = config.stripe_retry.clone() {
        stripe = stripe.with_retry_policy(retry);
    }
    let worker_context = Arc::new(StripeKeys {
        stripe: stripe.clone(),
        secret_box: secret_box.clone(),
    });
    if config.roles.contains(&Role::Sweeps) {
        tracker.spawn(
            AccountSweep {
                pool: pool.clone(),
                context: worker_context.clone(),
                public_base_url: settings.public_base_url(),
                every: config.account_sweep_every,
                shutdown: shutdown.clone(),
            }
            .run(),
        );
        tracker.spawn(
            RetentionSweep {
                pool: pool.clone(),
                retention_days: settings.retention_days,
                every: config.retention_every,
                shutdown: shutdown.clone(),
            }
            .run(),
        );
        tracker.spawn(
            CatchUp {
                pool: pool.clone(),
                context: worker_context.clone(),
                every: config.catch_up_events_every,
                shutdown: shutdown.clone(),
            }
            .run(),
        );
        match &settings.alert_webhook_url {
            Some(url) => {
                tracker.spawn(
                    Notifier {
                        pool: pool.clone(),
                        url: url.clone(),
                        client: reqwest::Client::new(),
                        poll_every: config.alert_poll_every,
                        shutdown: shutdown.clone(),
                    }
                    .run(),
                );
            }
            None => tracing::warn!(
                "ACCREDITO_ALERT_WEBHOOK_URL is not set: alerts are recorded but not sent"
            ),
        }
    }
    if config.roles.contains(&Role::Workers) {
        tracker.spawn(crate::worker::key_waits::run(
            pool.clone(),
            settings.amqp_url.clone(),
            config.topology.clone(),
            config.key_waits_every,
            shutdown.clone(),
        ));
        for handler in Handler::ALL {
            let health = AmqpHealth::default();
            amqp_health.push(health.clone());
            let consumer = Consumer {
                worker: worker_context.clone(),
                health,
                pool: pool.clone(),
                amqp_url: settings.amqp_url.clone(),
                topology: config.topology.clone(),
                handler,
                settings: config.worker.clone(),
                metrics: metrics.clone(),
                shutdown: shutdown.clone(),
            };
            tracker.spawn(consumer.run());
        }
    }
    // The writers hold the hot queue; once they stop, the relay knows nothing more is coming.
    let inbox = InboxWriter::spawn(
        pool.clone(),
        hot,
        metrics.clone(),
        config.inbox_writers,
        &tracker,
    );

    let profiles = Profiles::new(
        pool.clone(),
        secret_box.clone(),
        settings.stripe_mode,
        settings.public_base_url(),
        stripe.clone(),
    );
    let merchants = Merchants::new(
        pool.clone(),
        secret_box.clone(),
        settings.stripe_mode,
        stripe,
    );
    let directory = Arc::new(ProfileDirectory::new(
        pool.clone(),
        secret_box,
        config.profile_cache_ttl,
    ));
    if ingest {
        tracker.spawn(directory.clone().follow_changes(shutdown.clone()));
    }
    let state = AppState {
        pool: pool.clone(),
        inbox,
        directory,
        profiles,
        merchants,
        admin_tokens,
        signature_tolerance: settings.signature_tolerance(),
        body_timeout: config.edge.body_timeout,
        connect_secret: settings.connect_webhook_secret.clone().map(Arc::new),
        metrics,
        registry: Arc::new(registry),
        amqp_health,
        console: Arc::new(crate::console::ConsoleConfig::new(
            &settings.console,
            settings.amqp_url.clone(),
            config.topology.clone(),
        )),
    };
    let public = http::public_router(state.clone(), ingest, &config.edge);
    let admin = http::admin_router(state, ingest, &config.edge);
    let addr = listeners.public.local_addr()?;
    let admin_addr = listeners.admin.local_addr()?;
    tracing::info!(%addr, %admin_addr, roles = ?config.roles, "accredito listening");

    let edge = config.edge.clone();
    let server_shutdown = shutdown.clone();
    let handle = tokio::spawn(async move {
        tokio::join!(
            http::edge::serve(
                "public",
                listeners.public,
                public,
                edge.clone(),
                server_shutdown.clone()
            ),
            http::edge::serve("admin", listeners.admin, admin, edge, server_shutdown),
        );
        // The routers (and with them the last inbox handle) are gone: writers finish their
        // batches, then the relay publishes what they handed over.
        tracker.close();
        if tokio::time::timeout(DRAIN_TIMEOUT, tracker.wait())
            .await
            .is_err()
        {
            tracing::warn!(
                "background tasks did not finish in time; unpublished rows wait in the inbox"
            );
        }
        tracing::info!("accredito stopped");
        Ok(())
    });
    Ok(RunningService {
        addr,
        admin_addr,
        shutdown,
        handle,
    })
}

/// Resolves on SIGTERM or SIGINT.
pub async fn termination_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutdown signal received; finishing in-flight work");
}
