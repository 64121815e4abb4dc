use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::auth::{cleared, optional_body, parse_body};
use super::{ApiError, AppState, Authenticated};
use crate::domain::client::ClientInfo;
use crate::service::AccountError;

#[derive(Serialize)]
pub struct MeResponse {
    id: i64,
    username: String,
    email: String,
    role: &'static str,
    is_active: bool,
}

/// `GET /api/me`: the caller.
pub async fn me(Authenticated(principal): Authenticated) -> Json<MeResponse> {
    let user = principal.user;
    Json(MeResponse {
        id: user.id,
        role: user.role(),
        username: user.username,
        email: user.email,
        is_active: user.is_active,
    })
}

#[derive(Deserialize)]
pub(super) struct PasswordChange {
    current_password: String,
    new_password: String,
}

/// `POST /api/me/password`: changes the caller's password and ends every session, this one
/// included; the caller signs in again with the new password.
pub async fn change_password(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    client: ClientInfo,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let change: PasswordChange = parse_body(&headers, body)?;
    let current = SecretString::from(change.current_password);
    let new = SecretString::from(change.new_password);
    match state
        .services
        .accounts
        .change_password(&caller, current, new, &client)
        .await
    {
        Ok(()) => Ok(cleared(StatusCode::NO_CONTENT, state.cookies)),
        Err(AccountError::InvalidCredentials) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_current_password",
            "The current password is not correct",
        )),
        Err(other) => Err(other.into()),
    }
}

#[derive(Serialize)]
pub struct TotpEnrolment {
    secret: String,
    otpauth_uri: String,
    /// The URI as a QR code (SVG), for pages that want to show it.
    qr_svg: String,
}

/// The re-authentication a change to one's factors carries: the current password, or
/// nothing after a sign-in in the last five minutes.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Reauthentication {
    password: Option<String>,
}

impl Reauthentication {
    pub(super) fn password(self) -> Option<SecretString> {
        self.password.map(SecretString::from)
    }
}

/// `POST /api/me/totp` `{"password"?}`: starts enrolling an authenticator app.
pub async fn begin_totp(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    client: ClientInfo,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<TotpEnrolment>, ApiError> {
    let reauth: Reauthentication = optional_body(&headers, body)?;
    let enrolment = state
        .services
        .factors
        .begin_totp(&caller, reauth.password(), &client)
        .await?;
    Ok(Json(TotpEnrolment {
        qr_svg: crate::domain::totp::qr_svg(&enrolment.uri),
        secret: enrolment.secret,
        otpauth_uri: enrolment.uri,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfirmTotp {
    code: String,
}

#[derive(Serialize)]
pub struct RecoveryCodes {
    recovery_codes: Vec<String>,
}

/// `POST /api/me/totp/confirm` `{"code"}`: finishes enrolment; answers the recovery codes.
pub async fn confirm_totp(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    client: ClientInfo,
    body: Result<Json<ConfirmTotp>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<RecoveryCodes>, ApiError> {
    let body = super::extract::json_body(body)?;
    let recovery_codes = state
        .services
        .factors
        .confirm_totp(&caller, &body.code, &client)
        .await?;
    Ok(Json(RecoveryCodes { recovery_codes }))
}

/// `DELETE /api/me/totp` `{"password"?}`: removes the authenticator and its recovery codes.
pub async fn remove_totp(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    client: ClientInfo,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let reauth: Reauthentication = optional_body(&headers, body)?;
    state
        .services
        .factors
        .remove_totp(&caller, reauth.password(), &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /api/me/totp/recovery-codes` `{"password"?}`: ten new recovery codes, shown once.
pub async fn regenerate_recovery_codes(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    client: ClientInfo,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<RecoveryCodes>, ApiError> {
    let reauth: Reauthentication = optional_body(&headers, body)?;
    let recovery_codes = state
        .services
        .factors
        .regenerate_recovery_codes(&caller, reauth.password(), &client)
        .await?;
    Ok(Json(RecoveryCodes { recovery_codes }))
}
