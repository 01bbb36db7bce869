//! Small value types shared by every module.

use std::fmt;

use rand::Rng;
use serde::{Deserialize, Serialize};

/// Which Stripe keys and events a profile (and the whole service) accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum StripeMode {
    Live,
    Test,
}

impl StripeMode {
    pub fn as_str(self) -> &'static str {
        match self {
            StripeMode::Live => "live",
            StripeMode::Test => "test",
        }
    }

    /// Whether an event's `livemode` flag belongs to this mode.
    pub fn accepts_livemode(self, livemode: bool) -> bool {
        livemode == (self == StripeMode::Live)
    }
}

impl fmt::Display for StripeMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for StripeMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "live" => Ok(StripeMode::Live),
            "test" => Ok(StripeMode::Test),
            other => Err(format!(
                "unknown Stripe mode {other:?} (expected live or test)"
            )),
        }
    }
}

/// The public id of a Stripe profile: `prof_` and 24 random base62 characters (about 143
/// bits), so a webhook URL cannot be guessed from another.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProfileId(String);

impl ProfileId {
    const PREFIX: &'static str = "prof_";
    const RANDOM_LEN: usize = 24;

    pub fn generate() -> Self {
        let random: String = rand::rng()
            .sample_iter(rand::distr::Alphanumeric)
            .take(Self::RANDOM_LEN)
            .map(char::from)
            .collect();
        ProfileId(format!("{}{random}", Self::PREFIX))
    }

    /// Accepts only well-formed ids, so a malformed URL never costs a database lookup.
    pub fn parse(s: &str) -> Option<Self> {
        let random = s.strip_prefix(Self::PREFIX)?;
        (random.len() == Self::RANDOM_LEN && random.bytes().all(|b| b.is_ascii_alphanumeric()))
            .then(|| ProfileId(s.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ProfileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A merchant id as the POS platform names it.
pub fn is_valid_merchant_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'-'))
}

/// One verified Stripe event as stored in the inbox: what the relay publishes and a worker
/// handles. Every part of the pipeline carries this one type.
#[derive(Debug, Clone)]
pub struct StoredEvent {
    pub profile_id: String,
    pub merchant_id: String,
    pub event_id: String,
    pub event_type: String,
    /// The body exactly as Stripe signed it.
    pub body: bytes::Bytes,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_profile_ids_parse_and_differ() {
        let a = ProfileId::generate();
        let b = ProfileId::generate();
        assert_ne!(a, b);
        assert_eq!(ProfileId::parse(a.as_str()), Some(a.clone()));
        assert_eq!(a.as_str().len(), 29);
    }

    #[test]
    fn malformed_profile_ids_are_refused() {
        for bad in [
            "",
            "prof_",
            "prof_short",
            "acct_123456789012345678901234",
            "prof_12345678901234567890123!",
        ] {
            assert_eq!(ProfileId::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn livemode_must_match_the_mode() {
        assert!(StripeMode::Live.accepts_livemode(true));
        assert!(!StripeMode::Live.accepts_livemode(false));
        assert!(StripeMode::Test.accepts_livemode(false));
    }

    #[test]
    fn merchant_ids_are_restricted_to_safe_characters() {
        assert!(is_valid_merchant_id("m_42"));
        assert!(!is_valid_merchant_id(""));
        assert!(!is_valid_merchant_id("a b"));
    }
}
