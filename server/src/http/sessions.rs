//! `GET /api/sessions` and `DELETE /api/sessions/{id}`: the caller's own sessions.

use crate::edge::wire::rfc3339;
use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;

use super::extract::PathSegment;
use super::{ApiError, AppState, Authenticated};
use crate::domain::client::ClientInfo;
use crate::domain::device::Device;

#[derive(Serialize)]
pub struct SessionView {
    id: String,
    device: String,
    ip: String,
    country: Option<String>,
    city: Option<String>,
    created_at: String,
    last_used_at: String,
    /// The session the caller's access token belongs to.
    current: bool,
    /// Bound to a device key: renewed only with proofs from it.
    device_bound: bool,
}

pub async fn list(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
) -> Result<Json<Vec<SessionView>>, ApiError> {
    let sessions = state.services.sessions.list(&caller).await?;
    Ok(Json(
        sessions
            .into_iter()
            .map(|s| SessionView {
                current: s.id == caller.claims.sid,
                device_bound: s.device_bound,
                id: s.id,
                device: Device::parse(&s.device_info).label(),
                ip: s.ip_address,
                country: s.country,
                city: s.city,
                created_at: rfc3339(s.created_at),
                last_used_at: rfc3339(s.last_used_at),
            })
            .collect(),
    ))
}

pub async fn revoke(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    client: ClientInfo,
    PathSegment(id): PathSegment,
) -> Result<StatusCode, ApiError> {
    state.services.sessions.end_session(&caller, &id, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}
