//! End-to-end tests: the app on 127.0.0.1:0, real PostgreSQL and RabbitMQ.

mod admin_api;
mod fake_stripe;
mod helpers;
mod operations;
mod orders_api;
mod outages;
mod payouts;
mod reconciliation;
mod stripe_client;
mod webhook_intake;
