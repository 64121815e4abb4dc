//! The page's side of a session's renewals: refreshing with the device key's proof, and
//! binding a fresh session to that key. The session keeper and the sign-in page's resume
//! both renew through [`refresh`].

use gloo_net::http::{Request, RequestBuilder, Response};
use serde::Deserialize;
use std::time::Duration;
use web_sys::RequestCredentials;

use super::device_key::DeviceKey;
use super::local::{get as read, get_f64, set as write};

/// localStorage: the server's latest `DPoP-Nonce`, shared by the tabs (any is good for a
/// few minutes, on any instance).
const NONCE: &str = "fin.session.dpop_nonce";
/// localStorage: when this page last submitted a sign-in (Unix ms). A static bundle on
/// another origin cannot read the server's binding marker, so it binds after a sign-in it
/// made itself.
const SIGNED_IN_AT: &str = "fin.session.signed_in_at";
/// localStorage: how far the server's clock is ahead of this one (ms), from the `Date` of
/// its answers: a proof's time must be within a minute or two of the server's, and a
/// device's clock can be off by more.
const CLOCK_OFFSET: &str = "fin.session.clock_offset_ms";
/// How long after a sign-in the server lets a session bind (its `REGISTRATION_WINDOW`).
const BIND_WINDOW_MS: f64 = 5.0 * 60_000.0;

/// What became of a refresh.
pub enum Renewal {
    /// Refreshed: the new access token lives `expires_in` seconds.
    Renewed { expires_in: i64 },
    /// Bound to a key this page does not hold (the browser's DBSC key keeps it, or another
    /// browser's): nothing this page can do, and nothing is over.
    KeyElsewhere,
    /// The session is over (signed out, revoked, expired).
    Ended,
    /// Offline, or the server is away: worth another try.
    Unreachable,
}

#[derive(Deserialize)]
struct Refreshed {
    expires_in: i64,
}

#[derive(Deserialize)]
struct Refused {
    error: String,
}

/// Refreshes the session, with a proof from this browser's device key when it holds one
/// (a session never bound ignores it). A stale nonce is answered with a fresh one, and the
/// refresh is signed again once with that.
pub async fn refresh() -> Renewal {
    let key = DeviceKey::held().await;
    let url = absolute(&crate::api::url("/api/auth/refresh"));
    for retry in [false, true] {
        let request = signed(Request::post(&url), key.as_ref(), &url).await;
        let Ok(response) = request.send().await else {
            return Renewal::Unreachable;
        };
        remember_nonce(&response);
        if response.ok() {
            let expires_in = response.json::<Refreshed>().await.map_or(60, |r| r.expires_in);
            return Renewal::Renewed { expires_in };
        }
        match (response.status(), error_code(response).await.as_deref()) {
            (400, Some("use_dpop_nonce")) if key.is_some() && !retry => continue,
            (400 | 401, Some("use_dpop_nonce" | "device_proof_required")) => return Renewal::KeyElsewhere,
            (400 | 401, _) => return Renewal::Ended,
            _ => return Renewal::Unreachable,
        }
    }
    Renewal::Unreachable
}

/// Notes a sign-in this page is submitting, so [`bind_if_offered`] knows to bind after it.
pub fn signing_in() {
    write(SIGNED_IN_AT, &js_sys::Date::now().to_string());
}

/// Binds the session just signed in to this browser's device key (made now if need be),
/// when the server offers it: its readable marker is there, or this page signed in a
/// moment ago. Once per sign-in; whatever the answer, the offer is spent (a DBSC browser
/// that registered first answers `binding_closed`, which is fine).
pub async fn bind_if_offered() {
    let recent = get_f64(SIGNED_IN_AT).is_some_and(|at| js_sys::Date::now() - at < BIND_WINDOW_MS);
    if !(recent || marker_present("fin_bind")) {
        return;
    }
    // A DBSC browser registers its own key (kept by the platform, which is stronger) in
    // the background right after the sign-in's answer: give it the first go.
    pause(Duration::from_millis(3_000)).await;
    if marker_present("fin_dbsc") {
        return;
    }
    write(SIGNED_IN_AT, "0");
    let Ok(key) = DeviceKey::held_or_new().await else {
        // No WebCrypto or IndexedDB (a private window may refuse storage): the session
        // stays a bearer one, as before.
        return;
    };
    let url = absolute(&crate::api::url("/api/auth/device-key"));
    for retry in [false, true] {
        let Ok(response) = signed(Request::post(&url), Some(&key), &url).await.send().await else {
            return;
        };
        remember_nonce(&response);
        // Refused for its time, most likely (this device's clock is off): once more, on
        // the server's clock as that answer told it.
        if response.status() != 400 || retry {
            return;
        }
    }
}

/// Whether the browser itself keeps this session fresh (DBSC): the server sets a readable
/// marker when the browser registers its key.
pub fn browser_keeps_session() -> bool {
    marker_present("fin_dbsc")
}

/// The request with credentials (a static bundle on another origin of the same site
/// sends the cookies too) and, with a key, its proof.
async fn signed(request: RequestBuilder, key: Option<&DeviceKey>, url: &str) -> RequestBuilder {
    let request = request.credentials(RequestCredentials::Include);
    let nonce = read(NONCE);
    let offset = get_f64(CLOCK_OFFSET).unwrap_or(0.0);
    let iat = ((js_sys::Date::now() + offset) / 1000.0) as i64;
    match key {
        Some(key) => match key.proof("POST", url, iat, nonce.as_deref()).await {
            Ok(proof) => request.header("DPoP", &proof),
            Err(_) => request,
        },
        None => request,
    }
}

async fn pause(delay: Duration) {
    let (done, waited) = futures::channel::oneshot::channel();
    leptos::prelude::set_timeout(
        move || {
            let _ = done.send(());
        },
        delay,
    );
    let _ = waited.await;
}

/// Keeps the nonce for the next proof, and the server's clock, from an answer.
fn remember_nonce(response: &Response) {
    let headers = response.headers();
    if let Some(nonce) = headers.get("dpop-nonce") {
        write(NONCE, &nonce);
    }
    // Readable on the page's own origin (another origin would have to expose it).
    if let Some(date) = headers.get("date") {
        let server = js_sys::Date::parse(&date);
        if server.is_finite() {
            write(CLOCK_OFFSET, &(server - js_sys::Date::now()).to_string());
        }
    }
}

async fn error_code(response: Response) -> Option<String> {
    response.json::<Refused>().await.ok().map(|r| r.error)
}

/// The proof names the full URL; `api::url` is a path on the page's own origin.
fn absolute(url: &str) -> String {
    match web_sys::window().and_then(|w| w.location().origin().ok()) {
        Some(origin) if url.starts_with('/') => format!("{origin}{url}"),
        _ => url.to_owned(),
    }
}

/// A readable marker cookie by its bare name (`__Host-` prefixed where cookies are Secure).
fn marker_present(name: &str) -> bool {
    use wasm_bindgen::JsCast as _;
    let secure = format!("__Host-{name}=1");
    let plain = format!("{name}=1");
    web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.dyn_into::<web_sys::HtmlDocument>().ok())
        .and_then(|d| d.cookie().ok())
        .is_some_and(|cookies| cookies.split(';').any(|c| c.trim() == secure || c.trim() == plain))
}
