//! [`FactorStore`] over either database: authenticators, recovery codes and step-up challenges.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::SqlStore;
use super::db::{Tx, query};
use crate::storage::{Challenge, FactorStore, StoreError, TotpFactor};

#[async_trait]
impl FactorStore for SqlStore {
    async fn totp_factor(&self, user_id: i64) -> Result<Option<TotpFactor>, StoreError> {
        Ok(query(
            "select secret, confirmed_at, last_step, cast(failures as bigint) as failures, locked_at \
                 from totp_factors where user_id = $1",
        )
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn begin_totp(&self, user_id: i64, secret: &str, now: DateTime<Utc>) -> Result<(), StoreError> {
        let written = query(
            "insert into totp_factors (user_id, secret, created_at) values ($1, $2, $3) \
             on conflict (user_id) do update set secret = excluded.secret, created_at = excluded.created_at, \
             last_step = null where totp_factors.confirmed_at is null",
        )
        .bind(user_id)
        .bind(secret)
        .bind(now)
        .execute(&self.pool)
        .await?;
        if written == 0 {
            return Err(StoreError::Conflict("a second factor"));
        }
        Ok(())
    }

    async fn confirm_totp(
        &self,
        user_id: i64,
        step: i64,
        code_hashes: &[String],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        query("update totp_factors set confirmed_at = $2, last_step = $3 where user_id = $1 and confirmed_at is null")
            .bind(user_id)
            .bind(now)
            .bind(step)
            .execute(&mut tx)
            .await?;
        insert_codes(&mut tx, user_id, code_hashes).await?;
        tx.commit().await?;
        Ok(())
    }

    async fn replace_recovery_codes(&self, user_id: i64, code_hashes: &[String]) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        // Takes the factor's row lock first, so two regenerations cannot interleave.
        let confirmed =
            query("update totp_factors set user_id = user_id where user_id = $1 and confirmed_at is not null")
                .bind(user_id)
                .execute(&mut tx)
                .await?;
        if confirmed == 0 {
            return Ok(false);
        }
        insert_codes(&mut tx, user_id, code_hashes).await?;
        tx.commit().await?;
        Ok(true)
    }

    async fn remove_totp(&self, user_id: i64) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let removed = query("delete from totp_factors where user_id = $1")
            .bind(user_id)
            .execute(&mut tx)
            .await?;
        query("delete from recovery_codes where user_id = $1")
            .bind(user_id)
            .execute(&mut tx)
            .await?;
        tx.commit().await?;
        Ok(removed > 0)
    }

    async fn count_factor_failure(
        &self,
        user_id: i64,
        lock_after: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<TotpFactor>, StoreError> {
        Ok(query(
            "update totp_factors set failures = failures + 1, \
                    locked_at = case when locked_at is null and failures + 1 >= $2 then $3 else locked_at end \
             where user_id = $1 and confirmed_at is not null \
             returning secret, confirmed_at, last_step, cast(failures as bigint) as failures, locked_at",
        )
        .bind(user_id)
        .bind(lock_after)
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn clear_factor_failures(&self, user_id: i64) -> Result<bool, StoreError> {
        let cleared = query(
            "update totp_factors set failures = 0, locked_at = null \
             where user_id = $1 and confirmed_at is not null and (failures > 0 or locked_at is not null)",
        )
        .bind(user_id)
        .execute(&self.pool)
        .await?;
        Ok(cleared > 0)
    }

    async fn use_totp_step(&self, user_id: i64, step: i64) -> Result<bool, StoreError> {
        let used = query(
            "update totp_factors set last_step = $2 \
             where user_id = $1 and confirmed_at is not null and (last_step is null or last_step < $2)",
        )
        .bind(user_id)
        .bind(step)
        .execute(&self.pool)
        .await?;
        Ok(used == 1)
    }

    async fn use_recovery_code(
        &self,
        user_id: i64,
        keyed_hash: &str,
        legacy_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let used = query(
            "update recovery_codes set used_at = $3 where user_id = $1 and used_at is null \
                 and ((keyed and code_hash = $2) or (not keyed and code_hash = $4))",
        )
        .bind(user_id)
        .bind(keyed_hash)
        .bind(now)
        .bind(legacy_hash)
        .execute(&self.pool)
        .await?;
        Ok(used == 1)
    }

    async fn create_challenge(&self, challenge: &Challenge, now: DateTime<Utc>) -> Result<(), StoreError> {
        query(
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

    async fn attempt_challenge(
        &self,
        id: &str,
        now: DateTime<Utc>,
        max_attempts: i64,
    ) -> Result<Option<Challenge>, StoreError> {
        Ok(query(
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
        let used = query("update step_up_challenges set consumed_at = $2 where id = $1 and consumed_at is null")
            .bind(id)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(used == 1)
    }
}

/// Replaces a user's recovery codes with these (keyed hashes), inside the caller's
/// transaction.
async fn insert_codes(tx: &mut Tx, user_id: i64, code_hashes: &[String]) -> Result<(), StoreError> {
    query("delete from recovery_codes where user_id = $1")
        .bind(user_id)
        .execute(&mut *tx)
        .await?;
    for hash in code_hashes {
        query("insert into recovery_codes (user_id, code_hash, keyed) values ($1, $2, $3)")
            .bind(user_id)
            .bind(hash)
            .bind(true)
            .execute(&mut *tx)
            .await?;
    }
    Ok(())
}
