//! [`SqlStore`]: every storage role, for PostgreSQL and SQLite alike.
//!
//! Each role is implemented once, in its own module, as plain code over [`db`], which runs
//! the same SQL on either database. Where the two must differ (connecting, migrations, word
//! of committed activity, the one-statement rotation PostgreSQL can do) the code matches on
//! [`db::Pool`] in the open.

mod activity;
mod db;
mod factors;
mod keys;
mod passkeys;
mod proofs;
mod risk;
mod rotation;
mod sessions;
mod throttle;
mod users;

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::migrate::Migrator;
use sqlx::postgres::PgPoolOptions;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};

use super::{ActivitySignal, Schema, StoreError};
use db::{Pool, query};

static PG_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");

/// How long a request waits for a pooled connection before the database counts as
/// unavailable (503) rather than hanging.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

/// The store over one database.
#[derive(Debug, Clone)]
pub struct SqlStore {
    pool: Pool,
    /// Rung after every commit that wrote activity, for the live feed.
    signal: ActivitySignal,
}

impl SqlStore {
    /// Connects to the database `url` names (`postgres://…` or `sqlite:…`).
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let pool = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Pool::Postgres(
                PgPoolOptions::new()
                    .max_connections(max_connections)
                    .acquire_timeout(ACQUIRE_TIMEOUT)
                    .connect(url)
                    .await?,
            )
        } else if url.starts_with("sqlite:") {
            Pool::Sqlite(connect_sqlite(url, max_connections).await?)
        } else {
            return Err(StoreError::Config(
                "DATABASE_URL must start with postgres:// or sqlite:".into(),
            ));
        };
        Ok(Self {
            pool,
            signal: ActivitySignal::default(),
        })
    }
}

/// Opens (creating if needed) the SQLite file. WAL lets readers run beside the one writer,
/// and the busy timeout makes writers queue instead of failing with "database is locked".
async fn connect_sqlite(url: &str, max_connections: u32) -> Result<sqlx::SqlitePool, StoreError> {
    let options = SqliteConnectOptions::from_str(url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        .synchronous(SqliteSynchronous::Normal)
        .busy_timeout(Duration::from_secs(10))
        .foreign_keys(true);
    let file = options.get_filename();
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Config(format!("cannot create {}: {e}", dir.display())))?;
    }
    Ok(SqlitePoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        .connect_with(options)
        .await?)
}

#[async_trait]
impl Schema for SqlStore {
    async fn migrate(&self) -> Result<(), StoreError> {
        match &self.pool {
            Pool::Postgres(pool) => PG_MIGRATIONS.run(pool).await?,
            Pool::Sqlite(pool) => SQLITE_MIGRATIONS.run(pool).await?,
        }
        Ok(())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        query("select 1").execute(&self.pool).await?;
        Ok(())
    }
}
