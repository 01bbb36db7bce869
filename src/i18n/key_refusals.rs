//! Why a merchant's Stripe keys were refused, in the merchant's language: the checks made
//! before Stripe is asked ([`KeyError`]) and Stripe's own answers about the key (the key
//! variants of [`ProfileError`]).
//!
//! The English text is the refusal's message exactly as the API and the CLI give it (the
//! errors' `Display`), so the two never drift apart; [`KeyRefusal::from_message`] reads such a
//! message back, for a client of the API (the demo) that has only the message.

use super::Language;
use crate::setup::profiles::{KeyError, ProfileError};

/// A refusal of a merchant's Stripe keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyRefusal {
    /// The keys themselves: blank, swapped, malformed or of the wrong mode (nothing asked of
    /// Stripe).
    Keys(KeyError),
    /// Stripe rejected the secret key (`reason`: Stripe's answer, as it gave it).
    RejectedByStripe { reason: String },
    /// A restricted key that may not read the account.
    LacksPermission { reason: String },
    /// The key is of another Stripe account than the profile's.
    OtherAccount {
        profile_account: String,
        key_account: String,
    },
    /// Another profile already holds the key's Stripe account.
    AccountHeld { account: String, holder: String },
}

impl KeyError {
    /// Every refusal the key checks can give (both orders of mixed modes).
    pub fn all() -> Vec<KeyError> {
        vec![
            KeyError::BlankPublishable,
            KeyError::BlankSecret,
            KeyError::PublishableInSecretField,
            KeyError::SecretInPublishableField,
            KeyError::MalformedPublishable,
            KeyError::MalformedSecret,
            KeyError::MixedModes {
                publishable: "live",
                secret: "test",
            },
            KeyError::MixedModes {
                publishable: "test",
                secret: "live",
            },
            KeyError::TestKeysInLiveMode,
            KeyError::LiveKeysInTestMode,
        ]
    }

    /// The refusal in `language`; in English, its message as the API gives it.
    pub fn text(&self, language: Language) -> String {
        if language == Language::En {
            return self.to_string();
        }
        match self {
            KeyError::BlankPublishable => "la chiave pubblicabile non può essere vuota (pk_live_... da Stripe > Sviluppatori > Chiavi API)".to_owned(),
            KeyError::BlankSecret => "la chiave segreta non può essere vuota (sk_live_... o rk_live_... da Stripe > Sviluppatori > Chiavi API)".to_owned(),
            KeyError::PublishableInSecretField => "il campo della chiave segreta contiene una chiave pubblicabile (pk_...): metti la chiave pubblicabile in publishable_key e la chiave segreta (sk_live_... o una chiave limitata rk_live_...) in secret_key".to_owned(),
            KeyError::SecretInPublishableField => "il campo della chiave pubblicabile contiene una chiave segreta (sk_/rk_...): mettila in secret_key, e la chiave pubblicabile (pk_live_...) in publishable_key".to_owned(),
            KeyError::MalformedPublishable => "la chiave pubblicabile deve avere la forma pk_live_... (lettere e cifre dopo il prefisso)".to_owned(),
            KeyError::MalformedSecret => "la chiave segreta deve avere la forma sk_live_... o rk_live_... (lettere e cifre dopo il prefisso)".to_owned(),
            KeyError::MixedModes {
                publishable,
                secret,
            } => format!(
                "le chiavi sono di modalità diverse (chiave pubblicabile {publishable}, chiave segreta {secret}): devono venire entrambe dallo stesso account Stripe nella stessa modalità"
            ),
            KeyError::TestKeysInLiveMode => "servono le chiavi live (pk_live_... e sk_live_... o rk_live_...): le chiavi di test appartengono a un account Stripe in modalità test, dove le transazioni non vanno a buon fine; disattiva la modalità test nella dashboard di Stripe e copia le chiavi live da Sviluppatori > Chiavi API".to_owned(),
            KeyError::LiveKeysInTestMode => "questa installazione funziona in modalità test (ACCREDITO_STRIPE_MODE=test) e accetta solo chiavi di test (pk_test_... con sk_test_... o rk_test_...)".to_owned(),
        }
    }
}

impl KeyRefusal {
    /// The refusal a profile operation failed with, if it was one about the keys.
    pub fn from_profile_error(error: &ProfileError) -> Option<KeyRefusal> {
        Some(match error {
            ProfileError::Keys(e) => KeyRefusal::Keys(e.clone()),
            ProfileError::KeyRejected { reason } => KeyRefusal::RejectedByStripe {
                reason: reason.clone(),
            },
            ProfileError::KeyLacksPermission(reason) => KeyRefusal::LacksPermission {
                reason: reason.clone(),
            },
            ProfileError::OtherAccount {
                profile_account,
                key_account,
            } => KeyRefusal::OtherAccount {
                profile_account: profile_account.clone(),
                key_account: key_account.clone(),
            },
            ProfileError::AccountHeld { account, holder } => KeyRefusal::AccountHeld {
                account: account.clone(),
                holder: holder.clone(),
            },
            _ => return None,
        })
    }

    /// The refusal whose English message (the API's `message`) is `message`; `None` for any
    /// other message.
    pub fn from_message(message: &str) -> Option<KeyRefusal> {
        if let Some(e) = KeyError::all()
            .into_iter()
            .find(|e| e.to_string() == message)
        {
            return Some(KeyRefusal::Keys(e));
        }
        let candidates = [
            fields_of(|f| ProfileError::KeyRejected { reason: f(0) }, 1, message).map(|v| {
                KeyRefusal::RejectedByStripe {
                    reason: v[0].clone(),
                }
            }),
            fields_of(|f| ProfileError::KeyLacksPermission(f(0)), 1, message).map(|v| {
                KeyRefusal::LacksPermission {
                    reason: v[0].clone(),
                }
            }),
            fields_of(
                |f| ProfileError::OtherAccount {
                    profile_account: f(0),
                    key_account: f(1),
                },
                2,
                message,
            )
            .map(|v| KeyRefusal::OtherAccount {
                profile_account: v[0].clone(),
                key_account: v[1].clone(),
            }),
            fields_of(
                |f| ProfileError::AccountHeld {
                    account: f(0),
                    holder: f(1),
                },
                2,
                message,
            )
            .map(|v| KeyRefusal::AccountHeld {
                account: v[0].clone(),
                holder: v[1].clone(),
            }),
        ];
        candidates.into_iter().flatten().next()
    }

    /// The refusal in `language`; in English, its message as the API gives it.
    pub fn text(&self, language: Language) -> String {
        match (self, language) {
            (KeyRefusal::Keys(e), _) => e.text(language),
            (KeyRefusal::RejectedByStripe { reason }, Language::En) => ProfileError::KeyRejected {
                reason: reason.clone(),
            }
            .to_string(),
            (KeyRefusal::RejectedByStripe { reason }, Language::It) => format!(
                "Stripe ha rifiutato la chiave segreta ({reason}): copia le chiavi attuali da Stripe > Sviluppatori > Chiavi API; non è stato salvato nulla"
            ),
            (KeyRefusal::LacksPermission { reason }, Language::En) => {
                ProfileError::KeyLacksPermission(reason.clone()).to_string()
            }
            (KeyRefusal::LacksPermission { reason }, Language::It) => format!(
                "la chiave limitata non può leggere l'account Stripe ({reason}); concedile l'accesso in lettura ad Account, oppure usa la chiave segreta; non è stato salvato nulla"
            ),
            (
                KeyRefusal::OtherAccount {
                    profile_account,
                    key_account,
                },
                Language::En,
            ) => ProfileError::OtherAccount {
                profile_account: profile_account.clone(),
                key_account: key_account.clone(),
            }
            .to_string(),
            (
                KeyRefusal::OtherAccount {
                    profile_account,
                    key_account,
                },
                Language::It,
            ) => format!(
                "la chiave appartiene all'account Stripe {key_account}, ma il profilo è per l'account {profile_account}: un profilo è un solo account Stripe, quindi crea un altro profilo per l'altro account; non è stato salvato nulla"
            ),
            (KeyRefusal::AccountHeld { account, holder }, Language::En) => {
                ProfileError::AccountHeld {
                    account: account.clone(),
                    holder: holder.clone(),
                }
                .to_string()
            }
            (KeyRefusal::AccountHeld { account, holder }, Language::It) => format!(
                "l'account Stripe {account} è già associato al profilo {holder}: un profilo per ogni account Stripe, quindi usa quel profilo (o eliminalo prima); non è stato salvato nulla"
            ),
        }
    }
}

/// The values of an error's fields in `message`, if `message` is that error's `Display`:
/// `error` builds the error from a field getter; the literal text around the fields is read
/// from the error itself, so a reworded message is still read (or cleanly not).
fn fields_of(
    error: impl Fn(&dyn Fn(usize) -> String) -> ProfileError,
    count: usize,
    message: &str,
) -> Option<Vec<String>> {
    let marker = |i: usize| format!("\u{1}{i}\u{1}");
    let template = error(&marker).to_string();
    // The fields in the order the message shows them.
    let mut order: Vec<(usize, usize)> = (0..count)
        .map(|i| template.find(&marker(i)).map(|at| (at, i)))
        .collect::<Option<_>>()?;
    order.sort_unstable();
    let mut pieces = Vec::with_capacity(count + 1);
    let mut rest = template.as_str();
    for (_, i) in &order {
        let (before, after) = rest.split_once(&marker(*i))?;
        pieces.push(before);
        rest = after;
    }
    let mut remaining = message.strip_prefix(pieces[0])?.strip_suffix(rest)?;
    let mut values = vec![String::new(); count];
    for (piece, (_, i)) in pieces[1..].iter().zip(&order) {
        let (value, after) = remaining.split_once(piece)?;
        values[*i] = value.to_owned();
        remaining = after;
    }
    let (_, last) = *order.last()?;
    values[last] = remaining.to_owned();
    // Exactly this message, not one that merely starts and ends like it.
    (error(&|i| values[i].clone()).to_string() == message).then_some(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One refusal of each kind; the match makes a new variant fail to compile here.
    fn one_of_each() -> Vec<KeyRefusal> {
        let mut refusals: Vec<KeyRefusal> =
            KeyError::all().into_iter().map(KeyRefusal::Keys).collect();
        refusals.extend([
            KeyRefusal::RejectedByStripe {
                reason: "Invalid API Key provided: sk_live_****0000".into(),
            },
            KeyRefusal::LacksPermission {
                reason: "The provided key does not have the required permissions (rak_accounts_kyc_basic_read)".into(),
            },
            KeyRefusal::OtherAccount {
                profile_account: "acct_profile".into(),
                key_account: "acct_key".into(),
            },
            KeyRefusal::AccountHeld {
                account: "acct_1".into(),
                holder: "prof_abc".into(),
            },
        ]);
        for refusal in &refusals {
            match refusal {
                KeyRefusal::Keys(e) => match e {
                    KeyError::BlankPublishable
                    | KeyError::BlankSecret
                    | KeyError::PublishableInSecretField
                    | KeyError::SecretInPublishableField
                    | KeyError::MalformedPublishable
                    | KeyError::MalformedSecret
                    | KeyError::MixedModes { .. }
                    | KeyError::TestKeysInLiveMode
                    | KeyError::LiveKeysInTestMode => {}
                },
                KeyRefusal::RejectedByStripe { .. }
                | KeyRefusal::LacksPermission { .. }
                | KeyRefusal::OtherAccount { .. }
                | KeyRefusal::AccountHeld { .. } => {}
            }
        }
        refusals
    }

    #[test]
    fn every_refusal_has_its_own_italian_text() {
        let mut italian = std::collections::BTreeSet::new();
        for refusal in one_of_each() {
            let (en, it) = (refusal.text(Language::En), refusal.text(Language::It));
            assert!(!it.trim().is_empty(), "{refusal:?}");
            assert_ne!(en, it, "{refusal:?} has no Italian text");
            assert!(italian.insert(it), "{refusal:?} shares its Italian text");
        }
        assert!(
            KeyError::TestKeysInLiveMode
                .text(Language::It)
                .starts_with("servono le chiavi live")
        );
    }

    #[test]
    fn the_english_text_is_the_apis_message() {
        for e in KeyError::all() {
            assert_eq!(e.text(Language::En), e.to_string());
            let profile_error = ProfileError::Keys(e.clone());
            assert_eq!(
                KeyRefusal::from_profile_error(&profile_error),
                Some(KeyRefusal::Keys(e))
            );
        }
        let rejected = ProfileError::KeyRejected {
            reason: "Invalid API Key provided".into(),
        };
        assert_eq!(
            KeyRefusal::from_profile_error(&rejected)
                .expect("a refusal")
                .text(Language::En),
            rejected.to_string()
        );
        assert_eq!(
            KeyRefusal::from_profile_error(&ProfileError::NotFound),
            None
        );
    }

    #[test]
    fn a_refusal_reads_back_from_its_message() {
        for refusal in one_of_each() {
            let message = refusal.text(Language::En);
            assert_eq!(
                KeyRefusal::from_message(&message),
                Some(refusal.clone()),
                "{message}"
            );
        }
        // A reason holding the text that follows it is still read whole.
        let tricky = KeyRefusal::RejectedByStripe {
            reason: "code (x): copy the current keys".into(),
        };
        assert_eq!(
            KeyRefusal::from_message(&tricky.text(Language::En)),
            Some(tricky)
        );
        assert_eq!(KeyRefusal::from_message("no such Stripe profile"), None);
        assert_eq!(KeyRefusal::from_message(""), None);
    }
}
