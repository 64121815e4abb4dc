//! Every request gets an id and a span: what the request logs (in the services too) carries
//! the id, and the response says it in `X-Request-Id`, so a user's report or a proxy's log
//! leads straight to the lines. An id sent by a configured proxy is kept (the trace spans
//! both); anyone else's is replaced, so a client cannot write into another request's trail.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use ipnet::IpNet;
use tracing::Instrument as _;

use crate::domain::client::is_trusted_proxy;

pub static HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Longest id kept from a proxy.
const MAX_LEN: usize = 64;

pub async fn trace(State(trusted): State<Arc<[IpNet]>>, request: Request, next: Next) -> Response {
    let from_proxy = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .is_some_and(|ConnectInfo(peer)| is_trusted_proxy(peer.ip(), &trusted));
    let id = from_proxy
        .then(|| {
            request
                .headers()
                .get(&HEADER)?
                .to_str()
                .ok()
                .filter(|id| acceptable(id))
        })
        .flatten()
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    // At ERROR level, so the span is on whenever anything is logged at all: a server run
    // with `RUST_LOG=warn` still names the request in its warnings and errors.
    let span = tracing::error_span!("request", id = %id, method = %request.method(), path = %request.uri().path());
    let mut response = next.run(request).instrument(span).await;
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(HEADER.clone(), value);
    }
    response
}

/// Short, and only characters that cannot break a log line or a header.
fn acceptable(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::acceptable;

    #[test]
    fn only_short_plain_ids_are_kept() {
        assert!(acceptable("3f2a9c1e-proxy.7"));
        assert!(!acceptable(""));
        assert!(!acceptable("a b"));
        assert!(!acceptable("id\nforged: line"));
        assert!(!acceptable(&"x".repeat(65)));
    }
}
