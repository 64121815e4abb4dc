//! The session cookies, built in one place.
//!
//! - The refresh token: `__Secure-fin_refresh`, `Path=/api/auth`, so the browser sends it
//!   only to the endpoints that spend or revoke it.
//! - The access token: `__Host-fin_access`, `Path=/`, so server-rendered pages and server
//!   functions know who is signed in. JavaScript can read neither (HttpOnly).
//!
//! Both are `Secure` and `SameSite=Strict`: never sent on a cross-site request, which is
//! what keeps cookie-authenticated endpoints safe from CSRF. Browsers treat
//! `http://127.0.0.1` and `http://localhost` as secure contexts, so local development over
//! plain HTTP works with the same attributes.

use axum::http::{HeaderMap, HeaderValue, header};

pub const ACCESS_COOKIE: &str = "__Host-fin_access";
pub const REFRESH_COOKIE: &str = "__Secure-fin_refresh";
pub const REFRESH_PATH: &str = "/api/auth";

fn build(name: &str, value: &str, path: &str, max_age: i64) -> HeaderValue {
    let cookie = format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly; Secure; SameSite=Strict");
    // Values are base64url or JWTs (base64url and dots): always valid header bytes.
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}

pub fn access(token: &str, max_age: i64) -> HeaderValue {
    build(ACCESS_COOKIE, token, "/", max_age)
}

pub fn refresh(token: &str, max_age: i64) -> HeaderValue {
    build(REFRESH_COOKIE, token, REFRESH_PATH, max_age)
}

/// Cookies that delete both session cookies.
pub fn clear_all() -> Vec<HeaderValue> {
    vec![
        build(ACCESS_COOKIE, "", "/", 0),
        build(REFRESH_COOKIE, "", REFRESH_PATH, 0),
    ]
}

/// The value of the named cookie in the request, if present.
pub fn read<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value.trim())
        .filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refresh_cookie_has_every_protection() {
        let cookie = refresh("tok", 2_592_000);
        let cookie = cookie.to_str().unwrap();
        for part in [
            "__Secure-fin_refresh=tok",
            "Path=/api/auth",
            "Max-Age=2592000",
            "HttpOnly",
            "Secure",
            "SameSite=Strict",
        ] {
            assert!(cookie.contains(part), "{cookie} lacks {part}");
        }
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; __Secure-fin_refresh=xyz"),
        );
        headers.append(header::COOKIE, HeaderValue::from_static("__Host-fin_access=jwt"));
        assert_eq!(read(&headers, REFRESH_COOKIE), Some("xyz"));
        assert_eq!(read(&headers, ACCESS_COOKIE), Some("jwt"));
        assert_eq!(read(&headers, "missing"), None);
    }

    #[test]
    fn clearing_sets_max_age_zero_on_the_same_paths() {
        let cleared: Vec<String> = clear_all().iter().map(|v| v.to_str().unwrap().to_owned()).collect();
        assert!(cleared[0].starts_with("__Host-fin_access=;") && cleared[0].contains("Path=/;"));
        assert!(cleared[1].contains("Path=/api/auth") && cleared.iter().all(|c| c.contains("Max-Age=0")));
    }
}
