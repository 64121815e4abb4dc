//! [`UserStore`] over either database.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::db::query;
use super::{SqlStore, activity, sessions};
use crate::domain::user::{NewUser, User};
use crate::storage::{NewActivity, StoreError, UserStore};

const USER_COLUMNS: &str = "id, username, email, hashed_password, is_active, is_admin, created_at";

#[async_trait]
impl UserStore for SqlStore {
    async fn count_users(&self) -> Result<i64, StoreError> {
        Ok(query("select count(*) from users").fetch_scalar(&self.pool).await?)
    }

    async fn insert_user(&self, user: &NewUser, now: DateTime<Utc>) -> Result<User, StoreError> {
        let sql = format!(
            "insert into users (username, email, hashed_password, is_active, is_admin, created_at, updated_at) \
             values ($1, $2, $3, true, $4, $5, $5) returning {USER_COLUMNS}"
        );
        Ok(query(sql)
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
        Ok(query(sql).bind(login).fetch_optional(&self.pool).await?)
    }

    async fn find_user(&self, id: i64) -> Result<Option<User>, StoreError> {
        let sql = format!("select {USER_COLUMNS} from users where id = $1");
        Ok(query(sql).bind(id).fetch_optional(&self.pool).await?)
    }

    async fn list_users(&self, search: Option<&str>, before: Option<i64>, limit: i64) -> Result<Vec<User>, StoreError> {
        let mut query = query(format!("select {USER_COLUMNS} from users where 1 = 1"));
        if let Some(search) = search {
            // Names and addresses are stored lowercase; LIKE's wildcards in the
            // search are escaped so they match themselves.
            let pattern = format!(
                "%{}%",
                search
                    .to_lowercase()
                    .replace('\\', "\\\\")
                    .replace('%', "\\%")
                    .replace('_', "\\_")
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
        Ok(query.fetch_all(&self.pool).await?)
    }

    async fn set_user_admin(&self, id: i64, admin: bool, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let updated = query("update users set is_admin = $2, updated_at = $3 where id = $1")
            .bind(id)
            .bind(admin)
            .bind(now)
            .execute(&self.pool)
            .await?;
        Ok(updated > 0)
    }

    async fn set_user_active(&self, id: i64, active: bool, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let mut tx = self.pool.begin().await?;
        let updated = query("update users set is_active = $2, updated_at = $3 where id = $1")
            .bind(id)
            .bind(active)
            .bind(now)
            .execute(&mut tx)
            .await?;
        if !active {
            // A locked account must not keep its sessions (CVE-2023-22492).
            sessions::revoke_user_families(&mut tx, id, None, now, "user_deactivated").await?;
        }
        tx.commit().await?;
        Ok(updated > 0)
    }

    async fn change_password(
        &self,
        user_id: i64,
        hashed_password: &str,
        now: DateTime<Utc>,
        event: &NewActivity,
    ) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        query("update users set hashed_password = $2, updated_at = $3 where id = $1")
            .bind(user_id)
            .bind(hashed_password)
            .bind(now)
            .execute(&mut tx)
            .await?;
        sessions::revoke_user_families(&mut tx, user_id, None, now, "password_changed").await?;
        activity::insert_activity(&mut tx, event, Some(user_id)).await?;
        tx.commit().await?;
        self.signal.committed();
        Ok(())
    }

    async fn upgrade_password_hash(&self, user_id: i64, old: &str, new: &str) -> Result<bool, StoreError> {
        let upgraded = query("update users set hashed_password = $3 where id = $1 and hashed_password = $2")
            .bind(user_id)
            .bind(old)
            .bind(new)
            .execute(&self.pool)
            .await?;
        Ok(upgraded == 1)
    }
}
