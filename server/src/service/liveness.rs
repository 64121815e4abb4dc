//! A per-instance cache of "this session is live and its user active", at most one second
//! old.
//!
//! Checking the database on every authenticated request would make every request cost a
//! query; trusting the access token alone would let a revoked session live on for up to
//! 15 minutes. The cache sits between: a revocation made by this instance evicts at once,
//! one made by another instance is seen within `MAX_AGE`, and each session costs at most
//! one query per second per instance however busy it is.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

use crate::domain::user::User;

/// How stale an answer may be: the bound on how long a revoked session keeps working on an
/// instance that did not revoke it.
pub const MAX_AGE: Duration = Duration::seconds(1);
/// Past this many sessions the cache starts over rather than grow without bound.
const MAX_ENTRIES: usize = 100_000;

#[derive(Debug, Default)]
pub struct LivenessCache {
    entries: Mutex<HashMap<String, (User, DateTime<Utc>)>>,
}

impl LivenessCache {
    /// The session's user, if the session was confirmed live less than `MAX_AGE` ago.
    pub fn get(&self, session_id: &str, now: DateTime<Utc>) -> Option<User> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .get(session_id)
            .filter(|(_, checked)| now - *checked < MAX_AGE && *checked <= now)
            .map(|(user, _)| user.clone())
    }

    pub fn put(&self, session_id: &str, user: User, now: DateTime<Utc>) {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, (_, checked)| now - *checked < MAX_AGE);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(session_id.to_owned(), (user, now));
    }

    pub fn forget_session(&self, session_id: &str) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(session_id);
    }

    pub fn forget_user(&self, user_id: i64) {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|_, (user, _)| user.id != user_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: i64) -> User {
        User {
            id,
            username: format!("u{id}"),
            email: format!("u{id}@x"),
            hashed_password: String::new(),
            is_active: true,
            is_admin: false,
            created_at: Utc::now(),
        }
    }

    #[test]
    fn answers_expire_after_a_second_and_evictions_are_immediate() {
        let cache = LivenessCache::default();
        let t0 = Utc::now();
        cache.put("s1", user(1), t0);
        cache.put("s2", user(1), t0);
        cache.put("s3", user(2), t0);
        assert_eq!(cache.get("s1", t0 + Duration::milliseconds(999)).map(|u| u.id), Some(1));
        assert!(cache.get("s1", t0 + MAX_AGE).is_none());
        cache.forget_session("s2");
        assert!(cache.get("s2", t0).is_none());
        cache.forget_user(2);
        assert!(cache.get("s3", t0).is_none());
        assert!(cache.get("s1", t0).is_some());
    }
}
