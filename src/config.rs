//! Command line and environment: every setting is a flag and an environment variable.

use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use secrecy::SecretString;
use time::OffsetDateTime;

use crate::domain::StripeMode;

#[derive(Debug, Parser)]
#[command(
    name = "accredito",
    version,
    about = "Stripe webhooks in; verified, stored, published to RabbitMQ"
)]
pub struct Cli {
    #[command(flatten)]
    pub settings: Settings,
    #[command(subcommand)]
    pub command: Command,
}

/// Settings shared by every command (under their own heading in every command's help).
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Global options")]
pub struct Settings {
    /// PostgreSQL connection URL.
    #[arg(
        long,
        env = "DATABASE_URL",
        global = true,
        hide_env_values = true,
        default_value = "postgres://postgres@127.0.0.1:5432/accredito"
    )]
    pub database_url: String,

    /// RabbitMQ connection URL.
    #[arg(
        long,
        env = "AMQP_URL",
        global = true,
        hide_env_values = true,
        default_value = "amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    pub amqp_url: String,

    /// Address of the public listener: Stripe's webhooks and bare probes.
    #[arg(
        long,
        env = "ACCREDITO_LISTEN",
        global = true,
        default_value = "127.0.0.1:8080"
    )]
    pub listen: SocketAddr,

    /// Address of the admin listener: the `/v1` API, `/metrics`, `/readyz` with details. Keep
    /// it off the internet.
    #[arg(
        long,
        env = "ACCREDITO_ADMIN_LISTEN",
        global = true,
        default_value = "127.0.0.1:8081"
    )]
    pub admin_listen: SocketAddr,

    /// Bearer token for the `/v1` admin and back-office API.
    #[arg(
        long,
        env = "ACCREDITO_ADMIN_TOKEN",
        global = true,
        hide_env_values = true
    )]
    pub admin_token: Option<SecretString>,

    /// More `/v1` bearer tokens, each named for the audit trail: `name:token` entries separated
    /// by commas (e.g. `ops-alice:...,platform-sync:...`).
    #[arg(
        long,
        env = "ACCREDITO_ADMIN_TOKENS",
        global = true,
        hide_env_values = true
    )]
    pub admin_tokens: Option<SecretString>,

    /// 32 random bytes, base64: encrypts webhook secrets and Stripe keys at rest.
    #[arg(
        long,
        env = "ACCREDITO_MASTER_KEY",
        global = true,
        hide_env_values = true
    )]
    pub master_key: Option<SecretString>,

    /// Master keys used before a rotation (base64, separated by commas): values sealed under
    /// them still open until `accredito rekey` has sealed them again under the current key.
    #[arg(
        long,
        env = "ACCREDITO_PREVIOUS_MASTER_KEYS",
        global = true,
        hide_env_values = true
    )]
    pub previous_master_keys: Option<SecretString>,

    /// Which Stripe keys and events this deployment accepts.
    #[arg(long, env = "ACCREDITO_STRIPE_MODE", global = true, value_enum, default_value_t = StripeMode::Live)]
    pub stripe_mode: StripeMode,

    /// Base URL of the Stripe REST API (a local fake in tests).
    #[arg(
        long,
        env = "STRIPE_API_BASE",
        global = true,
        default_value = "https://api.stripe.com"
    )]
    pub stripe_api_base: String,

    /// The platform's Connect webhook signing secret: enables `POST /webhooks/stripe/connect`.
    #[arg(
        long,
        env = "ACCREDITO_CONNECT_WEBHOOK_SECRET",
        global = true,
        hide_env_values = true
    )]
    pub connect_webhook_secret: Option<SecretString>,

    /// Where alerts are POSTed (Slack-compatible JSON). A secret: such URLs carry their
    /// credential.
    #[arg(
        long,
        env = "ACCREDITO_ALERT_WEBHOOK_URL",
        global = true,
        hide_env_values = true
    )]
    pub alert_webhook_url: Option<SecretString>,

    /// Public base URL Stripe reaches this service at; webhook URLs are built from it.
    /// Defaults to `http://` + the listen address.
    #[arg(long, env = "ACCREDITO_PUBLIC_URL", global = true)]
    pub public_url: Option<String>,

    /// Log format.
    #[arg(long, env = "ACCREDITO_LOG_FORMAT", global = true, value_enum, default_value_t = LogFormat::Pretty)]
    pub log_format: LogFormat,

    /// Accepted age of a Stripe-Signature timestamp, in seconds (0, no check, only in test mode).
    #[arg(
        long,
        env = "ACCREDITO_SIGNATURE_TOLERANCE_SECS",
        global = true,
        default_value_t = 300
    )]
    pub signature_tolerance_secs: u64,

    /// Prefix of every RabbitMQ exchange and queue name.
    #[arg(
        long,
        env = "ACCREDITO_AMQP_PREFIX",
        global = true,
        default_value = "accredito"
    )]
    pub amqp_prefix: String,

    /// Replicas of each quorum queue when it is first declared (RabbitMQ places them on that
    /// many cluster nodes; a smaller cluster gets one per node). Queues already declared keep
    /// theirs: grow them with `rabbitmq-queues grow`.
    #[arg(
        long,
        env = "ACCREDITO_QUORUM_GROUP_SIZE",
        global = true,
        default_value_t = 3,
        value_parser = clap::value_parser!(u32).range(1..=7)
    )]
    pub quorum_group_size: u32,

    /// Days of events (by Stripe's `created`) the inbox and the record of handled events keep;
    /// older months are dropped by the sweeps and `accredito prune`. At least 35.
    #[arg(
        long,
        env = "ACCREDITO_RETENTION_DAYS",
        global = true,
        default_value_t = 90
    )]
    pub retention_days: u32,

    /// Most PostgreSQL connections this process opens.
    #[arg(
        long,
        env = "ACCREDITO_DB_MAX_CONNECTIONS",
        global = true,
        default_value_t = 16
    )]
    pub db_max_connections: u32,

    /// The viewer role and the console's sessions.
    #[command(flatten)]
    pub console: ConsoleSettings,
}

/// Read-only tokens and the back-office console's sessions.
#[derive(Debug, Clone, Args)]
pub struct ConsoleSettings {
    /// Read-only tokens for back-office staff, each named for the audit trail: `name:token`
    /// entries separated by commas. They read every console page and `GET` under `/v1`.
    #[arg(
        long,
        env = "ACCREDITO_VIEWER_TOKENS",
        global = true,
        hide_env_values = true
    )]
    pub viewer_tokens: Option<SecretString>,

    /// A console session ends after this many minutes without a request.
    #[arg(
        long,
        env = "ACCREDITO_CONSOLE_SESSION_IDLE_MINUTES",
        global = true,
        default_value_t = 480
    )]
    pub session_idle_minutes: u32,

    /// A console session ends this many hours after sign-in, whatever the activity.
    #[arg(
        long,
        env = "ACCREDITO_CONSOLE_SESSION_MAX_HOURS",
        global = true,
        default_value_t = 24
    )]
    pub session_max_hours: u32,

    /// Mark the console's session cookie `Secure` on every response, not only on requests
    /// that came over TLS (`X-Forwarded-Proto: https` from the proxy in front).
    #[arg(
        long,
        env = "ACCREDITO_CONSOLE_SECURE_COOKIE",
        global = true,
        default_value_t = false
    )]
    pub secure_cookie: bool,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        ConsoleSettings {
            viewer_tokens: None,
            session_idle_minutes: 480,
            session_max_hours: 24,
            secure_cookie: false,
        }
    }
}

/// De-duplication must outlast Stripe's 3 days of retries and catch-up's 30 days of events.
pub const MIN_RETENTION_DAYS: u32 = 35;

/// Settings that may instead be read from a file named by `<NAME>_FILE` (Docker and Kubernetes
/// secrets mounted as files), so the value is never in the process's environment.
pub const FILE_SETTINGS: [&str; 9] = [
    "DATABASE_URL",
    "AMQP_URL",
    "ACCREDITO_MASTER_KEY",
    "ACCREDITO_PREVIOUS_MASTER_KEYS",
    "ACCREDITO_ADMIN_TOKEN",
    "ACCREDITO_ADMIN_TOKENS",
    "ACCREDITO_VIEWER_TOKENS",
    "ACCREDITO_CONNECT_WEBHOOK_SECRET",
    "ACCREDITO_ALERT_WEBHOOK_URL",
];

impl Settings {
    /// Reads each setting of [`FILE_SETTINGS`] whose `<NAME>_FILE` is set from that file (one
    /// trailing newline dropped). Setting both `<NAME>` and `<NAME>_FILE` is refused, as is an
    /// unreadable or empty file; errors name the file, never its content.
    pub fn read_secret_files(
        &mut self,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<(), String> {
        for name in FILE_SETTINGS {
            let Some(path) = env(&format!("{name}_FILE")) else {
                continue;
            };
            if env(name).is_some() {
                return Err(format!("set {name} or {name}_FILE, not both"));
            }
            let content = std::fs::read_to_string(&path)
                .map_err(|e| format!("{name}_FILE: cannot read {path}: {e}"))?;
            let value = content
                .strip_suffix('\n')
                .map(|v| v.strip_suffix('\r').unwrap_or(v))
                .unwrap_or(&content)
                .to_owned();
            if value.trim().is_empty() {
                return Err(format!("{name}_FILE: {path} is empty"));
            }
            let secret = || Some(SecretString::from(value.clone()));
            match name {
                "DATABASE_URL" => self.database_url = value.clone(),
                "AMQP_URL" => self.amqp_url = value.clone(),
                "ACCREDITO_MASTER_KEY" => self.master_key = secret(),
                "ACCREDITO_PREVIOUS_MASTER_KEYS" => self.previous_master_keys = secret(),
                "ACCREDITO_ADMIN_TOKEN" => self.admin_token = secret(),
                "ACCREDITO_ADMIN_TOKENS" => self.admin_tokens = secret(),
                "ACCREDITO_VIEWER_TOKENS" => self.console.viewer_tokens = secret(),
                "ACCREDITO_CONNECT_WEBHOOK_SECRET" => self.connect_webhook_secret = secret(),
                _ => self.alert_webhook_url = secret(),
            }
        }
        Ok(())
    }

    /// The effective configuration for the start-up log line: URLs without their passwords,
    /// secrets only as `set` or `unset`.
    pub fn summary(&self) -> serde_json::Value {
        let set = |present: bool| if present { "set" } else { "unset" };
        serde_json::json!({
            "database_url": without_password(&self.database_url),
            "amqp_url": without_password(&self.amqp_url),
            "listen": self.listen.to_string(),
            "admin_listen": self.admin_listen.to_string(),
            "public_url": self.public_base_url(),
            "stripe_mode": self.stripe_mode.to_string(),
            "stripe_api_base": self.stripe_api_base,
            "amqp_prefix": self.amqp_prefix,
            "quorum_group_size": self.quorum_group_size,
            "db_max_connections": self.db_max_connections,
            "retention_days": self.retention_days,
            "signature_tolerance_secs": self.signature_tolerance_secs,
            "master_key": set(self.master_key.is_some()),
            "previous_master_keys": set(self.previous_master_keys.is_some()),
            "admin_token": set(self.admin_token.is_some()),
            "admin_tokens": set(self.admin_tokens.is_some()),
            "viewer_tokens": set(self.console.viewer_tokens.is_some()),
            "console_session_idle_minutes": self.console.session_idle_minutes,
            "console_session_max_hours": self.console.session_max_hours,
            "connect_webhook_secret": set(self.connect_webhook_secret.is_some()),
            "alert_webhook_url": set(self.alert_webhook_url.is_some()),
        })
    }

    /// The box that seals under the master key and opens under it or a previous one.
    pub fn secret_box(&self) -> Result<crate::crypto::SecretBox, crate::crypto::MasterKeyError> {
        crate::crypto::SecretBox::with_previous(
            self.master_key.as_ref(),
            self.previous_master_keys.as_ref(),
        )
    }

    /// The base URL webhook URLs are built from, without a trailing slash.
    pub fn public_base_url(&self) -> String {
        match &self.public_url {
            Some(url) => url.trim_end_matches('/').to_owned(),
            None => format!("http://{}", self.listen),
        }
    }

    /// Refuses combinations that would weaken verification in production.
    pub fn validate(&self) -> Result<(), String> {
        if self.signature_tolerance_secs == 0 && self.stripe_mode == StripeMode::Live {
            return Err("ACCREDITO_SIGNATURE_TOLERANCE_SECS=0 turns off replay protection and is refused in live mode".into());
        }
        if self.amqp_prefix.is_empty()
            || !self
                .amqp_prefix
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
        {
            return Err("ACCREDITO_AMQP_PREFIX must be non-empty and use only letters, digits, '_', '-', '.'".into());
        }
        if self.retention_days < MIN_RETENTION_DAYS {
            return Err(format!(
                "ACCREDITO_RETENTION_DAYS must be at least {MIN_RETENTION_DAYS}: duplicates are recognised only while an event is kept, and Stripe retries for 3 days and catch-up reads 30"
            ));
        }
        if self.console.session_idle_minutes == 0 || self.console.session_max_hours == 0 {
            return Err("ACCREDITO_CONSOLE_SESSION_IDLE_MINUTES and ACCREDITO_CONSOLE_SESSION_MAX_HOURS must be at least 1".into());
        }
        self.admin_credentials().map(|_| ())
    }

    /// The `/v1` bearer tokens, by name.
    pub fn admin_credentials(&self) -> Result<crate::crypto::admin_tokens::AdminTokens, String> {
        crate::crypto::admin_tokens::AdminTokens::parse(
            self.admin_token.as_ref(),
            self.admin_tokens.as_ref(),
        )?
        .with_viewers(self.console.viewer_tokens.as_ref())
    }

    pub fn signature_tolerance(&self) -> Duration {
        Duration::from_secs(self.signature_tolerance_secs)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Apply the database migrations.
    Migrate,
    /// Run the service: HTTP intake and the relay to RabbitMQ (all roles by default).
    Serve(ServeArgs),
    /// Manage merchants: create, rename, list, enable or disable Stripe, readiness.
    #[command(subcommand)]
    Merchant(MerchantCommand),
    /// Manage Stripe profiles, their keys and their webhook signing secrets.
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Publish stored events again (handlers never apply an event twice).
    Replay {
        /// One stored event, by its Stripe id (evt_...).
        #[arg(long, required_unless_present = "profile")]
        event: Option<String>,
        /// Every stored event of this profile, narrowed by the options below.
        #[arg(long)]
        profile: Option<String>,
        /// Events created at or after this time (RFC 3339).
        #[arg(long, value_parser = parse_rfc3339, requires = "profile")]
        since: Option<OffsetDateTime>,
        /// Events created before this time (RFC 3339).
        #[arg(long, value_parser = parse_rfc3339)]
        until: Option<OffsetDateTime>,
        /// Only events of this type, e.g. payment_intent.succeeded.
        #[arg(long = "type")]
        event_type: Option<String>,
    },
    /// Store the events Stripe lists for a profile (or every profile with a key) whose
    /// webhooks never arrived.
    CatchUp {
        /// The profile to catch up.
        #[arg(long, conflicts_with = "all", required_unless_present = "all")]
        profile: Option<String>,
        /// Every profile with a secret key, one after the other.
        #[arg(long)]
        all: bool,
        /// List events created after this time (RFC 3339; at most 30 days back). By default
        /// from an hour before each profile's newest stored event.
        #[arg(long, value_parser = parse_rfc3339)]
        since: Option<OffsetDateTime>,
    },
    /// List or redrive events parked in the dead-letter queue.
    #[command(subcommand)]
    Dlq(DlqCommand),
    /// Print a fresh random value for ACCREDITO_MASTER_KEY.
    GenerateMasterKey,
    /// Seal every stored secret again under the current ACCREDITO_MASTER_KEY (those under a
    /// key in ACCREDITO_PREVIOUS_MASTER_KEYS); resumable, audited.
    Rekey,
    /// Create the coming months' partitions of the inbox and of the record of handled events,
    /// and drop the months older than ACCREDITO_RETENTION_DAYS (the sweeps do it daily).
    Prune,
    /// Run the whole pipeline once against a local stand-in for the Stripe API and print
    /// the back-office tables: recreates the database in DATABASE_URL with a `_demo` suffix
    /// and uses a fresh RabbitMQ prefix whose queues expire. Ends by printing the back-office
    /// console's address and a viewer token.
    Demo(DemoArgs),
}

#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Keep serving after the demo (the console, the API, webhooks) until Ctrl-C.
    #[arg(long)]
    pub serve: bool,
    /// The language the demo prints in; without it, Italian when the terminal's locale
    /// (LC_ALL, LC_MESSAGES or LANG) starts with "it", else English.
    #[arg(long, value_enum, value_name = "LANGUAGE")]
    pub lang: Option<crate::setup::readiness::Language>,
}

#[derive(Debug, Subcommand)]
pub enum DlqCommand {
    /// Parked events not yet redriven, with their error and attempt count.
    List {
        /// Only this event's dead letters (one per handler that parked it).
        #[arg(long)]
        event: Option<String>,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Put parked events back on their work queue.
    Redrive {
        /// One event's dead letters, by its Stripe id (evt_...).
        #[arg(long, conflicts_with = "all", required_unless_present = "all")]
        event: Option<String>,
        /// Every parked event.
        #[arg(long)]
        all: bool,
    },
}

#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Roles this process runs; several processes can split them to scale each on its own.
    #[arg(long, env = "ACCREDITO_ROLES", value_enum, value_delimiter = ',', default_values_t = Role::all())]
    pub roles: Vec<Role>,

    /// Deliveries each worker holds unacknowledged (and applies concurrently).
    #[arg(long, env = "ACCREDITO_WORKER_PREFETCH", default_value_t = 256)]
    pub worker_prefetch: u16,

    /// Attempts before a failing event is parked in the dead-letter queue.
    #[arg(long, env = "ACCREDITO_WORKER_MAX_ATTEMPTS", default_value_t = 5)]
    pub worker_max_attempts: u32,

    /// First retry delay in milliseconds; each later retry waits four times longer.
    #[arg(long, env = "ACCREDITO_WORKER_RETRY_BASE_MS", default_value_t = 1000)]
    pub worker_retry_base_ms: u64,

    /// Seconds between catch-up passes over `GET /v1/events` for every profile with a key.
    #[arg(long, env = "ACCREDITO_CATCH_UP_SECS", default_value_t = 900)]
    pub catch_up_secs: u64,

    /// Seconds between Stripe account checks of every profile with a key.
    #[arg(long, env = "ACCREDITO_ACCOUNT_SWEEP_SECS", default_value_t = 3600)]
    pub account_sweep_secs: u64,

    /// Seconds a client has to send a request's head, and to start the next request on a
    /// kept-alive connection, before the connection is closed.
    #[arg(long, env = "ACCREDITO_HEADER_TIMEOUT_SECS", default_value_t = 10)]
    pub header_timeout_secs: u64,

    /// Seconds a client has to send a request's whole body (408 after that).
    #[arg(long, env = "ACCREDITO_BODY_TIMEOUT_SECS", default_value_t = 15)]
    pub body_timeout_secs: u64,

    /// Open connections per listener; past it a client is answered 503 with Retry-After.
    #[arg(long, env = "ACCREDITO_MAX_CONNECTIONS", default_value_t = 1024)]
    pub max_connections: usize,

    /// Requests handled at once per listener; past it a request is answered 503 with
    /// Retry-After.
    #[arg(long, env = "ACCREDITO_MAX_IN_FLIGHT", default_value_t = 256)]
    pub max_in_flight: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Role {
    /// `POST /webhooks/stripe/{profile_id}` and the `/v1` API.
    Ingest,
    /// Publishes stored events to RabbitMQ.
    Relay,
    /// Consumes the work queues and applies events to the reconciliation tables.
    Workers,
    /// Periodic Stripe account checks and alert delivery.
    Sweeps,
}

impl Role {
    pub fn all() -> Vec<Role> {
        vec![Role::Ingest, Role::Relay, Role::Workers, Role::Sweeps]
    }
}

#[derive(Debug, Subcommand)]
pub enum MerchantCommand {
    /// Create a merchant (Stripe disabled until `enable-stripe`).
    Create {
        /// The merchant's id, as the platform knows it (1-128 letters, digits, '_', '.', ':'
        /// or '-').
        merchant: String,
        /// The merchant's name, for people.
        #[arg(long)]
        name: Option<String>,
    },
    /// Change a merchant's name.
    Rename {
        /// The merchant's id, as the platform knows it.
        merchant: String,
        /// The new name.
        #[arg(long)]
        name: String,
    },
    /// Show a merchant.
    Show {
        /// The merchant's id, as the platform knows it.
        merchant: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// List merchants.
    List {
        #[command(flatten)]
        output: OutputArgs,
    },
    /// Enable Stripe with one of the merchant's profiles; its keys must be live and accepted
    /// by Stripe.
    EnableStripe {
        /// The merchant's id, as the platform knows it.
        merchant: String,
        /// The merchant's profile whose keys take the payments.
        #[arg(long)]
        profile: String,
    },
    /// Disable Stripe (the selected profile is kept).
    DisableStripe {
        /// The merchant's id, as the platform knows it.
        merchant: String,
    },
    /// Each step of the setup guide: done, missing or unknown, and what to do.
    Readiness {
        /// The merchant's id, as the platform knows it.
        merchant: String,
        /// `en` or `it`.
        #[arg(long, default_value = "en", value_parser = ["en", "it"])]
        lang: String,
        #[command(flatten)]
        output: OutputArgs,
    },
}

#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// Create a profile; prints its id and webhook URL.
    Create {
        /// The merchant the profile belongs to (created if new, Stripe disabled).
        #[arg(long)]
        merchant: String,
        /// A name for people, e.g. the Stripe account's.
        #[arg(long)]
        name: String,
        /// The `whsec_...` signing secret; `-` reads it from standard input.
        #[arg(long)]
        webhook_secret: String,
    },
    /// Add a signing secret (a rotation: old and new both verify until the old one expires).
    AddSecret {
        /// The profile's id (prof_...).
        profile: String,
        /// The new `whsec_...` signing secret; `-` reads it from standard input.
        #[arg(long)]
        webhook_secret: String,
        /// When the new secret stops verifying (RFC 3339); never by default.
        #[arg(long, value_parser = parse_rfc3339)]
        expires_at: Option<OffsetDateTime>,
    },
    /// Expire a signing secret, now or at a given time.
    ExpireSecret {
        /// The profile's id (prof_...).
        profile: String,
        /// The secret's id, as `profile show` lists it.
        #[arg(long)]
        secret_id: i64,
        /// RFC 3339 time; now by default.
        #[arg(long, value_parser = parse_rfc3339)]
        at: Option<OffsetDateTime>,
    },
    /// Save (or rotate) the profile's live publishable and secret keys, once Stripe accepts
    /// them (the old ones are forgotten).
    SetKeys {
        /// The profile's id (prof_...).
        profile: String,
        /// `pk_live_...` (public).
        #[arg(long)]
        publishable_key: String,
        /// `sk_live_...` or `rk_live_...`; `-` reads it from standard input.
        #[arg(long)]
        secret_key: String,
    },
    /// Rotate only the secret key, keeping the publishable key, once Stripe accepts it (the
    /// old one is forgotten).
    SetSecretKey {
        /// The profile's id (prof_...).
        profile: String,
        /// `sk_...` or `rk_...`; `-` reads it from standard input.
        #[arg(long)]
        secret_key: String,
    },
    /// Create (or replace) the profile's webhook endpoint on Stripe with its key and store the
    /// signing secret; a replaced endpoint's secrets keep verifying for 24 hours.
    RegisterWebhookEndpoint {
        /// The profile's id (prof_...).
        profile: String,
    },
    /// Delete a profile: its webhook endpoint is removed from Stripe and its keys and secrets
    /// forgotten. Refused while a merchant has Stripe enabled with it.
    Delete {
        /// The profile's id (prof_...).
        profile: String,
    },
    /// Show a profile and its secrets' ids and expiries (never their values).
    Show {
        /// The profile's id (prof_...).
        profile: String,
        #[command(flatten)]
        output: OutputArgs,
    },
    /// List profiles, in the order they were created.
    List {
        /// Only this merchant's profiles.
        #[arg(long)]
        merchant: Option<String>,
        #[command(flatten)]
        output: OutputArgs,
    },
}

/// How a read command prints what it read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// Aligned columns, for people.
    Table,
    /// JSON, for programs.
    Json,
}

#[derive(Debug, Clone, Copy, Args)]
pub struct OutputArgs {
    /// `table` or `json`; by default a table on a terminal and JSON otherwise.
    #[arg(long, value_enum)]
    pub output: Option<Output>,
}

/// `url` with its password, if any, replaced by `***`.
pub fn without_password(url: &str) -> String {
    // `AMQP_URL` may list several nodes, comma-separated: each URL is masked on its own.
    url.split(',')
        .map(|one| match reqwest::Url::parse(one.trim()) {
            Ok(mut u) => {
                if u.password().is_some() {
                    let _ = u.set_password(Some("***"));
                }
                u.to_string()
            }
            Err(_) => "(unparsable URL)".into(),
        })
        .collect::<Vec<_>>()
        .join(",")
}

pub fn parse_rfc3339(s: &str) -> Result<OffsetDateTime, String> {
    OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339)
        .map_err(|e| format!("expected an RFC 3339 time such as 2026-01-31T12:00:00Z: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[test]
    fn help_shows_global_options_apart_from_a_command_s_own() {
        use clap::CommandFactory;
        let mut cli = Cli::command();
        // Global options reach the subcommands when the command is built.
        cli.build();
        let merchant = cli.find_subcommand_mut("merchant").expect("merchant");
        let create = merchant.find_subcommand_mut("create").expect("create");
        let help = create.render_long_help().to_string();
        let global = help
            .find("Global options:")
            .expect("a Global options heading");
        let own = help.find("--name").expect("create's own option");
        let database = help.find("--database-url").expect("a global option");
        assert!(own < global && global < database, "{help}");
    }

    #[test]
    fn every_argument_of_every_command_is_described() {
        use clap::CommandFactory;
        fn undescribed(command: &clap::Command, path: &str, found: &mut Vec<String>) {
            for arg in command.get_arguments() {
                let builtin = matches!(arg.get_id().as_str(), "help" | "version");
                if !builtin && arg.get_help().is_none() && arg.get_long_help().is_none() {
                    found.push(format!("{path} {}", arg.get_id()));
                }
            }
            for sub in command.get_subcommands() {
                if sub.get_about().is_none() && sub.get_name() != "help" {
                    found.push(format!("{path} {} (the command itself)", sub.get_name()));
                }
                undescribed(sub, &format!("{path} {}", sub.get_name()), found);
            }
        }
        let mut found = Vec::new();
        undescribed(&Cli::command(), "accredito", &mut found);
        assert!(found.is_empty(), "without a description: {found:#?}");
    }

    #[test]
    fn catch_up_takes_one_profile_or_all_and_not_both() {
        let parse = |args: &[&str]| {
            Cli::try_parse_from(["accredito", "catch-up"].iter().chain(args)).map(|c| c.command)
        };
        assert!(matches!(
            parse(&["--all"]),
            Ok(Command::CatchUp {
                profile: None,
                all: true,
                since: None
            })
        ));
        assert!(matches!(
            parse(&["--profile", "prof_1", "--since", "2026-12-01T00:00:00Z"]),
            Ok(Command::CatchUp {
                profile: Some(_),
                all: false,
                since: Some(_)
            })
        ));
        assert!(parse(&[]).is_err(), "one of --profile and --all is needed");
        assert!(parse(&["--all", "--profile", "prof_1"]).is_err());
    }

    #[test]
    fn every_password_of_a_list_of_broker_urls_is_masked() {
        let shown = without_password("amqp://a:first@mq-1/v,amqp://b:second@mq-2/v");
        assert_eq!(shown, "amqp://a:***@mq-1/v,amqp://b:***@mq-2/v");
        assert!(!shown.contains("first") && !shown.contains("second"));
    }
    use secrecy::ExposeSecret;

    fn settings() -> Settings {
        Cli::parse_from(["accredito", "migrate"]).settings
    }

    #[test]
    fn a_secret_is_read_from_the_file_its_file_variable_names() {
        let dir = std::env::temp_dir().join(format!("accredito-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let key = dir.join("master_key");
        let url = dir.join("database_url");
        std::fs::write(&key, "a2V5LWZyb20tYS1maWxl\n").expect("write");
        std::fs::write(&url, "postgres://app:pw@db/accredito").expect("write");
        let env = |name: &str| match name {
            "ACCREDITO_MASTER_KEY_FILE" => Some(key.display().to_string()),
            "DATABASE_URL_FILE" => Some(url.display().to_string()),
            _ => None,
        };

        let mut s = settings();
        s.read_secret_files(env).expect("read");

        assert_eq!(
            s.master_key.as_ref().map(|k| k.expose_secret().to_owned()),
            Some("a2V5LWZyb20tYS1maWxl".to_owned()),
            "the trailing newline is dropped"
        );
        assert_eq!(s.database_url, "postgres://app:pw@db/accredito");
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn a_setting_and_its_file_together_or_a_missing_file_are_refused_without_the_value() {
        let both = |name: &str| match name {
            "ACCREDITO_ADMIN_TOKEN" => Some("token-value-0123456789abcdef0123456789".into()),
            "ACCREDITO_ADMIN_TOKEN_FILE" => Some("/run/secrets/admin".into()),
            _ => None,
        };
        let error = settings().read_secret_files(both).expect_err("both");
        assert!(error.contains("not both"), "{error}");
        assert!(!error.contains("token-value"), "{error}");

        let missing = |name: &str| {
            (name == "AMQP_URL_FILE").then(|| "/nonexistent/accredito/amqp_url".to_owned())
        };
        let error = settings().read_secret_files(missing).expect_err("missing");
        assert!(
            error.contains("AMQP_URL_FILE: cannot read /nonexistent/accredito/amqp_url"),
            "{error}"
        );
    }
}
