//! How often one session may raise the same alarm. A thief looping on a copied token is
//! refused every time, but each refusal writing a log row and a live event would let them
//! flood both; one alarm per session a minute, on each instance, says everything the admin
//! needs.

use std::collections::HashMap;
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

/// The least time between two alarms about one session on one instance.
const EVERY: Duration = Duration::minutes(1);
/// Sessions remembered at most; beyond, the stale ones are forgotten first.
const MAX_SESSIONS: usize = 10_000;

#[derive(Debug, Default)]
pub(super) struct AlarmLimiter {
    last: Mutex<HashMap<String, DateTime<Utc>>>,
}

impl AlarmLimiter {
    /// Whether an alarm about `session_id` may be raised at `now`; if so, it counts.
    pub(super) fn allow(&self, session_id: &str, now: DateTime<Utc>) -> bool {
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        if last.len() >= MAX_SESSIONS {
            last.retain(|_, at| now - *at < EVERY);
            if last.len() >= MAX_SESSIONS {
                last.clear();
            }
        }
        // A clock set back counts as due, or alarms would stop until it caught up.
        if last.get(session_id).is_some_and(|at| now >= *at && now - *at < EVERY) {
            return false;
        }
        last.insert(session_id.to_owned(), now);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_alarm_per_session_a_minute() {
        let limiter = AlarmLimiter::default();
        let now = Utc::now();
        assert!(limiter.allow("s1", now));
        assert!(!limiter.allow("s1", now + Duration::seconds(59)));
        assert!(limiter.allow("s2", now), "each session its own");
        assert!(limiter.allow("s1", now + EVERY));
        assert!(limiter.allow("s1", now - Duration::hours(1)), "a clock set back");
    }

    #[test]
    fn memory_is_bounded() {
        let limiter = AlarmLimiter::default();
        let now = Utc::now();
        for i in 0..MAX_SESSIONS + 10 {
            assert!(limiter.allow(&format!("s{i}"), now));
        }
        assert!(limiter.last.lock().unwrap().len() <= MAX_SESSIONS);
    }
}
