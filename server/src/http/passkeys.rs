//! Passkeys over JSON: the usernameless sign-in (`/api/auth/passkey/{start,finish}`), the
//! caller's own passkeys (`/api/me/passkeys`), and an administrator's view of a user's
//! (`/api/admin/users/{id}/passkeys`). Options and credentials are WebAuthn Level 3's JSON
//! forms, as `PublicKeyCredential.toJSON()` and `parse…OptionsFromJSON` speak them.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::auth::{Delivery, optional_body, parse_body, registration_offer, token_response, with_nonce};
use super::extract::{PathSegment, path_id};
use super::me::Reauthentication;
use super::{ApiError, AppState, Authenticated};
use crate::domain::client::ClientInfo;
use crate::edge::wire;
use crate::service::PasskeyOptions;

/// A ceremony started: the id to finish it with, and the options for the browser.
#[derive(Serialize)]
pub struct Ceremony {
    challenge_id: String,
    options: Value,
}

impl From<PasskeyOptions> for Ceremony {
    fn from(started: PasskeyOptions) -> Self {
        Self {
            challenge_id: started.challenge_id,
            options: started.options,
        }
    }
}

/// `POST /api/auth/passkey/start`: request options for a sign-in with any passkey of this
/// site. Takes no body (an empty object is fine too).
pub async fn start_sign_in(State(state): State<AppState>) -> Result<Json<Ceremony>, ApiError> {
    Ok(Json(state.services.sign_in.start_passkey().await?.into()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinishSignIn {
    challenge_id: String,
    credential: Value,
    refresh_delivery: Option<String>,
}

/// `POST /api/auth/passkey/finish` `{"challenge_id", "credential"}`: the sign-in's answer,
/// as the password sign-in answers.
pub async fn finish_sign_in(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let answer = async {
        let request: FinishSignIn = parse_body(&headers, body)?;
        let delivery = Delivery::parse(request.refresh_delivery.as_deref())?;
        let client = client.taking_cookies(delivery == Delivery::Cookie);
        let signed_in = state
            .services
            .sign_in
            .finish_passkey(&request.challenge_id, &request.credential, &client)
            .await?;
        let offer = registration_offer(&state, &signed_in, delivery);
        Ok(token_response(&signed_in, delivery, state.cookies, offer.as_deref()))
    };
    with_nonce(&state, answer.await)
}

/// `POST /api/me/passkeys/start` `{"password"?}`: creation options for a new passkey.
pub async fn start_registration(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    client: ClientInfo,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Ceremony>, ApiError> {
    let reauth: Reauthentication = optional_body(&headers, body)?;
    let started = state
        .services
        .passkeys
        .begin_registration(&caller, reauth.password(), &client)
        .await?;
    Ok(Json(started.into()))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FinishRegistration {
    challenge_id: String,
    credential: Value,
    name: String,
}

/// `POST /api/me/passkeys/finish` `{"challenge_id", "credential", "name"}`: 201, the new
/// passkey.
pub async fn finish_registration(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    client: ClientInfo,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<app::wire::Passkey>), ApiError> {
    let request: FinishRegistration = parse_body(&headers, body)?;
    let added = state
        .services
        .passkeys
        .finish_registration(
            &caller,
            &request.challenge_id,
            &request.credential,
            &request.name,
            &client,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(wire::passkey(added))))
}

/// `GET /api/me/passkeys`: the caller's passkeys, oldest first.
pub async fn list(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<Vec<app::wire::Passkey>>, ApiError> {
    let passkeys = state.services.passkeys.list(&caller).await?;
    Ok(Json(passkeys.into_iter().map(wire::passkey).collect()))
}

/// `DELETE /api/me/passkeys/{id}` `{"password"?}`: removes one of the caller's passkeys.
pub async fn remove(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    client: ClientInfo,
    PathSegment(id): PathSegment,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<StatusCode, ApiError> {
    let reauth: Reauthentication = optional_body(&headers, body)?;
    state
        .services
        .passkeys
        .remove(&caller, &id, reauth.password(), &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/admin/users/{id}/passkeys`: a user's passkeys, for an administrator.
pub async fn admin_list(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    PathSegment(id): PathSegment,
) -> Result<Json<Vec<app::wire::Passkey>>, ApiError> {
    let passkeys = state
        .services
        .passkeys
        .admin_list(&caller, path_id(&id, "user")?)
        .await?;
    Ok(Json(passkeys.into_iter().map(wire::passkey).collect()))
}

/// `DELETE /api/admin/users/{id}/passkeys/{passkey_id}`: removes a user's passkey.
pub async fn admin_remove(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    client: ClientInfo,
    path: Result<axum::extract::Path<(String, String)>, axum::extract::rejection::PathRejection>,
) -> Result<StatusCode, ApiError> {
    // A segment that is not UTF-8 once decoded names nothing (as `PathSegment` answers).
    let axum::extract::Path((id, passkey_id)) = path.map_err(|_| ApiError::resource_not_found())?;
    state
        .services
        .passkeys
        .admin_remove(&caller, path_id(&id, "user")?, &passkey_id, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
