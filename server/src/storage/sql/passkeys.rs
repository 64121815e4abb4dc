//! [`PasskeyStore`] over either database: passkeys and the ceremonies in progress.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::SqlStore;
use super::activity::insert_activity;
use super::db::query;
use crate::storage::{NewActivity, PasskeyCeremonyRow, PasskeyRecord, PasskeyStore, PasskeyUse, StoreError};

const PASSKEY_COLUMNS: &str = "id, user_id, credential_id, user_handle, name, credential, backup_eligible, backed_up, \
                               created_at, last_used_at";

#[async_trait]
impl PasskeyStore for SqlStore {
    async fn passkeys(&self, user_id: i64) -> Result<Vec<PasskeyRecord>, StoreError> {
        Ok(query(format!(
            "select {PASSKEY_COLUMNS} from passkeys where user_id = $1 order by created_at, id"
        ))
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn passkey_by_credential(&self, credential_id: &str) -> Result<Option<PasskeyRecord>, StoreError> {
        Ok(query(format!(
            "select {PASSKEY_COLUMNS} from passkeys where credential_id = $1"
        ))
        .bind(credential_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn add_passkey(&self, passkey: &PasskeyRecord, event: &NewActivity) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        query(format!(
            "insert into passkeys ({PASSKEY_COLUMNS}) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
        ))
        .bind(passkey.id.clone())
        .bind(passkey.user_id)
        .bind(passkey.credential_id.clone())
        .bind(passkey.user_handle.clone())
        .bind(passkey.name.clone())
        .bind(passkey.credential.clone())
        .bind(passkey.backup_eligible)
        .bind(passkey.backed_up)
        .bind(passkey.created_at)
        .bind(passkey.last_used_at)
        .execute(&mut tx)
        .await?;
        insert_activity(&mut tx, event, event.user_id).await?;
        tx.commit().await?;
        self.signal.committed();
        Ok(())
    }

    async fn record_passkey_use(&self, used: &PasskeyUse<'_>, verified_against: &str) -> Result<bool, StoreError> {
        let updated = query(
            "update passkeys set last_used_at = $2, credential = coalesce($3, credential), backed_up = $4 \
             where id = $1 and credential = $5",
        )
        .bind(used.id.to_owned())
        .bind(used.used_at)
        .bind(used.credential.map(str::to_owned))
        .bind(used.backed_up)
        .bind(verified_against.to_owned())
        .execute(&self.pool)
        .await?;
        Ok(updated == 1)
    }

    async fn remove_passkey(&self, user_id: i64, id: &str, event: &NewActivity) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let removed = query("delete from passkeys where id = $1 and user_id = $2")
            .bind(id.to_owned())
            .bind(user_id)
            .execute(&mut tx)
            .await?;
        if removed == 0 {
            return Ok(false);
        }
        insert_activity(&mut tx, event, event.user_id).await?;
        tx.commit().await?;
        self.signal.committed();
        Ok(true)
    }

    async fn start_ceremony(&self, ceremony: &PasskeyCeremonyRow) -> Result<(), StoreError> {
        query("insert into passkey_ceremonies (id, purpose, user_id, state, expires_at) values ($1, $2, $3, $4, $5)")
            .bind(ceremony.id.clone())
            .bind(ceremony.purpose.clone())
            .bind(ceremony.user_id)
            .bind(ceremony.state.clone())
            .bind(ceremony.expires_at)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    async fn take_ceremony(
        &self,
        id: &str,
        purpose: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<PasskeyCeremonyRow>, StoreError> {
        // One statement: of two requests finishing the same ceremony, one gets the row.
        Ok(query(
            "delete from passkey_ceremonies where id = $1 and purpose = $2 and expires_at > $3 \
             returning id, purpose, user_id, state, expires_at",
        )
        .bind(id.to_owned())
        .bind(purpose.to_owned())
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn peek_ceremony(
        &self,
        id: &str,
        purpose: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<PasskeyCeremonyRow>, StoreError> {
        Ok(query(
            "select id, purpose, user_id, state, expires_at from passkey_ceremonies \
             where id = $1 and purpose = $2 and expires_at > $3",
        )
        .bind(id.to_owned())
        .bind(purpose.to_owned())
        .bind(now)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn prune_ceremonies(&self, now: DateTime<Utc>) -> Result<u64, StoreError> {
        Ok(query("delete from passkey_ceremonies where expires_at <= $1")
            .bind(now)
            .execute(&self.pool)
            .await?)
    }
}
