//! Stripe's side of the wire: webhook signatures and the event envelope.

pub mod event;
pub mod objects;
pub mod signature;
