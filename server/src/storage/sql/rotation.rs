//! Spending a refresh token and storing its successor: the one place the two databases
//! run different SQL. PostgreSQL does it in one statement; SQLite, which has no
//! data-modifying CTEs, in one transaction. Both make the same writes.

use std::sync::LazyLock;

use chrono::{DateTime, Utc};

use super::activity::{self, ACTIVITY_INSERT_COLUMNS};
use super::db::{Pool, query};
use super::sessions::{TokenRow, insert_token};
use crate::storage::{NewActivity, Rotation, StoreError};

/// Spends a refresh token: the one conditional write of a rotation. The row changes only
/// if it is still unspent (and its session live), so of concurrent refreshes of one token
/// exactly one sees it change. $1 the token's hash, $2 now, $3 the successor's hash.
const SPEND_SQL: &str = "update refresh_tokens set spent_at = $2, successor_hash = $3 \
     where token_hash = $1 and spent_at is null and is_revoked = false and expires_at > $2 \
       and session_id in (select id from sessions where revoked_at is null and expires_at > $2) \
     returning user_id, session_id";

/// The whole rotation as one PostgreSQL statement: `$1` to `$9` the rotation, `$10` to
/// `$28` what [`activity::bind_event`] binds, `$29` the device cookie's hash. Built once: it runs on every refresh.
static ROTATE_IN_ONE_STATEMENT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "with spent as ({SPEND_SQL}), \
         touched as ( \
           update sessions set last_used_at = $2, ip_address = $4, country = $5, city = $6, \
                  risk_baseline = coalesce($7, sessions.risk_baseline) \
           from spent where sessions.id = spent.session_id \
           returning sessions.id, spent.user_id, sessions.expires_at), \
         successor as ( \
           insert into refresh_tokens \
             (user_id, session_id, token_hash, device_info, device_hash, ip_address, created_at, expires_at, is_revoked) \
           select user_id, id, $3, $8, $29, $4, $2, least(expires_at, $9), false from touched), \
         logged as ( \
           insert into user_activity_logs ({ACTIVITY_INSERT_COLUMNS}) \
           select user_id, coalesce($10, (select username from users where id = touched.user_id)), \
                  $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28 \
           from touched) \
         select user_id, id from touched"
    )
});

/// Rotates the presented token; `None` when it was not live. Returns the session's user
/// and id.
pub(super) async fn spend_and_rotate(
    pool: &Pool,
    rotation: &Rotation,
    event: &NewActivity,
) -> Result<Option<(i64, String)>, StoreError> {
    match pool {
        Pool::Postgres(_) => in_one_statement(pool, rotation, event).await,
        Pool::Sqlite(_) => in_one_transaction(pool, rotation, event).await,
    }
}

/// The rotation as one transaction: the spend is one conditional write, so concurrent
/// refreshes of one token serialise on the database's write lock and exactly one of them
/// sees it change. Never read-then-write.
async fn in_one_transaction(
    pool: &Pool,
    rotation: &Rotation,
    event: &NewActivity,
) -> Result<Option<(i64, String)>, StoreError> {
    let now = rotation.now;
    let mut tx = pool.begin().await?;
    let spent: Option<(i64, String)> = query(SPEND_SQL)
        .bind(&rotation.presented_hash)
        .bind(now)
        .bind(&rotation.successor_hash)
        .fetch_optional(&mut tx)
        .await?;
    let Some((user_id, session_id)) = spent else {
        return Ok(None);
    };
    let session_expires: DateTime<Utc> = query(
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
    .fetch_scalar(&mut tx)
    .await?;
    insert_token(
        &mut tx,
        &TokenRow {
            user_id,
            session_id: &session_id,
            token_hash: &rotation.successor_hash,
            device_info: &rotation.device_info,
            device_hash: rotation.device_hash.as_deref(),
            ip_address: &rotation.ip_address,
            created_at: now,
            expires_at: session_expires.min(now + rotation.idle_timeout),
        },
    )
    .await?;
    activity::insert_activity(&mut tx, event, Some(user_id)).await?;
    tx.commit().await?;
    Ok(Some((user_id, session_id)))
}

/// The rotation as one statement, the same writes as the transaction (spend, session,
/// successor, activity row) in data-modifying CTEs: one round trip and one implicit
/// transaction instead of six statements. The spend is still the one conditional write
/// concurrent refreshes of a token serialise on.
async fn in_one_statement(
    pool: &Pool,
    rotation: &Rotation,
    event: &NewActivity,
) -> Result<Option<(i64, String)>, StoreError> {
    let now = rotation.now;
    let statement = query(ROTATE_IN_ONE_STATEMENT.as_str())
        .bind(&rotation.presented_hash)
        .bind(now)
        .bind(&rotation.successor_hash)
        .bind(&rotation.ip_address)
        .bind(rotation.country.as_deref())
        .bind(rotation.city.as_deref())
        .bind(rotation.risk_baseline.as_deref())
        .bind(&rotation.device_info)
        .bind(now + rotation.idle_timeout);
    Ok(activity::bind_event(statement, event)
        .bind(rotation.device_hash.as_deref())
        .fetch_optional(pool)
        .await?)
}
