//! Extractors: who is calling, and from where.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::header;
use axum::http::request::Parts;

use super::{ApiError, AppState};
use crate::domain::client::{ClientInfo, client_ip};
use crate::service::Principal;

/// The client's address (trusted-proxy aware) and user agent, from a request head.
pub fn client_info(parts: &Parts, state: &AppState) -> ClientInfo {
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
    let forwarded = parts
        .headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok());
    let ip = client_ip(peer, forwarded, &state.trusted_proxies);
    let user_agent = parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok());
    ClientInfo::new(ip, user_agent).with_device_cookie(state.cookies.read_device(&parts.headers))
}

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(client_info(parts, state))
    }
}

/// A caller with a valid bearer access token whose session is live.
pub struct Authenticated(pub Principal);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = bearer_token(&parts.headers).ok_or_else(ApiError::invalid_token)?;
        Ok(Authenticated(state.auth.authenticate(token).await?))
    }
}

/// The token of an `Authorization: Bearer …` header, if there is one.
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .split_once(' ')
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
}

/// A JSON body, or a 400 that says what is wrong with it (axum's own rejection is plain
/// text).
pub fn json_body<T>(body: Result<axum::Json<T>, axum::extract::rejection::JsonRejection>) -> Result<T, ApiError> {
    body.map(|axum::Json(b)| b)
        .map_err(|e| ApiError::bad_request(format!("The body is not valid: {}", e.body_text())))
}

/// A numeric id from the path; anything else is no such `what` (404, never a 400 that
/// would tell ids from garbage).
pub fn path_id(raw: &str, what: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "not_found",
            format!("No such {what}"),
        )
    })
}

/// The answer of every action that ends sessions.
#[derive(serde::Serialize)]
pub struct SessionsEnded {
    pub sessions_ended: u64,
}
