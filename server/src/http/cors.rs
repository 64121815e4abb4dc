//! CORS for the static bundle's origins (`FIN_CORS_ORIGINS`), with credentials.
//!
//! The client-side-rendered bundle (Trunk's `dist/`) is best served on the API's own origin,
//! behind one reverse proxy; then nothing here applies. Served from another origin of the
//! same site (`https://app.example.com` beside `https://api.example.com`), it calls the API
//! and the server functions with `credentials: "include"`, and the browser lets it read the
//! answers only when they name its origin and allow credentials. So an origin on the list
//! gets exactly that, on every response, and its preflights are answered here; any other
//! origin gets no CORS header at all, and the cross-site refusal (`origin.rs`) still stops
//! its unsafe requests. The cookies stay SameSite=Strict: browsers send them between origins
//! of one site, never across sites, whatever this list says.
//!
//! A small middleware rather than tower-http's `CorsLayer`: that one answers every OPTIONS
//! request as a preflight and adds its allow-headers whatever the origin, where this must
//! stay silent for origins off the list.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The configured origins, compared byte for byte with the `Origin` header (both are
/// normalised: lowercase, no default port, no trailing slash).
#[derive(Clone, Debug, Default)]
pub struct AllowedOrigins(Arc<[HeaderValue]>);

impl AllowedOrigins {
    pub fn new(origins: &[String]) -> Self {
        Self(origins.iter().filter_map(|o| HeaderValue::from_str(o).ok()).collect())
    }

    pub fn allows(&self, origin: &HeaderValue) -> bool {
        self.0.iter().any(|allowed| allowed == origin)
    }

    pub fn allows_str(&self, origin: &str) -> bool {
        self.0.iter().any(|allowed| allowed.as_bytes() == origin.as_bytes())
    }

    /// The request's `Origin`, when it is on the list.
    fn of(&self, headers: &HeaderMap) -> Option<HeaderValue> {
        headers.get(header::ORIGIN).filter(|o| self.allows(o)).cloned()
    }
}

/// Methods and request headers a listed origin may use (the JSON API's, the server
/// functions', device proofs' `DPoP`, and the stream's `Last-Event-ID`).
const ALLOW_METHODS: &str = "GET, HEAD, POST, PATCH, DELETE";
const ALLOW_HEADERS: &str = "authorization, content-type, dpop, last-event-id";
/// Response headers the page may read: the next device proof's `DPoP-Nonce`, redirects of
/// the server functions (`Location` with `serverfnredirect`) and the throttle's `Retry-After`.
const EXPOSE_HEADERS: &str = "dpop-nonce, location, serverfnredirect, retry-after";
/// How long a browser may reuse a preflight answer, in seconds.
const MAX_AGE: &str = "600";

pub async fn allow_listed(State(allowed): State<AllowedOrigins>, request: Request, next: Next) -> Response {
    if allowed.0.is_empty() {
        return next.run(request).await;
    }
    let origin = allowed.of(request.headers());
    let preflight =
        request.method() == Method::OPTIONS && request.headers().contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    let mut response = match (&origin, preflight) {
        (Some(_), true) => {
            let mut response = StatusCode::NO_CONTENT.into_response();
            let headers = response.headers_mut();
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static(ALLOW_METHODS),
            );
            headers.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(ALLOW_HEADERS),
            );
            headers.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static(MAX_AGE));
            headers.append(
                header::VARY,
                HeaderValue::from_static("access-control-request-method, access-control-request-headers"),
            );
            response
        }
        (Some(_), false) => {
            let mut response = next.run(request).await;
            response.headers_mut().insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static(EXPOSE_HEADERS),
            );
            response
        }
        (None, _) => next.run(request).await,
    };
    let headers = response.headers_mut();
    if let Some(origin) = origin {
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    // The answer depends on the Origin header, so caches must keep one per origin.
    headers.append(header::VARY, HeaderValue::from_static("origin"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_exact_origins_are_allowed() {
        let allowed = AllowedOrigins::new(&["https://app.example.com".to_owned(), "http://127.0.0.1:8080".to_owned()]);
        assert!(allowed.allows(&HeaderValue::from_static("https://app.example.com")));
        assert!(allowed.allows_str("http://127.0.0.1:8080"));
        for other in [
            "https://app.example.com.evil.example",
            "https://evil.example",
            "http://app.example.com",
            "https://app.example.com:8443",
            "http://127.0.0.1:8081",
            "null",
            "",
        ] {
            assert!(!allowed.allows_str(other), "{other}");
        }
        assert!(!AllowedOrigins::default().allows_str("https://app.example.com"));
    }
}
