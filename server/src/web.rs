//! The server functions' backend: [`app::backend::Backend`] over the same services the JSON
//! API uses. Thin on purpose: translate the request head in, the outcome out.

use app::api::{AppError, Me, Role, SessionInfo};
use app::backend::{Backend, Reply};
use async_trait::async_trait;
use axum::http::StatusCode;
use axum::http::request::Parts;
use secrecy::SecretString;

use crate::domain::device::Device;
use crate::domain::user::User;
use crate::http::{ApiError, AppState, client_info};
use crate::service::{AuthError, Principal};

pub struct WebBackend {
    state: AppState,
}

impl WebBackend {
    pub fn new(state: AppState) -> Self {
        Self { state }
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
        let client = client_info(head, &self.state);
        let signed_in = self
            .state
            .auth
            .sign_in(login, SecretString::from(password.to_owned()), &client)
            .await
            .map_err(app_error)?;
        let set_cookies = self.state.cookies.session(&signed_in);
        Ok(Reply::new(
            me(&signed_in.user, signed_in.access.expires_at),
            set_cookies,
        ))
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
            .map(|s| SessionInfo {
                current: s.id == caller.claims.sid,
                device: Device::parse(&s.device_info).label(),
                ip: s.ip_address,
                created_at: s.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                last_used_at: s.last_used_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                id: s.id,
            })
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

    async fn current_user(&self, head: &Parts) -> Result<Option<Me>, AppError> {
        match self.caller(head).await {
            Ok(principal) => Ok(Some(me(&principal.user, principal.claims.exp))),
            // No cookie, or an expired or revoked session: simply "not signed in" for a page.
            Err(AppError::NotSignedIn) => Ok(None),
            Err(other) => Err(other),
        }
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
    let credentials = matches!(error, AuthError::InvalidCredentials);
    let api = ApiError::from(error);
    match api.status {
        _ if credentials => AppError::InvalidCredentials,
        StatusCode::UNAUTHORIZED => AppError::NotSignedIn,
        StatusCode::NOT_FOUND => AppError::NotFound,
        StatusCode::SERVICE_UNAVAILABLE => AppError::Unavailable,
        status if status.is_client_error() => AppError::BadRequest(api.message),
        _ => AppError::Internal,
    }
}
