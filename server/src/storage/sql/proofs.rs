//! [`ProofStore`] over either database: the device proofs already accepted.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::SqlStore;
use super::db::query;
use crate::storage::{ProofStore, StoreError};

#[async_trait]
impl ProofStore for SqlStore {
    async fn spend_proof(&self, jkt: &str, jti: &str, expires_at: DateTime<Utc>) -> Result<bool, StoreError> {
        let inserted = query(
            "insert into spent_proofs (jkt, jti, expires_at) values ($1, $2, $3) \
             on conflict (jkt, jti) do nothing",
        )
        .bind(jkt)
        .bind(jti)
        .bind(expires_at)
        .execute(&self.pool)
        .await?;
        Ok(inserted == 1)
    }

    async fn prune_spent_proofs(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(query("delete from spent_proofs where expires_at < $1")
            .bind(now)
            .execute(&self.pool)
            .await?)
    }
}
