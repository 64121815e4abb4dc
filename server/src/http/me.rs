use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::auth::{cleared, parse_body};
use super::{ApiError, AppState, Authenticated};
use crate::domain::client::ClientInfo;
use crate::service::AuthError;

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
struct PasswordChange {
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
    match state.auth.change_password(&caller, current, new, &client).await {
        Ok(()) => Ok(cleared(StatusCode::NO_CONTENT, state.cookies)),
        Err(AuthError::InvalidCredentials) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_current_password",
            "The current password is not correct",
        )),
        Err(other) => Err(other.into()),
    }
}
