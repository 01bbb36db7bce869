//! Secrets at rest (G7): webhook signing secrets and Stripe keys are sealed with
//! XChaCha20-Poly1305 under `ACCREDITO_MASTER_KEY`. The additional data binds each ciphertext
//! to the row it belongs to, so a ciphertext copied onto another profile does not open.
//! The relay's messages are signed with a key derived from the same master key (see
//! [`SecretBox::sign_message`]).

pub mod admin_tokens;

use base64::Engine as _;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::{Hmac, Mac};
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

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
    #[error(
        "ACCREDITO_PREVIOUS_MASTER_KEYS is malformed: each must be 32 random bytes, base64-encoded, separated by commas"
    )]
    MalformedPrevious,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum OpenError {
    #[error("a stored secret could not be decrypted: wrong ACCREDITO_MASTER_KEY or tampered row")]
    Undecryptable,
}

/// Marks a value sealed with a key id: `AK1`, the key's 8-byte id, the nonce, the ciphertext.
/// Values sealed before key ids existed are the nonce and the ciphertext alone, and still open.
const KEYED: &[u8; 3] = b"AK1";
const KEY_ID_LEN: usize = 8;

/// The relay's message signatures: HMAC-SHA256 under a key derived from a master key.
type MessageMac = Hmac<Sha256>;
/// What a message signature starts with: its scheme, so that another can follow.
const MESSAGE_SIGNATURE_SCHEME: &str = "v1=";

/// One master key, known by an id derived from it (never the key itself).
struct MasterKey {
    id: [u8; KEY_ID_LEN],
    cipher: XChaCha20Poly1305,
    /// Keyed with HMAC-SHA256(master key, a label): a signature reveals nothing of the key
    /// that seals secrets.
    message_mac: MessageMac,
}

impl MasterKey {
    fn parse(encoded: &str) -> Result<MasterKey, MasterKeyError> {
        let trimmed = encoded.trim();
        if trimmed.is_empty() {
            return Err(MasterKeyError::Missing);
        }
        let bytes = Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(trimmed)
                .map_err(|_| MasterKeyError::Malformed)?,
        );
        let cipher =
            XChaCha20Poly1305::new_from_slice(&bytes).map_err(|_| MasterKeyError::Malformed)?;
        let digest = Sha256::digest([b"accredito master key id ".as_slice(), &bytes].concat());
        let mut id = [0u8; KEY_ID_LEN];
        id.copy_from_slice(&digest[..KEY_ID_LEN]);
        let derived: Zeroizing<[u8; 32]> = Zeroizing::new(
            <MessageMac as hmac::KeyInit>::new_from_slice(&bytes)
                .map_err(|_| MasterKeyError::Malformed)?
                .chain_update(b"accredito relay message signing key v1")
                .finalize()
                .into_bytes()
                .into(),
        );
        let message_mac = <MessageMac as hmac::KeyInit>::new_from_slice(derived.as_slice())
            .map_err(|_| MasterKeyError::Malformed)?;
        Ok(MasterKey {
            id,
            cipher,
            message_mac,
        })
    }

    /// The HMAC of `parts`, each preceded by its length so that no two lists sign alike.
    fn message_tag(&self, parts: &[&[u8]]) -> MessageMac {
        let mut mac = self.message_mac.clone();
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        mac
    }

    fn open_raw(&self, nonce_and_ciphertext: &[u8], context: &str) -> Option<Vec<u8>> {
        if nonce_and_ciphertext.len() < NONCE_LEN {
            return None;
        }
        let (nonce, ciphertext) = nonce_and_ciphertext.split_at(NONCE_LEN);
        self.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .ok()
    }
}

/// Seals and opens secrets. Cheap to clone behind an `Arc`; the keys never leave it (the
/// ciphers wipe them when dropped). Seals under the current master key; opens under it or any
/// previous one, so keys can be rotated: add the new key, keep the old as previous, run
/// `accredito rekey`, then drop the old.
pub struct SecretBox {
    current: MasterKey,
    previous: Vec<MasterKey>,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

impl SecretBox {
    pub fn from_master_key(key: Option<&SecretString>) -> Result<Self, MasterKeyError> {
        Self::with_previous(key, None)
    }

    /// The current key, and the previous ones (`ACCREDITO_PREVIOUS_MASTER_KEYS`, separated by
    /// commas) that values sealed before a rotation may still be under.
    pub fn with_previous(
        key: Option<&SecretString>,
        previous: Option<&SecretString>,
    ) -> Result<Self, MasterKeyError> {
        let current = MasterKey::parse(key.ok_or(MasterKeyError::Missing)?.expose_secret())?;
        let previous = match previous {
            Some(list) => list
                .expose_secret()
                .split(',')
                .filter(|k| !k.trim().is_empty())
                .map(|k| MasterKey::parse(k).map_err(|_| MasterKeyError::MalformedPrevious))
                .collect::<Result<Vec<_>, _>>()?,
            None => Vec::new(),
        };
        Ok(SecretBox { current, previous })
    }

    /// A fresh random key in the form `ACCREDITO_MASTER_KEY` takes.
    pub fn generate_master_key() -> String {
        let mut key = Zeroizing::new([0u8; 32]);
        rand::rng().fill_bytes(key.as_mut_slice());
        base64::engine::general_purpose::STANDARD.encode(key.as_slice())
    }

    pub fn seal(&self, plaintext: &str, context: &str) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let ciphertext = self
            .current
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: context.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 encryption cannot fail for in-memory inputs");
        let mut sealed =
            Vec::with_capacity(KEYED.len() + KEY_ID_LEN + NONCE_LEN + ciphertext.len());
        sealed.extend_from_slice(KEYED);
        sealed.extend_from_slice(&self.current.id);
        sealed.extend_from_slice(&nonce);
        sealed.extend_from_slice(&ciphertext);
        sealed
    }

    /// Signs what the relay publishes, under the current master key: `v1=` and the base64 of
    /// an HMAC-SHA256 over `parts`.
    pub fn sign_message(&self, parts: &[&[u8]]) -> String {
        let tag = self.current.message_tag(parts).finalize().into_bytes();
        let encoded = base64::engine::general_purpose::STANDARD.encode(tag);
        format!("{MESSAGE_SIGNATURE_SCHEME}{encoded}")
    }

    /// Whether `signature` is [`Self::sign_message`]'s over `parts` under the current or a
    /// previous master key; compared in constant time.
    pub fn signed_message(&self, parts: &[&[u8]], signature: &str) -> bool {
        let Some(tag) = signature
            .strip_prefix(MESSAGE_SIGNATURE_SCHEME)
            .and_then(|t| base64::engine::general_purpose::STANDARD.decode(t).ok())
        else {
            return false;
        };
        std::iter::once(&self.current)
            .chain(&self.previous)
            .any(|key| key.message_tag(parts).verify_slice(&tag).is_ok())
    }

    /// Whether `sealed` is already under the current key (what `rekey` skips).
    pub fn is_current(&self, sealed: &[u8]) -> bool {
        sealed.starts_with(KEYED)
            && sealed.get(KEYED.len()..KEYED.len() + KEY_ID_LEN) == Some(&self.current.id)
    }

    pub fn open(&self, sealed: &[u8], context: &str) -> Result<SecretString, OpenError> {
        let keys = || std::iter::once(&self.current).chain(&self.previous);
        let keyed = sealed
            .strip_prefix(KEYED.as_slice())
            .filter(|rest| rest.len() >= KEY_ID_LEN)
            .and_then(|rest| {
                let (id, body) = rest.split_at(KEY_ID_LEN);
                keys().find(|k| k.id == id)?.open_raw(body, context)
            });
        // Sealed before key ids: try each key on the whole value.
        let plaintext = keyed
            .or_else(|| keys().find_map(|k| k.open_raw(sealed, context)))
            .ok_or(OpenError::Undecryptable)?;
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

    fn key() -> SecretString {
        SecretString::from(SecretBox::generate_master_key())
    }

    #[test]
    fn after_a_rotation_values_under_the_previous_key_still_open_and_new_ones_use_the_new_key() {
        let (old, new) = (key(), key());
        let before = SecretBox::from_master_key(Some(&old)).expect("valid");
        let sealed_before = before.seal("whsec_abc", "prof_1");
        let previous = SecretString::from(old.expose_secret().to_owned());
        let after = SecretBox::with_previous(Some(&new), Some(&previous)).expect("valid");

        assert!(!after.is_current(&sealed_before));
        assert_eq!(
            after
                .open(&sealed_before, "prof_1")
                .expect("opens")
                .expose_secret(),
            "whsec_abc"
        );
        let resealed = after.seal("whsec_abc", "prof_1");
        assert!(after.is_current(&resealed));
        assert_eq!(
            before.open(&resealed, "prof_1").err(),
            Some(OpenError::Undecryptable),
            "the old key alone cannot open what the new one sealed"
        );
        let without_previous = SecretBox::from_master_key(Some(&new)).expect("valid");
        assert_eq!(
            without_previous.open(&sealed_before, "prof_1").err(),
            Some(OpenError::Undecryptable)
        );
    }

    #[test]
    fn values_sealed_before_key_ids_still_open() {
        let master = key();
        let b = SecretBox::from_master_key(Some(&master)).expect("valid");
        // The earlier format: nonce and ciphertext, no prefix.
        let legacy = b.seal("whsec_abc", "prof_1")[KEYED.len() + KEY_ID_LEN..].to_vec();
        assert!(!b.is_current(&legacy));
        assert_eq!(
            b.open(&legacy, "prof_1").expect("opens").expose_secret(),
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
    fn a_message_signature_verifies_only_over_the_same_parts_and_keys() {
        let (old_key, new_key) = (key(), key());
        let old = SecretBox::from_master_key(Some(&old_key)).expect("key");
        let parts: [&[u8]; 3] = [b"prof_1", b"evt_1", b"{}"];
        let signature = old.sign_message(&parts);
        assert!(signature.starts_with("v1="), "{signature}");
        assert!(old.signed_message(&parts, &signature));

        // Any change, even moving a byte from one part to the next, fails.
        assert!(!old.signed_message(&[b"prof_1", b"evt_2", b"{}"], &signature));
        assert!(!old.signed_message(&[b"prof_1e", b"vt_1", b"{}"], &signature));
        for garbled in [
            "",
            "v1=",
            "v1=@@@",
            "v2=AAAA",
            &signature[..signature.len() - 4],
        ] {
            assert!(!old.signed_message(&parts, garbled), "{garbled:?}");
        }

        // Another deployment's key does not; after a rotation the previous key still does.
        let other = SecretBox::from_master_key(Some(&key())).expect("key");
        assert!(!other.signed_message(&parts, &signature));
        let rotated = SecretBox::with_previous(Some(&new_key), Some(&old_key)).expect("keys");
        assert!(rotated.signed_message(&parts, &signature));
        assert_ne!(
            rotated.sign_message(&parts),
            signature,
            "signs with the new key"
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
