//! Bearer tokens for the `/v1` API. Each token has a name, which the audit trail records as
//! who made a change: `ACCREDITO_ADMIN_TOKEN` is `admin`; `ACCREDITO_ADMIN_TOKENS` adds named
//! ones (`name:token,name:token`), so each person or system can have its own, and one can be
//! revoked without the others. `ACCREDITO_VIEWER_TOKENS` (same form) adds read-only tokens for
//! back-office staff: the console's pages and `GET` under `/v1`, nothing that changes anything.
//! Names are unique across both lists, so the audit trail's name says who, and the role follows
//! from it. Only SHA-256 digests of the tokens are kept in memory.

use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

/// The name `ACCREDITO_ADMIN_TOKEN` goes by.
pub const SINGLE_TOKEN_NAME: &str = "admin";
/// Shorter tokens can be guessed; 32 hex characters are 128 bits.
pub const MIN_TOKEN_LEN: usize = 32;
/// The examples in `deploy/`, lowercased: a copy left as is is refused.
const PLACEHOLDERS: [&str; 3] = ["replace_with", "change-me", "changeme"];

/// What a token may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Everything: the `/v1` API and the console, changes included.
    Admin,
    /// Read only: every console page and `GET` under `/v1`.
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "admin" => Some(Role::Admin),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }
}

#[derive(Debug, Default)]
pub struct AdminTokens {
    entries: Vec<(String, [u8; 32], Role)>,
}

impl AdminTokens {
    /// Reads `ACCREDITO_ADMIN_TOKEN` (`single`) and `ACCREDITO_ADMIN_TOKENS` (`named`). Errors
    /// name the entry by position or name, never by its token.
    pub fn parse(
        single: Option<&SecretString>,
        named: Option<&SecretString>,
    ) -> Result<Self, String> {
        let mut tokens = AdminTokens::default();
        if let Some(token) = single {
            tokens.add(
                SINGLE_TOKEN_NAME,
                token.expose_secret(),
                "ACCREDITO_ADMIN_TOKEN",
            )?;
        }
        if let Some(list) = named {
            tokens.add_list(list, "ACCREDITO_ADMIN_TOKENS", Role::Admin)?;
        }
        Ok(tokens)
    }

    /// Adds `ACCREDITO_VIEWER_TOKENS`: read-only tokens, `name:token` entries separated by
    /// commas, under the same rules as the admin ones.
    pub fn with_viewers(mut self, viewers: Option<&SecretString>) -> Result<Self, String> {
        if let Some(list) = viewers {
            self.add_list(list, "ACCREDITO_VIEWER_TOKENS", Role::Viewer)?;
        }
        Ok(self)
    }

    fn add_list(&mut self, list: &SecretString, setting: &str, role: Role) -> Result<(), String> {
        let entries = list
            .expose_secret()
            .split(',')
            .map(str::trim)
            .filter(|e| !e.is_empty());
        for (position, entry) in entries.enumerate() {
            let place = format!("entry {} of {setting}", position + 1);
            let (name, token) = entry
                .split_once(':')
                .ok_or_else(|| format!("{place} must be name:token"))?;
            self.add_role(name.trim(), token.trim(), &place, role)?;
        }
        Ok(())
    }

    fn add(&mut self, name: &str, token: &str, place: &str) -> Result<(), String> {
        self.add_role(name, token, place, Role::Admin)
    }

    fn add_role(&mut self, name: &str, token: &str, place: &str, role: Role) -> Result<(), String> {
        let valid_name = (1..=64).contains(&name.len())
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !valid_name {
            return Err(format!(
                "{place}: a token name is 1-64 letters, digits, '_', '-' or '.'"
            ));
        }
        if token.is_empty() || token.bytes().any(|b| b.is_ascii_whitespace() || b == b',') {
            return Err(format!(
                "{place}: the token ({name}) must not be empty or contain spaces or commas"
            ));
        }
        if token.len() < MIN_TOKEN_LEN {
            return Err(format!(
                "{place}: the token ({name}) must be at least {MIN_TOKEN_LEN} characters (e.g. `openssl rand -hex 32`)"
            ));
        }
        let lowered = token.to_ascii_lowercase();
        if PLACEHOLDERS.iter().any(|p| lowered.contains(p)) {
            return Err(format!(
                "{place}: the token ({name}) is an example placeholder; generate one (e.g. `openssl rand -hex 32`)"
            ));
        }
        if self.entries.iter().any(|(n, _, _)| n == name) {
            return Err(format!("{place}: the token name {name} is used twice"));
        }
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if self.entries.iter().any(|(_, d, _)| *d == digest) {
            return Err(format!(
                "{place}: token {name} is the same as another token; give each its own"
            ));
        }
        self.entries.push((name.to_owned(), digest, role));
        Ok(())
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The name of the token presented, if it is one. Every token is compared, in constant
    /// time, whatever matches: timing tells neither which token nor how much of one matched.
    pub fn identify(&self, presented: &str) -> Option<&str> {
        self.identify_with_role(presented).map(|(name, _)| name)
    }

    /// [`Self::identify`], with the token's role.
    pub fn identify_with_role(&self, presented: &str) -> Option<(&str, Role)> {
        let digest: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        let mut found = None;
        for (name, expected, role) in &self.entries {
            let matches: Choice = digest.ct_eq(expected);
            if bool::from(matches) {
                found = Some((name.as_str(), *role));
            }
        }
        found
    }

    /// The role of the token with this name, while it is configured: a console session
    /// checks it on every request, so removing a token (or changing its role) ends its
    /// sessions at once.
    pub fn role_of(&self, name: &str) -> Option<Role> {
        self.entries
            .iter()
            .find(|(n, _, _)| n == name)
            .map(|(_, _, role)| *role)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[test]
    fn each_token_is_known_by_its_name() {
        let tokens = AdminTokens::parse(
            Some(&secret("single-token-0123456789abcdef0123456789")),
            Some(&secret("ops-alice:alice-token-0123456789abcdef0123456789, platform.sync:sync-token-0123456789abcdef0123456789")),
        )
        .expect("valid");
        assert_eq!(
            tokens.identify("single-token-0123456789abcdef0123456789"),
            Some("admin")
        );
        assert_eq!(
            tokens.identify("alice-token-0123456789abcdef0123456789"),
            Some("ops-alice")
        );
        assert_eq!(
            tokens.identify("sync-token-0123456789abcdef0123456789"),
            Some("platform.sync")
        );
        assert_eq!(tokens.identify("alice-toke"), None);
        assert_eq!(tokens.identify(""), None);
    }

    #[test]
    fn viewer_tokens_are_known_by_name_with_their_role_and_follow_the_same_rules() {
        let tokens = AdminTokens::parse(
            Some(&secret("single-token-0123456789abcdef0123456789")),
            None,
        )
        .and_then(|t| {
            t.with_viewers(Some(&secret(
                "desk-maria:maria-token-0123456789abcdef0123456789",
            )))
        })
        .expect("valid");
        assert_eq!(
            tokens.identify_with_role("maria-token-0123456789abcdef0123456789"),
            Some(("desk-maria", Role::Viewer))
        );
        assert_eq!(
            tokens.identify_with_role("single-token-0123456789abcdef0123456789"),
            Some(("admin", Role::Admin))
        );
        assert_eq!(tokens.role_of("desk-maria"), Some(Role::Viewer));
        assert_eq!(tokens.role_of("nobody"), None);

        let refused = |list: &str| {
            AdminTokens::parse(
                Some(&secret("single-token-0123456789abcdef0123456789")),
                None,
            )
            .and_then(|t| t.with_viewers(Some(&secret(list))))
            .expect_err(list)
        };
        for (list, says) in [
            ("short:tok-value-shorter-than-32", "at least 32 characters"),
            ("admin:tok-value-1-0123456789abcdef0123456789", "used twice"),
            (
                "v:single-token-0123456789abcdef0123456789",
                "same as another",
            ),
            (
                "copied:REPLACE_WITH_A_TOKEN_0123456789abcdef",
                "placeholder",
            ),
        ] {
            let error = refused(list);
            assert!(error.contains(says), "{list}: {error}");
            assert!(error.contains("ACCREDITO_VIEWER_TOKENS"), "{error}");
            assert!(!error.contains("tok-value"), "{error}");
        }
    }

    #[test]
    fn no_token_configured_lets_nobody_in() {
        let tokens = AdminTokens::parse(None, None).expect("valid");
        assert!(tokens.is_empty());
        assert_eq!(tokens.identify(""), None);
    }

    #[test]
    fn malformed_lists_are_refused_without_quoting_a_token() {
        let refused = |list: &str| {
            AdminTokens::parse(
                Some(&secret("single-token-0123456789abcdef0123456789")),
                Some(&secret(list)),
            )
            .expect_err(list)
        };
        for (list, says) in [
            (
                "no-colon-token-value-0123456789abcdef0123456789",
                "name:token",
            ),
            (
                "bad name:tok-value-1-0123456789abcdef0123456789",
                "token name",
            ),
            (":tok-value-1-0123456789abcdef0123456789", "token name"),
            ("empty:", "must not be empty"),
            (
                "a:tok-value-1-0123456789abcdef0123456789,a:tok-value-2-0123456789abcdef0123456789",
                "used twice",
            ),
            ("admin:tok-value-1-0123456789abcdef0123456789", "used twice"),
            (
                "a:tok-value-1-0123456789abcdef0123456789,b:tok-value-1-0123456789abcdef0123456789",
                "same as another",
            ),
            (
                "b:single-token-0123456789abcdef0123456789",
                "same as another",
            ),
            ("short:tok-value-shorter-than-32", "at least 32 characters"),
            (
                "copied:REPLACE_WITH_A_TOKEN_0123456789abcdef",
                "placeholder",
            ),
            (
                "copied:change-me-admin-token-0123456789abcdef",
                "placeholder",
            ),
        ] {
            let error = refused(list);
            assert!(error.contains(says), "{list}: {error}");
            assert!(!error.contains("tok-value"), "{error}");
            assert!(
                !error.contains("single-token-0123456789abcdef0123456789"),
                "{error}"
            );
        }
    }
}
