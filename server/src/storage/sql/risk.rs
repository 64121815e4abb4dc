//! [`RiskStore`] over either database: learned profiles, population counts, failure signals.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::SqlStore;
use super::db::query;
use crate::storage::{FailureSignals, RiskLearning, RiskStore, StoreError};

#[async_trait]
impl RiskStore for SqlStore {
    async fn risk_profile(&self, user_id: i64) -> Result<Option<String>, StoreError> {
        Ok(query("select profile from risk_profiles where user_id = $1")
            .bind(user_id)
            .fetch_optional_scalar(&self.pool)
            .await?)
    }

    async fn population(&self, keys: &[String]) -> Result<HashMap<String, f64>, StoreError> {
        if keys.is_empty() {
            return Ok(Default::default());
        }
        let mut query = query("select key, count from risk_population where key in (");
        query.push_list(keys).push(")");
        let rows: Vec<(String, f64)> = query.fetch_all(&self.pool).await?;
        Ok(rows.into_iter().collect())
    }

    async fn save_risk(&self, learned: &RiskLearning) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        query(
            "insert into risk_profiles (user_id, profile, updated_at) values ($1, $2, $3) \
             on conflict (user_id) do update set profile = excluded.profile, updated_at = excluded.updated_at",
        )
        .bind(learned.user_id)
        .bind(&learned.profile)
        .bind(learned.now)
        .execute(&mut tx)
        .await?;
        // Increments, not overwrites: instances learning at once add up.
        for (key, delta) in &learned.population {
            query(
                "insert into risk_population (key, count) values ($1, $2) \
                 on conflict (key) do update set count = risk_population.count + excluded.count",
            )
            .bind(key)
            .bind(*delta)
            .execute(&mut tx)
            .await?;
        }
        if let Some(session) = &learned.session {
            query("update sessions set risk_baseline = $2 where id = $1")
                .bind(&session.session_id)
                .bind(&session.baseline)
                .execute(&mut tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    async fn failure_signals(
        &self,
        ip: &str,
        username: &str,
        since: DateTime<Utc>,
        account_since: DateTime<Utc>,
    ) -> Result<FailureSignals, StoreError> {
        let (other_names, account_failures) = query(
            "select count(distinct case when username is null or username <> $2 then coalesce(username, '') end), \
                    count(case when username = $2 and created_at >= $4 then 1 end) \
             from user_activity_logs \
             where ip_address = $1 and event_type = 'login_failed' and created_at >= $3",
        )
        .bind(ip)
        .bind(username)
        .bind(since)
        .bind(account_since)
        .fetch_one::<(i64, i64)>(&self.pool)
        .await?;
        Ok(FailureSignals {
            other_names,
            account_failures,
        })
    }
}
