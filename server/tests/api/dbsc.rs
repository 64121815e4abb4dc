//! DBSC (W3C Device Bound Session Credentials draft): a test browser that implements the
//! draft with a real ES256 key registers its session, renews the bound cookie through
//! challenge and proof, and a copy of its cookie jar renews nothing.

use chrono::Duration;
use reqwest::header::HeaderMap;
use server::domain::proof::SoftwareKey;

use crate::helpers::{PASSWORD, TestApp, error_code, set_cookies};

/// A browser with a DBSC session key and its cookie jar.
struct Browser {
    key: SoftwareKey,
    jar: Vec<(String, String)>,
}

/// The quoted parameter `name` of a structured header (`challenge="…"`, `id="…"`).
fn parameter(header: &str, name: &str) -> Option<String> {
    let start = header.find(&format!("{name}=\""))? + name.len() + 2;
    let end = header[start..].find('"')? + start;
    Some(header[start..end].to_owned())
}

/// The challenge of `Secure-Session-Challenge: "<challenge>";id="<session>"`.
fn challenge_of(headers: &HeaderMap) -> String {
    let value = headers["secure-session-challenge"].to_str().unwrap();
    value.split(';').next().unwrap().trim_matches('"').to_owned()
}

impl Browser {
    fn new() -> Self {
        Self {
            key: SoftwareKey::generate(),
            jar: Vec::new(),
        }
    }

    fn keep_cookies(&mut self, headers: &HeaderMap) {
        for (name, line) in set_cookies(headers) {
            let value = line[name.len() + 1..].split(';').next().unwrap_or_default().to_owned();
            self.jar.retain(|(n, _)| *n != name);
            if !value.is_empty() {
                self.jar.push((name, value));
            }
        }
    }

    fn cookie_header(&self) -> String {
        self.jar
            .iter()
            .map(|(n, v)| format!("{n}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn registration(&self, challenge: &str) -> String {
        self.key.sign(
            &serde_json::json!({"typ": "dbsc+jwt", "alg": "ES256", "jwk": self.key.jwk()}),
            &serde_json::json!({"jti": challenge}),
        )
    }

    fn refresh_proof(&self, challenge: &str) -> String {
        self.key.sign(
            &serde_json::json!({"typ": "dbsc+jwt", "alg": "ES256"}),
            &serde_json::json!({"jti": challenge}),
        )
    }

    /// Signs in with cookies; the registration offer's challenge.
    async fn sign_in(&mut self, app: &TestApp) -> String {
        let response = app
            .client
            .post(app.url("/api/auth/login"))
            .json(&serde_json::json!({"username": "alice", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        self.keep_cookies(response.headers());
        let offer = response.headers()["secure-session-registration"]
            .to_str()
            .unwrap()
            .to_owned();
        assert!(offer.starts_with("(ES256 RS256);"), "{offer}");
        assert_eq!(parameter(&offer, "path").as_deref(), Some("/api/auth/dbsc/register"));
        parameter(&offer, "challenge").unwrap()
    }

    async fn register(&mut self, app: &TestApp, proof: String) -> reqwest::Response {
        let response = app
            .client
            .post(app.url("/api/auth/dbsc/register"))
            .header("cookie", self.cookie_header())
            .header("secure-session-response", proof)
            .send()
            .await
            .unwrap();
        self.keep_cookies(response.headers());
        response
    }

    /// Signs in and registers; the DBSC session's id.
    async fn registered(&mut self, app: &TestApp) -> String {
        let challenge = self.sign_in(app).await;
        let registered = self.register(app, self.registration(&challenge)).await;
        assert_eq!(registered.status(), 200);
        let config: serde_json::Value = registered.json().await.unwrap();
        config["session_identifier"].as_str().unwrap().to_owned()
    }

    /// The draft's refresh in full: ask, get a challenge, answer it with this browser's key.
    async fn renew(&mut self, app: &TestApp, session: &str) -> reqwest::Response {
        let asked = self.refresh(app, session, None).await;
        let challenge = challenge_of(asked.headers());
        let proof = self.refresh_proof(&challenge);
        self.refresh(app, session, Some(proof)).await
    }

    async fn refresh(&mut self, app: &TestApp, session: &str, proof: Option<String>) -> reqwest::Response {
        let mut request = app
            .client
            .post(app.url("/api/auth/dbsc/refresh"))
            .header("cookie", self.cookie_header())
            .header("sec-secure-session-id", session);
        if let Some(proof) = proof {
            request = request.header("secure-session-response", proof);
        }
        let response = request.send().await.unwrap();
        self.keep_cookies(response.headers());
        response
    }
}

#[tokio::test]
async fn a_browser_registers_renews_through_challenges_and_its_copied_jar_is_refused() {
    let app = TestApp::spawn().await;
    app.create_user("alice", false).await;
    let mut owner = Browser::new();
    let challenge = owner.sign_in(&app).await;

    let registered = owner.register(&app, owner.registration(&challenge)).await;
    assert_eq!(registered.status(), 200);
    let renewed = set_cookies(registered.headers());
    let names: Vec<&str> = renewed.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        ["__Host-fin_access", "__Host-fin_dbsc", "__Host-fin_bind"],
        "the bound cookie, the page's marker, and the binding offer withdrawn"
    );
    assert!(renewed[2].1.contains("Max-Age=0"), "{}", renewed[2].1);
    assert!(!renewed[1].1.contains("HttpOnly"), "the page reads the marker");
    let config: serde_json::Value = registered.json().await.unwrap();
    let session = config["session_identifier"].as_str().unwrap().to_owned();
    assert_eq!(config["refresh_url"], "/api/auth/dbsc/refresh");
    assert_eq!(config["scope"]["include_site"], false);
    assert_eq!(config["credentials"][0]["type"], "cookie");
    assert_eq!(config["credentials"][0]["name"], "__Host-fin_access");

    // The draft's refresh: no proof, a 403 and a challenge; the signed challenge, new cookies
    // and the next challenge ahead, so the next refresh is one round trip.
    let asked = owner.refresh(&app, &session, None).await;
    assert_eq!(asked.status(), 403);
    let id = parameter(asked.headers()["secure-session-challenge"].to_str().unwrap(), "id");
    assert_eq!(id.as_deref(), Some(session.as_str()));
    let challenge = challenge_of(asked.headers());
    let refreshed = owner
        .refresh(&app, &session, Some(owner.refresh_proof(&challenge)))
        .await;
    assert_eq!(refreshed.status(), 200);
    assert_eq!(
        set_cookies(refreshed.headers()).len(),
        2,
        "new access and refresh cookies"
    );
    let mut ahead = challenge_of(refreshed.headers());
    for _ in 0..3 {
        let refreshed = owner.refresh(&app, &session, Some(owner.refresh_proof(&ahead))).await;
        assert_eq!(refreshed.status(), 200);
        ahead = challenge_of(refreshed.headers());
    }

    // The bound session on the Devices list.
    let access = owner
        .jar
        .iter()
        .find(|(n, _)| n == "__Host-fin_access")
        .unwrap()
        .1
        .clone();
    let sessions: serde_json::Value = app
        .client
        .get(app.url("/api/sessions"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sessions[0]["device_bound"], true, "{sessions}");

    // The thief's copy of the jar: refused on /api/auth/refresh, and with a key of the
    // thief's own on the DBSC refresh; both raise the alarm.
    let mut thief = Browser::new();
    thief.jar = owner.jar.clone();
    let copied = app
        .client
        .post(app.url("/api/auth/refresh"))
        .header("cookie", thief.cookie_header())
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(copied, 401).await, "device_proof_required");
    let forged = thief.renew(&app, &session).await;
    assert_eq!(error_code(forged, 401).await, "device_proof_required");
    assert_eq!(
        app.count_events("refresh_unbound").await,
        1,
        "once a minute per session"
    );

    // A proof answers its challenge once; sent again (a browser retrying, or a recording),
    // it renews nothing and gets a new challenge, without an alarm.
    let proof = owner.refresh_proof(&ahead);
    assert_eq!(owner.refresh(&app, &session, Some(proof.clone())).await.status(), 200);
    let replayed = owner.refresh(&app, &session, Some(proof)).await;
    assert_eq!(replayed.status(), 403);
    assert!(set_cookies(replayed.headers()).is_empty());
    assert_eq!(app.count_events("refresh_unbound").await, 1);

    // The owner keeps going; after signing out, the refresh is refused (a 4xx ends the
    // browser's DBSC session) and the cookies cleared.
    assert_eq!(owner.renew(&app, &session).await.status(), 200);
    let signed_out = app
        .client
        .post(app.url("/api/auth/logout"))
        .header("cookie", owner.cookie_header())
        .send()
        .await
        .unwrap();
    assert_eq!(signed_out.status(), 204);
    let ended = owner.renew(&app, &session).await;
    assert!(
        set_cookies(ended.headers())
            .iter()
            .all(|(_, c)| c.contains("Max-Age=0")),
        "cleared"
    );
    assert_eq!(error_code(ended, 401).await, "invalid_refresh_token");
    app.stop().await;
}

#[tokio::test]
async fn registration_takes_a_fresh_challenge_a_valid_proof_and_a_new_unbound_session() {
    let app = TestApp::spawn().await;
    app.create_user("alice", false).await;
    let mut browser = Browser::new();
    let challenge = browser.sign_in(&app).await;

    let alg_none = format!(
        "{}.{}.",
        base64_json(&serde_json::json!({"typ": "dbsc+jwt", "alg": "none", "jwk": browser.key.jwk()})),
        base64_json(&serde_json::json!({"jti": challenge}))
    );
    let refusals = [
        ("alg none", alg_none),
        ("no key", browser.refresh_proof(&challenge)),
        ("a challenge not ours", browser.registration("made-up")),
        ("oversized", "a".repeat(9 * 1024)),
    ];
    for (what, proof) in refusals {
        let refused = browser.register(&app, proof).await;
        assert_eq!(error_code(refused, 400).await, "invalid_dbsc_proof", "{what}");
    }
    let missing = app
        .client
        .post(app.url("/api/auth/dbsc/register"))
        .header("cookie", browser.cookie_header())
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(missing, 400).await, "invalid_request");

    assert_eq!(
        browser.register(&app, browser.registration(&challenge)).await.status(),
        200
    );
    let again = browser
        .register(&app, browser.registration(&browser_challenge(&app)))
        .await;
    assert_eq!(error_code(again, 409).await, "binding_closed");

    // A jar copied later cannot bind the thief's key: registration closes minutes after
    // sign-in.
    let mut late = Browser::new();
    let challenge = late.sign_in(&app).await;
    app.clock.advance(Duration::minutes(6));
    let refused = late.register(&app, late.registration(&challenge)).await;
    assert_eq!(error_code(refused, 409).await, "binding_closed");
    app.stop().await;
}

/// A fresh challenge, as the refresh endpoint hands them out.
fn browser_challenge(app: &TestApp) -> String {
    app.state.services.proofs.nonce()
}

fn base64_json(value: &serde_json::Value) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

#[tokio::test]
async fn a_refresh_that_ends_the_session_tells_the_browser_to_stop() {
    let app = TestApp::spawn().await;
    app.create_user("alice", false).await;
    let mut owner = Browser::new();
    let session = owner.registered(&app).await;
    let spent_jar = owner.jar.clone();
    assert_eq!(owner.renew(&app, &session).await.status(), 200);

    // The spent refresh cookie comes back after the grace window, even with the key: a
    // replay, so the session ends, and the browser is told to end its DBSC session.
    app.clock.advance(Duration::minutes(1));
    owner.jar = spent_jar;
    let ended = owner.renew(&app, &session).await;
    assert_eq!(ended.status(), 200);
    assert!(
        set_cookies(ended.headers())
            .iter()
            .all(|(_, c)| c.contains("Max-Age=0")),
        "cleared"
    );
    let ended: serde_json::Value = ended.json().await.unwrap();
    assert_eq!(
        ended,
        serde_json::json!({"session_identifier": session, "continue": false})
    );
    assert_eq!(app.count_events("refresh_reused").await, 1);
    app.stop().await;
}
