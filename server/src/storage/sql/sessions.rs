//! [`SessionStore`] over either database: sessions, their refresh tokens, and revocation.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::db::{Conn, Pool, Tx, query};
use super::{SqlStore, activity, rotation};
use crate::storage::{
    BoundKey, NewActivity, NewSession, RefreshContext, RotateOutcome, Rotation, SessionRecord, SessionStore,
    SpentToken, StoreError,
};

const SESSION_COLUMNS: &str = "id, user_id, device_info, ip_address, country, city, created_at, last_used_at, expires_at, \
     device_jkt is not null as device_bound";

/// One refresh-token row to insert.
pub(super) struct TokenRow<'a> {
    pub user_id: i64,
    pub session_id: &'a str,
    pub token_hash: &'a str,
    pub device_info: &'a str,
    pub device_hash: Option<&'a str>,
    pub ip_address: &'a str,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
}

#[async_trait]
impl SessionStore for SqlStore {
    async fn open_session(&self, session: &NewSession, event: &NewActivity) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        query(
            "insert into sessions \
             (id, user_id, device_info, ip_address, country, city, created_at, last_used_at, expires_at, \
              device_key, device_jkt) \
             values ($1, $2, $3, $4, $5, $6, $7, $7, $8, $9, $10)",
        )
        .bind(&session.session_id)
        .bind(session.user_id)
        .bind(&session.device_info)
        .bind(&session.ip_address)
        .bind(session.country.as_deref())
        .bind(session.city.as_deref())
        .bind(session.created_at)
        .bind(session.expires_at)
        .bind(session.device_key.as_ref().map(|k| k.jwk.as_str()))
        .bind(session.device_key.as_ref().map(|k| k.jkt.as_str()))
        .execute(&mut tx)
        .await?;
        insert_token(
            &mut tx,
            &TokenRow {
                user_id: session.user_id,
                session_id: &session.session_id,
                token_hash: &session.token_hash,
                device_info: &session.device_info,
                device_hash: session.device_hash.as_deref(),
                ip_address: &session.ip_address,
                created_at: session.created_at,
                expires_at: session.token_expires_at,
            },
        )
        .await?;
        activity::insert_activity(&mut tx, event, event.user_id).await?;
        query(
            "insert into known_networks (user_id, network, last_seen_at) values ($1, $2, $3) \
             on conflict (user_id, network) do update set last_seen_at = excluded.last_seen_at",
        )
        .bind(session.user_id)
        .bind(&session.known_network)
        .bind(session.created_at)
        .execute(&mut tx)
        .await?;
        for key in &session.throttle_clear {
            query("delete from login_throttle where key = $1")
                .bind(key)
                .execute(&mut tx)
                .await?;
        }
        for key in &session.throttle_refund {
            query("update login_throttle set failures = failures - 1 where key = $1 and failures > 0")
                .bind(key)
                .execute(&mut tx)
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
        let revoked: Option<(i64, String)> = query(
            "update sessions set revoked_at = $2, revoke_reason = 'logout' \
             where revoked_at is null \
               and id = (select session_id from refresh_tokens where token_hash = $1) \
             returning user_id, id",
        )
        .bind(token_hash)
        .bind(now)
        .fetch_optional(&mut tx)
        .await?;
        let Some((user_id, session_id)) = revoked else {
            return Ok(None);
        };
        revoke_family(&mut tx, &session_id, now, "logout").await?;
        activity::insert_activity(&mut tx, event, Some(user_id)).await?;
        tx.commit().await?;
        self.signal.committed();
        Ok(Some(user_id))
    }

    async fn bind_device_key(
        &self,
        session_id: &str,
        key: &BoundKey,
        opened_since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let bound = query(
            "update sessions set device_key = $2, device_jkt = $3 \
             where id = $1 and device_jkt is null and revoked_at is null \
               and created_at >= $4 and expires_at > $5",
        )
        .bind(session_id)
        .bind(&key.jwk)
        .bind(&key.jkt)
        .bind(opened_since)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(bound == 1)
    }

    async fn key_used_elsewhere(
        &self,
        jkt: &str,
        except_session: &str,
        country: &str,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError> {
        Ok(query(
            "select country from sessions \
             where device_jkt = $1 and id <> $2 and revoked_at is null and expires_at > $5 \
               and last_used_at >= $4 and country is not null and country <> $3 \
             order by last_used_at desc limit 1",
        )
        .bind(jkt)
        .bind(except_session)
        .bind(country)
        .bind(since)
        .bind(now)
        .fetch_optional_scalar(&self.pool)
        .await?)
    }

    async fn session_started_at(&self, session_id: &str) -> Result<Option<DateTime<Utc>>, StoreError> {
        Ok(query("select created_at from sessions where id = $1")
            .bind(session_id)
            .fetch_optional_scalar(&self.pool)
            .await?)
    }

    async fn session_is_live(&self, session_id: &str, user_id: i64, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let live: i64 = query(
            "select count(*) from sessions where id = $1 and user_id = $2 and revoked_at is null and expires_at > $3",
        )
        .bind(session_id)
        .bind(user_id)
        .bind(now)
        .fetch_scalar(&self.pool)
        .await?;
        Ok(live > 0)
    }

    async fn rotate_refresh_token(
        &self,
        rotation: &Rotation,
        event: &NewActivity,
    ) -> Result<RotateOutcome, StoreError> {
        match rotation::spend_and_rotate(&self.pool, rotation, event).await? {
            Some((user_id, session_id)) => {
                self.signal.committed();
                Ok(RotateOutcome::Rotated { user_id, session_id })
            }
            None => Ok(RotateOutcome::NotRotated(
                spent_token(&self.pool, &rotation.presented_hash, rotation.now).await?,
            )),
        }
    }

    async fn revoke_session(
        &self,
        session_id: &str,
        now: DateTime<Utc>,
        reason: &str,
        event: &NewActivity,
    ) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let was_live = revoke_family(&mut tx, session_id, now, reason).await?;
        activity::insert_activity(&mut tx, event, event.user_id).await?;
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
        let ended = revoke_user_families(&mut tx, user_id, except, now, "logout_all").await?;
        if ended > 0 {
            activity::insert_activity(&mut tx, event, Some(user_id)).await?;
        }
        tx.commit().await?;
        self.signal.committed();
        Ok(ended)
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
        Ok(query(sql).bind(user_id).bind(now).fetch_all(&self.pool).await?)
    }

    async fn refresh_context(&self, token_hash: &str) -> Result<Option<RefreshContext>, StoreError> {
        Ok(query(
            "select s.id as session_id, s.risk_baseline, s.device_jkt, s.device_key, \
                    u.id, u.username, u.email, u.hashed_password, u.is_active, u.is_admin, u.created_at \
             from refresh_tokens t join sessions s on s.id = t.session_id join users u on u.id = s.user_id \
             where t.token_hash = $1",
        )
        .bind(token_hash)
        .fetch_optional(&self.pool)
        .await?)
    }
}

pub(super) async fn insert_token<'c>(conn: impl Into<Conn<'c>>, token: &TokenRow<'_>) -> Result<(), StoreError> {
    query(
        "insert into refresh_tokens \
         (user_id, session_id, token_hash, device_info, device_hash, ip_address, created_at, expires_at, is_revoked) \
         values ($1, $2, $3, $4, $8, $5, $6, $7, false)",
    )
    .bind(token.user_id)
    .bind(token.session_id)
    .bind(token.token_hash)
    .bind(token.device_info)
    .bind(token.ip_address)
    .bind(token.created_at)
    .bind(token.expires_at)
    .bind(token.device_hash)
    .execute(conn)
    .await?;
    Ok(())
}

/// Marks a session and all its tokens revoked; returns whether it was live.
pub(super) async fn revoke_family(
    tx: &mut Tx,
    session_id: &str,
    now: DateTime<Utc>,
    reason: &str,
) -> Result<bool, StoreError> {
    let session = query("update sessions set revoked_at = $2, revoke_reason = $3 where id = $1 and revoked_at is null")
        .bind(session_id)
        .bind(now)
        .bind(reason)
        .execute(&mut *tx)
        .await?;
    query(
        "update refresh_tokens set is_revoked = true, revoked_at = $2 \
         where session_id = $1 and is_revoked = false",
    )
    .bind(session_id)
    .bind(now)
    .execute(&mut *tx)
    .await?;
    Ok(session > 0)
}

/// Revokes every live session of a user but `except`, with all their tokens, in two
/// statements whatever the number of sessions. Returns how many sessions ended.
pub(super) async fn revoke_user_families(
    tx: &mut Tx,
    user_id: i64,
    except: Option<&str>,
    now: DateTime<Utc>,
    reason: &str,
) -> Result<u64, StoreError> {
    let except = except.unwrap_or("");
    let sessions = query(
        "update sessions set revoked_at = $2, revoke_reason = $4 \
         where user_id = $1 and revoked_at is null and id <> $3",
    )
    .bind(user_id)
    .bind(now)
    .bind(except)
    .bind(reason)
    .execute(&mut *tx)
    .await?;
    query(
        "update refresh_tokens set is_revoked = true, revoked_at = $2 \
         where user_id = $1 and is_revoked = false and session_id <> $3",
    )
    .bind(user_id)
    .bind(now)
    .bind(except)
    .execute(&mut *tx)
    .await?;
    Ok(sessions)
}

/// What is known about a token that could not be spent.
async fn spent_token(pool: &Pool, token_hash: &str, now: DateTime<Utc>) -> Result<Option<SpentToken>, StoreError> {
    Ok(query(
        "select t.user_id, t.session_id, t.spent_at, t.successor_hash, \
                (s.id is not null and s.spent_at is null and s.is_revoked = false and s.expires_at > $2 \
                 and exists (select 1 from sessions x where x.id = t.session_id \
                             and x.revoked_at is null and x.expires_at > $2)) as successor_live, \
                s.device_info as successor_device, s.ip_address as successor_ip, \
                s.device_hash as successor_device_hash \
         from refresh_tokens t left join refresh_tokens s on s.token_hash = t.successor_hash \
         where t.token_hash = $1",
    )
    .bind(token_hash)
    .bind(now)
    .fetch_optional(pool)
    .await?)
}
