//! Stripe API keys as the setup guide asks for them: a publishable and a secret (or
//! restricted) key of the profile's mode, each in its own field. Checked before Stripe is
//! asked, with messages that name the kind of key, never its value.

use crate::domain::StripeMode;

/// Why a pair of Stripe keys is refused. Messages name the kind of key, never its value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error(
        "the publishable key must not be blank (pk_live_... from Stripe > Developers > API keys)"
    )]
    BlankPublishable,
    #[error(
        "the secret key must not be blank (sk_live_... or rk_live_... from Stripe > Developers > API keys)"
    )]
    BlankSecret,
    #[error(
        "the secret key field holds a publishable key (pk_...): put the publishable key in publishable_key and the secret key (sk_live_... or a restricted rk_live_...) in secret_key"
    )]
    PublishableInSecretField,
    #[error(
        "the publishable key field holds a secret key (sk_/rk_...): put it in secret_key, and the publishable key (pk_live_...) in publishable_key"
    )]
    SecretInPublishableField,
    #[error("the publishable key must look like pk_live_... (letters and digits after the prefix)")]
    MalformedPublishable,
    #[error(
        "the secret key must look like sk_live_... or rk_live_... (letters and digits after the prefix)"
    )]
    MalformedSecret,
    #[error(
        "the keys are of different modes (publishable key {publishable}, secret key {secret}): both must come from the same Stripe account in the same mode"
    )]
    MixedModes {
        publishable: &'static str,
        secret: &'static str,
    },
    #[error(
        "live keys are required (pk_live_... and sk_live_... or rk_live_...): test keys belong to a Stripe account in test mode, where transactions fail; switch the Stripe dashboard out of test mode and copy the live keys from Developers > API keys"
    )]
    TestKeysInLiveMode,
    #[error(
        "this deployment runs in test mode (ACCREDITO_STRIPE_MODE=test) and accepts only test keys (pk_test_... with sk_test_... or rk_test_...)"
    )]
    LiveKeysInTestMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyType {
    Publishable,
    Secret,
    Restricted,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct KeyKind {
    key_type: KeyType,
    live: bool,
    /// Letters and digits after the prefix, as Stripe issues them.
    well_formed: bool,
}

impl KeyKind {
    /// What the audit trail says of a key: its kind, never its value.
    pub(super) fn describe(self) -> &'static str {
        match (self.key_type, self.live) {
            (KeyType::Publishable, true) => "pk_live",
            (KeyType::Publishable, false) => "pk_test",
            (KeyType::Secret, true) => "sk_live",
            (KeyType::Secret, false) => "sk_test",
            (KeyType::Restricted, true) => "rk_live",
            (KeyType::Restricted, false) => "rk_test",
        }
    }
}

pub(super) fn mode_name(live: bool) -> &'static str {
    if live { "live" } else { "test" }
}

/// The kind of a Stripe API key from its prefix; `None` when it has no known prefix.
pub(super) fn classify(key: &str) -> Option<KeyKind> {
    let (key_type, rest) = [
        ("pk_", KeyType::Publishable),
        ("sk_", KeyType::Secret),
        ("rk_", KeyType::Restricted),
    ]
    .into_iter()
    .find_map(|(prefix, t)| key.strip_prefix(prefix).map(|rest| (t, rest)))?;
    let (live, body) = if let Some(body) = rest.strip_prefix("live_") {
        (true, body)
    } else if let Some(body) = rest.strip_prefix("test_") {
        (false, body)
    } else {
        return None;
    };
    let well_formed =
        !body.is_empty() && body.len() <= 255 && body.bytes().all(|b| b.is_ascii_alphanumeric());
    Some(KeyKind {
        key_type,
        live,
        well_formed,
    })
}

pub(super) fn check_key_mode(
    mode: StripeMode,
    publishable_live: bool,
    secret_live: bool,
) -> Result<(), KeyError> {
    if publishable_live != secret_live {
        return Err(KeyError::MixedModes {
            publishable: mode_name(publishable_live),
            secret: mode_name(secret_live),
        });
    }
    match (mode, secret_live) {
        (StripeMode::Live, false) => Err(KeyError::TestKeysInLiveMode),
        (StripeMode::Test, true) => Err(KeyError::LiveKeysInTestMode),
        _ => Ok(()),
    }
}

/// Checks a publishable and secret key pair against the deployment's mode; returns the secret
/// key's kind. Swapped fields are told apart from malformed keys, and both from mixed modes.
pub(super) fn validate_keys(
    mode: StripeMode,
    publishable: &str,
    secret: &str,
) -> Result<KeyKind, KeyError> {
    if publishable.is_empty() {
        return Err(KeyError::BlankPublishable);
    }
    if secret.is_empty() {
        return Err(KeyError::BlankSecret);
    }
    let p = classify(publishable);
    let s = classify(secret);
    if s.is_some_and(|k| k.key_type == KeyType::Publishable) || secret.starts_with("pk_") {
        return Err(KeyError::PublishableInSecretField);
    }
    if p.is_some_and(|k| k.key_type != KeyType::Publishable)
        || publishable.starts_with("sk_")
        || publishable.starts_with("rk_")
    {
        return Err(KeyError::SecretInPublishableField);
    }
    let p = p
        .filter(|k| k.well_formed)
        .ok_or(KeyError::MalformedPublishable)?;
    let s = s
        .filter(|k| k.well_formed)
        .ok_or(KeyError::MalformedSecret)?;
    check_key_mode(mode, p.live, s.live)?;
    Ok(s)
}

/// A secret key on its own (no publishable key to pair it with): its kind, checked against the
/// deployment's mode.
pub(super) fn validate_secret_key(mode: StripeMode, secret: &str) -> Result<KeyKind, KeyError> {
    if secret.is_empty() {
        return Err(KeyError::BlankSecret);
    }
    if secret.starts_with("pk_") {
        return Err(KeyError::PublishableInSecretField);
    }
    let kind = classify(secret)
        .filter(|k| k.well_formed)
        .ok_or(KeyError::MalformedSecret)?;
    check_key_mode(mode, kind.live, kind.live)?;
    Ok(kind)
}
