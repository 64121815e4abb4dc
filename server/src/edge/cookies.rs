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
//! plain HTTP works with the same attributes. Only for plain HTTP on any other host does
//! `FIN_INSECURE_DEV_COOKIES` drop `Secure` (and with it the name prefixes, which browsers
//! would otherwise refuse).

use axum::http::{HeaderMap, HeaderValue, header};
use secrecy::ExposeSecret;

use crate::domain::access::IssuedAccessToken;
use crate::service::{REGISTRATION_WINDOW, SignedIn};

pub const REFRESH_PATH: &str = "/api/auth";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cookies {
    secure: bool,
}

impl Cookies {
    /// The production setting.
    pub const SECURE: Self = Self { secure: true };

    pub fn new(secure: bool) -> Self {
        Self { secure }
    }

    pub fn access_name(self) -> &'static str {
        if self.secure { "__Host-fin_access" } else { "fin_access" }
    }

    pub fn refresh_name(self) -> &'static str {
        if self.secure {
            "__Secure-fin_refresh"
        } else {
            "fin_refresh"
        }
    }

    /// The long-lived device cookie: it names the browser, not a session, so sign-out
    /// leaves it and the risk engine can recognise the browser next time.
    pub fn device_name(self) -> &'static str {
        if self.secure { "__Host-fin_device" } else { "fin_device" }
    }

    /// A well-formed device cookie (43 base64url characters), if the request has one.
    pub fn read_device(self, headers: &HeaderMap) -> Option<&str> {
        read(headers, self.device_name())
            .filter(|v| v.len() == 43 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    }

    fn build(self, name: &str, value: &str, path: &str, max_age: i64) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        let cookie = format!("{name}={value}; Path={path}; Max-Age={max_age}; HttpOnly{secure}; SameSite=Strict");
        // Values are base64url or JWTs (base64url and dots): always valid header bytes.
        HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// Both cookies of a fresh sign-in or refresh.
    pub fn session(self, signed_in: &SignedIn) -> Vec<HeaderValue> {
        let mut cookies = vec![
            self.build(
                self.refresh_name(),
                signed_in.refresh.expose_secret(),
                REFRESH_PATH,
                signed_in.refresh_max_age,
            ),
            self.build(
                self.access_name(),
                signed_in.access.token.expose_secret(),
                "/",
                signed_in.access.expires_in,
            ),
        ];
        if let Some(device) = &signed_in.device_cookie {
            // 400 days: the longest lifetime browsers allow.
            cookies.push(self.build(self.device_name(), device.expose_secret(), "/", 400 * 86_400));
        }
        cookies
    }

    /// The name of the marker a DBSC-bound browser session carries.
    pub fn dbsc_marker_name(self) -> &'static str {
        if self.secure { "__Host-fin_dbsc" } else { "fin_dbsc" }
    }

    /// A cookie the page's script can read (not HttpOnly; it holds no secret) saying the
    /// session is DBSC-bound: the browser then keeps the access cookie fresh itself, and the
    /// page's own keeper, which has no proof to give, must not try.
    pub fn dbsc_marker(self, max_age: i64) -> HeaderValue {
        self.marker(self.dbsc_marker_name(), max_age)
    }

    /// The name of the marker a fresh, unbound browser session carries.
    pub fn bind_marker_name(self) -> &'static str {
        if self.secure { "__Host-fin_bind" } else { "fin_bind" }
    }

    /// A readable marker (no secret) saying this browser's new session is open to binding
    /// for as long as [`REGISTRATION_WINDOW`] lets it: the page then registers its own
    /// WebCrypto key, unless the browser's DBSC registration gets there first.
    pub fn binding_offered(self) -> HeaderValue {
        self.marker(self.bind_marker_name(), REGISTRATION_WINDOW.num_seconds())
    }

    /// Deletes the binding marker: the session is bound, or the page had its one try.
    pub fn binding_withdrawn(self) -> HeaderValue {
        self.marker(self.bind_marker_name(), 0)
    }

    fn marker(self, name: &str, max_age: i64) -> HeaderValue {
        let secure = if self.secure { "; Secure" } else { "" };
        let cookie = format!("{name}=1; Path=/; Max-Age={max_age}{secure}; SameSite=Strict");
        HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// The access cookie's attributes but its lifetime, as a DBSC session's instructions
    /// name the credential it binds (they must match the cookie the browser holds).
    pub fn access_attributes(self) -> String {
        let secure = if self.secure { "; Secure" } else { "" };
        format!("Path=/; HttpOnly{secure}; SameSite=Strict")
    }

    /// The access cookie alone (a DBSC registration renews the bound credential).
    pub fn access(self, access: &IssuedAccessToken) -> HeaderValue {
        self.build(self.access_name(), access.token.expose_secret(), "/", access.expires_in)
    }

    /// Cookies that delete both session cookies.
    pub fn clear_all(self) -> Vec<HeaderValue> {
        vec![
            self.build(self.access_name(), "", "/", 0),
            self.build(self.refresh_name(), "", REFRESH_PATH, 0),
        ]
    }

    pub fn read_access(self, headers: &HeaderMap) -> Option<&str> {
        read(headers, self.access_name())
    }

    pub fn read_refresh(self, headers: &HeaderMap) -> Option<&str> {
        read(headers, self.refresh_name())
    }
}

/// The value of the named cookie in the request, if it is there exactly once.
///
/// A request carrying the name twice is read as carrying none: a sibling subdomain can
/// plant a `Domain=` cookie of the same name (cookie tossing; only the `__Host-` prefix
/// forbids it), and the browser sends both in an order the server cannot trust. Serving
/// the first would let the planted one stand in for the user's own.
fn read<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    let mut found = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .filter(|(key, _)| *key == name)
        .map(|(_, value)| value.trim());
    let value = found.next()?;
    if found.next().is_some() {
        tracing::warn!(cookie = name, "a request carried the cookie twice; neither is used");
        return None;
    }
    Some(value).filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(values: Vec<HeaderValue>) -> Vec<String> {
        values.iter().map(|v| v.to_str().unwrap().to_owned()).collect()
    }

    #[test]
    fn cleared_cookies_keep_every_protection_and_their_paths() {
        let cleared = texts(Cookies::SECURE.clear_all());
        assert!(cleared[0].starts_with("__Host-fin_access=;") && cleared[0].contains("Path=/;"));
        assert!(cleared[1].starts_with("__Secure-fin_refresh=;") && cleared[1].contains("Path=/api/auth"));
        for cookie in &cleared {
            for part in ["Max-Age=0", "HttpOnly", "; Secure", "SameSite=Strict"] {
                assert!(cookie.contains(part), "{cookie} lacks {part}");
            }
        }
    }

    #[test]
    fn the_insecure_development_setting_drops_secure_and_the_prefixes() {
        let cleared = texts(Cookies::new(false).clear_all());
        assert!(cleared[0].starts_with("fin_access=;") && !cleared[0].contains("Secure"));
        assert!(cleared[1].starts_with("fin_refresh=;") && cleared[1].contains("HttpOnly"));
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("a=1; __Secure-fin_refresh=xyz"),
        );
        headers.append(header::COOKIE, HeaderValue::from_static("__Host-fin_access=jwt"));
        assert_eq!(Cookies::SECURE.read_refresh(&headers), Some("xyz"));
        assert_eq!(Cookies::SECURE.read_access(&headers), Some("jwt"));
        assert_eq!(Cookies::new(false).read_access(&headers), None);
    }

    #[test]
    fn a_cookie_sent_twice_is_not_read_at_all() {
        let mut headers = HeaderMap::new();
        headers.append(
            header::COOKIE,
            HeaderValue::from_static("__Secure-fin_refresh=planted; a=1; __Secure-fin_refresh=own"),
        );
        assert_eq!(Cookies::SECURE.read_refresh(&headers), None);
        let mut split = HeaderMap::new();
        split.append(header::COOKIE, HeaderValue::from_static("__Secure-fin_refresh=own"));
        split.append(header::COOKIE, HeaderValue::from_static("__Secure-fin_refresh=planted"));
        assert_eq!(Cookies::SECURE.read_refresh(&split), None);
    }
}
