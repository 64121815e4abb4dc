//! The services' error type.

use crate::domain::access::TokenError;
use crate::domain::password::PasswordError;
use crate::domain::user::InvalidIdentity;
use crate::storage::StoreError;

/// The service layer's one error type.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Unknown user, wrong password or inactive account: deliberately indistinguishable.
    #[error("invalid username or password")]
    InvalidCredentials,
    /// Unknown, malformed, revoked or expired refresh token.
    #[error("the refresh token is invalid")]
    InvalidRefreshToken,
    /// A spent refresh token came back outside the grace window: the session is revoked.
    #[error("the refresh token was already used")]
    RefreshReused,
    /// Too many recent failures from this address or against this account.
    #[error("too many attempts; retry in {retry_after_secs} s")]
    Throttled { retry_after_secs: i64 },
    /// The risk policy asks for a second factor: answer the challenge at
    /// `POST /api/auth/step-up`.
    #[error("a second factor is required")]
    StepUpRequired { challenge_id: String },
    /// A wrong, spent or expired second-factor code, or an unknown challenge.
    #[error("the code is not valid")]
    InvalidCode,
    /// The risk policy refused the sign-in.
    #[error("sign-in blocked by the risk policy")]
    LoginBlocked,
    /// A refresh looked like someone else holding the token: the session is ended.
    #[error("session ended by the risk policy")]
    RefreshBlocked,
    /// An admin tried to deactivate or demote themselves.
    #[error("an administrator cannot deactivate or demote themselves")]
    SelfLockout,
    /// Authenticated, but not allowed (an admin-only action).
    #[error("forbidden")]
    Forbidden,
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error(transparent)]
    InvalidIdentity(#[from] InvalidIdentity),
    #[error("{0}")]
    WeakPassword(String),
    #[error("{0} is already taken")]
    Conflict(&'static str),
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Password(PasswordError),
    #[error("cannot load keys: {0}")]
    Keys(String),
}

impl From<StoreError> for AuthError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(field) => AuthError::Conflict(field),
            other => AuthError::Store(other),
        }
    }
}

impl From<PasswordError> for AuthError {
    fn from(error: PasswordError) -> Self {
        match error {
            PasswordError::TooShort | PasswordError::TooLong => AuthError::WeakPassword(error.to_string()),
            other => AuthError::Password(other),
        }
    }
}
