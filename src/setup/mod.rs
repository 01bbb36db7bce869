//! Merchant setup: merchants, their Stripe profiles and keys, readiness through the setup
//! guide, and the alerts that tell on-call staff what blocks a merchant.

pub mod alerts;
pub mod bank;
pub mod merchants;
pub mod profiles;
pub mod readiness;
pub mod rekey;
pub mod stripe_keys;
