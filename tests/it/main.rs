//! End-to-end tests: the app on 127.0.0.1:0, real PostgreSQL and RabbitMQ.

mod admin_api;
mod helpers;
mod operations;
mod orders_api;
mod outages;
mod reconciliation;
mod webhook_intake;
