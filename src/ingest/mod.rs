//! Ingest: verified events into the inbox. The webhook endpoint stores through the
//! group-commit [`writer`]; [`connect`] moves events that arrived for a Connect account before
//! its profile existed.

pub mod connect;
pub mod writer;
