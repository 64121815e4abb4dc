//! The JSON API's one error type: `{"error": "<code>", "message": "<text>"}` with a fitting
//! status. Internal causes are logged here and never sent.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::domain::access::TokenError;
use crate::domain::proof::ProofError;
use crate::edge::failure::{SELF_LOCKOUT, log_fault};
use crate::edge::wire::{FilterError, FilterErrorKind};
use crate::service::{
    AccountError, ActivityError, AuthenticateError, FactorError, Fault, Forbidden, SessionError, SignInError,
};

#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    /// Seconds for a `Retry-After` header (429s).
    pub retry_after: Option<i64>,
    /// The challenge to answer (401 `step_up_required`).
    pub challenge_id: Option<String>,
    /// WebAuthn request options that answer that challenge with a passkey.
    pub passkey: Option<serde_json::Value>,
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
    #[serde(skip_serializing_if = "Option::is_none")]
    passkey: Option<&'a serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            retry_after: None,
            challenge_id: None,
            passkey: None,
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

    /// A wrong, spent or expired second-factor code.
    pub fn invalid_code() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "invalid_code",
            "The code is not valid or has expired",
        )
    }

    /// 400 `invalid_dpop_proof` (RFC 9449 section 5): a device proof that does not hold.
    pub fn invalid_device_proof(refused: ProofError) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_dpop_proof", refused.to_string())
    }

    /// A resource the caller names does not exist (or is not theirs).
    /// 429 `too_many_attempts` for a throttled `what` ("sign-in", "password"), with the
    /// wait in `Retry-After`.
    pub fn too_many_attempts(what: &str, retry_after_secs: i64) -> Self {
        ApiError {
            retry_after: Some(retry_after_secs),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                format!("Too many {what} attempts. Try again in {retry_after_secs} seconds."),
            )
        }
    }

    /// 429 `too_many_attempts` when too many checks are already in progress (see
    /// `service::gate`): nothing failed, so the message says so and a second's wait is enough.
    pub fn busy(why: &str) -> Self {
        ApiError {
            retry_after: Some(1),
            ..ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too_many_attempts",
                format!("{why} Try again in a moment."),
            )
        }
    }

    pub fn resource_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "No such resource")
    }

    pub fn conflict(field: &str) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", format!("{field} is already taken"))
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal_error",
            "Something went wrong on our side",
        )
    }
}

const PASSWORD_CHECKS_BUSY: &str = "Too many password checks are in progress.";

impl From<SignInError> for ApiError {
    fn from(error: SignInError) -> Self {
        match error {
            SignInError::InvalidCredentials => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "Invalid username or password",
            ),
            SignInError::Throttled { retry_after_secs } => ApiError::too_many_attempts("sign-in", retry_after_secs),
            SignInError::Busy => ApiError::busy("Too many sign-ins are in progress from your network right now."),
            SignInError::StepUpRequired { challenge_id, passkey } => ApiError {
                challenge_id: Some(challenge_id),
                passkey,
                ..ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "step_up_required",
                    "This sign-in needs a second factor: a passkey, the code from your authenticator app, or a recovery code",
                )
            },
            SignInError::MalformedCredential => ApiError::bad_request(error.to_string()),
            SignInError::InvalidCode => ApiError::invalid_code(),
            SignInError::FactorLocked => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "second_factor_locked",
                "Your authenticator is locked after too many wrong codes. Use a recovery code, or ask an administrator to unlock it.",
            ),
            SignInError::InvalidDeviceProof(refused) => ApiError::invalid_device_proof(refused),
            SignInError::Fault(fault) => fault.into(),
        }
    }
}

impl From<SessionError> for ApiError {
    fn from(error: SessionError) -> Self {
        match error {
            SessionError::InvalidRefreshToken => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_refresh_token",
                "The refresh token is invalid or expired",
            ),
            SessionError::RefreshReused => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "refresh_token_reused",
                "The refresh token was already used; the session has been ended",
            ),
            SessionError::RefreshBlocked => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "session_blocked",
                "This session was ended because it was used from an unexpected device or network. Please sign in again.",
            ),
            SessionError::DeviceProof(ProofError::NonceRequired) => ApiError::new(
                StatusCode::BAD_REQUEST,
                "use_dpop_nonce",
                "Sign the device proof again with the nonce in the DPoP-Nonce header",
            ),
            SessionError::DeviceProof(refused) => {
                ApiError::new(StatusCode::UNAUTHORIZED, "device_proof_required", refused.to_string())
            }
            SessionError::BindingClosed => ApiError::new(
                StatusCode::CONFLICT,
                "binding_closed",
                "This session is already bound to a device key, or was signed in too long ago to bind one now",
            ),
            SessionError::NotFound => ApiError::resource_not_found(),
            SessionError::Fault(fault) => fault.into(),
        }
    }
}

impl From<AuthenticateError> for ApiError {
    fn from(error: AuthenticateError) -> Self {
        match error {
            AuthenticateError::Token(TokenError::Expired) => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "token_expired",
                "The access token has expired",
            ),
            AuthenticateError::Token(TokenError::Invalid | TokenError::UnknownKey) => ApiError::invalid_token(),
            AuthenticateError::DeviceProof(refused) => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_dpop_proof",
                format!("This access token is bound to a device key: {refused}"),
            ),
            AuthenticateError::Fault(fault) => fault.into(),
        }
    }
}

impl From<AccountError> for ApiError {
    fn from(error: AccountError) -> Self {
        match error {
            AccountError::InvalidCredentials => ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "Invalid username or password",
            ),
            AccountError::InvalidIdentity(e) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", e.to_string())
            }
            AccountError::WeakPassword(m) => ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "weak_password", m),
            AccountError::Conflict(field) => ApiError::conflict(field),
            AccountError::Forbidden(_) => ApiError::forbidden(),
            AccountError::NotFound => ApiError::resource_not_found(),
            AccountError::SelfLockout => ApiError::new(StatusCode::CONFLICT, "self_lockout", SELF_LOCKOUT),
            AccountError::Throttled { retry_after_secs } => ApiError::too_many_attempts("password", retry_after_secs),
            AccountError::Busy => ApiError::busy(PASSWORD_CHECKS_BUSY),
            AccountError::Fault(fault) => fault.into(),
        }
    }
}

impl From<FactorError> for ApiError {
    fn from(error: FactorError) -> Self {
        match error {
            FactorError::InvalidCode => ApiError::invalid_code(),
            FactorError::Conflict(field) => ApiError::conflict(field),
            FactorError::Forbidden(_) => ApiError::forbidden(),
            FactorError::ReauthenticationRequired => ApiError::new(
                StatusCode::FORBIDDEN,
                "reauthentication_required",
                "Enter your current password to continue.",
            ),
            FactorError::WrongPassword => ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_current_password",
                "The current password is not correct",
            ),
            FactorError::Throttled { retry_after_secs } => ApiError::too_many_attempts("password", retry_after_secs),
            FactorError::Busy => ApiError::busy(PASSWORD_CHECKS_BUSY),
            FactorError::NotFound => ApiError::resource_not_found(),
            FactorError::InvalidPasskey => ApiError::new(StatusCode::BAD_REQUEST, "invalid_passkey", error.to_string()),
            FactorError::InvalidName(message) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", message)
            }
            FactorError::Fault(fault) => fault.into(),
        }
    }
}

impl From<ActivityError> for ApiError {
    fn from(error: ActivityError) -> Self {
        match error {
            ActivityError::Forbidden(_) => ApiError::forbidden(),
            ActivityError::NotFound => ApiError::resource_not_found(),
            ActivityError::Fault(fault) => fault.into(),
        }
    }
}

impl From<Forbidden> for ApiError {
    fn from(_: Forbidden) -> Self {
        ApiError::forbidden()
    }
}

/// The server's own failures: logged here, never described to the caller.
impl From<Fault> for ApiError {
    fn from(fault: Fault) -> Self {
        log_fault(&fault);
        if fault.is_unavailable() {
            ApiError::database_unavailable()
        } else {
            ApiError::internal()
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
                passkey: self.passkey.as_ref(),
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
        } else if self.code == "invalid_dpop_proof" && self.status == StatusCode::UNAUTHORIZED {
            // RFC 9449 section 7.1.
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("DPoP error=\"invalid_dpop_proof\", algs=\"ES256 RS256\""),
            );
        }
        response
    }
}
