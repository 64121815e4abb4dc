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
    ActivityFilter, ActivityRecord, NewActivity, NewSession, RefreshContext, RiskLearning, RotateOutcome, Rotation,
    SessionRecord, SpentToken, Store, StoreError, StoredSigningKey,
};
use super::{ActivitySignal, ActivityWakeups, Challenge, TotpFactor};
use crate::domain::throttle::{Counter, ThrottleKey, Verdict};
use crate::domain::user::{NewUser, User};

static PG_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/postgres");
static SQLITE_MIGRATIONS: Migrator = sqlx::migrate!("../migrations/sqlite");

/// How long a request waits for a pooled connection before the database counts as
/// unavailable (503) rather than hanging.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(3);

const USER_COLUMNS: &str = "id, username, email, hashed_password, is_active, is_admin, created_at";
const ACTIVITY_COLUMNS: &str = "id, user_id, username, event_type, ip_address, device_info, device_browser, \
     device_os, device_type, risk_score, risk_reasons, decision, geolocation_country, geolocation_city, latitude, \
     longitude, accuracy_radius_km, asn, asn_org, verdict, created_at";
const SESSION_COLUMNS: &str =
    "id, user_id, device_info, ip_address, country, city, created_at, last_used_at, expires_at";

#[derive(Debug, Clone)]
pub struct PgStore {
    pool: PgPool,
    signal: ActivitySignal,
}

impl PgStore {
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(ACQUIRE_TIMEOUT)
            .connect(url)
            .await?;
        Ok(Self::from_pool(pool))
    }

    pub fn from_pool(pool: PgPool) -> Self {
        Self {
            pool,
            signal: ActivitySignal::default(),
        }
    }

    async fn open_wakeups(&self) -> Result<ActivityWakeups, StoreError> {
        ActivityWakeups::postgres(&self.signal, &self.pool).await
    }
}

#[derive(Debug, Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
    signal: ActivitySignal,
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
        Ok(Self {
            pool,
            signal: ActivitySignal::default(),
        })
    }

    async fn open_wakeups(&self) -> Result<ActivityWakeups, StoreError> {
        Ok(ActivityWakeups::local(&self.signal))
    }
}

/// The activity log's columns an insert sets, in the order [`bind_event!`] binds them
/// after `user_id`.
/// (A macro, so the plain insert's SQL stays one literal.)
macro_rules! activity_insert_columns {
    () => {
        "user_id, username, event_type, ip_address, device_info, device_browser, device_os, device_type, \
         risk_score, risk_reasons, decision, geolocation_country, geolocation_city, latitude, longitude, \
         accuracy_radius_km, asn, asn_org, created_at"
    };
}

/// Binds an event's fields, `username` through `created_at` of [`activity_insert_columns!`],
/// to any sqlx query: the one list both the plain insert and PostgreSQL's rotation use.
macro_rules! bind_event {
    ($query:expr, $event:expr) => {{
        let event: &NewActivity = $event;
        let place = &event.place;
        $query
            .bind(event.username.as_deref())
            .bind(event.event_type.as_str())
            .bind(event.ip_address.as_str())
            .bind(event.device_info.as_str())
            .bind(event.device.browser)
            .bind(event.device.os)
            .bind(event.device.kind)
            .bind(event.risk_score)
            .bind(serde_json::to_string(&event.risk_reasons).unwrap_or_else(|_| "[]".to_owned()))
            .bind(event.decision.as_str())
            .bind(place.country.as_deref())
            .bind(place.city.as_deref())
            .bind(place.latitude)
            .bind(place.longitude)
            .bind(place.accuracy_radius_km.map(i32::from))
            .bind(place.asn.map(i64::from))
            .bind(place.asn_org.as_deref())
            .bind(event.created_at)
    }};
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

/// Rows the time-range search reads by primary key before it turns to the time index.
const SEARCH_WINDOW: i64 = 500;

macro_rules! sql_store {
    ($store:ty, $db:ty, $migrator:expr) => {
        impl $store {
            /// The activity search's conditions, `and …` each, for whichever filters are set;
            /// `before` is the keyset cursor (an id).
            fn push_activity_conditions(query: &mut sqlx::QueryBuilder<'_, $db>, filter: &ActivityFilter, before: Option<i64>) {
                if let Some(user_id) = filter.user_id {
                    query.push(" and user_id = ").push_bind(user_id);
                }
                if let Some(username) = &filter.username {
                    query.push(" and username = ").push_bind(username.clone());
                }
                if let Some(event_type) = filter.event_type {
                    query.push(" and event_type = ").push_bind(event_type.as_str());
                }
                if let Some(min_risk) = filter.min_risk {
                    query.push(" and risk_score >= ").push_bind(min_risk);
                }
                if let Some(since) = filter.since {
                    query.push(" and created_at >= ").push_bind(since);
                }
                if let Some(until) = filter.until {
                    query.push(" and created_at < ").push_bind(until);
                }
                if let Some(before) = before {
                    query.push(" and id < ").push_bind(before);
                }
            }

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
                let query = sqlx::query_scalar::<_, i64>(concat!(
                    "insert into user_activity_logs (",
                    activity_insert_columns!(),
                    ") values ($1, coalesce($2, (select username from users where id = $1)), $3, $4, $5, $6, $7, $8, \
                     $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19) returning id"
                ))
                .bind(user_id);
                let id = bind_event!(query, event).fetch_one(executor).await?;
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

            async fn list_users(&self, search: Option<&str>, before: Option<i64>, limit: i64) -> Result<Vec<User>, StoreError> {
                let mut query = sqlx::QueryBuilder::<$db>::new(format!("select {USER_COLUMNS} from users where 1 = 1"));
                if let Some(search) = search {
                    // Names and addresses are stored lowercase; LIKE's wildcards in the
                    // search are escaped so they match themselves.
                    let pattern = format!(
                        "%{}%",
                        search.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")
                    );
                    query
                        .push(" and (username like ")
                        .push_bind(pattern.clone())
                        .push(" escape '\\' or email like ")
                        .push_bind(pattern)
                        .push(" escape '\\')");
                }
                if let Some(before) = before {
                    query.push(" and id < ").push_bind(before);
                }
                query.push(" order by id desc limit ").push_bind(limit.clamp(1, 1000));
                Ok(query.build_query_as().fetch_all(&self.pool).await?)
            }

            async fn set_user_admin(&self, id: i64, admin: bool, now: DateTime<Utc>) -> Result<bool, StoreError> {
                let updated = sqlx::query("update users set is_admin = $2, updated_at = $3 where id = $1")
                    .bind(id)
                    .bind(admin)
                    .bind(now)
                    .execute(&self.pool)
                    .await?;
                Ok(updated.rows_affected() > 0)
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
                    "insert into sessions \
                     (id, user_id, device_info, ip_address, country, city, created_at, last_used_at, expires_at) \
                     values ($1, $2, $3, $4, $5, $6, $7, $7, $8)",
                )
                .bind(&session.session_id)
                .bind(session.user_id)
                .bind(&session.device_info)
                .bind(&session.ip_address)
                .bind(session.country.as_deref())
                .bind(session.city.as_deref())
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
                sqlx::query(
                    "insert into known_networks (user_id, network, last_seen_at) values ($1, $2, $3) \
                     on conflict (user_id, network) do update set last_seen_at = excluded.last_seen_at",
                )
                .bind(session.user_id)
                .bind(&session.known_network)
                .bind(session.created_at)
                .execute(&mut *tx)
                .await?;
                for key in &session.throttle_clear {
                    sqlx::query("delete from login_throttle where key = $1").bind(key).execute(&mut *tx).await?;
                }
                for key in &session.throttle_refund {
                    sqlx::query("update login_throttle set failures = failures - 1 where key = $1 and failures > 0")
                        .bind(key)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                self.signal.committed();
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
                self.signal.committed();
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
                match self.spend_and_rotate(rotation, event).await? {
                    Some((user_id, session_id)) => {
                        self.signal.committed();
                        Ok(RotateOutcome::Rotated { user_id, session_id })
                    }
                    None => Ok(RotateOutcome::NotRotated(
                        self.spent_token(&rotation.presented_hash, rotation.now).await?,
                    )),
                }
            }

            async fn revoke_session(&self, session_id: &str, now: DateTime<Utc>, reason: &str, event: &NewActivity) -> Result<bool, StoreError> {
                let mut tx = self.pool.begin().await?;
                let was_live = Self::revoke_family(&mut tx, session_id, now, reason).await?;
                Self::insert_activity(&mut *tx, event, event.user_id).await?;
                tx.commit().await?;
                self.signal.committed();
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
                self.signal.committed();
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
                self.signal.committed();
                Ok(())
            }

            async fn live_sessions(&self, user_id: i64, now: DateTime<Utc>) -> Result<Vec<SessionRecord>, StoreError> {
                let sql = format!(
                    "select {SESSION_COLUMNS} from sessions \
                     where user_id = $1 and revoked_at is null and expires_at > $2 \
                       and exists (select 1 from refresh_tokens t \
                                   where t.session_id = sessions.id and t.spent_at is null \
                                     and t.is_revoked = false and t.expires_at > $2) \
                     order by last_used_at desc, id"
                );
                Ok(sqlx::query_as(&sql)
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
                let id = Self::insert_activity(&self.pool, event, event.user_id).await?;
                self.signal.committed();
                Ok(id)
            }

            async fn activity_after(&self, after: i64, limit: i64) -> Result<Vec<ActivityRecord>, StoreError> {
                Ok(sqlx::query_as(&format!(
                    "select {ACTIVITY_COLUMNS} from user_activity_logs where id > $1 order by id limit $2"
                ))
                .bind(after)
                .bind(limit.clamp(1, 1000))
                .fetch_all(&self.pool)
                .await?)
            }

            async fn activity_by_ids(&self, ids: &[i64]) -> Result<Vec<ActivityRecord>, StoreError> {
                if ids.is_empty() {
                    return Ok(Vec::new());
                }
                let mut query = sqlx::QueryBuilder::<$db>::new(format!("select {ACTIVITY_COLUMNS} from user_activity_logs where id in ("));
                let mut list = query.separated(", ");
                for id in ids.iter().take(1000) {
                    list.push_bind(*id);
                }
                query.push(") order by id");
                Ok(query.build_query_as().fetch_all(&self.pool).await?)
            }

            async fn latest_activity_id(&self) -> Result<i64, StoreError> {
                let latest: Option<i64> = sqlx::query_scalar("select max(id) from user_activity_logs")
                    .fetch_one(&self.pool)
                    .await?;
                Ok(latest.unwrap_or(0))
            }

            async fn activity_wakeups(&self) -> Result<ActivityWakeups, StoreError> {
                self.open_wakeups().await
            }

            async fn search_activity(&self, filter: &ActivityFilter, limit: i64) -> Result<Vec<ActivityRecord>, StoreError> {
                // Only the filters present become conditions, so each query can use the index
                // that fits it. Keyset pagination on the primary key: stable under concurrent
                // inserts and as cheap on page 1,000 as on page 1.
                let limit = limit.clamp(1, 1000);
                let timed = filter.since.is_some() || filter.until.is_some();
                if !timed || filter.user_id.is_some() || filter.username.is_some() {
                    let mut query = sqlx::QueryBuilder::<$db>::new(format!("select {ACTIVITY_COLUMNS} from user_activity_logs where 1 = 1"));
                    Self::push_activity_conditions(&mut query, filter, filter.before);
                    query.push(" order by id desc limit ").push_bind(limit);
                    return Ok(query.build_query_as().fetch_all(&self.pool).await?);
                }
                // A time range without a user: ids grow with time, which the planners do not
                // know, so walking the primary key down to a range far in the past would pass
                // every newer row first. First the newest rows by id, a bounded window (a
                // range that reaches the present is found there)...
                let mut window = sqlx::QueryBuilder::<$db>::new(format!(
                    "select {ACTIVITY_COLUMNS} from (select {ACTIVITY_COLUMNS} from user_activity_logs where 1 = 1"
                ));
                if let Some(before) = filter.before {
                    window.push(" and id < ").push_bind(before);
                }
                window.push(" order by id desc limit ").push_bind(SEARCH_WINDOW);
                window.push(") newest where 1 = 1");
                Self::push_activity_conditions(&mut window, filter, None);
                window.push(" order by id desc limit ").push_bind(limit);
                let mut found: Vec<ActivityRecord> = window.build_query_as().fetch_all(&self.pool).await?;
                if found.len() as i64 == limit {
                    return Ok(found);
                }
                // ...then the rest below the window through the (created_at, id) index: the
                // range's ids, newest first (`id + 0` keeps the planner off the primary key).
                let below: Option<i64> = {
                    let mut lowest = sqlx::QueryBuilder::<$db>::new(
                        "select min(id) from (select id from user_activity_logs where 1 = 1",
                    );
                    if let Some(before) = filter.before {
                        lowest.push(" and id < ").push_bind(before);
                    }
                    lowest.push(" order by id desc limit ").push_bind(SEARCH_WINDOW);
                    lowest.push(") newest");
                    lowest.build_query_scalar().fetch_one(&self.pool).await?
                };
                let Some(below) = below else {
                    return Ok(found);
                };
                let mut rest = sqlx::QueryBuilder::<$db>::new(format!(
                    "select {ACTIVITY_COLUMNS} from user_activity_logs where id in \
                     (select id from user_activity_logs where 1 = 1"
                ));
                Self::push_activity_conditions(&mut rest, filter, Some(below));
                rest.push(" order by id + 0 desc limit ").push_bind(limit - found.len() as i64);
                rest.push(") order by id desc");
                found.extend(rest.build_query_as::<ActivityRecord>().fetch_all(&self.pool).await?);
                Ok(found)
            }

            async fn prune_activity(&self, before: DateTime<Utc>, batch: i64) -> Result<u64, StoreError> {
                let deleted = sqlx::query(
                    "delete from user_activity_logs where id in \
                     (select id from user_activity_logs where created_at < $1 order by id limit $2)",
                )
                .bind(before)
                .bind(batch.max(1))
                .execute(&self.pool)
                .await?;
                Ok(deleted.rows_affected())
            }

            async fn throttle_attempt(&self, keys: &[ThrottleKey], now: DateTime<Utc>) -> Result<Verdict, StoreError> {
                let mut tx = self.pool.begin().await?;
                let mut counters = Vec::with_capacity(keys.len());
                for key in keys {
                    // A no-op upsert that returns the row: in PostgreSQL it takes the row lock
                    // (held to commit), in SQLite the database write lock. Either way,
                    // attempts on the same key now run one after the other.
                    let (failures, blocked_until, last_failure_at): (i64, DateTime<Utc>, DateTime<Utc>) = sqlx::query_as(
                        "insert into login_throttle (key, failures, blocked_until, last_failure_at) values ($1, 0, $2, $2) \
                         on conflict (key) do update set key = excluded.key \
                         returning cast(failures as bigint), blocked_until, last_failure_at",
                    )
                    .bind(&key.key)
                    .bind(now)
                    .fetch_one(&mut *tx)
                    .await?;
                    counters.push(Counter { failures, blocked_until, last_failure_at });
                }
                let refusal = keys
                    .iter()
                    .zip(&counters)
                    .filter_map(|(key, counter)| key.rule.blocked(counter, now).map(|until| (until, key.scope)))
                    .max_by_key(|(until, _)| *until);
                if let Some((retry_at, scope)) = refusal {
                    tx.commit().await?;
                    return Ok(Verdict::Throttled { retry_at, scope });
                }
                for (key, counter) in keys.iter().zip(&counters) {
                    let next = key.rule.count(counter, now);
                    sqlx::query("update login_throttle set failures = $2, blocked_until = $3, last_failure_at = $4 where key = $1")
                        .bind(&key.key)
                        .bind(next.failures)
                        .bind(next.blocked_until)
                        .bind(next.last_failure_at)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(Verdict::Allowed)
            }

            async fn prune_throttle(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
                let deleted = sqlx::query("delete from login_throttle where last_failure_at < $1 and blocked_until < $1")
                    .bind(before)
                    .execute(&self.pool)
                    .await?;
                Ok(deleted.rows_affected())
            }

            async fn is_known_network(&self, user_id: i64, network: &str, since: DateTime<Utc>) -> Result<bool, StoreError> {
                let known: i64 = sqlx::query_scalar(
                    "select count(*) from known_networks where user_id = $1 and network = $2 and last_seen_at >= $3",
                )
                .bind(user_id)
                .bind(network)
                .bind(since)
                .fetch_one(&self.pool)
                .await?;
                Ok(known > 0)
            }

            async fn activity_event(&self, id: i64) -> Result<Option<ActivityRecord>, StoreError> {
                let sql = format!("select {ACTIVITY_COLUMNS} from user_activity_logs where id = $1");
                Ok(sqlx::query_as(&sql).bind(id).fetch_optional(&self.pool).await?)
            }

            async fn set_verdict(
                &self,
                id: i64,
                verdict: &str,
                by: &str,
                now: DateTime<Utc>,
                audit: &NewActivity,
                revoke_user: Option<(i64, Option<&str>)>,
            ) -> Result<u64, StoreError> {
                let mut tx = self.pool.begin().await?;
                sqlx::query("update user_activity_logs set verdict = $2, verdict_by = $3, verdict_at = $4 where id = $1")
                    .bind(id)
                    .bind(verdict)
                    .bind(by)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                let mut ended = 0;
                if let Some((user_id, except)) = revoke_user {
                    ended = Self::revoke_user_families(&mut tx, user_id, except, now, verdict).await?;
                }
                Self::insert_activity(&mut *tx, audit, audit.user_id).await?;
                tx.commit().await?;
                self.signal.committed();
                Ok(ended)
            }

            async fn totp_factor(&self, user_id: i64) -> Result<Option<TotpFactor>, StoreError> {
                Ok(sqlx::query_as("select secret, confirmed_at, last_step from totp_factors where user_id = $1")
                    .bind(user_id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn begin_totp(&self, user_id: i64, secret: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
                let written = sqlx::query(
                    "insert into totp_factors (user_id, secret, created_at) values ($1, $2, $3) \
                     on conflict (user_id) do update set secret = excluded.secret, created_at = excluded.created_at, \
                     last_step = null where totp_factors.confirmed_at is null",
                )
                .bind(user_id)
                .bind(secret)
                .bind(now)
                .execute(&self.pool)
                .await?;
                if written.rows_affected() == 0 {
                    return Err(StoreError::Conflict("a second factor"));
                }
                Ok(())
            }

            async fn confirm_totp(&self, user_id: i64, step: i64, code_hashes: &[String], now: DateTime<Utc>) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await?;
                sqlx::query("update totp_factors set confirmed_at = $2, last_step = $3 where user_id = $1 and confirmed_at is null")
                    .bind(user_id)
                    .bind(now)
                    .bind(step)
                    .execute(&mut *tx)
                    .await?;
                sqlx::query("delete from recovery_codes where user_id = $1").bind(user_id).execute(&mut *tx).await?;
                for hash in code_hashes {
                    sqlx::query("insert into recovery_codes (user_id, code_hash) values ($1, $2)")
                        .bind(user_id)
                        .bind(hash)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn use_totp_step(&self, user_id: i64, step: i64) -> Result<bool, StoreError> {
                let used = sqlx::query(
                    "update totp_factors set last_step = $2 \
                     where user_id = $1 and confirmed_at is not null and (last_step is null or last_step < $2)",
                )
                .bind(user_id)
                .bind(step)
                .execute(&self.pool)
                .await?;
                Ok(used.rows_affected() == 1)
            }

            async fn use_recovery_code(&self, user_id: i64, code_hash: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
                let used = sqlx::query(
                    "update recovery_codes set used_at = $3 where user_id = $1 and code_hash = $2 and used_at is null",
                )
                .bind(user_id)
                .bind(code_hash)
                .bind(now)
                .execute(&self.pool)
                .await?;
                Ok(used.rows_affected() == 1)
            }

            async fn create_challenge(&self, challenge: &Challenge, now: DateTime<Utc>) -> Result<(), StoreError> {
                sqlx::query(
                    "insert into step_up_challenges (id, user_id, created_at, expires_at, attempts, risk_score, risk_reasons) \
                     values ($1, $2, $3, $4, 0, $5, $6)",
                )
                .bind(&challenge.id)
                .bind(challenge.user_id)
                .bind(now)
                .bind(challenge.expires_at)
                .bind(challenge.risk_score)
                .bind(&challenge.risk_reasons)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn attempt_challenge(&self, id: &str, now: DateTime<Utc>, max_attempts: i64) -> Result<Option<Challenge>, StoreError> {
                Ok(sqlx::query_as(
                    "update step_up_challenges set attempts = attempts + 1 \
                     where id = $1 and consumed_at is null and expires_at > $2 and attempts < $3 \
                     returning id, user_id, expires_at, cast(attempts as bigint) as attempts, risk_score, risk_reasons",
                )
                .bind(id)
                .bind(now)
                .bind(max_attempts)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn consume_challenge(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError> {
                let used = sqlx::query("update step_up_challenges set consumed_at = $2 where id = $1 and consumed_at is null")
                    .bind(id)
                    .bind(now)
                    .execute(&self.pool)
                    .await?;
                Ok(used.rows_affected() == 1)
            }

            async fn risk_profile(&self, user_id: i64) -> Result<Option<String>, StoreError> {
                Ok(sqlx::query_scalar("select profile from risk_profiles where user_id = $1")
                    .bind(user_id)
                    .fetch_optional(&self.pool)
                    .await?)
            }

            async fn population(&self, keys: &[String]) -> Result<std::collections::HashMap<String, f64>, StoreError> {
                if keys.is_empty() {
                    return Ok(Default::default());
                }
                let mut query = sqlx::QueryBuilder::<$db>::new("select key, count from risk_population where key in (");
                let mut list = query.separated(", ");
                for key in keys {
                    list.push_bind(key.clone());
                }
                query.push(")");
                let rows: Vec<(String, f64)> = query.build_query_as().fetch_all(&self.pool).await?;
                Ok(rows.into_iter().collect())
            }

            async fn save_risk(&self, learned: &RiskLearning) -> Result<(), StoreError> {
                let mut tx = self.pool.begin().await?;
                sqlx::query(
                    "insert into risk_profiles (user_id, profile, updated_at) values ($1, $2, $3) \
                     on conflict (user_id) do update set profile = excluded.profile, updated_at = excluded.updated_at",
                )
                .bind(learned.user_id)
                .bind(&learned.profile)
                .bind(learned.now)
                .execute(&mut *tx)
                .await?;
                // Increments, not overwrites: instances learning at once add up.
                for (key, delta) in &learned.population {
                    sqlx::query(
                        "insert into risk_population (key, count) values ($1, $2) \
                         on conflict (key) do update set count = risk_population.count + excluded.count",
                    )
                    .bind(key)
                    .bind(*delta)
                    .execute(&mut *tx)
                    .await?;
                }
                if let Some((session_id, baseline)) = &learned.session {
                    sqlx::query("update sessions set risk_baseline = $2 where id = $1")
                        .bind(session_id)
                        .bind(baseline)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn refresh_context(&self, token_hash: &str) -> Result<Option<RefreshContext>, StoreError> {
                Ok(sqlx::query_as(
                    "select s.id as session_id, s.risk_baseline, \
                            u.id, u.username, u.email, u.hashed_password, u.is_active, u.is_admin, u.created_at \
                     from refresh_tokens t join sessions s on s.id = t.session_id join users u on u.id = s.user_id \
                     where t.token_hash = $1",
                )
                .bind(token_hash)
                .fetch_optional(&self.pool)
                .await?)
            }

            async fn failure_signals(
                &self,
                ip: &str,
                username: &str,
                since: DateTime<Utc>,
                account_since: DateTime<Utc>,
            ) -> Result<(i64, i64), StoreError> {
                Ok(sqlx::query_as(
                    "select count(distinct case when username is null or username <> $2 then coalesce(username, '') end), \
                            count(case when username = $2 and created_at >= $4 then 1 end) \
                     from user_activity_logs \
                     where ip_address = $1 and event_type = 'login_failed' and created_at >= $3",
                )
                .bind(ip)
                .bind(username)
                .bind(since)
                .bind(account_since)
                .fetch_one(&self.pool)
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

impl SqliteStore {
    /// The rotation as one transaction: the spend is one conditional write, so concurrent
    /// refreshes of one token serialise on the database's write lock and exactly one of
    /// them sees it change. Never read-then-write. `None` when the token was not live.
    async fn spend_and_rotate(
        &self,
        rotation: &Rotation,
        event: &NewActivity,
    ) -> Result<Option<(i64, String)>, StoreError> {
        let now = rotation.now;
        let mut tx = self.pool.begin().await?;
        let spent: Option<(i64, String)> = sqlx::query_as(SPEND_SQL)
            .bind(&rotation.presented_hash)
            .bind(now)
            .bind(&rotation.successor_hash)
            .fetch_optional(&mut *tx)
            .await?;
        let Some((user_id, session_id)) = spent else {
            return Ok(None);
        };
        let session_expires: DateTime<Utc> = sqlx::query_scalar(
            "update sessions set last_used_at = $2, ip_address = $3, country = $4, city = $5, \
                    risk_baseline = coalesce($6, risk_baseline) \
             where id = $1 returning expires_at",
        )
        .bind(&session_id)
        .bind(now)
        .bind(&rotation.ip_address)
        .bind(rotation.country.as_deref())
        .bind(rotation.city.as_deref())
        .bind(rotation.risk_baseline.as_deref())
        .fetch_one(&mut *tx)
        .await?;
        Self::insert_token(
            &mut *tx,
            &TokenRow {
                user_id,
                session_id: &session_id,
                token_hash: &rotation.successor_hash,
                device_info: &rotation.device_info,
                ip_address: &rotation.ip_address,
                created_at: now,
                expires_at: session_expires.min(now + rotation.idle_timeout),
            },
        )
        .await?;
        Self::insert_activity(&mut *tx, event, Some(user_id)).await?;
        tx.commit().await?;
        Ok(Some((user_id, session_id)))
    }
}

impl PgStore {
    /// The rotation as one statement, the same writes as SQLite's transaction (spend,
    /// session, successor, activity row) in data-modifying CTEs: one round trip and one
    /// implicit transaction instead of six statements. The spend is still the one
    /// conditional write concurrent refreshes of a token serialise on.
    async fn spend_and_rotate(
        &self,
        rotation: &Rotation,
        event: &NewActivity,
    ) -> Result<Option<(i64, String)>, StoreError> {
        let sql = format!(
            "with spent as ({SPEND_SQL}), \
             touched as ( \
               update sessions set last_used_at = $2, ip_address = $4, country = $5, city = $6, \
                      risk_baseline = coalesce($7, sessions.risk_baseline) \
               from spent where sessions.id = spent.session_id \
               returning sessions.id, spent.user_id, sessions.expires_at), \
             successor as ( \
               insert into refresh_tokens \
                 (user_id, session_id, token_hash, device_info, ip_address, created_at, expires_at, is_revoked) \
               select user_id, id, $3, $8, $4, $2, least(expires_at, $9), false from touched), \
             logged as ( \
               insert into user_activity_logs ({columns}) \
               select user_id, coalesce($10, (select username from users where id = touched.user_id)), \
                      $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27 \
               from touched) \
             select user_id, id from touched",
            columns = activity_insert_columns!()
        );
        let now = rotation.now;
        let query = sqlx::query_as(&sql)
            .bind(&rotation.presented_hash)
            .bind(now)
            .bind(&rotation.successor_hash)
            .bind(&rotation.ip_address)
            .bind(rotation.country.as_deref())
            .bind(rotation.city.as_deref())
            .bind(rotation.risk_baseline.as_deref())
            .bind(&rotation.device_info)
            .bind(now + rotation.idle_timeout);
        Ok(bind_event!(query, event).fetch_optional(&self.pool).await?)
    }
}

/// Spends a refresh token: the one conditional write of a rotation. The row changes only
/// if it is still unspent (and its session live), so of concurrent refreshes of one token
/// exactly one sees it change. $1 the token's hash, $2 now, $3 the successor's hash.
const SPEND_SQL: &str = "update refresh_tokens set spent_at = $2, successor_hash = $3 \
     where token_hash = $1 and spent_at is null and is_revoked = false and expires_at > $2 \
       and session_id in (select id from sessions where revoked_at is null and expires_at > $2) \
     returning user_id, session_id";
