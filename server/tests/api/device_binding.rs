//! Device-bound sessions (RFC 9449 DPoP proofs, which the browser's WebCrypto key sends
//! too): a session signed in with a proof renews only with proofs from the same key, so a
//! copied refresh token or cookie jar is refused on its first renewal while the owner's
//! device keeps going. Real ES256 keys throughout ([`SoftwareKey`]).

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Duration;
use server::clock::Clock as _;
use server::domain::proof::SoftwareKey;

use crate::helpers::{PASSWORD, TestApp, cookie_value, error_code};

const REFRESH: &str = "/api/auth/refresh";

/// A client holding a device key, and the last nonce the server gave it.
struct Device {
    key: SoftwareKey,
    nonce: Option<String>,
}

impl Device {
    fn new() -> Self {
        Self {
            key: SoftwareKey::generate(),
            nonce: None,
        }
    }

    /// A fresh proof for `POST path`, made now on the app's clock, with the last nonce.
    fn proof(&self, app: &TestApp, path: &str) -> String {
        self.key
            .proof("POST", &app.url(path), app.clock.now(), self.nonce.as_deref(), None)
    }

    /// Keeps the nonce a response carried for the next proof.
    fn remember_nonce(&mut self, response: &reqwest::Response) {
        let nonce = response
            .headers()
            .get("dpop-nonce")
            .map(|v| v.to_str().unwrap().to_owned());
        assert!(nonce.is_some(), "the token endpoints always send a nonce");
        self.nonce = nonce;
    }

    /// Signs in with body delivery, binding the session to this key; the refresh token.
    async fn sign_in(&mut self, app: &TestApp, username: &str) -> String {
        let response = app
            .client
            .post(app.url("/api/auth/login"))
            .header("dpop", self.proof(app, "/api/auth/login"))
            .json(&serde_json::json!({"username": username, "password": PASSWORD, "refresh_delivery": "body"}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        self.remember_nonce(&response);
        let body: serde_json::Value = response.json().await.unwrap();
        body["refresh_token"].as_str().unwrap().to_owned()
    }

    /// Refreshes with a proof from this key; the response.
    async fn refresh(&mut self, app: &TestApp, token: &str) -> reqwest::Response {
        let response = refresh_with(app, token, Some(self.proof(app, REFRESH))).await;
        self.remember_nonce(&response);
        response
    }
}

async fn refresh_with(app: &TestApp, token: &str, proof: Option<String>) -> reqwest::Response {
    let mut request = app
        .client
        .post(app.url(REFRESH))
        .json(&serde_json::json!({"refresh_token": token}));
    if let Some(proof) = proof {
        request = request.header("dpop", proof);
    }
    request.send().await.unwrap()
}

async fn next_token(response: reqwest::Response) -> String {
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    body["refresh_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_copied_refresh_token_is_refused_while_the_owners_device_keeps_refreshing() {
    let app = TestApp::spawn().await;
    app.create_user("alice", false).await;
    let mut owner = Device::new();
    let mut token = owner.sign_in(&app, "alice").await;
    for _ in 0..3 {
        token = next_token(owner.refresh(&app, &token).await).await;
    }

    // The thief copied the current token: without the key it is refused, and so is a proof
    // from a key of the thief's own, even with a nonce the server handed out.
    let stolen = token.clone();
    let refused = refresh_with(&app, &stolen, None).await;
    assert_eq!(error_code(refused, 401).await, "device_proof_required");
    let mut thief = Device::new();
    thief.nonce = owner.nonce.clone();
    let refused = refresh_with(&app, &stolen, Some(thief.proof(&app, REFRESH))).await;
    assert_eq!(error_code(refused, 401).await, "device_proof_required");
    // Refused every time, logged once a minute per session: a loop cannot flood the log.
    for _ in 0..10 {
        let refused = refresh_with(&app, &stolen, None).await;
        assert_eq!(error_code(refused, 401).await, "device_proof_required");
    }
    assert_eq!(app.count_events("refresh_unbound").await, 1);
    app.clock.advance(Duration::seconds(61));
    let refused = refresh_with(&app, &stolen, None).await;
    assert_eq!(error_code(refused, 401).await, "device_proof_required");
    assert_eq!(app.count_events("refresh_unbound").await, 2);
    let alarms = app.store().activity_page(None, None, 50).await.unwrap();
    let alarm = alarms.iter().find(|e| e.event_type == "refresh_unbound").unwrap();
    assert_eq!((alarm.risk_score, alarm.decision.as_str()), (1.0, "block"));
    assert!(alarm.user_id.is_some(), "the alarm names the account");
    assert!(!alarm.device_proven);
    // The log says which events proved the key: the owner's sign-in and refreshes did.
    let owners: Vec<_> = alarms
        .iter()
        .filter(|e| e.event_type == "refresh" || e.event_type == "login_succeeded")
        .collect();
    assert_eq!(owners.len(), 4);
    assert!(owners.iter().all(|e| e.device_proven));

    // The owner's session lives on.
    let token = next_token(owner.refresh(&app, &token).await).await;
    assert_eq!(owner.refresh(&app, &token).await.status(), 200);
    assert_eq!(app.count_events("refresh_reused").await, 0);
    app.stop().await;
}

#[tokio::test]
async fn a_copied_cookie_jar_cannot_renew_a_bound_browser_session() {
    let app = TestApp::spawn().await;
    app.create_user("alice", false).await;
    let mut owner = Device::new();
    let response = app
        .client
        .post(app.url("/api/auth/login"))
        .header("dpop", owner.proof(&app, "/api/auth/login"))
        .json(&serde_json::json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    owner.remember_nonce(&response);
    let refresh_cookie = cookie_value(response.headers(), "__Secure-fin_refresh").expect("refresh cookie");
    let jar = format!("__Secure-fin_refresh={refresh_cookie}");

    // The jar alone: refused, and its cookies are left as they were (the session lives).
    let copied = app
        .client
        .post(app.url(REFRESH))
        .header("cookie", &jar)
        .send()
        .await
        .unwrap();
    assert!(copied.headers().get("set-cookie").is_none(), "nothing cleared");
    assert_eq!(error_code(copied, 401).await, "device_proof_required");
    // A page load cannot carry a proof: it goes to the sign-in page (whose script renews
    // the session with its key), keeping the cookies and raising no alarm.
    let resumed = app
        .client
        .get(app.url("/api/auth/resume?next=/devices"))
        .header("cookie", &jar)
        .send()
        .await
        .unwrap();
    assert_eq!(resumed.status(), 303);
    assert_eq!(resumed.headers()["location"], "/login?renew=1&next=%2Fdevices");
    assert!(resumed.headers().get("set-cookie").is_none());
    assert_eq!(app.count_events("refresh_unbound").await, 1);

    let renewed = app
        .client
        .post(app.url(REFRESH))
        .header("cookie", &jar)
        .header("dpop", owner.proof(&app, REFRESH))
        .send()
        .await
        .unwrap();
    assert_eq!(renewed.status(), 200);
    assert!(
        cookie_value(renewed.headers(), "__Secure-fin_refresh").is_some(),
        "rotated"
    );
    app.stop().await;
}

#[tokio::test]
async fn broken_replayed_and_misdirected_proofs_are_refused_with_json_errors() {
    let app = TestApp::spawn().await;
    app.create_user("alice", false).await;
    let mut owner = Device::new();
    let token = owner.sign_in(&app, "alice").await;
    let now = app.clock.now();
    let nonce = owner.nonce.clone();
    let url = app.url(REFRESH);
    let jwk = owner.key.jwk();
    let claims = |iat: i64| serde_json::json!({"jti": uuid::Uuid::new_v4().to_string(), "htm": "POST", "htu": url, "iat": iat, "nonce": nonce});
    let unsigned_none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(serde_json::json!({"typ": "dpop+jwt", "alg": "none", "jwk": jwk}).to_string()),
        URL_SAFE_NO_PAD.encode(claims(now.timestamp()).to_string())
    );
    let hs256 = owner.key.sign(
        &serde_json::json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": jwk}),
        &claims(now.timestamp()),
    );
    let proof_at = |when: chrono::DateTime<chrono::Utc>, target: &str| {
        owner.key.proof("POST", target, when, nonce.as_deref(), None)
    };
    let cases = [
        ("alg none", unsigned_none),
        ("a symmetric alg", hs256),
        ("stale", proof_at(now - Duration::minutes(10), &url)),
        ("from the future", proof_at(now + Duration::minutes(10), &url)),
        ("for another address", proof_at(now, &app.url("/api/auth/login"))),
        (
            "for another method",
            owner.key.proof("GET", &url, now, nonce.as_deref(), None),
        ),
        ("oversized", "a".repeat(9 * 1024)),
        ("garbage", "not-a-proof".to_owned()),
    ];
    for (what, proof) in cases {
        let refused = refresh_with(&app, &token, Some(proof)).await;
        assert_eq!(error_code(refused, 401).await, "device_proof_required", "{what}");
    }

    // One proof, one request: the second use is refused.
    let proof = owner.proof(&app, REFRESH);
    let token = next_token(refresh_with(&app, &token, Some(proof.clone())).await).await;
    let replayed = refresh_with(&app, &token, Some(proof)).await;
    assert_eq!(error_code(replayed, 401).await, "device_proof_required");

    // Without a nonce, or with one past its life: 400 use_dpop_nonce and a fresh nonce,
    // and no alarm (the key was proven).
    let alarms = app.count_events("refresh_unbound").await;
    for stale_nonce in [None, owner.nonce.clone()] {
        app.clock.advance(Duration::minutes(11));
        let proof = owner
            .key
            .proof("POST", &url, app.clock.now(), stale_nonce.as_deref(), None);
        let response = refresh_with(&app, &token, Some(proof)).await;
        let fresh = response
            .headers()
            .get("dpop-nonce")
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(error_code(response, 400).await, "use_dpop_nonce");
        owner.nonce = Some(fresh);
    }
    assert_eq!(app.count_events("refresh_unbound").await, alarms);
    assert_eq!(owner.refresh(&app, &token).await.status(), 200);

    // At sign-in a proof offered must hold too.
    let refused = app
        .client
        .post(app.url("/api/auth/login"))
        .header("dpop", owner.key.proof("POST", &url, app.clock.now(), None, None))
        .json(&serde_json::json!({"username": "alice", "password": PASSWORD, "refresh_delivery": "body"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(refused, 400).await, "invalid_dpop_proof");
    app.stop().await;
}

#[tokio::test]
async fn a_session_never_bound_keeps_the_bearer_rules() {
    let app = TestApp::spawn().await;
    app.create_user("alice", false).await;
    let (_, token) = app.login_tokens("alice").await;
    let token = next_token(refresh_with(&app, &token, None).await).await;
    // A proof sent later binds nothing: the session stays as it was signed in.
    let stranger = Device::new();
    let token = next_token(refresh_with(&app, &token, Some(stranger.proof(&app, REFRESH))).await).await;
    assert_eq!(refresh_with(&app, &token, None).await.status(), 200);
    assert_eq!(app.count_events("refresh_unbound").await, 0);
    let events = app.store().activity_page(None, None, 50).await.unwrap();
    assert!(events.iter().all(|e| !e.device_proven), "nothing was proven");
    app.stop().await;
}

/// The claims of a JWT, unverified (the test reads what the server wrote).
fn claims_of(token: &str) -> serde_json::Value {
    let payload = token.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

async fn get_me(app: &TestApp, authorization: &str, proof: Option<String>) -> reqwest::Response {
    let mut request = app
        .client
        .get(app.url("/api/me"))
        .header("authorization", authorization);
    if let Some(proof) = proof {
        request = request.header("dpop", proof);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn a_dpop_bound_access_token_is_refused_without_a_proof_from_its_key() {
    let app = TestApp::spawn().await;
    app.create_user("alice", false).await;
    let owner = Device::new();
    let response = app
        .client
        .post(app.url("/api/auth/login"))
        .header("dpop", owner.proof(&app, "/api/auth/login"))
        .json(&serde_json::json!({"username": "alice", "password": PASSWORD, "refresh_delivery": "body"}))
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "DPoP");
    let access = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(claims_of(&access)["cnf"]["jkt"], owner.key.thumbprint());

    let me = app.url("/api/me");
    let proof_for = |key: &SoftwareKey, token: &str| key.proof("GET", &me, app.clock.now(), None, Some(token));
    let good = proof_for(&owner.key, &access);
    assert_eq!(
        get_me(&app, &format!("DPoP {access}"), Some(good.clone()))
            .await
            .status(),
        200
    );

    let thief = SoftwareKey::generate();
    let refusals = [
        ("as a bearer token", format!("Bearer {access}"), None),
        ("without a proof", format!("DPoP {access}"), None),
        ("with the proof used again", format!("DPoP {access}"), Some(good)),
        (
            "with a proof for another token",
            format!("DPoP {access}"),
            Some(proof_for(&owner.key, "other")),
        ),
        (
            "with a proof from another key",
            format!("DPoP {access}"),
            Some(proof_for(&thief, &access)),
        ),
    ];
    for (what, authorization, proof) in refusals {
        let refused = get_me(&app, &authorization, proof).await;
        let challenge = refused.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(challenge.starts_with("DPoP "), "{what}: {challenge}");
        assert_eq!(error_code(refused, 401).await, "invalid_dpop_proof", "{what}");
    }

    // A token that is not bound cannot be presented as DPoP.
    let (bearer, _) = app.login_tokens("alice").await;
    assert!(claims_of(&bearer).get("cnf").is_none());
    let refused = get_me(&app, &format!("DPoP {bearer}"), Some(proof_for(&owner.key, &bearer))).await;
    assert_eq!(error_code(refused, 401).await, "invalid_token");
    app.stop().await;
}

#[tokio::test]
async fn a_page_binds_its_own_key_after_a_cookie_sign_in() {
    let app = TestApp::spawn().await;
    app.create_user("alice", false).await;
    let signed_in = app
        .client
        .post(app.url("/api/auth/login"))
        .json(&serde_json::json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let refresh_cookie = cookie_value(signed_in.headers(), "__Secure-fin_refresh").unwrap();
    let jar = format!("__Secure-fin_refresh={refresh_cookie}");
    // The page learns the session is open to binding from a marker its script can read,
    // which lasts as long as the chance does.
    let marker = set_cookie(signed_in.headers(), "__Host-fin_bind=").expect("binding marker");
    assert!(marker.starts_with("__Host-fin_bind=1;"), "{marker}");
    assert!(
        marker.contains("Max-Age=300") && !marker.contains("HttpOnly"),
        "{marker}"
    );
    let bind = |proof: Option<String>| {
        let mut request = app.client.post(app.url("/api/auth/device-key")).header("cookie", &jar);
        if let Some(proof) = proof {
            request = request.header("dpop", proof);
        }
        request.send()
    };
    let mut page = Device::new();
    let missing = bind(None).await.unwrap();
    assert_eq!(error_code(missing, 400).await, "invalid_dpop_proof");
    let bound = bind(Some(page.proof(&app, "/api/auth/device-key"))).await.unwrap();
    assert_eq!(bound.status(), 204);
    page.remember_nonce(&bound);
    let spent = set_cookie(bound.headers(), "__Host-fin_bind=").expect("marker cleared");
    assert!(spent.contains("Max-Age=0"), "{spent}");
    let again = bind(Some(Device::new().proof(&app, "/api/auth/device-key")))
        .await
        .unwrap();
    assert_eq!(error_code(again, 409).await, "binding_closed");

    // The copied jar is refused; the page renews with its key.
    let copied = app
        .client
        .post(app.url(REFRESH))
        .header("cookie", &jar)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(copied, 401).await, "device_proof_required");
    let renewed = app
        .client
        .post(app.url(REFRESH))
        .header("cookie", &jar)
        .header("dpop", page.proof(&app, REFRESH))
        .send()
        .await
        .unwrap();
    assert_eq!(renewed.status(), 200);

    // Later than five minutes after signing in, a session can no longer be bound.
    let late = app
        .login_json(serde_json::json!({"username": "alice", "password": PASSWORD}))
        .await;
    let late_jar = format!(
        "__Secure-fin_refresh={}",
        cookie_value(late.headers(), "__Secure-fin_refresh").unwrap()
    );
    app.clock.advance(Duration::minutes(6));
    let refused = app
        .client
        .post(app.url("/api/auth/device-key"))
        .header("cookie", &late_jar)
        .header("dpop", Device::new().proof(&app, "/api/auth/device-key"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(refused, 409).await, "binding_closed");
    app.stop().await;
}

/// The whole `Set-Cookie` header that starts with `prefix`, if the response has one.
fn set_cookie(headers: &reqwest::header::HeaderMap, prefix: &str) -> Option<String> {
    headers
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with(prefix))
        .map(str::to_owned)
}

/// Signs in from `ip` with a proof from `device`'s key (body delivery); the refresh token.
async fn sign_in_from(app: &TestApp, device: &mut Device, ip: &str) -> String {
    let response = app
        .client
        .post(app.url("/api/auth/login"))
        .header("x-forwarded-for", ip)
        .header("dpop", device.proof(app, "/api/auth/login"))
        .json(&serde_json::json!({"username": "alice", "password": PASSWORD, "refresh_delivery": "body"}))
        .send()
        .await
        .unwrap();
    device.remember_nonce(&response);
    next_token(response).await
}

async fn refresh_from(app: &TestApp, device: &mut Device, token: &str, ip: &str) -> reqwest::Response {
    let response = app
        .client
        .post(app.url(REFRESH))
        .header("x-forwarded-for", ip)
        .header("dpop", device.proof(app, REFRESH))
        .json(&serde_json::json!({"refresh_token": token}))
        .send()
        .await
        .unwrap();
    device.remember_nonce(&response);
    response
}

#[tokio::test]
async fn one_device_key_proven_in_two_countries_at_once_ends_the_session_that_shows_it() {
    if !crate::helpers::geoip_available() {
        return;
    }
    let app = TestApp::spawn_with(&[("FIN_TRUSTED_PROXIES", "127.0.0.1/32")]).await;
    app.create_user("alice", false).await;
    // Two sessions of one key, both from London: one device, signed in twice.
    let mut device = Device::new();
    let first = sign_in_from(&app, &mut device, "81.2.69.142").await;
    let second = sign_in_from(&app, &mut device, "81.2.69.142").await;
    app.clock.advance(Duration::minutes(9));
    let first = next_token(refresh_from(&app, &mut device, &first, "81.2.69.142").await).await;

    // Minutes later the key proves the second session from Australia while the first is
    // in use in Britain: the key was copied, and the session showing it ends.
    app.clock.advance(Duration::minutes(9));
    let copied = refresh_from(&app, &mut device, &second, "1.1.1.1").await;
    assert_eq!(error_code(copied, 401).await, "session_blocked");
    let events = app.store().activity_page(None, None, 10).await.unwrap();
    let blocked = events
        .iter()
        .find(|e| e.event_type == "refresh" && e.decision == "block")
        .expect("the blocked refresh is logged");
    assert!(
        blocked.risk_reasons.contains("device_key_copied"),
        "{}",
        blocked.risk_reasons
    );
    assert!(blocked.device_proven);

    // The first session, alone with its key again, goes on.
    let renewed = refresh_from(&app, &mut device, &first, "81.2.69.142").await;
    assert_eq!(renewed.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn an_api_client_is_recognised_by_its_proven_key_as_a_browser_is_by_its_cookie() {
    if !crate::helpers::geoip_available() {
        return;
    }
    let app = TestApp::spawn_with(&[("FIN_TRUSTED_PROXIES", "127.0.0.1/32")]).await;
    app.create_user("alice", false).await;
    let mut usual = Device::new();
    for day in 0..6 {
        app.clock.advance(Duration::days(1));
        sign_in_from(&app, &mut usual, "81.2.69.142").await;
        assert_eq!(app.count_events("login_succeeded").await, day + 1);
    }
    let last_reasons = |app: &TestApp| {
        let store = app.store().clone();
        async move {
            let events = store.activity_page(None, None, 1).await.unwrap();
            let newest = &events[0];
            assert_eq!(newest.event_type, "login_succeeded");
            assert!(newest.device_proven);
            (newest.risk_reasons.clone(), newest.risk_score)
        }
    };
    app.clock.advance(Duration::days(1));
    sign_in_from(&app, &mut usual, "81.2.69.142").await;
    let (known, known_score) = last_reasons(&app).await;
    assert!(!known.contains("new_device"), "{known}");

    // Same place, same client software, another key: another device.
    let mut other = Device::new();
    sign_in_from(&app, &mut other, "81.2.69.142").await;
    let (unknown, unknown_score) = last_reasons(&app).await;
    assert!(unknown.contains("new_device"), "{unknown}");
    assert!(unknown_score > known_score, "{unknown_score} > {known_score}");
    app.stop().await;
}
