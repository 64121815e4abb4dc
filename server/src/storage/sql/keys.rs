//! [`KeyStore`] over either database: server secrets and signing keys.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::SqlStore;
use super::db::query;
use crate::storage::{KeyStore, StoreError, StoredSigningKey};

#[async_trait]
impl KeyStore for SqlStore {
    async fn ensure_secret(&self, name: &str, candidate: &str, now: DateTime<Utc>) -> Result<String, StoreError> {
        query("insert into server_secrets (name, secret, created_at) values ($1, $2, $3) on conflict do nothing")
            .bind(name)
            .bind(candidate)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(query("select secret from server_secrets where name = $1")
            .bind(name)
            .fetch_scalar(&self.pool)
            .await?)
    }

    async fn current_signing_key(&self) -> Result<Option<StoredSigningKey>, StoreError> {
        Ok(
            query("select kid, algorithm, secret, created_at from signing_keys where status = 'active'")
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn signing_keys(&self) -> Result<Vec<StoredSigningKey>, StoreError> {
        Ok(
            query("select kid, algorithm, secret, created_at from signing_keys order by created_at desc, kid")
                .fetch_all(&self.pool)
                .await?,
        )
    }

    async fn rotate_signing_key(&self, key: &StoredSigningKey) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        query("update signing_keys set status = 'retired' where status = 'active'")
            .execute(&mut tx)
            .await?;
        query(
            "insert into signing_keys (kid, algorithm, secret, status, created_at) values ($1, $2, $3, 'active', $4)",
        )
        .bind(&key.kid)
        .bind(&key.algorithm)
        .bind(&key.secret)
        .bind(key.created_at)
        .execute(&mut tx)
        .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn ensure_signing_key(&self, key: &StoredSigningKey) -> Result<StoredSigningKey, StoreError> {
        // The partial unique index on status = 'active' makes the insert a no-op when
        // another instance got there first.
        query(
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
