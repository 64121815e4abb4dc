//! The server functions' backend: [`app::backend::Backend`] over the same services the JSON
//! API uses. Thin on purpose: translate the request head in, the outcome out.

use app::api::{
    Activity, ActivityFilters, ActivityPage, AdminUser, AppError, EventReview, Me, Role, SessionInfo, TotpSetup,
    place_label,
};
use app::backend::{Backend, Reply};
use async_trait::async_trait;
use axum::http::StatusCode;
use axum::http::request::Parts;
use secrecy::SecretString;

use crate::domain::device::Device;
use crate::domain::user::User;
use crate::http::{ApiError, AppState, activity, client_info};
use crate::service::{AuthError, EventVerdict, Principal, SignedIn};
use crate::storage::SessionRecord;

pub struct WebBackend {
    state: AppState,
}

impl WebBackend {
    pub fn new(state: AppState) -> Self {
        Self { state }
    }

    /// The user and the session's cookies, after a sign-in or a step-up.
    fn signed_in_reply(&self, signed_in: &SignedIn) -> Reply<Me> {
        Reply::new(
            me(&signed_in.user, signed_in.access.expires_at),
            self.state.cookies.session(signed_in),
        )
    }

    /// The signed-in caller, from the access cookie.
    async fn caller(&self, head: &Parts) -> Result<Principal, AppError> {
        let token = self
            .state
            .cookies
            .read_access(&head.headers)
            .ok_or(AppError::NotSignedIn)?;
        self.state.auth.authenticate(token).await.map_err(app_error)
    }
}

#[async_trait]
impl Backend for WebBackend {
    async fn sign_in(&self, head: &Parts, login: &str, password: &str) -> Result<Reply<Me>, AppError> {
        let client = client_info(head, &self.state).taking_cookies(true);
        let signed_in = self
            .state
            .auth
            .sign_in(login, SecretString::from(password.to_owned()), &client)
            .await
            .map_err(app_error)?;
        Ok(self.signed_in_reply(&signed_in))
    }

    async fn step_up(&self, head: &Parts, challenge_id: &str, code: &str) -> Result<Reply<Me>, AppError> {
        let client = client_info(head, &self.state).taking_cookies(true);
        let signed_in = self
            .state
            .auth
            .step_up(challenge_id, code, &client)
            .await
            .map_err(app_error)?;
        Ok(self.signed_in_reply(&signed_in))
    }

    async fn second_factor(&self, head: &Parts) -> Result<bool, AppError> {
        let caller = self.caller(head).await?;
        self.state.auth.has_second_factor(&caller).await.map_err(app_error)
    }

    async fn begin_totp(&self, head: &Parts) -> Result<TotpSetup, AppError> {
        let caller = self.caller(head).await?;
        let (secret, uri) = self.state.auth.begin_totp(&caller).await.map_err(app_error)?;
        Ok(TotpSetup {
            qr_svg: crate::domain::totp::qr_svg(&uri),
            secret,
        })
    }

    async fn confirm_totp(&self, head: &Parts, code: &str) -> Result<Vec<String>, AppError> {
        let caller = self.caller(head).await?;
        let client = client_info(head, &self.state);
        self.state
            .auth
            .confirm_totp(&caller, code, &client)
            .await
            .map_err(app_error)
    }

    async fn sign_out(&self, head: &Parts) -> Result<Reply<()>, AppError> {
        let client = client_info(head, &self.state);
        let token = self.state.cookies.read_refresh(&head.headers);
        self.state.auth.sign_out(token, &client).await.map_err(app_error)?;
        Ok(Reply::new((), self.state.cookies.clear_all()))
    }

    async fn sessions(&self, head: &Parts) -> Result<Vec<SessionInfo>, AppError> {
        let caller = self.caller(head).await?;
        let sessions = self.state.auth.sessions(&caller).await.map_err(app_error)?;
        let mut sessions: Vec<SessionInfo> = sessions
            .into_iter()
            .map(|s| session_info(s, Some(&caller.claims.sid)))
            .collect();
        sessions.sort_by_key(|s| !s.current);
        Ok(sessions)
    }

    async fn end_session(&self, head: &Parts, id: &str) -> Result<(), AppError> {
        let caller = self.caller(head).await?;
        let client = client_info(head, &self.state);
        self.state
            .auth
            .end_session(&caller, id, &client)
            .await
            .map_err(app_error)
    }

    async fn end_other_sessions(&self, head: &Parts) -> Result<u64, AppError> {
        let caller = self.caller(head).await?;
        let client = client_info(head, &self.state);
        self.state
            .auth
            .end_other_sessions(&caller, &client)
            .await
            .map_err(app_error)
    }

    async fn change_password(&self, head: &Parts, current: &str, new: &str) -> Result<Reply<()>, AppError> {
        let caller = self.caller(head).await?;
        let client = client_info(head, &self.state);
        let current = SecretString::from(current.to_owned());
        let new = SecretString::from(new.to_owned());
        match self.state.auth.change_password(&caller, current, new, &client).await {
            Ok(()) => Ok(Reply::new((), self.state.cookies.clear_all())),
            Err(AuthError::InvalidCredentials) => Err(AppError::WrongCurrentPassword),
            Err(other) => Err(app_error(other)),
        }
    }

    async fn my_activity(&self, head: &Parts, before: Option<String>) -> Result<ActivityPage, AppError> {
        let caller = self.caller(head).await?;
        let query =
            serde_urlencoded::to_string([("before", before.unwrap_or_default())]).map_err(|_| AppError::Internal)?;
        let parsed = activity::parse_query(Some(&query), false).map_err(api_to_app)?;
        let limit = activity::DEFAULT_LIMIT;
        let events = self
            .state
            .auth
            .my_activity(&caller, parsed.filter.before, limit + 1)
            .await
            .map_err(app_error)?;
        Ok(activity::page(events, limit))
    }

    async fn admin_activity(&self, head: &Parts, filters: &ActivityFilters) -> Result<ActivityPage, AppError> {
        let caller = self.caller(head).await?;
        // Through the JSON API's own parser: one set of rules and messages for both paths.
        let query = serde_urlencoded::to_string(filters).map_err(|_| AppError::Internal)?;
        let parsed = activity::parse_query(Some(&query), true).map_err(api_to_app)?;
        let limit = activity::DEFAULT_LIMIT;
        let events = self
            .state
            .auth
            .search_activity(&caller, &parsed.filter, limit + 1)
            .await
            .map_err(app_error)?;
        Ok(activity::page(events, limit))
    }

    async fn report_not_me(&self, head: &Parts, id: i64) -> Result<u64, AppError> {
        let caller = self.caller(head).await?;
        let client = client_info(head, &self.state);
        self.state
            .auth
            .report_not_me(&caller, id, &client)
            .await
            .map_err(app_error)
    }

    async fn judge_event(&self, head: &Parts, id: i64, verdict: &str) -> Result<u64, AppError> {
        let caller = self.caller(head).await?;
        let client = client_info(head, &self.state);
        let verdict = EventVerdict::parse(verdict)
            .ok_or_else(|| AppError::BadRequest("The verdict must be legitimate or compromised.".into()))?;
        self.state
            .auth
            .judge_event(&caller, id, verdict, &client)
            .await
            .map_err(app_error)
    }

    async fn live_activity(&self, head: &Parts) -> Result<Vec<Activity>, AppError> {
        let caller = self.caller(head).await?;
        let events = self
            .state
            .auth
            .admin_recent_activity(&caller, LIVE_HISTORY)
            .await
            .map_err(app_error)?;
        Ok(events.into_iter().map(Activity::from).collect())
    }

    async fn review_event(&self, head: &Parts, id: i64) -> Result<EventReview, AppError> {
        let caller = self.caller(head).await?;
        let review = self
            .state
            .auth
            .admin_review_event(&caller, id)
            .await
            .map_err(app_error)?;
        Ok(EventReview {
            event: Activity::from(review.event),
            user: review.user.as_ref().map(admin_user),
            history: review.history.into_iter().map(Activity::from).collect(),
            sessions: review.sessions.into_iter().map(|s| session_info(s, None)).collect(),
        })
    }

    async fn admin_end_session(&self, head: &Parts, user_id: i64, session_id: &str) -> Result<(), AppError> {
        let caller = self.caller(head).await?;
        let client = client_info(head, &self.state);
        self.state
            .auth
            .admin_end_session(&caller, user_id, session_id, &client)
            .await
            .map_err(app_error)
    }

    async fn admin_end_sessions(&self, head: &Parts, user_id: i64) -> Result<u64, AppError> {
        let caller = self.caller(head).await?;
        let client = client_info(head, &self.state);
        self.state
            .auth
            .admin_revoke_sessions(&caller, user_id, &client)
            .await
            .map_err(app_error)
    }

    async fn admin_users(&self, head: &Parts, search: &str) -> Result<Vec<AdminUser>, AppError> {
        let caller = self.caller(head).await?;
        let search = Some(search).filter(|s| !s.is_empty());
        let users = self
            .state
            .auth
            .admin_users(&caller, search, None, USERS_PAGE)
            .await
            .map_err(app_error)?;
        Ok(users.iter().map(admin_user).collect())
    }

    async fn admin_create_user(
        &self,
        head: &Parts,
        username: &str,
        email: &str,
        password: &str,
        is_admin: bool,
    ) -> Result<AdminUser, AppError> {
        let caller = self.caller(head).await?;
        let client = client_info(head, &self.state);
        let new = (username, email, SecretString::from(password.to_owned()), is_admin);
        let user = self
            .state
            .auth
            .admin_create_user(&caller, new, &client)
            .await
            .map_err(app_error)?;
        Ok(admin_user(&user))
    }

    async fn admin_update_user(
        &self,
        head: &Parts,
        user_id: i64,
        is_active: Option<bool>,
        is_admin: Option<bool>,
    ) -> Result<AdminUser, AppError> {
        let caller = self.caller(head).await?;
        let client = client_info(head, &self.state);
        let user = self
            .state
            .auth
            .admin_update_user(&caller, user_id, is_active, is_admin, &client)
            .await
            .map_err(app_error)?;
        Ok(admin_user(&user))
    }

    async fn admin_reset_password(&self, head: &Parts, user_id: i64, password: &str) -> Result<(), AppError> {
        let caller = self.caller(head).await?;
        let client = client_info(head, &self.state);
        self.state
            .auth
            .admin_reset_password(&caller, user_id, SecretString::from(password.to_owned()), &client)
            .await
            .map_err(app_error)
    }

    async fn current_user(&self, head: &Parts) -> Result<Option<Me>, AppError> {
        match self.caller(head).await {
            Ok(principal) => Ok(Some(me(&principal.user, principal.claims.exp))),
            // No cookie, or an expired or revoked session: simply "not signed in" for a page.
            Err(AppError::NotSignedIn) => Ok(None),
            Err(other) => Err(other),
        }
    }
}

/// Events the live page starts with.
const LIVE_HISTORY: i64 = 200;
/// Accounts the console lists at once.
const USERS_PAGE: i64 = 200;

fn session_info(s: SessionRecord, current: Option<&str>) -> SessionInfo {
    SessionInfo {
        current: current == Some(s.id.as_str()),
        device: Device::parse(&s.device_info).label(),
        place: place_label(s.city.as_deref(), s.country.as_deref()),
        ip: s.ip_address,
        created_at: activity::rfc3339(s.created_at),
        last_used_at: activity::rfc3339(s.last_used_at),
        id: s.id,
    }
}

fn admin_user(user: &User) -> AdminUser {
    AdminUser {
        id: user.id,
        username: user.username.clone(),
        email: user.email.clone(),
        is_active: user.is_active,
        is_admin: user.is_admin,
        created_at: activity::rfc3339(user.created_at),
    }
}

fn me(user: &User, access_expires_at: i64) -> Me {
    Me {
        access_expires_at,
        id: user.id,
        username: user.username.clone(),
        email: user.email.clone(),
        role: if user.is_admin { Role::Admin } else { Role::User },
        is_active: user.is_active,
    }
}

/// Maps through [`ApiError`], which logs internal causes, so both paths log alike.
fn app_error(error: AuthError) -> AppError {
    match error {
        AuthError::InvalidCredentials => return AppError::InvalidCredentials,
        AuthError::InvalidCode => return AppError::InvalidCode,
        AuthError::StepUpRequired { challenge_id } => return AppError::StepUpRequired(challenge_id),
        _ => {}
    }
    api_to_app(ApiError::from(error))
}

fn api_to_app(api: ApiError) -> AppError {
    match api.status {
        StatusCode::TOO_MANY_REQUESTS => AppError::TooManyAttempts(api.retry_after.unwrap_or(1)),
        StatusCode::FORBIDDEN if api.code == "login_blocked" => AppError::LoginBlocked,
        StatusCode::FORBIDDEN => AppError::Forbidden,
        StatusCode::UNAUTHORIZED => AppError::NotSignedIn,
        StatusCode::NOT_FOUND => AppError::NotFound,
        StatusCode::SERVICE_UNAVAILABLE => AppError::Unavailable,
        status if status.is_client_error() => AppError::BadRequest(api.message),
        _ => AppError::Internal,
    }
}
