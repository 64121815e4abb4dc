//! What a failed use case means to the person in the browser: [`AppError`] from each
//! service's error, by variant. The JSON API's [`crate::http::ApiError`] is made from the
//! same variants; both log the server's own failures through [`log_fault`], and neither
//! sends them.

use app::wire::{AppError, StepUpChallenge};

use super::wire::FilterError;
use crate::service::{AccountError, ActivityError, AuthenticateError, FactorError, Fault, SessionError, SignInError};

/// Said when an administrator tries to deactivate or demote themselves.
pub const SELF_LOCKOUT: &str = "You cannot deactivate or demote yourself; ask another administrator";

/// Logs what went wrong inside (the database, the key store, the hasher): the one place the
/// server's own failures are written down, for both request paths.
pub fn log_fault(fault: &Fault) {
    match fault {
        Fault::Store(e) if e.is_unavailable() => {
            tracing::warn!(error = %e, cause = ?std::error::Error::source(e), "database unavailable");
        }
        Fault::Store(e) => {
            tracing::error!(error = %e, cause = ?std::error::Error::source(e), "storage failure");
        }
        Fault::Keys(e) => tracing::error!(error = %e, "key loading failure"),
        Fault::Password(e) => tracing::error!(error = %e, "password hashing failure"),
        Fault::Passkey(e) => tracing::error!(error = %e, "stored passkey state unreadable"),
    }
}

impl From<Fault> for AppError {
    fn from(fault: Fault) -> Self {
        log_fault(&fault);
        if fault.is_unavailable() {
            AppError::Unavailable
        } else {
            AppError::Internal
        }
    }
}

impl From<SignInError> for AppError {
    fn from(error: SignInError) -> Self {
        match error {
            SignInError::InvalidCredentials => AppError::InvalidCredentials,
            SignInError::Throttled { retry_after_secs } => AppError::TooManyAttempts(retry_after_secs),
            SignInError::Busy => AppError::Busy,
            SignInError::StepUpRequired { challenge_id, passkey } => AppError::StepUpRequired(StepUpChallenge {
                challenge_id,
                passkey: passkey.map(|options| options.to_string()),
            }),
            SignInError::MalformedCredential => AppError::InvalidPasskey,
            SignInError::InvalidCode => AppError::InvalidCode,
            SignInError::FactorLocked => AppError::FactorLocked,
            SignInError::InvalidDeviceProof(refused) => AppError::BadRequest(refused.to_string()),
            SignInError::Fault(fault) => fault.into(),
        }
    }
}

impl From<SessionError> for AppError {
    fn from(error: SessionError) -> Self {
        match error {
            SessionError::InvalidRefreshToken
            | SessionError::RefreshReused
            | SessionError::RefreshBlocked
            | SessionError::DeviceProof(_) => AppError::NotSignedIn,
            SessionError::BindingClosed => AppError::BadRequest(error.to_string()),
            SessionError::NotFound => AppError::NotFound,
            SessionError::Fault(fault) => fault.into(),
        }
    }
}

impl From<AuthenticateError> for AppError {
    fn from(error: AuthenticateError) -> Self {
        match error {
            AuthenticateError::Token(_) | AuthenticateError::DeviceProof(_) => AppError::NotSignedIn,
            AuthenticateError::Fault(fault) => fault.into(),
        }
    }
}

impl From<AccountError> for AppError {
    fn from(error: AccountError) -> Self {
        match error {
            AccountError::InvalidCredentials => AppError::WrongCurrentPassword,
            AccountError::InvalidIdentity(e) => AppError::BadRequest(e.to_string()),
            AccountError::WeakPassword(message) => AppError::BadRequest(message),
            AccountError::Conflict(field) => AppError::BadRequest(format!("{field} is already taken")),
            AccountError::Forbidden(_) => AppError::Forbidden,
            AccountError::NotFound => AppError::NotFound,
            AccountError::SelfLockout => AppError::BadRequest(SELF_LOCKOUT.to_owned()),
            AccountError::Throttled { retry_after_secs } => AppError::TooManyAttempts(retry_after_secs),
            AccountError::Busy => AppError::Busy,
            AccountError::Fault(fault) => fault.into(),
        }
    }
}

impl From<FactorError> for AppError {
    fn from(error: FactorError) -> Self {
        match error {
            FactorError::InvalidCode => AppError::InvalidCode,
            FactorError::Conflict(field) => AppError::BadRequest(format!("{field} is already taken")),
            FactorError::Forbidden(_) => AppError::Forbidden,
            FactorError::ReauthenticationRequired => AppError::ReauthenticationRequired,
            FactorError::WrongPassword => AppError::WrongCurrentPassword,
            FactorError::Throttled { retry_after_secs } => AppError::TooManyAttempts(retry_after_secs),
            FactorError::Busy => AppError::Busy,
            FactorError::NotFound => AppError::NotFound,
            FactorError::InvalidPasskey => AppError::InvalidPasskey,
            FactorError::InvalidName(message) => AppError::BadRequest(message),
            FactorError::Fault(fault) => fault.into(),
        }
    }
}

impl From<ActivityError> for AppError {
    fn from(error: ActivityError) -> Self {
        match error {
            ActivityError::Forbidden(_) => AppError::Forbidden,
            ActivityError::NotFound => AppError::NotFound,
            ActivityError::Fault(fault) => fault.into(),
        }
    }
}

impl From<FilterError> for AppError {
    fn from(error: FilterError) -> Self {
        AppError::BadRequest(error.message)
    }
}
