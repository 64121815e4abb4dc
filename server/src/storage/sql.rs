//! The two SQL implementations of [`Store`].
//!
//! PostgreSQL and SQLite accept the same SQL for everything fin_intelli does (`$n`
//! placeholders, `returning`, `on conflict do nothing`, `cast`), and sqlx encodes the same
//! Rust types into both. So the trait is implemented once, by the `sql_store!` macro, for
//! each pool type; only connecting and the migration folders differ. A query that ever
//! needs to differ gets its own method outside the macro.

use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous};

use super::{
    ActivityRecord, NewActivity, NewSession, RotateOutcome, Rotation, SessionRecord, SpentToken, Store, StoreError,
    StoredSigningKey,
};
use crate::domain::user::{NewUser, User};

static PG_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");

/// How long a request waits for a pooled connection before the database counts as
/// unavailable (503) rather than hanging.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

const USER_COLUMNS: &str = "id, username, email, hashed_password, is_active, is_admin, created_at";
const ACTIVITY_COLUMNS: &str = "id, user_id, username, event_type, ip_address, device_info, risk_score, \
     geolocation_country, geolocation_city, created_at";

#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
}

impl PgStore {
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(url)
            .await?;
        Ok(Self { pool })
    }

    pub fn from_pool(pool: PgPool) -> Self {
        Self { pool }
    }
}

#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the SQLite file. WAL lets readers run beside the one
    /// writer, and the busy timeout makes writers queue instead of failing with
    /// "database is locked".
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
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
        let pool = SqlitePoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect_with(options)
            .await?;
        Ok(Self { pool })
    }
}

/// One refresh-token row to insert.
struct TokenRow<'a> {
    user_id: i64,
    session_id: &'a str,
    token_hash: &'a str,
    device_info: &'a str,
    ip_address: &'a str,
    created_at: DateTime<Utc>,
    expires_at: DateTime<Utc>,
}

macro_rules! sql_store {
    ($store:ty, $db:ty, $migrator:expr) => {
        impl $store {
            async fn insert_token<'e, E>(executor: E, token: &TokenRow<'_>) -> Result<(), StoreError>
            where
                E: sqlx::Executor<'e, Database = $db>,
            {
                sqlx::query(
                    "insert into refresh_tokens \
                     (user_id, session_id, token_hash, device_info, ip_address, created_at, expires_at, is_revoked) \
                     values ($1, $2, $3, $4, $5, $6, $7, false)",
                )
                .bind(token.user_id)
                .bind(token.session_id)
                .bind(token.token_hash)
                .bind(token.device_info)
                .bind(token.ip_address)
                .bind(token.created_at)
                .bind(token.expires_at)
                .execute(executor)
                .await?;
                Ok(())
            }

            /// Marks a session and all its tokens revoked; returns whether it was live.
            async fn revoke_family(
                tx: &mut sqlx::Transaction<'static, $db>,
                session_id: &str,
                now: DateTime<Utc>,
                reason: &str,
            ) -> Result<bool, StoreError> {
                let session = sqlx::query(
                    "update sessions set revoked_at = $2, revoke_reason = $3 where id = $1 and revoked_at is null",
                )
                .bind(session_id)
                .bind(now)
                .bind(reason)
                .execute(&mut **tx)
                .await?;
                sqlx::query(
                    "update refresh_tokens set is_revoked = true, revoked_at = $2 \
                     where session_id = $1 and is_revoked = false",
                )
                .bind(session_id)
                .bind(now)
                .execute(&mut **tx)
                .await?;
                Ok(session.rows_affected() > 0)
            }

            /// Revokes every live session of a user but `except`, with all their tokens, in two
            /// statements whatever the number of sessions. Returns how many sessions ended.
            async fn revoke_user_families(
                tx: &mut sqlx::Transaction<'static, $db>,
                user_id: i64,
                except: Option<&str>,
                now: DateTime<Utc>,
                reason: &str,
            ) -> Result<u64, StoreError> {
                let except = except.unwrap_or("");
                let sessions = sqlx::query(
                    "update sessions set revoked_at = $2, revoke_reason = $4 \
                     where user_id = $1 and revoked_at is null and id <> $3",
                )
                .bind(user_id)
                .bind(now)
                .bind(except)
                .bind(reason)
                .execute(&mut **tx)
                .await?;
                sqlx::query(
                    "update refresh_tokens set is_revoked = true, revoked_at = $2 \
                     where user_id = $1 and is_revoked = false and session_id <> $3",
                )
                .bind(user_id)
                .bind(now)
                .bind(except)
                .execute(&mut **tx)
                .await?;
                Ok(sessions.rows_affected())
            }

            /// What is known about a token that could not be spent.
            async fn spent_token(&self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<SpentToken>, StoreError> {
                Ok(sqlx::query_as(
                    "select t.user_id, t.session_id, t.spent_at, t.successor_hash, \
                            (s.id is not null and s.spent_at is null and s.is_revoked = false and s.expires_at > $2 \
                             and exists (select 1 from sessions x where x.id = t.session_id \
                                         and x.revoked_at is null and x.expires_at > $2)) as successor_live, \
                            s.device_info as successor_device, s.ip_address as successor_ip \
                     from refresh_tokens t left join refresh_tokens s on s.token_hash = t.successor_hash \
                     where t.token_hash = $1",
                )
                .bind(token_hash)
                .bind(now)
                .fetch_optional(&self.pool)
                .await?)
            }

            /// Inserts one activity row, in a transaction or on the pool. An event attributed to a
            /// user carries their username even when the caller only knew the id (refreshes,
            /// sign-outs by token), so the log reads the same whichever path wrote it.
            async fn insert_activity<'e, E>(executor: E, event: &NewActivity, user_id: Option<i64>) -> Result<i64, StoreError>
            where
                E: sqlx::Executor<'e, Database = $db>,
            {
                let id: i64 = sqlx::query_scalar(
                    "insert into user_activity_logs \
                     (user_id, username, event_type, ip_address, device_info, risk_score, \
                      geolocation_country, geolocation_city, created_at) \
                     values ($1, coalesce($2, (select username from users where id = $1)), $3, $4, $5, $6, $7, $8, $9) \
                     returning id",
                )
                .bind(user_id)
                .bind(event.username.as_deref())
                .bind(event.event_type.as_str())
                .bind(event.ip_address.as_str())
                .bind(event.device_info.as_str())
                .bind(event.risk_score)
                .bind(event.geolocation_country.as_deref())
                .bind(event.geolocation_city.as_deref())
                .bind(event.created_at)
                .fetch_one(executor)
                .await?;
                Ok(id)
            }
        }

        #[async_trait]
        impl Store for $store {
            async fn migrate(&self) -> Result<(), StoreError> {
                $migrator.run(&self.pool).await?;
                Ok(())
            }

            async fn ping(&self) -> Result<(), StoreError> {
                sqlx::query("select 1").execute(&self.pool).await?;
                Ok(())
            }

            async fn count_users(&self) -> Result<i64, StoreError> {
                Ok(sqlx::query_scalar("select count(*) from users").fetch_one(&self.pool).await?)
            }

            async fn insert_user(&self, user: &NewUser, now: DateTime<Utc>) -> Result<User, StoreError> {
                let sql = format!(
                    "insert into users (username, email, hashed_password, is_active, is_admin, created_at, updated_at) \
                     values ($1, $2, $3, true, $4, $5, $5) returning {USER_COLUMNS}"
                );
                Ok(sqlx::query_as(&sql)
                    .bind(user.username.as_str())
                    .bind(user.email.as_str())
                    .bind(&user.hashed_password)
                    .bind(user.is_admin)
                    .bind(now)
                    .fetch_one(&self.pool)
                    .await?)
            }

            async fn find_user_by_login(&self, login: &str) -> Result<Option<User>, StoreError> {
                let sql = format!("select {USER_COLUMNS} from users where username = $1 or email = $1");
                Ok(sqlx::query_as(&sql).bind(login).fetch_optional(&self.pool).await?)
            }

            async fn find_user(&self, id: i64) -> Result<Option<User>, StoreError> {
                let sql = format!("select {USER_COLUMNS} from users where id = $1");
                Ok(sqlx::query_as(&sql).bind(id).fetch_optional(&self.pool).await?)
            }

            async fn set_user_active(&self, id: i64, active: bool, now: DateTime<Utc>) -> Result<bool, StoreError> {
                let mut tx = self.pool.begin().await?;
                let updated = sqlx::query("update users set is_active = $2, updated_at = $3 where id = $1")
                    .bind(id)
                    .bind(active)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                if !active {
                    // A locked account must not keep its sessions (CVE-2023-22492).
                    Self::revoke_user_families(&mut tx, id, None, now, "user_deactivated").await?;
                }
                tx.commit().await?;
                Ok(updated.rows_affected() > 0)
            }

            async fn open_session(&self, session: &NewSession, event: &NewActivity) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await?;
                sqlx::query(
                    "insert into sessions (id, user_id, device_info, ip_address, created_at, last_used_at, expires_at) \
                     values ($1, $2, $3, $4, $5, $5, $6)",
                )
                .bind(&session.session_id)
                .bind(session.user_id)
                .bind(&session.device_info)
                .bind(&session.ip_address)
                .bind(session.created_at)
                .bind(session.expires_at)
                .execute(&mut *tx)
                .await?;
                Self::insert_token(
                    &mut *tx,
                    &TokenRow {
                        user_id: session.user_id,
                        session_id: &session.session_id,
                        token_hash: &session.token_hash,
                        device_info: &session.device_info,
                        ip_address: &session.ip_address,
                        created_at: session.created_at,
                        expires_at: session.token_expires_at,
                    },
                )
                .await?;
                Self::insert_activity(&mut *tx, event, event.user_id).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn revoke_session_by_token(
                &self,
                token_hash: &str,
                now: DateTime<Utc>,
                event: &NewActivity,
            ) -> Result<Option<i64>, StoreError> {
                let mut tx = self.pool.begin().await?;
                // Write first: the update takes the write lock before anything is read, so
                // concurrent sign-outs queue instead of racing (and SQLite never has to
                // upgrade a read transaction).
                let revoked: Option<(i64, String)> = sqlx::query_as(
                    "update sessions set revoked_at = $2, revoke_reason = 'logout' \
                     where revoked_at is null \
                       and id = (select session_id from refresh_tokens where token_hash = $1) \
                     returning user_id, id",
                )
                .bind(token_hash)
                .bind(now)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((user_id, session_id)) = revoked else {
                    return Ok(None);
                };
                Self::revoke_family(&mut tx, &session_id, now, "logout").await?;
                Self::insert_activity(&mut *tx, event, Some(user_id)).await?;
                tx.commit().await?;
                Ok(Some(user_id))
            }

            async fn session_is_live(&self, session_id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
                let live: i64 = sqlx::query_scalar(
                    "select count(*) from sessions where id = $1 and revoked_at is null and expires_at > $2",
                )
                .bind(session_id)
                .bind(now)
                .fetch_one(&self.pool)
                .await?;
                Ok(live > 0)
            }

            async fn rotate_refresh_token(&self, rotation: &Rotation, event: &NewActivity) -> Result<RotateOutcome, StoreError> {
                let now = rotation.now;
                let mut tx = self.pool.begin().await?;
                // The spend is one conditional write: the row changes only if it is still
                // unspent, so concurrent refreshes of one token serialise on the row lock
                // and exactly one of them sees it change. Never read-then-write.
                let spent: Option<(i64, String)> = sqlx::query_as(
                    "update refresh_tokens set spent_at = $2, successor_hash = $3 \
                     where token_hash = $1 and spent_at is null and is_revoked = false and expires_at > $2 \
                       and session_id in (select id from sessions where revoked_at is null and expires_at > $2) \
                     returning user_id, session_id",
                )
                .bind(&rotation.presented_hash)
                .bind(now)
                .bind(&rotation.successor_hash)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((user_id, session_id)) = spent else {
                    drop(tx);
                    return Ok(RotateOutcome::NotRotated(self.spent_token(&rotation.presented_hash, now).await?));
                };
                let session_expires: DateTime<Utc> = sqlx::query_scalar(
                    "update sessions set last_used_at = $2, ip_address = $3 where id = $1 returning expires_at",
                )
                .bind(&session_id)
                .bind(now)
                .bind(&rotation.ip_address)
                .fetch_one(&mut *tx)
                .await?;
                let expires_at = session_expires.min(now + rotation.idle_timeout);
                Self::insert_token(
                    &mut *tx,
                    &TokenRow {
                        user_id,
                        session_id: &session_id,
                        token_hash: &rotation.successor_hash,
                        device_info: &rotation.device_info,
                        ip_address: &rotation.ip_address,
                        created_at: now,
                        expires_at,
                    },
                )
                .await?;
                Self::insert_activity(&mut *tx, event, Some(user_id)).await?;
                tx.commit().await?;
                Ok(RotateOutcome::Rotated { user_id, session_id })
            }

            async fn revoke_session(&self, session_id: &str, now: DateTime<Utc>, reason: &str, event: &NewActivity) -> Result<bool, StoreError> {
                let mut tx = self.pool.begin().await?;
                let was_live = Self::revoke_family(&mut tx, session_id, now, reason).await?;
                Self::insert_activity(&mut *tx, event, event.user_id).await?;
                tx.commit().await?;
                Ok(was_live)
            }

            async fn revoke_user_sessions(
                &self,
                user_id: i64,
                except: Option<&str>,
                now: DateTime<Utc>,
                event: &NewActivity,
            ) -> Result<u64, StoreError> {
                let mut tx = self.pool.begin().await?;
                let ended = Self::revoke_user_families(&mut tx, user_id, except, now, "logout_all").await?;
                if ended > 0 {
                    Self::insert_activity(&mut *tx, event, Some(user_id)).await?;
                }
                tx.commit().await?;
                Ok(ended)
            }

            async fn change_password(&self, user_id: i64, hashed_password: &str, now: DateTime<Utc>, event: &NewActivity) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await?;
                sqlx::query("update users set hashed_password = $2, updated_at = $3 where id = $1")
                    .bind(user_id)
                    .bind(hashed_password)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                Self::revoke_user_families(&mut tx, user_id, None, now, "password_changed").await?;
                Self::insert_activity(&mut *tx, event, Some(user_id)).await?;
                tx.commit().await?;
                Ok(())
            }

            async fn live_sessions(&self, user_id: i64, now: DateTime<Utc>) -> Result<Vec<SessionRecord>, StoreError> {
                Ok(sqlx::query_as(
                    "select id, user_id, device_info, ip_address, created_at, last_used_at, expires_at from sessions \
                     where user_id = $1 and revoked_at is null and expires_at > $2 \
                       and exists (select 1 from refresh_tokens t \
                                   where t.session_id = sessions.id and t.spent_at is null \
                                     and t.is_revoked = false and t.expires_at > $2) \
                     order by last_used_at desc, id",
                )
                .bind(user_id)
                .bind(now)
                .fetch_all(&self.pool)
                .await?)
            }

            async fn ensure_secret(&self, name: &str, candidate: &str, now: DateTime<Utc>) -> Result<String, StoreError> {
                sqlx::query("insert into server_secrets (name, secret, created_at) values ($1, $2, $3) on conflict do nothing")
                    .bind(name)
                    .bind(candidate)
                    .bind(now)
                    .execute(&self.pool)
                    .await?;
                Ok(sqlx::query_scalar("select secret from server_secrets where name = $1").bind(name).fetch_one(&self.pool).await?)
            }

            async fn record_activity(&self, event: &NewActivity) -> Result<i64, StoreError> {
                Self::insert_activity(&self.pool, event, event.user_id).await
            }

            async fn activity_page(
                &self,
                user_id: Option<i64>,
                before: Option<i64>,
                limit: i64,
            ) -> Result<Vec<ActivityRecord>, StoreError> {
                // Keyset pagination on the primary key: stable under concurrent inserts and
                // as cheap on page 1,000 as on page 1.
                let sql = format!(
                    "select {ACTIVITY_COLUMNS} from user_activity_logs \
                     where (cast($1 as bigint) is null or user_id = $1) \
                       and (cast($2 as bigint) is null or id < $2) \
                     order by id desc limit $3"
                );
                Ok(sqlx::query_as(&sql)
                    .bind(user_id)
                    .bind(before)
                    .bind(limit.clamp(1, 1000))
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn current_signing_key(&self) -> Result<Option<StoredSigningKey>, StoreError> {
                Ok(sqlx::query_as(
                    "select kid, algorithm, secret, created_at from signing_keys where status = 'active'",
                )
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn signing_keys(&self) -> Result<Vec<StoredSigningKey>, StoreError> {
                Ok(sqlx::query_as("select kid, algorithm, secret, created_at from signing_keys order by created_at desc, kid")
                    .fetch_all(&self.pool)
                    .await?)
            }

            async fn rotate_signing_key(&self, key: &StoredSigningKey) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await?;
                sqlx::query("update signing_keys set status = 'retired' where status = 'active'").execute(&mut *tx).await?;
                sqlx::query(
                    "insert into signing_keys (kid, algorithm, secret, status, created_at) values ($1, $2, $3, 'active', $4)",
                )
                .bind(&key.kid)
                .bind(&key.algorithm)
                .bind(&key.secret)
                .bind(key.created_at)
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(())
            }

            async fn ensure_signing_key(&self, key: &StoredSigningKey) -> Result<StoredSigningKey, StoreError> {
                // The partial unique index on status = 'active' makes the insert a no-op when
                // another instance got there first.
                sqlx::query(
                    "insert into signing_keys (kid, algorithm, secret, status, created_at) \
                     values ($1, $2, $3, 'active', $4) on conflict do nothing",
                )
                .bind(&key.kid)
                .bind(&key.algorithm)
                .bind(&key.secret)
                .bind(key.created_at)
                .execute(&self.pool)
                .await?;
                self.current_signing_key()
                    .await?
                    .ok_or_else(|| StoreError::Config("no active signing key after insert".into()))
            }
        }
    };
}

sql_store!(PgStore, sqlx::Postgres, PG_MIGRATIONS);
sql_store!(SqliteStore, sqlx::Sqlite, SQLITE_MIGRATIONS);
