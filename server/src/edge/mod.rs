//! What the JSON API (`http`) and the server functions' backend (`web`) share: the
//! services and cookies they answer with, who the client is, records as wire types, and
//! what a failure means to the caller. Both import this; neither imports the other's
//! handlers, so a use case is wired once per path and shaped in one place.

pub mod cookies;
pub mod failure;
pub mod wire;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use axum::extract::ConnectInfo;
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue, header};
use ipnet::IpNet;

use crate::domain::client::{ClientInfo, client_ip};
use crate::domain::proof::Presented;
use crate::service::Services;
use cookies::Cookies;

/// The part of the application state both request paths need.
#[derive(Debug, Clone)]
pub struct Edge {
    pub services: Services,
    pub cookies: Cookies,
    /// Proxies whose `X-Forwarded-For` is believed.
    pub trusted_proxies: Arc<[IpNet]>,
}

impl Edge {
    /// The client behind a request head (see [`client_info`]).
    pub fn client(&self, parts: &Parts) -> ClientInfo {
        client_info(parts, &self.cookies, &self.trusted_proxies)
    }
}

/// The client's address (trusted-proxy aware), user agent and device cookie, from a
/// request head.
pub fn client_info(parts: &Parts, cookies: &Cookies, trusted_proxies: &[IpNet]) -> ClientInfo {
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
    let ip = client_ip(peer, forwarded, trusted_proxies);
    let user_agent = parts.headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok());
    ClientInfo::new(ip, user_agent)
        .with_device_cookie(cookies.read_device(&parts.headers))
        .with_device_proof(device_proof(parts))
        .with_session_response(
            parts
                .headers
                .get("secure-session-response")
                .and_then(|v| v.to_str().ok()),
        )
}

/// Where browsers register a DBSC session key (see `http::dbsc`).
pub const DBSC_REGISTER_PATH: &str = "/api/auth/dbsc/register";

/// The `Secure-Session-Registration` header a browser sign-in's answer carries, whichever
/// path signed it in: the JSON API or a server function.
pub fn dbsc_registration_offer(challenge: &str) -> (HeaderName, HeaderValue) {
    let offer = format!(r#"(ES256 RS256);path="{DBSC_REGISTER_PATH}";challenge="{challenge}""#);
    // Our challenges are base64url: always a valid header value.
    let value = HeaderValue::from_str(&offer).unwrap_or(HeaderValue::from_static(""));
    (HeaderName::from_static("secure-session-registration"), value)
}

/// The request's `DPoP` header and what the request was for: the host the client addressed
/// and the path, without the query. Several `DPoP` headers are one empty, malformed proof.
fn device_proof(parts: &Parts) -> Option<Presented> {
    let mut values = parts.headers.get_all("dpop").iter();
    let first = values.next()?;
    let proof = match (first.to_str(), values.next()) {
        (Ok(proof), None) => proof.trim().to_owned(),
        _ => String::new(),
    };
    let authority = parts
        .headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| parts.uri.authority().map(|a| a.as_str()))
        .unwrap_or_default();
    Some(Presented {
        proof,
        method: parts.method.as_str().to_owned(),
        authority: authority.to_owned(),
        path: parts.uri.path().to_owned(),
    })
}
