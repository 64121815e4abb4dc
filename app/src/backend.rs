//! The interface between the server functions and the server's domain services.
//!
//! `server` depends on `app`, so `app` cannot call into `server` directly. Instead it declares
//! here the few operations its server functions need, in wire types, and `server` provides an
//! implementation through the Leptos context. Nothing here compiles into the WASM bundle.

use std::sync::Arc;

use http::HeaderValue;
use http::request::Parts;

use crate::wire::{
    Activity, ActivityFilters, ActivityPage, AdminUser, AppError, EventReview, Me, SessionInfo, TotpSetup,
};

/// A value plus the cookies the response must set.
#[derive(Debug)]
pub struct Reply<T> {
    pub value: T,
    pub set_cookies: Vec<HeaderValue>,
}

impl<T> Reply<T> {
    pub fn new(value: T, set_cookies: Vec<HeaderValue>) -> Self {
        Self { value, set_cookies }
    }
}

#[async_trait::async_trait]
pub trait Backend: Send + Sync + 'static {
    /// Checks the credentials and opens a session; the reply carries its cookies.
    async fn sign_in(&self, head: &Parts, login: &str, password: &str) -> Result<Reply<Me>, AppError>;

    /// Answers a step-up challenge; the reply carries the session's cookies.
    async fn step_up(&self, head: &Parts, challenge_id: &str, code: &str) -> Result<Reply<Me>, AppError>;

    /// Whether the signed-in user has an authenticator.
    async fn second_factor(&self, head: &Parts) -> Result<bool, AppError>;

    /// Starts enrolling an authenticator for the signed-in user.
    async fn begin_totp(&self, head: &Parts) -> Result<TotpSetup, AppError>;

    /// Confirms the enrolment; returns the recovery codes.
    async fn confirm_totp(&self, head: &Parts, code: &str) -> Result<Vec<String>, AppError>;

    /// Revokes the session named by the request's refresh cookie and clears the cookies.
    async fn sign_out(&self, head: &Parts) -> Result<Reply<()>, AppError>;

    /// The signed-in user's live sessions.
    async fn sessions(&self, head: &Parts) -> Result<Vec<SessionInfo>, AppError>;

    /// Ends one of the signed-in user's sessions.
    async fn end_session(&self, head: &Parts, id: &str) -> Result<(), AppError>;

    /// Ends every session of the signed-in user but the current one.
    async fn end_other_sessions(&self, head: &Parts) -> Result<u64, AppError>;

    /// Changes the signed-in user's password, ending every session; clears the cookies.
    async fn change_password(&self, head: &Parts, current: &str, new: &str) -> Result<Reply<()>, AppError>;

    /// A page of the signed-in user's own activity, older than the cursor `before`.
    async fn my_activity(&self, head: &Parts, before: Option<String>) -> Result<ActivityPage, AppError>;

    /// Every user's activity matching the filters; administrators only.
    async fn admin_activity(&self, head: &Parts, filters: &ActivityFilters) -> Result<ActivityPage, AppError>;

    /// "This wasn't me" about one of the signed-in user's events.
    async fn report_not_me(&self, head: &Parts, id: i64) -> Result<u64, AppError>;

    /// An administrator's verdict on an event.
    async fn judge_event(&self, head: &Parts, id: i64, verdict: &str) -> Result<u64, AppError>;

    /// The newest events of every user; administrators only (as is all that follows).
    async fn live_activity(&self, head: &Parts) -> Result<Vec<Activity>, AppError>;

    /// One event with its user, their history and sessions.
    async fn review_event(&self, head: &Parts, id: i64) -> Result<EventReview, AppError>;

    /// Ends one session of a user.
    async fn admin_end_session(&self, head: &Parts, user_id: i64, session_id: &str) -> Result<(), AppError>;

    /// Ends every session of a user.
    async fn admin_end_sessions(&self, head: &Parts, user_id: i64) -> Result<u64, AppError>;

    /// Accounts matching a search.
    async fn admin_users(&self, head: &Parts, search: &str) -> Result<Vec<AdminUser>, AppError>;

    /// Creates an account.
    async fn admin_create_user(
        &self,
        head: &Parts,
        username: &str,
        email: &str,
        password: &str,
        is_admin: bool,
    ) -> Result<AdminUser, AppError>;

    /// Changes an account's state or role.
    async fn admin_update_user(
        &self,
        head: &Parts,
        user_id: i64,
        is_active: Option<bool>,
        is_admin: Option<bool>,
    ) -> Result<AdminUser, AppError>;

    /// Sets an account's password.
    async fn admin_reset_password(&self, head: &Parts, user_id: i64, password: &str) -> Result<(), AppError>;

    /// The user whose live session the request's cookies carry, if any.
    async fn current_user(&self, head: &Parts) -> Result<Option<Me>, AppError>;
}

/// How the backend travels through the Leptos context.
pub type SharedBackend = Arc<dyn Backend>;
