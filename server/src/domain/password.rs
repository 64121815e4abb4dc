//! Password hashing with Argon2id at the OWASP parameters.
//!
//! Hashing costs tens of milliseconds of CPU, so it runs on the blocking pool, never on the
//! async workers. An unknown user is verified against a dummy hash so that "no such user"
//! and "wrong password" take the same time.

use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};

/// Passwords longer than this are refused outright: Argon2 would take them, but nobody needs
/// a megabyte password and hashing one is a cheap way to burn our CPU.
pub const MAX_PASSWORD_BYTES: usize = 1024;
/// NIST SP 800-63B's minimum for user-chosen passwords.
pub const MIN_PASSWORD_CHARS: usize = 8;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Argon2Settings {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Argon2Settings {
    /// OWASP Password Storage Cheat Sheet: m=19456 KiB, t=2, p=1.
    pub const OWASP: Self = Self {
        memory_kib: 19_456,
        iterations: 2,
        parallelism: 1,
    };
}

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("password must be at least {MIN_PASSWORD_CHARS} characters")]
    TooShort,
    #[error("password must be at most {MAX_PASSWORD_BYTES} bytes")]
    TooLong,
    #[error("invalid Argon2 parameters: {0}")]
    Parameters(argon2::Error),
    #[error("password hashing failed: {0}")]
    Hashing(String),
    #[error("the hashing task did not finish")]
    Task(#[from] tokio::task::JoinError),
    /// The hashing pool was closed; it never is while the service runs.
    #[error("the hashing pool is closed")]
    Closed(#[from] tokio::sync::AcquireError),
}

/// Checks a new password against the policy: length only, as NIST advises (no composition
/// rules, no forced rotation).
pub fn check_policy(password: &SecretString) -> Result<(), PasswordError> {
    let secret = password.expose_secret();
    if secret.len() > MAX_PASSWORD_BYTES {
        Err(PasswordError::TooLong)
    } else if secret.chars().count() < MIN_PASSWORD_CHARS {
        Err(PasswordError::TooShort)
    } else {
        Ok(())
    }
}

#[derive(Clone)]
pub struct Passwords {
    inner: Arc<Inner>,
}

struct Inner {
    argon2: Argon2<'static>,
    /// One permit per core: hashes beyond that wait here, asynchronously, instead of piling
    /// onto the blocking pool where each would hold a thread and ~19 MiB while competing for
    /// the same cores (a login flood would otherwise starve everything else).
    permits: tokio::sync::Semaphore,
    /// A hash of a random password, verified when the user does not exist.
    dummy_hash: String,
}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords").finish_non_exhaustive()
    }
}

impl Passwords {
    pub fn new(settings: Argon2Settings) -> Result<Self, PasswordError> {
        let params = Params::new(settings.memory_kib, settings.iterations, settings.parallelism, None)
            .map_err(PasswordError::Parameters)?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let dummy = crate::domain::token::random_urlsafe(32);
        let dummy_hash = hash_with(&argon2, &dummy)?;
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Ok(Self {
            inner: Arc::new(Inner {
                argon2,
                dummy_hash,
                permits: tokio::sync::Semaphore::new(cores),
            }),
        })
    }

    /// Hashes a password into a PHC string (`$argon2id$v=19$m=…`), off the async runtime.
    pub async fn hash(&self, password: SecretString) -> Result<String, PasswordError> {
        let inner = self.inner.clone();
        let _permit = self.inner.permits.acquire().await?;
        tokio::task::spawn_blocking(move || hash_with(&inner.argon2, password.expose_secret())).await?
    }

    /// Verifies a password against a stored hash, or against the dummy hash when there is no
    /// user, so both cases cost the same. Returns false for a malformed stored hash.
    pub async fn verify(&self, password: SecretString, stored: Option<String>) -> Result<bool, PasswordError> {
        if password.expose_secret().len() > MAX_PASSWORD_BYTES {
            return Ok(false);
        }
        let inner = self.inner.clone();
        let _permit = self.inner.permits.acquire().await?;
        tokio::task::spawn_blocking(move || {
            let known = stored.is_some();
            let stored = stored.unwrap_or_else(|| inner.dummy_hash.clone());
            let Ok(parsed) = PasswordHash::new(&stored) else {
                tracing::error!("a stored password hash is not a valid PHC string");
                return false;
            };
            // The stored hash carries its own parameters, so hashes made under older
            // settings keep verifying after the settings change.
            let matches = inner
                .argon2
                .verify_password(password.expose_secret().as_bytes(), &parsed)
                .is_ok();
            known && matches
        })
        .await
        .map_err(PasswordError::from)
    }
}

fn hash_with(argon2: &Argon2<'_>, password: &str) -> Result<String, PasswordError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| PasswordError::Hashing(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tiny parameters: these tests check behaviour, not cost.
    const FAST: Argon2Settings = Argon2Settings {
        memory_kib: 64,
        iterations: 1,
        parallelism: 1,
    };

    fn secret(s: &str) -> SecretString {
        SecretString::from(s.to_owned())
    }

    #[tokio::test]
    async fn a_hash_verifies_its_password_and_nothing_else() {
        let passwords = Passwords::new(FAST).unwrap();
        let hash = passwords.hash(secret("correct horse")).await.unwrap();
        assert!(hash.starts_with("$argon2id$v=19$"));
        assert!(
            passwords
                .verify(secret("correct horse"), Some(hash.clone()))
                .await
                .unwrap()
        );
        assert!(!passwords.verify(secret("Correct horse"), Some(hash)).await.unwrap());
    }

    #[tokio::test]
    async fn an_unknown_user_never_verifies_even_with_the_dummy_password() {
        let passwords = Passwords::new(FAST).unwrap();
        assert!(!passwords.verify(secret("anything"), None).await.unwrap());
    }

    #[tokio::test]
    async fn salts_differ_and_garbage_hashes_do_not_verify() {
        let passwords = Passwords::new(FAST).unwrap();
        let a = passwords.hash(secret("same password")).await.unwrap();
        let b = passwords.hash(secret("same password")).await.unwrap();
        assert_ne!(a, b);
        assert!(
            !passwords
                .verify(secret("same password"), Some("not a hash".into()))
                .await
                .unwrap()
        );
    }

    #[test]
    fn owasp_parameters_are_the_default_settings() {
        let owasp = Argon2Settings::OWASP;
        assert_eq!((owasp.memory_kib, owasp.iterations, owasp.parallelism), (19_456, 2, 1));
    }

    #[test]
    fn policy_is_about_length() {
        assert!(check_policy(&secret("short")).is_err());
        assert!(check_policy(&secret("long enough")).is_ok());
        assert!(check_policy(&secret(&"x".repeat(MAX_PASSWORD_BYTES + 1))).is_err());
    }
}
