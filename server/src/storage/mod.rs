//! Storage: one trait, [`Store`], with a PostgreSQL and a SQLite implementation chosen at
//! start from the `DATABASE_URL` scheme.
//!
//! Both implementations run the same SQL text (see [`sql`]); the schemas differ only in
//! column types and live in `migrations/postgres` and `migrations/sqlite`, numbered in step.
//! The contract test in `tests/storage.rs` runs the whole trait against either backend.

mod error;
mod models;
mod sql;

use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

pub use error::{RedactedUrl, StoreError};
pub use models::{
    ActivityRecord, EventType, NewActivity, NewSession, RotateOutcome, Rotation, SessionRecord, SpentToken,
    StoredSigningKey,
};
pub use sql::{PgStore, SqliteStore};

use crate::domain::user::{NewUser, User};

#[async_trait]
pub trait Store: Send + Sync + std::fmt::Debug {
    /// Applies the migrations this binary carries.
    async fn migrate(&self) -> Result<(), StoreError>;

    /// A cheap round trip, for readiness checks.
    async fn ping(&self) -> Result<(), StoreError>;

    async fn count_users(&self) -> Result<i64, StoreError>;

    /// Stores a user; `StoreError::Conflict` names the taken field.
    async fn insert_user(&self, user: &NewUser, now: DateTime<Utc>) -> Result<User, StoreError>;

    /// Finds a user by normalised username or e-mail address.
    async fn find_user_by_login(&self, login: &str) -> Result<Option<User>, StoreError>;

    async fn find_user(&self, id: i64) -> Result<Option<User>, StoreError>;

    /// Activates or deactivates a user; returns whether the user exists.
    async fn set_user_active(&self, id: i64, active: bool, now: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Stores a new session's first refresh token and its activity event in one transaction:
    /// a login that succeeded always has its log row.
    async fn open_session(&self, session: &NewSession, event: &NewActivity) -> Result<(), StoreError>;

    /// Revokes every refresh token of the session the given token belongs to and records
    /// the event, attributed to the session's user, in the same transaction. Returns that
    /// user's id, or `None` when no session matched (nothing is recorded then).
    async fn revoke_session_by_token(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
        event: &NewActivity,
    ) -> Result<Option<i64>, StoreError>;

    /// Whether the session is neither revoked nor past its absolute lifetime.
    async fn session_is_live(&self, session_id: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Spends a live refresh token and stores its successor, as one conditional write: of
    /// any number of concurrent attempts on one token, exactly one rotates it. The others,
    /// and attempts on dead tokens, get what is known about the token instead.
    async fn rotate_refresh_token(&self, rotation: &Rotation, event: &NewActivity)
    -> Result<RotateOutcome, StoreError>;

    /// Revokes a whole session (every token of the family) and records `event` in the same
    /// transaction, even when the session was already revoked (a replay is still news).
    /// Returns whether the session was live until now.
    async fn revoke_session(
        &self,
        session_id: &str,
        now: DateTime<Utc>,
        reason: &str,
        event: &NewActivity,
    ) -> Result<bool, StoreError>;

    /// Revokes every live session of a user but `except` (the caller's own, for "sign out
    /// everywhere else"), recording `event` when anything was revoked. Returns how many.
    async fn revoke_user_sessions(
        &self,
        user_id: i64,
        except: Option<&str>,
        now: DateTime<Utc>,
        event: &NewActivity,
    ) -> Result<u64, StoreError>;

    /// Replaces a user's password hash and revokes every session of the user, recording
    /// `event`, in one transaction.
    async fn change_password(
        &self,
        user_id: i64,
        hashed_password: &str,
        now: DateTime<Utc>,
        event: &NewActivity,
    ) -> Result<(), StoreError>;

    /// A user's live sessions, most recently used first.
    async fn live_sessions(&self, user_id: i64, now: DateTime<Utc>) -> Result<Vec<SessionRecord>, StoreError>;

    /// A named server secret: stores `candidate` unless one exists; returns the stored one.
    async fn ensure_secret(&self, name: &str, candidate: &str, now: DateTime<Utc>) -> Result<String, StoreError>;

    /// Writes one activity event on its own (failed sign-ins, for example).
    async fn record_activity(&self, event: &NewActivity) -> Result<i64, StoreError>;

    /// Events newest first, optionally of one user, older than the event `before` (a page
    /// cursor), at most `limit` (1 to 1,000).
    async fn activity_page(
        &self,
        user_id: Option<i64>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<ActivityRecord>, StoreError>;

    /// The current access-token signing key, if one has been stored.
    async fn current_signing_key(&self) -> Result<Option<StoredSigningKey>, StoreError>;

    /// Every stored signing key, active and retired, newest first.
    async fn signing_keys(&self) -> Result<Vec<StoredSigningKey>, StoreError>;

    /// Retires the active signing key and makes `key` the active one, in one transaction.
    async fn rotate_signing_key(&self, key: &StoredSigningKey) -> Result<(), StoreError>;

    /// Stores `key` unless a key already exists, and returns whichever key is current. Two
    /// instances starting at once end up with the same key.
    async fn ensure_signing_key(&self, key: &StoredSigningKey) -> Result<StoredSigningKey, StoreError>;
}

/// Connects to the database `url` names (`postgres://…` or `sqlite:…`).
pub async fn connect(url: &str, max_connections: u32) -> Result<Arc<dyn Store>, StoreError> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::connect(url, max_connections).await?))
    } else if url.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::connect(url, max_connections).await?))
    } else {
        Err(StoreError::Config(
            "DATABASE_URL must start with postgres:// or sqlite:".into(),
        ))
    }
}
