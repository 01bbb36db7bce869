//! Secrets at rest (G7): webhook signing secrets and Stripe keys are sealed with
//! XChaCha20-Poly1305 under `ACCREDITO_MASTER_KEY`. The additional data binds each ciphertext
//! to the row it belongs to, so a ciphertext copied onto another profile does not open.

pub mod admin_tokens;

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};

const NONCE_LEN: usize = 24;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MasterKeyError {
    #[error(
        "ACCREDITO_MASTER_KEY is not set: it encrypts secrets at rest; generate one with `head -c 32 /dev/urandom | base64`"
    )]
    Missing,
    #[error(
        "ACCREDITO_MASTER_KEY is malformed: it must be 32 random bytes, base64-encoded (44 characters)"
    )]
    Malformed,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpenError {
    #[error("a stored secret could not be decrypted: wrong ACCREDITO_MASTER_KEY or tampered row")]
    Undecryptable,
}

/// Seals and opens secrets. Cheap to clone behind an `Arc`; the key never leaves it.
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    pub fn from_master_key(key: Option<&SecretString>) -> Result<Self, MasterKeyError> {
        let key = key.ok_or(MasterKeyError::Missing)?;
        let trimmed = key.expose_secret().trim();
        if trimmed.is_empty() {
            return Err(MasterKeyError::Missing);
        }
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(trimmed)
            .map_err(|_| MasterKeyError::Malformed)?;
        let cipher =
            XChaCha20Poly1305::new_from_slice(&bytes).map_err(|_| MasterKeyError::Malformed)?;
        Ok(SecretBox { cipher })
    }

    /// A fresh random key in the form `ACCREDITO_MASTER_KEY` takes.
    pub fn generate_master_key() -> String {
        let mut key = [0u8; 32];
        rand::rng().fill_bytes(&mut key);
        base64::engine::general_purpose::STANDARD.encode(key)
    }

    pub fn seal(&self, plaintext: &str, context: &str) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let ciphertext = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory inputs");
        let mut sealed = nonce.to_vec();
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    pub fn open(&self, sealed: &[u8], context: &str) -> Result<SecretString, OpenError> {
        if sealed.len() < NONCE_LEN {
            return Err(OpenError::Undecryptable);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let plaintext = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map_err(|_| OpenError::Undecryptable)?;
        let text = String::from_utf8(plaintext).map_err(|_| OpenError::Undecryptable)?;
        Ok(SecretString::from(text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn test_box() -> SecretBox {
        let key = SecretString::from(SecretBox::generate_master_key());
        SecretBox::from_master_key(Some(&key)).expect("generated key is valid")
    }

    #[test]
    fn sealed_secret_opens_with_the_same_context() {
        let b = test_box();
        let sealed = b.seal("whsec_abc", "prof_1");
        assert!(!sealed.windows(9).any(|w| w == b"whsec_abc"));
        assert_eq!(
            b.open(&sealed, "prof_1").expect("opens").expose_secret(),
            "whsec_abc"
        );
    }

    #[test]
    fn sealed_secret_does_not_open_under_another_context_or_key() {
        let b = test_box();
        let sealed = b.seal("whsec_abc", "prof_1");
        assert_eq!(
            b.open(&sealed, "prof_2").err(),
            Some(OpenError::Undecryptable)
        );
        assert_eq!(
            test_box().open(&sealed, "prof_1").err(),
            Some(OpenError::Undecryptable)
        );
        assert_eq!(
            b.open(&sealed[..10], "prof_1").err(),
            Some(OpenError::Undecryptable)
        );
    }

    #[test]
    fn missing_or_malformed_master_key_is_a_clear_error() {
        assert_eq!(
            SecretBox::from_master_key(None).err(),
            Some(MasterKeyError::Missing)
        );
        let blank = SecretString::from("  ");
        assert_eq!(
            SecretBox::from_master_key(Some(&blank)).err(),
            Some(MasterKeyError::Missing)
        );
        let short = SecretString::from("c2hvcnQ=");
        assert_eq!(
            SecretBox::from_master_key(Some(&short)).err(),
            Some(MasterKeyError::Malformed)
        );
        let not_b64 = SecretString::from("not base64 at all!");
        assert_eq!(
            SecretBox::from_master_key(Some(&not_b64)).err(),
            Some(MasterKeyError::Malformed)
        );
    }
}
