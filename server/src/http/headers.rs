//! Browser hardening headers on every response: a Content-Security-Policy with a fresh nonce
//! per page, framing refused, no MIME sniffing, no referrer, and HSTS when the request came
//! over TLS.
//!
//! The nonce is made here, before the page renders, and handed to Leptos through the request
//! extensions ([`CspNonce`]); the render context reads it back (see `http::page_context`), so
//! the hydration and resource scripts Leptos writes inline carry the nonce this header names.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;
use base64::Engine;
use rand::RngCore;

use super::AppState;
use crate::domain::client::is_trusted_proxy;

/// What the policy must allow beyond the app itself.
#[derive(Clone, Copy, Debug, Default)]
pub struct SecurityHeaders {
    /// `cargo leptos watch` injects a reload script that opens a WebSocket to another port;
    /// only then may pages connect to that socket, and to nothing else (see `config.rs` for
    /// when the server believes it runs under the watcher).
    pub live_reload: Option<LiveReload>,
}

/// The reload socket of `cargo leptos watch`. Its script in each page connects to
/// `ws://<the page's host name>:<port>/live_reload` (`wss://` on an `https:` page, which a
/// `ws://` source covers too).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LiveReload {
    /// Where the server listens (`LEPTOS_SITE_ADDR`); the watcher's socket is on the same
    /// address.
    pub site: IpAddr,
    /// The port the page's script connects to.
    pub port: u16,
}

impl LiveReload {
    /// The socket as `connect-src` sources: its address, plus `localhost` beside a loopback
    /// one (a page opened either way connects to its own host name). A server listening on
    /// every address cannot know the name pages use, so there any host on that port.
    fn sources(&self) -> String {
        let port = self.port;
        match self.site {
            ip if ip.is_unspecified() => format!("ws://*:{port}"),
            IpAddr::V4(ip) if ip.is_loopback() => format!("ws://{ip}:{port} ws://localhost:{port}"),
            IpAddr::V6(ip) if ip.is_loopback() => format!("ws://[{ip}]:{port} ws://localhost:{port}"),
            IpAddr::V4(ip) => format!("ws://{ip}:{port}"),
            IpAddr::V6(ip) => format!("ws://[{ip}]:{port}"),
        }
    }
}

/// The nonce of one response's Content-Security-Policy: 128 random bits, base64.
#[derive(Clone, Debug)]
pub struct CspNonce(Arc<str>);

impl CspNonce {
    fn fresh() -> Self {
        let mut bytes = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        Self(base64::engine::general_purpose::STANDARD.encode(bytes).into())
    }

    pub fn value(&self) -> Arc<str> {
        self.0.clone()
    }
}

/// HSTS for two years, subdomains included (the cookies are `__Host-`/`__Secure-` anyway).
const HSTS: &str = "max-age=63072000; includeSubDomains";

/// Everything but HTML: nothing may load, run or frame it.
const NON_PAGE_POLICY: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";

impl SecurityHeaders {
    /// The policy for a page whose inline scripts carry `nonce`. Styles come from the
    /// stylesheet; `style` attributes (the risk bars' widths, the QR code's SVG) are allowed,
    /// `<style>` elements are not. WebAssembly needs `'wasm-unsafe-eval'`, nothing else is
    /// evaluated.
    pub fn page_policy(&self, nonce: &str) -> String {
        let connect = match &self.live_reload {
            Some(reload) => format!("'self' {}", reload.sources()),
            None => "'self'".to_owned(),
        };
        format!(
            "default-src 'self'; script-src 'self' 'nonce-{nonce}' 'wasm-unsafe-eval'; \
             style-src 'self'; style-src-attr 'unsafe-inline'; img-src 'self' data:; \
             connect-src {connect}; font-src 'self'; object-src 'none'; base-uri 'none'; \
             form-action 'self'; frame-ancestors 'none'"
        )
    }
}

/// Whether a response to `path` may be cached: the build's static files (whose names
/// change with their content under `cargo leptos`, and which hold nothing personal) and the
/// site's public images. Everything else may carry personal data (pages, server functions,
/// the CSV export, the JSON API) and is `no-store` unless its handler said otherwise (the
/// published keys are public and cacheable).
fn is_public_asset(path: &str) -> bool {
    path.starts_with("/pkg/") || matches!(path, "/favicon.svg" | "/favicon.ico" | "/world-map.svg")
}

/// Middleware: makes the nonce, runs the request, then sets the headers on whatever came back.
pub async fn harden(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let nonce = CspNonce::fresh();
    let over_tls = came_over_tls(&request, &state);
    let cacheable = is_public_asset(request.uri().path());
    request.extensions_mut().insert(nonce.clone());
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    if !cacheable && !headers.contains_key(header::CACHE_CONTROL) {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    let policy = if is_html(headers) {
        // The nonce is base64, so the policy is always a valid header value.
        HeaderValue::from_str(&state.security.page_policy(&nonce.0)).ok()
    } else {
        Some(HeaderValue::from_static(NON_PAGE_POLICY))
    };
    if let Some(policy) = policy {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Older browsers ignore `frame-ancestors`; this says the same to them.
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if over_tls {
        headers.insert(header::STRICT_TRANSPORT_SECURITY, HeaderValue::from_static(HSTS));
    }
    response
}

fn is_html(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("text/html"))
}

/// The server speaks plain HTTP behind a TLS-terminating proxy, so TLS is what a trusted
/// proxy says (`X-Forwarded-Proto: https`); anyone else's word is ignored.
fn came_over_tls(request: &Request, state: &AppState) -> bool {
    let Some(ConnectInfo(peer)) = request.extensions().get::<ConnectInfo<SocketAddr>>() else {
        return false;
    };
    if !is_trusted_proxy(peer.ip(), &state.trusted_proxies) {
        return false;
    }
    request
        .headers()
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit(',').next())
        .is_some_and(|proto| proto.trim().eq_ignore_ascii_case("https"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_fresh_and_long_enough() {
        let (a, b) = (CspNonce::fresh(), CspNonce::fresh());
        assert_ne!(a.value(), b.value());
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(&*a.value())
                .unwrap()
                .len(),
            16
        );
    }

    #[test]
    fn the_page_policy_names_the_nonce_and_allows_no_inline_script_otherwise() {
        let policy = SecurityHeaders::default().page_policy("abc");
        let script = policy
            .split(';')
            .map(str::trim)
            .find(|d| d.starts_with("script-src"))
            .unwrap();
        assert_eq!(script, "script-src 'self' 'nonce-abc' 'wasm-unsafe-eval'");
        assert!(policy.contains("frame-ancestors 'none'"));
        assert!(policy.contains("connect-src 'self';"));
    }

    #[test]
    fn under_the_watcher_pages_may_connect_to_its_reload_socket_only() {
        let policy = |site: &str| {
            SecurityHeaders {
                live_reload: Some(LiveReload {
                    site: site.parse().unwrap(),
                    port: 8001,
                }),
            }
            .page_policy("abc")
        };
        let connect = |policy: String| {
            policy
                .split(';')
                .map(str::trim)
                .find(|d| d.starts_with("connect-src"))
                .unwrap()
                .to_owned()
        };
        assert_eq!(
            connect(policy("127.0.0.1")),
            "connect-src 'self' ws://127.0.0.1:8001 ws://localhost:8001"
        );
        assert_eq!(
            connect(policy("::1")),
            "connect-src 'self' ws://[::1]:8001 ws://localhost:8001"
        );
        assert_eq!(connect(policy("192.0.2.7")), "connect-src 'self' ws://192.0.2.7:8001");
        assert_eq!(connect(policy("0.0.0.0")), "connect-src 'self' ws://*:8001");
    }
}
