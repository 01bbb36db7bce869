//! End-to-end tests: the app on 127.0.0.1:0, real PostgreSQL and RabbitMQ.

mod admin_api;
mod architecture;
mod back_office_api;
mod books_under_concurrency;
mod connect;
mod console;
mod convergence;
mod demo;
mod edge;
mod fake_stripe;
mod helpers;
mod merchants;
mod openapi;
mod operations;
mod orders_api;
mod outages;
mod payouts;
mod profiles;
mod query_plans;
mod reconciliation;
mod recovery;
mod retention;
mod stripe_client;
mod webhook_intake;
