//! What a failed use case means to the person in the browser: [`AppError`] from the
//! services' [`AuthError`], by variant. The JSON API's [`crate::http::ApiError`] is made from
//! the same variants; both log internal causes through [`log_internal`], and neither
//! sends them.

use app::wire::AppError;

use super::wire::FilterError;
use crate::service::AuthError;

/// Said when an administrator tries to deactivate or demote themselves.
pub const SELF_LOCKOUT: &str = "You cannot deactivate or demote yourself; ask another administrator";

/// Logs what went wrong inside (the database, the key store, the hasher), for errors
/// that are the server's fault; says nothing for the caller's own mistakes.
pub fn log_internal(error: &AuthError) {
    match error {
        AuthError::Store(e) if e.is_unavailable() => {
            tracing::warn!(error = %e, cause = ?std::error::Error::source(e), "database unavailable");
        }
        AuthError::Store(e) => {
            tracing::error!(error = %e, cause = ?std::error::Error::source(e), "storage failure");
        }
        AuthError::Keys(e) => tracing::error!(error = %e, "key loading failure"),
        AuthError::Password(e) => tracing::error!(error = %e, "password hashing failure"),
        _ => {}
    }
}

impl From<AuthError> for AppError {
    fn from(error: AuthError) -> Self {
        log_internal(&error);
        match error {
            AuthError::InvalidCredentials => AppError::InvalidCredentials,
            AuthError::InvalidCode => AppError::InvalidCode,
            AuthError::StepUpRequired { challenge_id } => AppError::StepUpRequired(challenge_id),
            AuthError::Throttled { retry_after_secs } => AppError::TooManyAttempts(retry_after_secs),
            AuthError::LoginBlocked => AppError::LoginBlocked,
            AuthError::Forbidden => AppError::Forbidden,
            AuthError::InvalidRefreshToken
            | AuthError::RefreshReused
            | AuthError::RefreshBlocked
            | AuthError::Token(_) => AppError::NotSignedIn,
            AuthError::NotFound => AppError::NotFound,
            AuthError::SelfLockout => AppError::BadRequest(SELF_LOCKOUT.to_owned()),
            AuthError::InvalidIdentity(e) => AppError::BadRequest(e.to_string()),
            AuthError::WeakPassword(message) => AppError::BadRequest(message),
            AuthError::Conflict(field) => AppError::BadRequest(format!("{field} is already taken")),
            AuthError::Store(e) if e.is_unavailable() => AppError::Unavailable,
            AuthError::Store(_) | AuthError::Keys(_) | AuthError::Password(_) => AppError::Internal,
        }
    }
}

impl From<FilterError> for AppError {
    fn from(error: FilterError) -> Self {
        AppError::BadRequest(error.message)
    }
}
