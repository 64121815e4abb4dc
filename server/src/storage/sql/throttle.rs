//! [`ThrottleStore`] over either database: sign-in throttle counters and known networks.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::SqlStore;
use super::db::query;
use crate::domain::throttle::{Counter, ThrottleKey, Verdict};
use crate::storage::{StoreError, ThrottleStore};

#[async_trait]
impl ThrottleStore for SqlStore {
    async fn throttle_attempt(&self, keys: &[ThrottleKey], now: DateTime<Utc>) -> Result<Verdict, StoreError> {
        let mut tx = self.pool.begin().await?;
        let mut counters = Vec::with_capacity(keys.len());
        for key in keys {
            // A no-op upsert that returns the row: in PostgreSQL it takes the row lock
            // (held to commit), in SQLite the database write lock. Either way,
            // attempts on the same key now run one after the other.
            let (failures, blocked_until, last_failure_at): (i64, DateTime<Utc>, DateTime<Utc>) = query(
                "insert into login_throttle (key, failures, blocked_until, last_failure_at) values ($1, 0, $2, $2) \
                 on conflict (key) do update set key = excluded.key \
                 returning cast(failures as bigint), blocked_until, last_failure_at",
            )
            .bind(&key.key)
            .bind(now)
            .fetch_one(&mut tx)
            .await?;
            counters.push(Counter {
                failures,
                blocked_until,
                last_failure_at,
            });
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
        let mut counted = 0;
        for (key, counter) in keys.iter().zip(&counters) {
            let next = key.rule.count(counter, now);
            counted = counted.max(next.failures);
            query("update login_throttle set failures = $2, blocked_until = $3, last_failure_at = $4 where key = $1")
                .bind(&key.key)
                .bind(next.failures)
                .bind(next.blocked_until)
                .bind(next.last_failure_at)
                .execute(&mut tx)
                .await?;
        }
        tx.commit().await?;
        Ok(Verdict::Allowed { counted })
    }

    async fn clear_throttle(&self, keys: &[String]) -> Result<(), StoreError> {
        if keys.is_empty() {
            return Ok(());
        }
        let mut delete = query("delete from login_throttle where key in (");
        delete.push_list(keys.iter().map(String::as_str)).push(")");
        delete.execute(&self.pool).await?;
        Ok(())
    }

    async fn prune_throttle(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
        let deleted = query("delete from login_throttle where last_failure_at < $1 and blocked_until < $1")
            .bind(before)
            .execute(&self.pool)
            .await?;
        Ok(deleted)
    }

    async fn is_known_network(&self, user_id: i64, network: &str, since: DateTime<Utc>) -> Result<bool, StoreError> {
        let known: i64 =
            query("select count(*) from known_networks where user_id = $1 and network = $2 and last_seen_at >= $3")
                .bind(user_id)
                .bind(network)
                .bind(since)
                .fetch_scalar(&self.pool)
                .await?;
        Ok(known > 0)
    }
}
