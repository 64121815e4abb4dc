//! Sign-in, refresh and sign-out: `POST /api/auth/{login,refresh,logout,logout-all}`.

use std::fmt;

use app::wire::is_local_path;
use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::cors::AllowedOrigins;
use super::extract::malformed;
use super::{ApiError, AppState, Authenticated};
use crate::domain::client::ClientInfo;
use crate::edge::cookies::Cookies;
use crate::service::{SessionError, SignedIn, StepUpAnswer};

/// The sign-in body: an OAuth2 password form or the same fields as JSON.
#[derive(Deserialize)]
pub(super) struct LoginRequest {
    pub(super) username: String,
    pub(super) password: String,
    grant_type: Option<String>,
    refresh_delivery: Option<String>,
}

impl fmt::Debug for LoginRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginRequest")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Delivery {
    Cookie,
    Body,
}

#[derive(Serialize)]
struct TokenResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: i64,
    role: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    refresh_token: Option<String>,
}

impl Delivery {
    /// The optional `refresh_delivery` field of a sign-in or step-up.
    pub(super) fn parse(raw: Option<&str>) -> Result<Self, ApiError> {
        match raw {
            None | Some("cookie") => Ok(Delivery::Cookie),
            Some("body") => Ok(Delivery::Body),
            Some(_) => Err(ApiError::bad_request("refresh_delivery must be \"cookie\" or \"body\"")),
        }
    }
}

pub async fn login(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let answer = sign_in(&state, client, &headers, body).await;
    with_nonce(&state, answer)
}

/// The DBSC challenge a sign-in's answer offers: to browsers (cookie delivery) whose new
/// session is not bound already.
pub(super) fn registration_offer(state: &AppState, signed_in: &SignedIn, delivery: Delivery) -> Option<String> {
    (delivery == Delivery::Cookie && !signed_in.session_bound).then(|| state.services.proofs.nonce())
}

/// Every answer of the token endpoints carries a fresh nonce for the client's next device
/// proof (RFC 9449 section 8), so a bound session's refresh needs no extra round trip.
pub(super) fn with_nonce(state: &AppState, answer: Result<Response, ApiError>) -> Response {
    let mut response = answer.unwrap_or_else(IntoResponse::into_response);
    if let Ok(nonce) = HeaderValue::from_str(&state.services.proofs.nonce()) {
        response.headers_mut().insert("dpop-nonce", nonce);
    }
    response
}

async fn sign_in(
    state: &AppState,
    client: ClientInfo,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: LoginRequest = parse_body(headers, body)?;
    if request.grant_type.as_deref().is_some_and(|g| g != "password") {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "grant_type must be \"password\"",
        ));
    }
    let delivery = Delivery::parse(request.refresh_delivery.as_deref())?;

    let client = client.taking_cookies(delivery == Delivery::Cookie);
    let signed_in = state
        .services
        .sign_in
        .sign_in(&request.username, SecretString::from(request.password), &client)
        .await?;
    let offer = registration_offer(state, &signed_in, delivery);
    Ok(token_response(&signed_in, delivery, state.cookies, offer.as_deref()))
}

/// The sign-in and refresh response: tokens in the body, the refresh token in a cookie
/// unless the client asked for it in the body.
///
/// A browser's fresh, unbound session is offered DBSC registration (`registration`: the
/// challenge to sign).
pub(super) fn token_response(
    signed_in: &SignedIn,
    delivery: Delivery,
    cookies: Cookies,
    registration: Option<&str>,
) -> Response {
    let access_token = signed_in.access.token.expose_secret();
    let refresh_token = signed_in.refresh.expose_secret();
    let body = TokenResponse {
        access_token: access_token.to_owned(),
        // RFC 9449 section 5: a bound access token says so.
        token_type: if signed_in.dpop_bound { "DPoP" } else { "bearer" },
        expires_in: signed_in.access.expires_in,
        role: signed_in.user.role(),
        refresh_token: (delivery == Delivery::Body).then(|| refresh_token.to_owned()),
    };
    let mut response = Json(body).into_response();
    let headers = response.headers_mut();
    if delivery == Delivery::Cookie {
        for cookie in cookies.session(signed_in) {
            headers.append(header::SET_COOKIE, cookie);
        }
    }
    if let Some(challenge) = registration {
        let (name, offer) = super::dbsc::registration_offer(challenge);
        headers.insert(name, offer);
        headers.append(header::SET_COOKIE, cookies.binding_offered());
    }
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}

/// The body of refresh and logout: the refresh token, for clients that keep it themselves
/// (body delivery); browsers send the cookie and an empty body.
#[derive(Deserialize, Default)]
pub(super) struct TokenBody {
    refresh_token: Option<String>,
}

/// `POST /api/auth/refresh`: the token from a JSON body (answered in the body) or from the
/// cookie (answered with a new cookie).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepUpRequest {
    challenge_id: String,
    /// An authenticator-app or recovery code…
    code: Option<String>,
    /// …or a passkey's `AuthenticationResponseJSON`: exactly one of the two.
    credential: Option<serde_json::Value>,
    refresh_delivery: Option<String>,
}

/// `POST /api/auth/step-up` `{"challenge_id", "code" | "credential"}`: the second half of a
/// risky sign-in.
pub async fn step_up(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let answer = answer_step_up(&state, client, &headers, body).await;
    with_nonce(&state, answer)
}

async fn answer_step_up(
    state: &AppState,
    client: ClientInfo,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: StepUpRequest = parse_body(headers, body)?;
    let delivery = Delivery::parse(request.refresh_delivery.as_deref())?;
    let answer = match (&request.code, &request.credential) {
        (Some(code), None) => StepUpAnswer::Code(code),
        (None, Some(credential)) => StepUpAnswer::Passkey(credential),
        _ => {
            return Err(ApiError::bad_request(
                "Answer with either a \"code\" or a passkey \"credential\"",
            ));
        }
    };
    let client = client.taking_cookies(delivery == Delivery::Cookie);
    let signed_in = state
        .services
        .sign_in
        .step_up(&request.challenge_id, answer, &client)
        .await?;
    let offer = registration_offer(state, &signed_in, delivery);
    Ok(token_response(&signed_in, delivery, state.cookies, offer.as_deref()))
}

pub async fn refresh(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let answer = answer_refresh(&state, client, &headers, body).await;
    with_nonce(&state, answer)
}

async fn answer_refresh(
    state: &AppState,
    client: ClientInfo,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: TokenBody = optional_body(headers, body)?;
    let (token, delivery) = match request.refresh_token {
        Some(token) => (Some(token), Delivery::Body),
        None => (state.cookies.read_refresh(headers).map(str::to_owned), Delivery::Cookie),
    };
    let client = client.taking_cookies(delivery == Delivery::Cookie);
    match state.services.sessions.refresh(token.as_deref(), &client).await {
        Ok(refreshed) => Ok(token_response(&refreshed, delivery, state.cookies, None)),
        // A bound session lives on: the device holding its key proves it next time.
        Err(error @ SessionError::DeviceProof(_)) => Err(error.into()),
        Err(error) if delivery == Delivery::Cookie => {
            // The cookie holds a dead token: drop it so the browser stops sending it.
            let mut response = ApiError::from(error).into_response();
            for cookie in state.cookies.clear_all() {
                response.headers_mut().append(header::SET_COOKIE, cookie);
            }
            Ok(response)
        }
        Err(error) => Err(error.into()),
    }
}

/// `POST /api/auth/device-key` with a `DPoP` proof: binds the session of the refresh cookie
/// (signed in within five minutes, not bound yet) to the proof's key, the way a page's own
/// WebCrypto key registers where the browser has no DBSC. From then on the session renews
/// only with proofs from that key.
pub async fn bind_device_key(State(state): State<AppState>, client: ClientInfo, headers: HeaderMap) -> Response {
    let answer = async {
        if client.device_proof.is_none() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_dpop_proof",
                "Send a DPoP proof from the key to bind in the DPoP header",
            ));
        }
        let client = client.with_session_response(None);
        let token = state.cookies.read_refresh(&headers);
        match state.services.sessions.register_device(token, &client).await {
            Ok(_) => Ok(StatusCode::NO_CONTENT.into_response()),
            Err(SessionError::DeviceProof(refused)) => Err(ApiError::invalid_device_proof(refused)),
            Err(error) => Err(error.into()),
        }
    }
    .await;
    // Bound or not, the page has had its one try: the marker goes, so it cannot loop.
    let mut response = with_nonce(&state, answer);
    response
        .headers_mut()
        .append(header::SET_COOKIE, state.cookies.binding_withdrawn());
    response
}

#[derive(Deserialize)]
pub struct ResumeQuery {
    next: Option<String>,
}

/// `GET /api/auth/resume?next=/page`: a page request whose access cookie has expired comes
/// here (the refresh cookie's path), is refreshed, and goes back to `next` signed in; with
/// no usable refresh token it goes to the sign-in page. A GET that rotates is safe here:
/// SameSite=Strict keeps the refresh cookie off every cross-site navigation. The static
/// bundle on another origin (`FIN_CORS_ORIGINS`) passes its full address as `next` and is
/// sent back there, to `next` or to its own sign-in page.
pub async fn resume(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    // Parsed here: axum's `Query` rejection (`next` given twice) is plain text.
    let query: ResumeQuery = serde_urlencoded::from_str(raw.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("The query string is not valid: {e}")))?;
    let (site, next) = return_address(query.next.as_deref(), &state.allowed_origins);
    let token = state.cookies.read_refresh(&headers);
    let (location, set_cookies) = match state.services.sessions.resume(token, &client).await {
        Ok(refreshed) => (format!("{site}{next}"), state.cookies.session(&refreshed)),
        // The server's own failure is a 5xx, not a reason to sign the visitor out.
        Err(SessionError::Fault(fault)) => return Err(fault.into()),
        // A device-bound session: the sign-in page's script renews it with the key it
        // holds and goes on to `next`, so its cookies stay.
        Err(SessionError::DeviceProof(_)) => {
            let query = serde_urlencoded::to_string([("renew", "1"), ("next", next)]).unwrap_or_default();
            (format!("{site}/login?{query}"), Vec::new())
        }
        Err(_) => (format!("{site}/login"), state.cookies.clear_all()),
    };
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, location)]).into_response();
    for cookie in set_cookies {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    Ok(response)
}

/// Splits `next` into the site to go back to ("" for this one) and a path there: a local
/// path, or the full address of a page on a listed origin; anything else is "/" here.
fn return_address<'a>(next: Option<&'a str>, allowed: &AllowedOrigins) -> (&'a str, &'a str) {
    let Some(next) = next else { return ("", "/") };
    if is_local_path(next) {
        return ("", next);
    }
    let listed = next
        .find("://")
        .and_then(|scheme| {
            next[scheme + 3..]
                .find('/')
                .map(|path| next.split_at(scheme + 3 + path))
        })
        .filter(|(origin, path)| allowed.allows_str(origin) && is_local_path(path));
    listed.unwrap_or(("", "/"))
}

/// `POST /api/auth/logout-all`: ends every session of the caller.
pub async fn logout_all(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    client: ClientInfo,
) -> Result<Response, ApiError> {
    state.services.sessions.sign_out_everywhere(&caller, &client).await?;
    Ok(cleared(StatusCode::NO_CONTENT, state.cookies))
}

pub(super) fn cleared(status: StatusCode, cookies: Cookies) -> Response {
    let mut response = status.into_response();
    for cookie in cookies.clear_all() {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

pub async fn logout(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let request: TokenBody = optional_body(&headers, body)?;
    let token = request
        .refresh_token
        .as_deref()
        .or_else(|| state.cookies.read_refresh(&headers));
    state.services.sessions.sign_out(token, &client).await?;
    Ok(cleared(StatusCode::NO_CONTENT, state.cookies))
}

/// Like [`parse_body`], but an empty body is the default value (a cookie carries the token).
pub(super) fn optional_body<T: DeserializeOwned + Default>(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    match &body {
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Ok(T::default()),
        _ => parse_body(headers, body),
    }
}

/// Decodes a JSON or urlencoded-form body into `T`, with errors that explain the problem
/// without echoing what was sent (it may hold a password).
pub(super) fn parse_body<T: DeserializeOwned>(
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<T, ApiError> {
    let body = body.map_err(|rejection| super::extract::unreadable(rejection.status()))?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|v| v.trim().to_ascii_lowercase())
        .unwrap_or_default();
    match content_type.as_str() {
        "application/json" => serde_json::from_slice(&body).map_err(|e| match e.classify() {
            serde_json::error::Category::Data => malformed(&e.to_string()),
            _ => ApiError::bad_request("Malformed body: not valid JSON"),
        }),
        "application/x-www-form-urlencoded" => {
            serde_urlencoded::from_bytes(&body).map_err(|e| malformed(&e.to_string()))
        }
        _ => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send application/json or application/x-www-form-urlencoded",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(content_type: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_str(content_type).unwrap());
        h
    }

    #[test]
    fn both_body_shapes_parse() {
        let form: LoginRequest = parse_body(
            &headers("application/x-www-form-urlencoded"),
            Ok(Bytes::from_static(b"username=a&password=p%26q&grant_type=password")),
        )
        .unwrap();
        assert_eq!((form.username.as_str(), form.password.as_str()), ("a", "p&q"));
        let json: LoginRequest = parse_body(
            &headers("application/json; charset=utf-8"),
            Ok(Bytes::from_static(br#"{"username":"a","password":"p"}"#)),
        )
        .unwrap();
        assert_eq!(json.password, "p");
    }

    #[test]
    fn errors_never_echo_the_input() {
        let err = parse_body::<LoginRequest>(
            &headers("application/json"),
            Ok(Bytes::from_static(br#"{"username":"a","password":12345678}"#)),
        )
        .unwrap_err();
        assert!(!err.message.contains("12345678"), "{err:?}");
        let err = parse_body::<LoginRequest>(
            &headers("application/json"),
            Ok(Bytes::from_static(br#"{"username":"a"}"#)),
        )
        .unwrap_err();
        assert_eq!(err.message, "Malformed body: missing field `password`");
        let err = parse_body::<LoginRequest>(&headers("text/plain"), Ok(Bytes::new())).unwrap_err();
        assert_eq!(err.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }

    #[test]
    fn only_local_paths_are_redirect_targets() {
        for ok in ["/", "/devices", "/a?b=c"] {
            assert!(is_local_path(ok), "{ok}");
        }
        for bad in ["", "//evil.example", "/\\evil.example", "https://evil.example", "/a\nb"] {
            assert!(!is_local_path(bad), "{bad:?}");
        }
    }

    #[test]
    fn listed_origins_are_redirect_targets_too() {
        let allowed = AllowedOrigins::new(&["https://app.example.com".to_owned()]);
        assert_eq!(return_address(Some("/devices"), &allowed), ("", "/devices"));
        assert_eq!(
            return_address(Some("https://app.example.com/devices?x=1"), &allowed),
            ("https://app.example.com", "/devices?x=1")
        );
        for other in [
            "https://app.example.com",
            "https://app.example.com//evil.example",
            "https://app.example.com.evil.example/devices",
            "https://evil.example/devices",
            "http://app.example.com/devices",
            "https://app.example.com@evil.example/",
        ] {
            assert_eq!(return_address(Some(other), &allowed), ("", "/"), "{other}");
        }
        assert_eq!(
            return_address(Some("https://app.example.com/devices"), &AllowedOrigins::default()),
            ("", "/")
        );
        assert_eq!(return_address(None, &allowed), ("", "/"));
    }

    #[test]
    fn debug_hides_the_password() {
        let request = LoginRequest {
            username: "a".into(),
            password: "hunter2".into(),
            grant_type: None,
            refresh_delivery: None,
        };
        assert!(!format!("{request:?}").contains("hunter2"));
    }
}
