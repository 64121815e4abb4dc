//! Device Bound Session Credentials (W3C draft, as Chrome ships it): the browser registers a
//! key it cannot export (a TPM's, where there is one) with its session, and renews the
//! session's cookies only by signing our challenge with it.
//!
//! - A cookie sign-in's answer offers registration: `Secure-Session-Registration`.
//! - `POST /api/auth/dbsc/register` with `Secure-Session-Response` (a `dbsc+jwt` naming
//!   the key) binds the session and answers its configuration.
//! - `POST /api/auth/dbsc/refresh` with `Sec-Secure-Session-Id`: without a proof, `403` and
//!   a challenge; with one signed by the session's key, the refresh cookies rotate as on
//!   `/api/auth/refresh`, with the next challenge sent ahead.
//!
//! The bound cookie is the access cookie; the refresh cookie stays, but once the session
//! is bound it renews nothing without a proof from the key (see `SessionService::refresh`).

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::{ApiError, AppState};
use crate::domain::client::ClientInfo;
use crate::domain::proof::ProofError;
use crate::service::SessionError;

pub use crate::edge::{DBSC_REGISTER_PATH as REGISTER_PATH, dbsc_registration_offer as registration_offer};

pub const REFRESH_PATH: &str = "/api/auth/dbsc/refresh";

/// How long the page's marker of a DBSC session lasts: a session's longest life. A stale
/// one only stops the page's own keeper, and a lapsed access cookie still resumes.
const REGISTRATION_MARKER_AGE: i64 = 30 * 86_400;
const CHALLENGE: HeaderName = HeaderName::from_static("secure-session-challenge");
const SESSION_ID: &str = "sec-secure-session-id";

/// `POST /api/auth/dbsc/register`: binds the signed-in session to the key the proof names.
pub async fn register(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if client.session_response.is_none() {
        return Err(ApiError::bad_request(
            "Send the registration proof in Secure-Session-Response",
        ));
    }
    // Only the DBSC proof counts here.
    let client = client.with_device_proof(None);
    let token = state.cookies.read_refresh(&headers);
    let (session_id, access) = match state.services.sessions.register_device(token, &client).await {
        Ok(registered) => registered,
        Err(SessionError::DeviceProof(refused)) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_dbsc_proof",
                refused.to_string(),
            ));
        }
        Err(error) => return Err(error.into()),
    };
    let mut answer = instructions(&state, &session_id).into_response();
    let headers = answer.headers_mut();
    headers.append(header::SET_COOKIE, state.cookies.access(&access));
    headers.append(header::SET_COOKIE, state.cookies.dbsc_marker(REGISTRATION_MARKER_AGE));
    // The browser's key won: the page need not offer its own.
    headers.append(header::SET_COOKIE, state.cookies.binding_withdrawn());
    Ok(answer)
}

/// `POST /api/auth/dbsc/refresh`: renews a bound session's cookies against a proof.
pub async fn refresh(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let session_id = headers
        .get(SESSION_ID)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim_matches('"').to_owned())
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ApiError::bad_request("Send the session's id in Sec-Secure-Session-Id"))?;
    if client.session_response.is_none() {
        return Ok(challenge(&state, &session_id));
    }
    // No session to speak of: a plain refusal (a 4xx also ends the browser's DBSC session).
    let token = state
        .cookies
        .read_refresh(&headers)
        .ok_or(SessionError::InvalidRefreshToken)?;
    // The answer is cookies (the bound credential), never a DPoP-bound access token.
    let client = client.taking_cookies(true);
    match state.services.sessions.refresh(Some(token), &client).await {
        Ok(refreshed) => {
            let mut response = instructions(&state, &refreshed.session_id).into_response();
            for cookie in state.cookies.session(&refreshed) {
                response.headers_mut().append(header::SET_COOKIE, cookie);
            }
            // The next refresh's challenge, ahead: one round trip next time.
            set_challenge(&state, &refreshed.session_id, response.headers_mut());
            Ok(response)
        }
        // A stale challenge: another one, and the browser signs again.
        Err(SessionError::DeviceProof(ProofError::NonceRequired)) => Ok(challenge(&state, &session_id)),
        Err(SessionError::Fault(fault)) => Err(fault.into()),
        // A proof that does not hold is refused (and logged by the service); the session
        // itself lives on for the device that holds the key.
        Err(error @ SessionError::DeviceProof(_)) => Err(error.into()),
        // An unknown, revoked or expired token: a plain 401 (a 4xx ends the browser's DBSC
        // session too), the cookies cleared.
        Err(SessionError::InvalidRefreshToken) => Ok(cleared(
            &state,
            ApiError::from(SessionError::InvalidRefreshToken).into_response(),
        )),
        // This refresh ended the session (a replayed token, the risk policy): the browser
        // is told to end its DBSC session, and drops the cookies.
        Err(_) => Ok(cleared(
            &state,
            Json(json!({"session_identifier": session_id, "continue": false})).into_response(),
        )),
    }
}

/// `response`, clearing the session's cookies and the page's DBSC marker.
fn cleared(state: &AppState, mut response: Response) -> Response {
    let headers = response.headers_mut();
    for cookie in state.cookies.clear_all() {
        headers.append(header::SET_COOKIE, cookie);
    }
    headers.append(header::SET_COOKIE, state.cookies.dbsc_marker(0));
    response
}

/// `403` with a challenge to sign (the draft's refresh step).
fn challenge(state: &AppState, session_id: &str) -> Response {
    let mut response = ApiError::new(
        StatusCode::FORBIDDEN,
        "dbsc_challenge",
        "Sign the challenge in Secure-Session-Challenge with the session's key",
    )
    .into_response();
    set_challenge(state, session_id, response.headers_mut());
    response
}

fn set_challenge(state: &AppState, session_id: &str, headers: &mut HeaderMap) {
    let value = format!(
        r#""{}";id="{}""#,
        state.services.proofs.nonce(),
        session_id.replace(['"', '\\'], "")
    );
    if let Ok(value) = HeaderValue::from_str(&value) {
        headers.insert(CHALLENGE, value);
    }
}

/// The session's configuration: the access cookie is the bound credential, for the whole
/// site; the refresh endpoint renews it.
fn instructions(state: &AppState, session_id: &str) -> Json<serde_json::Value> {
    Json(json!({
        "session_identifier": session_id,
        "refresh_url": REFRESH_PATH,
        "scope": {
            "include_site": false,
            "scope_specification": [],
        },
        "credentials": [{
            "type": "cookie",
            "name": state.cookies.access_name(),
            "attributes": state.cookies.access_attributes(),
        }],
    }))
}
