//! [`ActivityStore`] over either database: the activity log, its search, and verdicts.

use std::sync::LazyLock;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::db::{Conn, Pool, Query, query};
use super::{SqlStore, sessions};
use crate::storage::{
    ActivityFilter, ActivityRecord, ActivityStore, ActivityWakeups, NewActivity, NewVerdict, StoreError,
};

pub(super) const ACTIVITY_COLUMNS: &str = "id, user_id, username, event_type, ip_address, device_info, \
     device_browser, device_os, device_type, risk_score, risk_reasons, decision, geolocation_country, \
     geolocation_city, latitude, longitude, accuracy_radius_km, asn, asn_org, verdict, created_at, device_proven";

/// The columns an insert sets, `user_id` first, then in the order [`bind_event`] binds
/// them: the one list both the plain insert and PostgreSQL's rotation statement use.
pub(super) const ACTIVITY_INSERT_COLUMNS: &str = "user_id, username, event_type, ip_address, device_info, \
     device_browser, device_os, device_type, risk_score, risk_reasons, decision, geolocation_country, \
     geolocation_city, latitude, longitude, accuracy_radius_km, asn, asn_org, created_at, device_proven";

/// The plain insert: `$1` the user, `$2` to `$20` what [`bind_event`] binds.
static INSERT_ACTIVITY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "insert into user_activity_logs ({ACTIVITY_INSERT_COLUMNS}) values ($1, \
         coalesce($2, (select username from users where id = $1)), $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, \
         $13, $14, $15, $16, $17, $18, $19, $20) returning id"
    )
});

/// Rows the time-range search reads by primary key before it turns to the time index.
const SEARCH_WINDOW: i64 = 500;

#[async_trait]
impl ActivityStore for SqlStore {
    async fn record_activity(&self, event: &NewActivity) -> Result<i64, StoreError> {
        let id = insert_activity(&self.pool, event, event.user_id).await?;
        self.signal.committed();
        Ok(id)
    }

    async fn search_activity(&self, filter: &ActivityFilter, limit: i64) -> Result<Vec<ActivityRecord>, StoreError> {
        // Only the filters present become conditions, so each query can use the index
        // that fits it. Keyset pagination on the primary key: stable under concurrent
        // inserts and as cheap on page 1,000 as on page 1.
        let limit = limit.clamp(1, 1000);
        let timed = filter.since.is_some() || filter.until.is_some();
        if !timed || filter.user_id.is_some() || filter.username.is_some() {
            let mut query = query(format!("select {ACTIVITY_COLUMNS} from user_activity_logs where 1 = 1"));
            push_activity_conditions(&mut query, filter, filter.before);
            query.push(" order by id desc limit ").push_bind(limit);
            return Ok(query.fetch_all(&self.pool).await?);
        }
        // A time range without a user: ids grow with time, which the planners do not
        // know, so walking the primary key down to a range far in the past would pass
        // every newer row first. First the newest rows by id, a bounded window (a
        // range that reaches the present is found there)...
        let mut window = query(format!(
            "select {ACTIVITY_COLUMNS} from (select {ACTIVITY_COLUMNS} from user_activity_logs where 1 = 1"
        ));
        if let Some(before) = filter.before {
            window.push(" and id < ").push_bind(before);
        }
        window.push(" order by id desc limit ").push_bind(SEARCH_WINDOW);
        window.push(") newest where 1 = 1");
        push_activity_conditions(&mut window, filter, None);
        window.push(" order by id desc limit ").push_bind(limit);
        let mut found: Vec<ActivityRecord> = window.fetch_all(&self.pool).await?;
        if found.len() as i64 == limit {
            return Ok(found);
        }
        // ...then the rest below the window through the (created_at, id) index: the
        // range's ids, newest first (`id + 0` keeps the planner off the primary key).
        let below: Option<i64> = {
            let mut lowest = query("select min(id) from (select id from user_activity_logs where 1 = 1");
            if let Some(before) = filter.before {
                lowest.push(" and id < ").push_bind(before);
            }
            lowest.push(" order by id desc limit ").push_bind(SEARCH_WINDOW);
            lowest.push(") newest");
            lowest.fetch_scalar(&self.pool).await?
        };
        let Some(below) = below else {
            return Ok(found);
        };
        let mut rest = query(format!(
            "select {ACTIVITY_COLUMNS} from user_activity_logs where id in \
             (select id from user_activity_logs where 1 = 1"
        ));
        push_activity_conditions(&mut rest, filter, Some(below));
        rest.push(" order by id + 0 desc limit ")
            .push_bind(limit - found.len() as i64);
        rest.push(") order by id desc");
        found.extend(rest.fetch_all::<ActivityRecord>(&self.pool).await?);
        Ok(found)
    }

    async fn activity_event(&self, id: i64) -> Result<Option<ActivityRecord>, StoreError> {
        let sql = format!("select {ACTIVITY_COLUMNS} from user_activity_logs where id = $1");
        Ok(query(sql).bind(id).fetch_optional(&self.pool).await?)
    }

    async fn activity_after(&self, after: i64, limit: i64) -> Result<Vec<ActivityRecord>, StoreError> {
        Ok(query(format!(
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
        let mut query = query(format!(
            "select {ACTIVITY_COLUMNS} from user_activity_logs where id in ("
        ));
        query.push_list(ids.iter().take(1000).copied()).push(") order by id");
        Ok(query.fetch_all(&self.pool).await?)
    }

    async fn latest_activity_id(&self) -> Result<i64, StoreError> {
        let latest: Option<i64> = query("select max(id) from user_activity_logs")
            .fetch_scalar(&self.pool)
            .await?;
        Ok(latest.unwrap_or(0))
    }

    async fn activity_wakeups(&self) -> Result<ActivityWakeups, StoreError> {
        match &self.pool {
            Pool::Postgres(pool) => ActivityWakeups::postgres(&self.signal, pool).await,
            Pool::Sqlite(_) => Ok(ActivityWakeups::local(&self.signal)),
        }
    }

    async fn prune_activity(&self, before: DateTime<Utc>, batch: i64) -> Result<u64, StoreError> {
        let deleted = query(
            "delete from user_activity_logs where id in \
             (select id from user_activity_logs where created_at < $1 order by id limit $2)",
        )
        .bind(before)
        .bind(batch.max(1))
        .execute(&self.pool)
        .await?;
        Ok(deleted)
    }

    async fn set_verdict(&self, verdict: &NewVerdict, audit: &NewActivity) -> Result<u64, StoreError> {
        let mut tx = self.pool.begin().await?;
        query("update user_activity_logs set verdict = $2, verdict_by = $3, verdict_at = $4 where id = $1")
            .bind(verdict.event_id)
            .bind(verdict.verdict.as_str())
            .bind(&verdict.by)
            .bind(verdict.at)
            .execute(&mut tx)
            .await?;
        let mut ended = 0;
        if let Some(revoke) = &verdict.revoke {
            let (user_id, except) = (revoke.user_id, revoke.except.as_deref());
            let reason = verdict.verdict.as_str();
            ended = sessions::revoke_user_families(&mut tx, user_id, except, verdict.at, reason).await?;
        }
        insert_activity(&mut tx, audit, audit.user_id).await?;
        tx.commit().await?;
        self.signal.committed();
        Ok(ended)
    }
}

/// Inserts one activity row, in a transaction or on the pool. An event attributed to a
/// user carries their username even when the caller only knew the id (refreshes, sign-outs
/// by token), so the log reads the same whichever path wrote it.
pub(super) async fn insert_activity<'c>(
    conn: impl Into<Conn<'c>>,
    event: &NewActivity,
    user_id: Option<i64>,
) -> Result<i64, StoreError> {
    let insert = query(INSERT_ACTIVITY.as_str()).bind(user_id);
    Ok(bind_event(insert, event).fetch_scalar(conn).await?)
}

/// Binds an event's fields, `username` through `device_proven` of [`ACTIVITY_INSERT_COLUMNS`].
pub(super) fn bind_event(query: Query, event: &NewActivity) -> Query {
    let place = &event.place;
    query
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
        .bind(event.device_proven)
}

/// The activity search's conditions, `and …` each, for whichever filters are set; `before`
/// is the keyset cursor (an id).
fn push_activity_conditions(query: &mut Query, filter: &ActivityFilter, before: Option<i64>) {
    if let Some(user_id) = filter.user_id {
        query.push(" and user_id = ").push_bind(user_id);
    }
    if let Some(username) = &filter.username {
        query.push(" and username = ").push_bind(username);
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
