//! The admin console's operations on users: list, create, activate or promote, end their
//! sessions. Every action is checked here (never only in the UI) and written to the
//! activity log, so it shows on the live page.

use std::sync::Arc;

use super::accounts::{AccountService, NewAccount};
use super::error::AccountError;
use super::liveness::LivenessCache;
use super::shared::{Principal, Recorder};
use crate::domain::client::ClientInfo;
use crate::domain::user::{User, has_control_character};
use crate::storage::{ActivityStore, EventType, SessionStore, UserStore};

/// A change to a user's standing; `None` leaves that part as it is.
#[derive(Debug, Clone, Copy, Default)]
pub struct UserUpdate {
    pub is_active: Option<bool>,
    pub is_admin: Option<bool>,
}

#[derive(Debug)]
pub struct AdminService {
    pub(super) users: Arc<dyn UserStore>,
    pub(super) sessions: Arc<dyn SessionStore>,
    pub(super) activity: Arc<dyn ActivityStore>,
    pub(super) accounts: Arc<AccountService>,
    pub(super) recorder: Recorder,
    pub(super) live: Arc<LivenessCache>,
}

impl AdminService {
    /// Users for the admin console, newest first.
    #[tracing::instrument(name = "admin::users", skip_all)]
    pub async fn users(
        &self,
        caller: &Principal,
        search: Option<&str>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<User>, AccountError> {
        caller.require_admin()?;
        if search.is_some_and(has_control_character) {
            return Ok(Vec::new());
        }
        Ok(self.users.list_users(search, before, limit).await?)
    }

    /// Creates a user on an admin's behalf; audited as `user_updated`.
    #[tracing::instrument(name = "admin::create_user", skip_all)]
    pub async fn create_user(
        &self,
        caller: &Principal,
        account: NewAccount,
        client: &ClientInfo,
    ) -> Result<User, AccountError> {
        caller.require_admin()?;
        let user = self.accounts.create_user(account).await?;
        self.audit(caller, user.id, "user_created", client).await?;
        Ok(user)
    }

    /// Activates, deactivates, promotes or demotes a user. An admin cannot deactivate or
    /// demote themselves: the console must never lock out the one using it.
    #[tracing::instrument(name = "admin::update_user", skip_all)]
    pub async fn update_user(
        &self,
        caller: &Principal,
        user_id: i64,
        update: UserUpdate,
        client: &ClientInfo,
    ) -> Result<User, AccountError> {
        caller.require_admin()?;
        let UserUpdate { is_active, is_admin } = update;
        if user_id == caller.user.id && (is_active == Some(false) || is_admin == Some(false)) {
            return Err(AccountError::SelfLockout);
        }
        let now = self.recorder.now();
        if let Some(admin) = is_admin {
            let found = self.users.set_user_admin(user_id, admin, now).await?;
            // Cached answers still carry the old role: a demoted admin must lose the
            // console with their next request, not a second later.
            self.live.forget_user(user_id);
            if !found {
                return Err(AccountError::NotFound);
            }
        }
        if let Some(active) = is_active
            && !self.accounts.set_user_active(user_id, active).await?
        {
            return Err(AccountError::NotFound);
        }
        let reason = match (is_active, is_admin) {
            (Some(false), _) => "user_deactivated",
            (Some(true), _) => "user_activated",
            (None, Some(true)) => "admin_granted",
            (None, Some(false)) => "admin_removed",
            (None, None) => "user_unchanged",
        };
        self.audit(caller, user_id, reason, client).await?;
        self.users.find_user(user_id).await?.ok_or(AccountError::NotFound)
    }

    /// Ends every session of a user on an admin's behalf.
    #[tracing::instrument(name = "admin::revoke_sessions", skip_all)]
    pub async fn revoke_sessions(
        &self,
        caller: &Principal,
        user_id: i64,
        client: &ClientInfo,
    ) -> Result<u64, AccountError> {
        caller.require_admin()?;
        self.users.find_user(user_id).await?.ok_or(AccountError::NotFound)?;
        let reasons = vec![format!("revoked_by_admin:{}", caller.user.username)];
        let event = self
            .recorder
            .about_user(EventType::SessionRevoked, user_id, client, reasons);
        let ended = self
            .sessions
            .revoke_user_sessions(user_id, None, event.created_at, &event)
            .await?;
        self.live.forget_user(user_id);
        Ok(ended)
    }

    /// Ends one session of a user; a session that is not theirs (or not live) is
    /// `NotFound`.
    #[tracing::instrument(name = "admin::end_session", skip_all)]
    pub async fn end_session(
        &self,
        caller: &Principal,
        user_id: i64,
        session_id: &str,
        client: &ClientInfo,
    ) -> Result<(), AccountError> {
        caller.require_admin()?;
        let now = self.recorder.now();
        let theirs = self
            .sessions
            .live_sessions(user_id, now)
            .await?
            .iter()
            .any(|s| s.id == session_id);
        if !theirs {
            return Err(AccountError::NotFound);
        }
        let reasons = vec![format!("revoked_by_admin:{}", caller.user.username)];
        let event = self
            .recorder
            .about_user(EventType::SessionRevoked, user_id, client, reasons);
        self.sessions
            .revoke_session(session_id, now, "revoked_by_admin", &event)
            .await?;
        self.live.forget_session(session_id);
        Ok(())
    }

    /// An admin action on a user, in the activity log: `user_updated` about the user, the
    /// reason naming what changed and who did it.
    async fn audit(
        &self,
        caller: &Principal,
        user_id: i64,
        what: &str,
        client: &ClientInfo,
    ) -> Result<(), AccountError> {
        let reasons = vec![what.to_owned(), format!("by:{}", caller.user.username)];
        let event = self
            .recorder
            .about_user(EventType::UserUpdated, user_id, client, reasons);
        self.activity.record_activity(&event).await?;
        Ok(())
    }
}
