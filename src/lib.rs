//! accredito: Stripe webhooks in, reconciled orders and payouts out.
//!
//! The data flow, folder by folder:
//!
//! 1. [`http::stripe_webhook`] receives `POST /webhooks/stripe/{profile_id}`, finds the
//!    profile in [`setup::profiles::directory`] and checks the `Stripe-Signature` header over
//!    the raw bytes with [`stripe::signature`]; nothing unverified goes further (G6).
//! 2. [`stripe::event`] reads the envelope (id, type, created, livemode); [`ingest`] is the one
//!    way into the inbox ([`db::inbox`]): the webhook stores through its group-commit
//!    [`ingest::writer`] and is answered 200 only after its row is committed (G1); Connect
//!    routing ([`ingest::connect`]) and catch-up store through the same path. Every stage
//!    carries one type for the event, [`domain::StoredEvent`].
//! 3. [`relay`] publishes new rows to RabbitMQ at once (the hot path) and catches up on any
//!    row left unpublished after a crash or outage, marking rows published only after the
//!    broker's confirm (G2); [`relay::replay`] publishes stored events again on request.
//!    [`amqp`] owns the topology, the confirmed publisher and the message format
//!    ([`amqp::message`]).
//! 4. [`worker`] consumes the work queues: each handler fetches what it needs from Stripe
//!    first ([`setup::stripe_keys`]), stores its facts in one transaction, then
//!    [`reconcile::orders::recompute`] derives the orders, discrepancies and settlement those
//!    facts may change in a second; the books are a function of the facts whatever the order
//!    and concurrency of events ([`reconcile::orders`] says why, G4). The rules themselves are
//!    pure functions in [`reconcile`]. Failures are retried, then parked
//!    ([`worker::dead_letters`]); events waiting for a key Stripe accepts are redriven by
//!    [`worker::key_waits`].
//! 5. [`setup`] is everything a merchant goes through to turn Stripe on: [`setup::merchants`],
//!    [`setup::profiles`] (keys, webhook endpoint, signing secrets sealed by [`crypto`], G7,
//!    deletion), [`setup::readiness`] (progress through the setup guide), [`setup::bank`] and
//!    [`setup::alerts`] (what on-call staff are told, with the notifier that POSTs it). Every
//!    change is audited in the transaction that makes it.
//! 6. [`sweeps`] run on a schedule: the account sweep re-reads each profile's account from
//!    Stripe, and [`sweeps::catch_up`] lists events whose webhooks never arrived.
//! 7. [`http`] serves the `/v1` API (profiles, merchants, orders, the back-office views as
//!    JSON or CSV) and its OpenAPI document, and [`console`] the same books as HTML pages for
//!    back-office staff, in Italian and English; [`cli`] offers the same operations from a shell;
//!    [`demo`] runs the whole pipeline against a local stand-in for Stripe.
//!
//! [`app`] wires these together and shuts them down in order; [`config`] holds every
//! setting, each a flag and an environment variable. All SQL is in [`db`].

pub mod amqp;
pub mod app;
pub mod cli;
pub mod config;
pub mod console;
pub mod crypto;
pub mod db;
pub mod demo;
pub mod domain;
pub mod http;
pub mod i18n;
pub mod ingest;
pub mod metrics;
pub mod progress;
pub mod reconcile;
pub mod relay;
pub mod setup;
pub mod stripe;
pub mod sweeps;
pub mod telemetry;
pub mod worker;
