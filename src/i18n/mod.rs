//! Merchant-facing text in Italian and English outside the console: why Stripe keys were
//! refused ([`key_refusals`]) and what a discrepancy is about ([`discrepancies`]). Alert texts
//! live with the alerts ([`crate::setup::alerts::AlertText`]), the setup guide's steps with
//! readiness ([`crate::setup::readiness`]).
//!
//! The language is readiness's [`Language`] (the console calls it `Locale`), and money is
//! written by the console's [`money`]: `1.234,56 €` in Italian, `€1,234.56` in English. What
//! is stored and what the API answers stays English; these give the same facts in either
//! language, each with a test that fails when a case has no Italian text of its own.

pub mod discrepancies;
pub mod key_refusals;

pub use crate::console::i18n::money;
pub use crate::setup::readiness::Language;
