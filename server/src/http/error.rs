//! The JSON API's one error type: `{"error": "<code>", "message": "<text>"}` with a fitting
//! status. Internal causes are logged here and never sent.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::domain::access::TokenError;
use crate::service::AuthError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'a str,
    message: &'a str,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
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
            AuthError::Store(e) if e.is_unavailable() => {
                tracing::warn!(error = %e, cause = ?std::error::Error::source(&e), "database unavailable");
                ApiError::unavailable()
            }
            AuthError::Store(e) => {
                tracing::error!(error = %e, cause = ?std::error::Error::source(&e), "storage failure");
                ApiError::internal()
            }
            AuthError::Keys(e) => {
                tracing::error!(error = %e, "key loading failure");
                ApiError::internal()
            }
            AuthError::Password(e) => {
                tracing::error!(error = %e, "password hashing failure");
                ApiError::internal()
            }
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
            }),
        )
            .into_response();
        if self.code == "invalid_token" || self.code == "token_expired" {
            // RFC 6750 section 3.
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}
