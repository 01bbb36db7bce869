//! The profiles the webhook endpoint verifies against, cached in memory with their secrets
//! opened, so a webhook costs no database read and no decryption in the normal case. Ids that
//! name no profile are remembered too, for as long and up to a bound, so requests for a
//! made-up profile id cost one database read per id, not one each.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use crate::crypto::{OpenError, SecretBox};
use crate::db;
use crate::domain::{ProfileId, StripeMode};

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("database error")]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Secret(#[from] OpenError),
    #[error("profile has an unknown mode {0:?}")]
    BadMode(String),
}

/// What verification needs of a profile.
pub struct SigningProfile {
    pub id: ProfileId,
    pub merchant_id: String,
    pub mode: StripeMode,
    secrets: Vec<SigningSecret>,
    loaded_at: Instant,
}

struct SigningSecret {
    value: SecretString,
    expires_at: Option<OffsetDateTime>,
}

impl SigningProfile {
    /// The secrets that verify at `now` (several during a rotation).
    pub fn active_secrets(&self, now: OffsetDateTime) -> Vec<&str> {
        self.secrets
            .iter()
            .filter(|s| s.expires_at.is_none_or(|at| at > now))
            .map(|s| s.value.expose_secret())
            .collect()
    }

    /// Old enough that a failed verification is worth a reload (a secret may have been added).
    pub fn may_be_stale(&self) -> bool {
        self.loaded_at.elapsed() >= RELOAD_ON_FAILURE_AFTER
    }
}

/// A verification failure reloads a profile at most this often, so a flood of bad
/// signatures cannot turn into a flood of database reads.
const RELOAD_ON_FAILURE_AFTER: Duration = Duration::from_secs(1);
/// Unknown ids remembered at most; past it the expired ones are dropped, or all of them.
const UNKNOWN_REMEMBERED: usize = 10_000;

pub struct ProfileDirectory {
    pool: PgPool,
    secret_box: Arc<SecretBox>,
    /// How long a cached profile is trusted; bounds how long an expired-by-hand secret or a
    /// change made by another process can go unnoticed.
    ttl: Duration,
    cache: RwLock<HashMap<ProfileId, Arc<SigningProfile>>>,
    /// Ids found to name no profile, and when.
    unknown: Mutex<HashMap<ProfileId, Instant>>,
    /// How many times anything was forgotten. A load that read the database before a change
    /// was heard may have read it as it was before, so it is kept only if nothing was
    /// forgotten while it ran. Changed and checked under the cache's write lock.
    forgettings: AtomicU64,
}

impl ProfileDirectory {
    pub fn new(pool: PgPool, secret_box: Arc<SecretBox>, ttl: Duration) -> Self {
        ProfileDirectory {
            pool,
            secret_box,
            ttl,
            cache: RwLock::new(HashMap::new()),
            unknown: Mutex::new(HashMap::new()),
            forgettings: AtomicU64::new(0),
        }
    }

    pub async fn get(&self, id: &ProfileId) -> Result<Option<Arc<SigningProfile>>, DirectoryError> {
        let cached = self
            .cache
            .read()
            .expect("profile cache lock poisoned")
            .get(id)
            .cloned();
        match cached {
            Some(p) if p.loaded_at.elapsed() < self.ttl => Ok(Some(p)),
            Some(_) => self.reload(id).await,
            None if self.known_unknown(id) => Ok(None),
            None => self.reload(id).await,
        }
    }

    /// Reads the profile from the database, replacing (or dropping) the cached copy.
    pub async fn reload(
        &self,
        id: &ProfileId,
    ) -> Result<Option<Arc<SigningProfile>>, DirectoryError> {
        let began = self.forgettings.load(Ordering::Acquire);
        let mut conn = self.pool.acquire().await?;
        let Some(row) = db::profiles::find_profile(&mut conn, id.as_str()).await? else {
            self.forget_cached(id);
            self.remember_unknown(id, began);
            return Ok(None);
        };
        let rows = db::profiles::secrets_of(&mut conn, id.as_str()).await?;
        drop(conn);
        let mode = row
            .mode
            .parse::<StripeMode>()
            .map_err(|_| DirectoryError::BadMode(row.mode.clone()))?;
        let secrets = rows
            .iter()
            .map(|s| {
                Ok(SigningSecret {
                    value: self.secret_box.open(&s.secret_ciphertext, id.as_str())?,
                    expires_at: s.expires_at,
                })
            })
            .collect::<Result<Vec<_>, OpenError>>()?;
        let profile = Arc::new(SigningProfile {
            id: id.clone(),
            merchant_id: row.merchant_id,
            mode,
            secrets,
            loaded_at: Instant::now(),
        });
        // This request uses what it read; later ones read again if a change was heard
        // meanwhile.
        let mut cache = self.cache.write().expect("profile cache lock poisoned");
        if self.forgettings.load(Ordering::Acquire) == began {
            cache.insert(id.clone(), profile.clone());
        }
        Ok(Some(profile))
    }

    /// Forgets a profile, so the next webhook sees changes made in this process at once.
    pub fn invalidate(&self, id: &ProfileId) {
        let mut cache = self.cache.write().expect("profile cache lock poisoned");
        self.forgettings.fetch_add(1, Ordering::AcqRel);
        cache.remove(id);
        self.unknown_ids().remove(id);
    }

    /// Forgets every profile (after notifications may have been missed).
    pub fn invalidate_all(&self) {
        let mut cache = self.cache.write().expect("profile cache lock poisoned");
        self.forgettings.fetch_add(1, Ordering::AcqRel);
        cache.clear();
        self.unknown_ids().clear();
    }

    /// Drops the cached copy of a profile just found not to exist.
    fn forget_cached(&self, id: &ProfileId) {
        self.cache
            .write()
            .expect("profile cache lock poisoned")
            .remove(id);
    }

    /// Drops a profile's cached copy as soon as any process commits a change to it, so a
    /// secret expired or a profile deleted elsewhere stops verifying at once; the TTL remains
    /// the backstop. Runs until `shutdown`.
    pub async fn follow_changes(self: Arc<Self>, shutdown: CancellationToken) {
        loop {
            let mut listener = tokio::select! {
                listening = db::profiles::listen_for_changes(&self.pool) => match listening {
                    Ok(listener) => listener,
                    Err(error) => {
                        tracing::warn!(%error, "cannot listen for profile changes; retrying");
                        tokio::select! {
                            () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                            () = shutdown.cancelled() => return,
                        }
                    }
                },
                () = shutdown.cancelled() => return,
            };
            // Changes made before listening began were not heard.
            self.invalidate_all();
            loop {
                let received = tokio::select! {
                    received = listener.try_recv() => received,
                    () = shutdown.cancelled() => return,
                };
                match received {
                    Ok(Some(change)) => match ProfileId::parse(change.payload()) {
                        Some(id) => self.invalidate(&id),
                        None => self.invalidate_all(),
                    },
                    // The connection was lost. What is cached stays in use until listening
                    // again (a database outage does not turn remembered answers into 503s),
                    // and is forgotten the moment listening resumes, when anything may have
                    // changed meanwhile.
                    Ok(None) => {
                        tracing::info!(
                            "lost the connection listening for profile changes; reconnecting"
                        );
                        break;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "listening for profile changes failed; reconnecting");
                        break;
                    }
                }
            }
        }
    }

    fn unknown_ids(&self) -> std::sync::MutexGuard<'_, HashMap<ProfileId, Instant>> {
        self.unknown
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether `id` was found to name no profile within the last `ttl`.
    fn known_unknown(&self, id: &ProfileId) -> bool {
        self.unknown_ids()
            .get(id)
            .is_some_and(|at| at.elapsed() < self.ttl)
    }

    /// Remembers that `id` names no profile, unless a change was heard since the load that
    /// found so `began` (the profile may have been created meanwhile).
    fn remember_unknown(&self, id: &ProfileId, began: u64) {
        let _cache = self.cache.write().expect("profile cache lock poisoned");
        if self.forgettings.load(Ordering::Acquire) != began {
            return;
        }
        let mut unknown = self.unknown_ids();
        if unknown.len() >= UNKNOWN_REMEMBERED {
            let ttl = self.ttl;
            unknown.retain(|_, at| at.elapsed() < ttl);
            if unknown.len() >= UNKNOWN_REMEMBERED {
                unknown.clear();
            }
        }
        unknown.insert(id.clone(), Instant::now());
    }
}
