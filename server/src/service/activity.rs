//! The activity log as people read it: one's own history and "this wasn't me", the admin
//! search, the live page's starting point, and an administrator's review of one event.

use std::sync::Arc;

use super::error::ActivityError;
use super::liveness::LivenessCache;
use super::risk::RiskGate;
use super::shared::{Principal, Recorder};
use crate::domain::client::ClientInfo;
use crate::domain::user::{User, has_control_character};
use crate::storage::{
    ActivityFilter, ActivityRecord, ActivityStore, EventType, NewVerdict, ReviewVerdict, RevokeSessions, SessionRecord,
    SessionStore, UserStore,
};

/// Events of the user shown beside the one under review.
const HISTORY: i64 = 20;

/// What an administrator can say about an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventVerdict {
    Legitimate,
    Compromised,
}

impl EventVerdict {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "legitimate" => Some(EventVerdict::Legitimate),
            "compromised" => Some(EventVerdict::Compromised),
            _ => None,
        }
    }
}

/// One event and what an admin needs to judge it.
#[derive(Debug, Clone)]
pub struct EventReview {
    pub event: ActivityRecord,
    /// The account the event is about, if it names one that still exists.
    pub user: Option<User>,
    /// That user's latest events, newest first (the event itself among them).
    pub history: Vec<ActivityRecord>,
    pub sessions: Vec<SessionRecord>,
}

#[derive(Debug)]
pub struct ActivityService {
    pub(super) activity: Arc<dyn ActivityStore>,
    pub(super) users: Arc<dyn UserStore>,
    pub(super) sessions: Arc<dyn SessionStore>,
    pub(super) recorder: Recorder,
    pub(super) risk: RiskGate,
    pub(super) live: Arc<LivenessCache>,
}

impl ActivityService {
    /// A page of the caller's own activity, newest first.
    #[tracing::instrument(name = "activity::mine", skip_all)]
    pub async fn mine(
        &self,
        caller: &Principal,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<ActivityRecord>, ActivityError> {
        Ok(self.activity.activity_page(Some(caller.user.id), before, limit).await?)
    }

    /// The admin activity search: every user's events matching `filter`, newest first.
    #[tracing::instrument(name = "activity::search", skip_all)]
    pub async fn search(
        &self,
        caller: &Principal,
        filter: &ActivityFilter,
        limit: i64,
    ) -> Result<Vec<ActivityRecord>, ActivityError> {
        caller.require_admin()?;
        if filter.username.as_deref().is_some_and(has_control_character) {
            return Ok(Vec::new());
        }
        Ok(self.activity.search_activity(filter, limit).await?)
    }

    /// The newest events of every user, newest first: the live page's starting point.
    #[tracing::instrument(name = "activity::recent", skip_all)]
    pub async fn recent(&self, caller: &Principal, limit: i64) -> Result<Vec<ActivityRecord>, ActivityError> {
        caller.require_admin()?;
        Ok(self.activity.activity_page(None, None, limit).await?)
    }

    /// One event with its user, their recent history and their live sessions.
    #[tracing::instrument(name = "activity::review", skip_all)]
    pub async fn review(&self, caller: &Principal, id: i64) -> Result<EventReview, ActivityError> {
        caller.require_admin()?;
        let event = self.activity.activity_event(id).await?.ok_or(ActivityError::NotFound)?;
        let Some(user_id) = event.user_id else {
            return Ok(EventReview {
                event,
                user: None,
                history: Vec::new(),
                sessions: Vec::new(),
            });
        };
        let now = self.recorder.now();
        Ok(EventReview {
            user: self.users.find_user(user_id).await?,
            history: self.activity.activity_page(Some(user_id), None, HISTORY).await?,
            sessions: self.sessions.live_sessions(user_id, now).await?,
            event,
        })
    }

    /// "This wasn't me" about one of the caller's own events: every other session of the
    /// caller ends (the one reporting is presumably the owner), and the event keeps the
    /// verdict. Someone else's event, or none, is `NotFound`.
    #[tracing::instrument(name = "activity::report_not_me", skip_all)]
    pub async fn report_not_me(
        &self,
        caller: &Principal,
        event_id: i64,
        client: &ClientInfo,
    ) -> Result<u64, ActivityError> {
        self.activity
            .activity_event(event_id)
            .await?
            .filter(|e| e.user_id == Some(caller.user.id))
            .ok_or(ActivityError::NotFound)?;
        let now = self.recorder.now();
        let mut event = self
            .recorder
            .caller_event(EventType::SessionRevoked, caller, client, now);
        event.risk_reasons = vec!["reported_not_me".to_owned()];
        let verdict = NewVerdict {
            event_id,
            verdict: ReviewVerdict::NotMe,
            by: caller.user.username.clone(),
            at: now,
            revoke: Some(RevokeSessions {
                user_id: caller.user.id,
                except: Some(caller.claims.sid.clone()),
            }),
        };
        let ended = self.activity.set_verdict(&verdict, &event).await?;
        self.live.forget_user(caller.user.id);
        Ok(ended)
    }

    /// An administrator's verdict on a user's event. `Legitimate` teaches the user's
    /// profile that this is them; `Compromised` ends every session of the user.
    #[tracing::instrument(name = "activity::judge", skip_all)]
    pub async fn judge(
        &self,
        caller: &Principal,
        event_id: i64,
        verdict: EventVerdict,
        client: &ClientInfo,
    ) -> Result<u64, ActivityError> {
        caller.require_admin()?;
        let record = self
            .activity
            .activity_event(event_id)
            .await?
            .ok_or(ActivityError::NotFound)?;
        let user_id = record.user_id.ok_or(ActivityError::NotFound)?;
        let by = caller.user.username.clone();
        // What the verdict writes beside itself: a note about the user, or, for a
        // compromise, the end of every session of theirs.
        let (kind, recorded, reasons, revoke) = match verdict {
            EventVerdict::Legitimate => (
                EventType::UserUpdated,
                ReviewVerdict::Legitimate,
                vec![format!("marked_legitimate:{event_id}"), format!("by:{by}")],
                None,
            ),
            EventVerdict::Compromised => (
                EventType::SessionRevoked,
                ReviewVerdict::Compromised,
                vec![
                    "admin_compromised".to_owned(),
                    format!("event:{event_id}"),
                    format!("by:{by}"),
                ],
                Some(RevokeSessions { user_id, except: None }),
            ),
        };
        let audit = self.recorder.about_user(kind, user_id, client, reasons);
        let verdict = NewVerdict {
            event_id,
            verdict: recorded,
            by,
            at: audit.created_at,
            revoke,
        };
        let ended = self.activity.set_verdict(&verdict, &audit).await?;
        match recorded {
            ReviewVerdict::Legitimate => self.risk.learn_verified(user_id, &record).await,
            _ => self.live.forget_user(user_id),
        }
        Ok(ended)
    }
}
