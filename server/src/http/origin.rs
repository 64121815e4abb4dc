//! Cross-site request refusal for state-changing requests.
//!
//! The session cookies are SameSite=Strict, which already keeps browsers from sending them
//! cross-site. This is the second, independent lock (OWASP's "verify origin with standard
//! headers"): a browser marks every request with `Sec-Fetch-Site` and, for POSTs, `Origin`;
//! an unsafe method that a browser says came from another site is refused before any
//! handler runs, which also stops login CSRF (where no cookie is involved at all). Clients
//! that are not browsers send neither header and are unaffected.
//!
//! The one exception is the static bundle served from another origin of the same site: its
//! origins, configured in `FIN_CORS_ORIGINS` ([`AllowedOrigins`]), pass by their `Origin`
//! header, exactly and only they.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::ApiError;
use super::cors::AllowedOrigins;

pub async fn refuse_cross_site(State(allowed): State<AllowedOrigins>, request: Request, next: Next) -> Response {
    let unsafe_method = !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if unsafe_method && is_cross_site(request.headers(), &allowed) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Cross-site requests are not allowed",
        )
        .into_response();
    }
    next.run(request).await
}

fn is_cross_site(headers: &HeaderMap, allowed: &AllowedOrigins) -> bool {
    // A configured origin of the static bundle: its `Sec-Fetch-Site` says "same-site" (or
    // "cross-site", where the SameSite=Strict cookies would not go along anyway).
    if headers.get(header::ORIGIN).is_some_and(|origin| allowed.allows(origin)) {
        return false;
    }
    // Every current browser sends Sec-Fetch-Site, and it cannot be set by page scripts: when
    // present it decides alone. That also keeps a reverse proxy that rewrites `Host` from
    // breaking same-origin requests.
    if let Some(fetch_site) = headers.get("sec-fetch-site") {
        return !matches!(fetch_site.to_str(), Ok("same-origin" | "none"));
    }
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    // `Origin: null` (sandboxed frames, some redirects) is never our own page.
    let origin_host = origin.split_once("://").map(|(_, rest)| rest.trim_end_matches('/'));
    origin_host != Some(host)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn is_cross_site_by_default(headers: &HeaderMap) -> bool {
        is_cross_site(headers, &AllowedOrigins::default())
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn same_origin_and_non_browser_requests_pass() {
        assert!(!is_cross_site_by_default(&headers(&[])));
        assert!(!is_cross_site_by_default(&headers(&[
            ("host", "app.example"),
            ("origin", "https://app.example")
        ])));
        assert!(!is_cross_site_by_default(&headers(&[(
            "sec-fetch-site",
            "same-origin"
        )])));
        assert!(!is_cross_site_by_default(&headers(&[("sec-fetch-site", "none")])));
        // Behind a proxy that rewrites Host, the browser's own word still counts.
        assert!(!is_cross_site_by_default(&headers(&[
            ("sec-fetch-site", "same-origin"),
            ("host", "backend:8000"),
            ("origin", "https://app.example")
        ])));
    }

    #[test]
    fn other_sites_are_refused() {
        assert!(is_cross_site_by_default(&headers(&[("sec-fetch-site", "cross-site")])));
        assert!(is_cross_site_by_default(&headers(&[("sec-fetch-site", "same-site")])));
        assert!(is_cross_site_by_default(&headers(&[
            ("host", "app.example"),
            ("origin", "https://evil.example")
        ])));
        assert!(is_cross_site_by_default(&headers(&[
            ("host", "app.example"),
            ("origin", "null")
        ])));
        assert!(is_cross_site_by_default(&headers(&[
            ("host", "app.example"),
            ("origin", "https://app.example.evil.example")
        ])));
    }

    #[test]
    fn configured_origins_and_only_they_pass() {
        let allowed = AllowedOrigins::new(&["https://app.example.com".to_owned()]);
        let from = |origin: &'static str, fetch_site: &'static str| {
            is_cross_site(
                &headers(&[
                    ("host", "api.example.com"),
                    ("origin", origin),
                    ("sec-fetch-site", fetch_site),
                ]),
                &allowed,
            )
        };
        assert!(!from("https://app.example.com", "same-site"));
        assert!(from("https://evil.example.com", "same-site"));
        assert!(from("https://app.example.com.evil.example", "cross-site"));
        assert!(from("http://app.example.com", "same-site"));
        assert!(from("null", "same-site"));
        // Without Sec-Fetch-Site (older browsers), the same: the listed origin only.
        assert!(!is_cross_site(
            &headers(&[("host", "api.example.com"), ("origin", "https://app.example.com")]),
            &allowed
        ));
        assert!(is_cross_site(
            &headers(&[("host", "api.example.com"), ("origin", "https://evil.example")]),
            &allowed
        ));
    }
}
