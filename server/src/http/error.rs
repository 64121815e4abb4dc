//! The JSON API's one error type: `{"error": "<code>", "message": "<text>"}` with a fitting
//! status. Internal causes are logged here and never sent.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::domain::access::TokenError;
use crate::edge::failure::{SELF_LOCKOUT, log_internal};
use crate::edge::wire::{FilterError, FilterErrorKind};
use crate::service::AuthError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds for a `Retry-After` header (429s).
    pub retry_after: Option<i64>,
    /// The challenge to answer (401 `step_up_required`).
    pub challenge_id: Option<String>,
    /// The database could not be reached: the response tells the availability gate.
    pub database_down: bool,
}

/// Marks a response whose request found the database unreachable (see
/// [`crate::service::DatabaseGate`]).
#[derive(Debug, Clone, Copy)]
pub struct DatabaseDown;

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    challenge_id: Option<&'a str>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
            challenge_id: None,
            database_down: false,
        }
    }

    pub fn forbidden() -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", "You are not allowed to do that")
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    pub fn not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "No such API endpoint")
    }

    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "This endpoint does not accept that method",
        )
    }

    pub fn invalid_token() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_token",
            "Missing or invalid access token",
        )
    }

    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "service_unavailable",
            "The service is temporarily unavailable",
        )
    }

    /// 503 because the database is unreachable; worth retrying in a second.
    pub fn database_unavailable() -> Self {
        Self {
            retry_after: Some(1),
            database_down: true,
            ..Self::unavailable()
        }
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Something went wrong on our side",
        )
    }
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        log_internal(&error);
        match error {
            AuthError::InvalidCredentials => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "Invalid username or password",
            ),
            AuthError::InvalidRefreshToken => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_refresh_token",
                "The refresh token is invalid or expired",
            ),
            AuthError::RefreshReused => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "refresh_token_reused",
                "The refresh token was already used; the session has been ended",
            ),
            AuthError::Throttled { retry_after_secs } => ApiError {
                retry_after: Some(retry_after_secs),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    "too_many_attempts",
                    format!("Too many failed sign-in attempts. Try again in {retry_after_secs} seconds."),
                )
            },
            AuthError::Forbidden => ApiError::forbidden(),
            AuthError::SelfLockout => ApiError::new(StatusCode::CONFLICT, "self_lockout", SELF_LOCKOUT),
            AuthError::StepUpRequired { challenge_id } => ApiError {
                challenge_id: Some(challenge_id),
                ..ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "step_up_required",
                    "This sign-in needs the code from your authenticator app",
                )
            },
            AuthError::InvalidCode => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_code",
                "The code is not valid or has expired",
            ),
            AuthError::LoginBlocked => ApiError::new(
                StatusCode::FORBIDDEN,
                "login_blocked",
                "This sign-in looks too unlike your usual ones and was blocked. If it was you, try again from a device you have used before.",
            ),
            AuthError::RefreshBlocked => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "session_blocked",
                "This session was ended because it was used from an unexpected device or network. Please sign in again.",
            ),
            AuthError::NotFound => ApiError::new(StatusCode::NOT_FOUND, "not_found", "No such resource"),
            AuthError::Token(TokenError::Expired) => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "token_expired",
                "The access token has expired",
            ),
            AuthError::Token(TokenError::Invalid | TokenError::UnknownKey) => ApiError::invalid_token(),
            AuthError::InvalidIdentity(e) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", e.to_string())
            }
            AuthError::WeakPassword(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "weak_password", m),
            AuthError::Conflict(field) => {
                ApiError::new(StatusCode::CONFLICT, "conflict", format!("{field} is already taken"))
            }
            AuthError::Store(e) if e.is_unavailable() => ApiError::database_unavailable(),
            AuthError::Store(_) | AuthError::Keys(_) | AuthError::Password(_) => ApiError::internal(),
        }
    }
}

impl From<FilterError> for ApiError {
    fn from(error: FilterError) -> Self {
        match error.kind {
            FilterErrorKind::Invalid => ApiError::bad_request(error.message),
            FilterErrorKind::Cursor => ApiError::new(StatusCode::BAD_REQUEST, "invalid_cursor", error.message),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(Body {
                error: self.code,
                message: &self.message,
                challenge_id: self.challenge_id.as_deref(),
            }),
        )
            .into_response();
        if let Some(seconds) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert(header::RETRY_AFTER, value);
        }
        if self.database_down {
            response.extensions_mut().insert(DatabaseDown);
        }
        if self.code == "invalid_token" || self.code == "token_expired" {
            // RFC 6750 section 3.
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
