//! What the live page and the admin console do beyond the JSON API's user endpoints:
//! look into one event, end one session, reset a password. Every action is checked here
//! (never only in the UI) and written to the activity log, so it shows on the live page.

use secrecy::SecretString;

use super::{AuthError, AuthService, Principal};
use crate::domain::client::ClientInfo;
use crate::domain::password;
use crate::domain::user::User;
use crate::storage::{ActivityRecord, EventType, SessionRecord};

/// Events of the user shown beside the one under review.
const HISTORY: i64 = 20;

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

impl AuthService {
    /// The newest events of every user, newest first: the live page's starting point.
    pub async fn admin_recent_activity(
        &self,
        caller: &Principal,
        limit: i64,
    ) -> Result<Vec<ActivityRecord>, AuthError> {
        Self::require_admin(caller)?;
        Ok(self.store.activity_page(None, None, limit).await?)
    }

    /// One event with its user, their recent history and their live sessions.
    pub async fn admin_review_event(&self, caller: &Principal, id: i64) -> Result<EventReview, AuthError> {
        Self::require_admin(caller)?;
        let event = self.store.activity_event(id).await?.ok_or(AuthError::NotFound)?;
        let Some(user_id) = event.user_id else {
            return Ok(EventReview {
                event,
                user: None,
                history: Vec::new(),
                sessions: Vec::new(),
            });
        };
        let now = self.clock.now();
        Ok(EventReview {
            user: self.store.find_user(user_id).await?,
            history: self.store.activity_page(Some(user_id), None, HISTORY).await?,
            sessions: self.store.live_sessions(user_id, now).await?,
            event,
        })
    }

    /// Ends one session of a user; a session that is not theirs (or not live) is
    /// `NotFound`.
    pub async fn admin_end_session(
        &self,
        caller: &Principal,
        user_id: i64,
        session_id: &str,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        Self::require_admin(caller)?;
        let now = self.clock.now();
        let theirs = self
            .store
            .live_sessions(user_id, now)
            .await?
            .iter()
            .any(|s| s.id == session_id);
        if !theirs {
            return Err(AuthError::NotFound);
        }
        let mut event = self.event(EventType::SessionRevoked, Some(user_id), None, client, now);
        event.risk_reasons = vec![format!("revoked_by_admin:{}", caller.user.username)];
        self.store
            .revoke_session(session_id, now, "revoked_by_admin", &event)
            .await?;
        self.live_sessions.forget_session(session_id);
        Ok(())
    }

    /// Sets a user's password (the password policy applies); every session of theirs
    /// ends, so whoever held the old one is out.
    pub async fn admin_reset_password(
        &self,
        caller: &Principal,
        user_id: i64,
        new: SecretString,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        Self::require_admin(caller)?;
        password::check_policy(&new)?;
        self.store.find_user(user_id).await?.ok_or(AuthError::NotFound)?;
        let hashed = self.passwords.hash(new).await?;
        let now = self.clock.now();
        let mut event = self.event(EventType::PasswordChanged, Some(user_id), None, client, now);
        event.risk_reasons = vec![format!("reset_by_admin:{}", caller.user.username)];
        self.store.change_password(user_id, &hashed, now, &event).await?;
        self.live_sessions.forget_user(user_id);
        Ok(())
    }
}
