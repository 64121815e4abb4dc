//! Passwords: hashing them here, and which new ones to accept in [`policy`].
//!
//! Hashing is Argon2id at the OWASP parameters. It costs tens of milliseconds of CPU, so it
//! runs on a few threads of its own at a lower priority (one per core), never on the async
//! workers. An unknown user is verified against a dummy hash so that "no such user" and
//! "wrong password" take the same time.

mod common;
mod patterns;
pub mod policy;

use std::sync::Arc;

use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher as _, PasswordVerifier as _, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use secrecy::{ExposeSecret, SecretString};

pub use common::UnreadableList;
pub use policy::{MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS, PasswordContext, PasswordPolicy, WeakPassword};

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

/// The hasher's own failures: never the caller's doing (a refused new password is a
/// [`WeakPassword`]).
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("invalid Argon2 parameters: {0}")]
    Parameters(argon2::Error),
    #[error("password hashing failed: {0}")]
    Hashing(String),
    #[error("the hashing task did not finish")]
    Task(#[from] tokio::task::JoinError),
    /// The hashing pool was closed; it never is while the service runs.
    #[error("the hashing pool is closed")]
    Closed(#[from] tokio::sync::AcquireError),
    /// A hashing thread went away with the job (it panicked, or the pool is shutting down).
    #[error("the hashing thread did not finish")]
    Lost,
}

#[derive(Clone)]
pub struct Passwords {
    inner: Arc<Inner>,
}

struct Inner {
    argon2: Argon2<'static>,
    /// One permit per hashing thread: hashes beyond that wait here, asynchronously, so a
    /// login flood queues instead of holding threads and ~19 MiB each.
    permits: tokio::sync::Semaphore,
    pool: HashingPool,
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
        Self::with_dummy(settings, &crate::domain::token::random_urlsafe(32))
    }

    /// [`Self::new`] with a known dummy password (tests check that even it never verifies
    /// an unknown user).
    fn with_dummy(settings: Argon2Settings, dummy: &str) -> Result<Self, PasswordError> {
        let params = Params::new(settings.memory_kib, settings.iterations, settings.parallelism, None)
            .map_err(PasswordError::Parameters)?;
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let dummy_hash = hash_with(&argon2, dummy)?;
        let threads = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
        Ok(Self {
            inner: Arc::new(Inner {
                argon2,
                dummy_hash,
                permits: tokio::sync::Semaphore::new(threads),
                pool: HashingPool::start(threads)?,
            }),
        })
    }

    /// Hashes a password into a PHC string (`$argon2id$v=19$m=…`), off the async runtime.
    pub async fn hash(&self, password: SecretString) -> Result<String, PasswordError> {
        let inner = self.inner.clone();
        self.run(move || hash_with(&inner.argon2, password.expose_secret()))
            .await?
    }

    /// Verifies a password against a stored hash, or against the dummy hash when there is no
    /// user, so both cases cost the same. Returns false for a malformed stored hash.
    pub async fn verify(&self, password: SecretString, stored: Option<String>) -> Result<bool, PasswordError> {
        if password.expose_secret().len() > MAX_PASSWORD_BYTES {
            return Ok(false);
        }
        let inner = self.inner.clone();
        self.run(move || {
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
    }

    /// Whether a stored hash was made under other settings than today's (an older cost,
    /// another algorithm): such a hash is upgraded at the owner's next sign-in, so every
    /// account, and the dummy hash unknown names are checked against, cost the same.
    pub fn needs_rehash(&self, stored: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(stored) else {
            return false;
        };
        let current = self.inner.argon2.params();
        let param = |name: &str| parsed.params.get_decimal(name);
        parsed.algorithm.as_str() != "argon2id"
            || param("m") != Some(current.m_cost())
            || param("t") != Some(current.t_cost())
            || param("p") != Some(current.p_cost())
    }

    /// Runs `work` on a hashing thread once one is free.
    async fn run<T: Send + 'static>(&self, work: impl FnOnce() -> T + Send + 'static) -> Result<T, PasswordError> {
        let _permit = self.inner.permits.acquire().await?;
        let (done, result) = tokio::sync::oneshot::channel();
        self.inner.pool.submit(Box::new(move || {
            // The caller may have gone (a client hung up): the result is simply dropped.
            let _ = done.send(work());
        }))?;
        result.await.map_err(|_| PasswordError::Lost)
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// The threads that hash, one per core, each at a lower scheduling priority than the
/// async workers: under a login flood Argon2 gets every cycle the rest of the service does
/// not want, and a `GET /api/me` arriving mid-flood preempts it instead of queueing behind
/// it. The threads end when the pool is dropped.
struct HashingPool {
    jobs: std::sync::mpsc::Sender<Job>,
}

/// Nice value of the hashing threads (0 is the default, 19 the lowest priority): enough
/// for the scheduler to favour the request workers about tenfold, not so much that hashing
/// starves while the machine is busy with other work.
const HASHING_NICENESS: i32 = 10;

impl HashingPool {
    fn start(threads: usize) -> Result<Self, PasswordError> {
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = Arc::new(std::sync::Mutex::new(queue));
        for index in 0..threads {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("argon2-{index}"))
                .spawn(move || {
                    lower_priority();
                    loop {
                        // The lock is held only while waiting for the next job.
                        let job = match queue.lock() {
                            Ok(queue) => queue.recv(),
                            Err(_) => return,
                        };
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })
                .map_err(|e| PasswordError::Hashing(format!("cannot start a hashing thread: {e}")))?;
        }
        Ok(Self { jobs })
    }

    fn submit(&self, job: Job) -> Result<(), PasswordError> {
        self.jobs.send(job).map_err(|_| PasswordError::Lost)
    }
}

/// Lowers the calling thread's priority by [`HASHING_NICENESS`], relative to the
/// process's own (a server started under `nice` keeps the same spacing). Best effort: a
/// failure leaves the thread where it was, where hashing still works, only with less
/// regard for latency.
fn lower_priority() {
    #[cfg(target_os = "linux")]
    {
        use rustix::process::{getpriority_process, setpriority_process};
        let thread = rustix::thread::gettid();
        let lowered = getpriority_process(Some(thread))
            .and_then(|now| setpriority_process(Some(thread), (now + HASHING_NICENESS).min(19)));
        if let Err(error) = lowered {
            tracing::warn!(%error, "cannot lower the hashing thread's priority");
        }
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
    #[test]
    fn hashes_under_other_settings_need_rehashing() {
        let cheap = Argon2Settings {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        };
        let old = Passwords::new(cheap).unwrap();
        let new = Passwords::new(Argon2Settings { iterations: 2, ..cheap }).unwrap();
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let stored = runtime
            .block_on(old.hash(SecretString::from("a long passphrase")))
            .unwrap();
        assert!(!old.needs_rehash(&stored));
        assert!(new.needs_rehash(&stored));
        assert!(!new.needs_rehash("not a PHC string"), "nothing to upgrade from");
    }

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
        let dummy = "the dummy password";
        let passwords = Passwords::with_dummy(FAST, dummy).unwrap();
        // The dummy hash is that password's: checked as a stored hash, it verifies...
        let dummy_hash = passwords.inner.dummy_hash.clone();
        assert!(passwords.verify(secret(dummy), Some(dummy_hash)).await.unwrap());
        // ...but an unknown user, checked against the same hash, never does.
        assert!(!passwords.verify(secret(dummy), None).await.unwrap());
        assert!(!passwords.verify(secret("anything else"), None).await.unwrap());
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

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_runs_below_the_request_workers_priority() {
        let passwords = Passwords::new(FAST).unwrap();
        let own = rustix::process::getpriority_process(None).unwrap();
        let hashing = passwords
            .run(|| rustix::process::getpriority_process(Some(rustix::thread::gettid())))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(hashing, (own + HASHING_NICENESS).min(19));
    }

    #[tokio::test]
    async fn concurrent_hashes_all_finish_on_the_bounded_pool() {
        let passwords = Passwords::new(FAST).unwrap();
        let hashes = futures::future::join_all((0..16).map(|i| passwords.hash(secret(&format!("password {i}"))))).await;
        assert!(
            hashes
                .iter()
                .all(|h| h.as_ref().is_ok_and(|h| h.starts_with("$argon2id$")))
        );
    }

    #[test]
    fn owasp_parameters_are_the_default_settings() {
        let owasp = Argon2Settings::OWASP;
        assert_eq!((owasp.memory_kib, owasp.iterations, owasp.parallelism), (19_456, 2, 1));
    }
}
