//! Storage: one trait per role ([`roles`]), all of them together [`Store`], implemented once
//! by [`SqlStore`] for PostgreSQL and SQLite, chosen at start from the `DATABASE_URL` scheme.
//!
//! Both databases run the same SQL text (see [`sql`]); the schemas differ only in column
//! types and live in `migrations/postgres` and `migrations/sqlite`, numbered in step. The
//! contract test in `server/tests/api/storage.rs` runs every role against either backend.

mod error;
mod models;
mod roles;
mod signal;
mod sql;

use std::sync::Arc;

pub use error::{RedactedUrl, StoreError};
pub use models::{
    ActivityFilter, ActivityRecord, BoundKey, Challenge, Decision, EventType, FailureSignals, NewActivity, NewSession,
    NewVerdict, PasskeyCeremonyRow, PasskeyRecord, PasskeyUse, RefreshContext, ReviewVerdict, RevokeSessions,
    RiskLearning, RotateOutcome, Rotation, SessionRecord, SpentToken, StoredBaseline, StoredSigningKey, TotpFactor,
};
pub use roles::{
    ActivityStore, FactorStore, KeyStore, PasskeyStore, ProofStore, RiskStore, Schema, SessionStore, ThrottleStore,
    UserStore,
};
pub use signal::{ActivitySignal, ActivityWakeups, Wakeup};
pub use sql::SqlStore;

/// Every role: what the application is assembled from. Services take the roles they use.
pub trait Store:
    Schema
    + UserStore
    + SessionStore
    + ActivityStore
    + ThrottleStore
    + FactorStore
    + RiskStore
    + KeyStore
    + ProofStore
    + PasskeyStore
{
}

impl<T> Store for T where
    T: Schema
        + UserStore
        + SessionStore
        + ActivityStore
        + ThrottleStore
        + FactorStore
        + RiskStore
        + KeyStore
        + ProofStore
        + PasskeyStore
{
}

/// Connects to the database `url` names (`postgres://…` or `sqlite:…`).
pub async fn connect(url: &str, max_connections: u32) -> Result<Arc<dyn Store>, StoreError> {
    Ok(Arc::new(SqlStore::connect(url, max_connections).await?))
}
