//! accredito: Stripe webhooks in, reconciled orders and payouts out.
//!
//! The data flow, module by module:
//!
//! 1. [`http::stripe_webhook`] receives `POST /webhooks/stripe/{profile_id}`, finds the
//!    profile in [`setup::profiles::directory`] and checks the `Stripe-Signature` header over the raw
//!    bytes with [`stripe::signature`]; nothing unverified goes further (G6).
//! 2. [`stripe::event`] reads the envelope (id, type, created, livemode); [`ingest::writer`] stores
//!    the untouched body in the inbox ([`db::inbox`]) with group commit, and the webhook is
//!    answered 200 only after its row is committed (G1).
//! 3. [`relay`] publishes new rows to RabbitMQ at once (the hot path) and catches up on any
//!    row left unpublished after a crash or outage, marking rows published only after the
//!    broker's confirm (G2). [`amqp`] owns the topology and the confirmed publisher.
//! 4. Profiles and their webhook secrets, sealed at rest by [`crypto`] (G7), are managed
//!    through [`setup::profiles`], from the CLI ([`cli`]) and the `/v1` API ([`http::admin`]).
//!
//! 5. Merchants ([`setup::merchants`]) turn Stripe on only with one of their own profiles whose live
//!    keys Stripe accepted ([`setup::profiles`]); every change is audited in the transaction that
//!    makes it; [`setup::readiness`] shows each merchant's progress through the setup guide.
//!
//! 6. [`worker`] consumes the work queues: each handler fetches what it needs from Stripe
//!    first, stores its facts in one transaction, then [`reconcile::orders::recompute`] derives the
//!    orders, discrepancies and settlement those facts may change in a second; the books are a
//!    function of the facts whatever the order and concurrency of events ([`reconcile::orders`] says why).
//!
//! [`app`] wires these together and shuts them down in order; [`config`] holds every
//! setting, each a flag and an environment variable.

pub mod amqp;
pub mod app;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod db;
pub mod demo;
pub mod domain;
pub mod http;
pub mod ingest;
pub mod metrics;
pub mod reconcile;
pub mod relay;
pub mod setup;
pub mod stripe;
pub mod sweeps;
pub mod telemetry;
pub mod worker;
