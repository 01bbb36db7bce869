//! Stripe's side of the wire: webhook signatures, the event envelope, and the REST API client.

pub mod client;
pub mod event;
pub mod objects;
pub mod resources;
pub mod signature;
