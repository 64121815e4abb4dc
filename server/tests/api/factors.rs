//! Second factors over HTTP: wrong codes counted across challenges, the lock, and what
//! lifts it.

use serde_json::{Value, json};
use server::clock::Clock as _;
use server::domain::totp;

use crate::helpers::{PASSWORD, TestApp, error_code};

/// Enrols an authenticator for `username` (signed in with `access`); returns its secret and
/// recovery codes.
async fn enrol(app: &TestApp, access: &str) -> (String, Vec<String>) {
    let enrolment: Value = app
        .client
        .post(app.url("/api/me/totp"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = enrolment["secret"].as_str().unwrap().to_owned();
    let codes: Value = app
        .client
        .post(app.url("/api/me/totp/confirm"))
        .bearer_auth(access)
        .json(&json!({"code": code_now(app, &secret)}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    (secret, serde_json::from_value(codes["recovery_codes"].clone()).unwrap())
}

fn code_now(app: &TestApp, secret: &str) -> String {
    let raw = totp::base32_decode(secret).unwrap();
    format!("{:06}", totp::code(&raw, totp::step(app.clock.now())))
}

/// A sign-in with the right password, which (every sign-in being risky here) is challenged.
/// Half a minute apart, so the sign-in throttle's short delays (challenged sign-ins are not
/// successes yet) never get in the way, and each right code is a fresh one.
async fn challenge(app: &TestApp, username: &str) -> String {
    app.clock.advance(chrono::Duration::seconds(31));
    let response = app
        .login_json(json!({"username": username, "password": PASSWORD, "refresh_delivery": "body"}))
        .await;
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "step_up_required", "{body}");
    body["challenge_id"].as_str().unwrap().to_owned()
}

async fn step_up(app: &TestApp, challenge: &str, code: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/auth/step-up"))
        .json(&json!({"challenge_id": challenge, "code": code, "refresh_delivery": "body"}))
        .send()
        .await
        .unwrap()
}

/// Someone holding the password gets ten wrong codes in all, across as many challenges as
/// they like: then the authenticator is locked (a right code no longer helps), the owner
/// sees it in their log, and a recovery code or an administrator unlocks it.
#[tokio::test]
async fn ten_wrong_codes_across_challenges_lock_the_authenticator() {
    let app = TestApp::spawn_with(&[("FIN_RISK_STEP_UP", "0"), ("FIN_RISK_BLOCK", "1")]).await;
    let owner = app.create_user("olga", false).await;
    app.create_user("root", true).await;
    let (access, _) = app.login_tokens("olga").await; // no factor yet: let through
    let (secret, recovery) = enrol(&app, &access).await;

    for round in 0..3 {
        let challenge = challenge(&app, "olga").await;
        let answers = if round < 2 { 4 } else { 1 };
        for _ in 0..answers {
            let wrong = step_up(&app, &challenge, "000000").await;
            assert_eq!(error_code(wrong, 401).await, "invalid_code", "round {round}");
        }
    }
    // The tenth wrong code, in a fourth challenge, locks.
    let challenge_id = challenge(&app, "olga").await;
    assert_eq!(
        error_code(step_up(&app, &challenge_id, "000000").await, 401).await,
        "second_factor_locked"
    );
    let challenge_id = challenge(&app, "olga").await;
    let right = step_up(&app, &challenge_id, &code_now(&app, &secret)).await;
    assert_eq!(
        error_code(right, 401).await,
        "second_factor_locked",
        "even a right code"
    );
    let told = app.store().activity_page(Some(owner), None, 100).await.unwrap();
    assert_eq!(
        told.iter()
            .filter(|e| e.reasons().iter().any(|r| r == "second_factor_locked"))
            .count(),
        1,
        "the owner's log says so, once"
    );

    // The other factor, a recovery code, signs in and unlocks.
    let challenge_id = challenge(&app, "olga").await;
    assert_eq!(step_up(&app, &challenge_id, &recovery[0]).await.status(), 200);
    let challenge_id = challenge(&app, "olga").await;
    assert_eq!(
        step_up(&app, &challenge_id, &code_now(&app, &secret)).await.status(),
        200
    );

    // Locked again; an administrator unlocks (and only an administrator).
    for _ in 0..2 {
        let challenge_id = challenge(&app, "olga").await;
        for _ in 0..5 {
            step_up(&app, &challenge_id, "000000").await;
        }
    }
    let (admin, _) = app.login_tokens("root").await;
    let unlock = |token: String| {
        app.client
            .post(app.url(&format!("/api/admin/users/{owner}/second-factor/unlock")))
            .bearer_auth(token)
            .send()
    };
    let (own_token, _) = {
        // The owner cannot unlock their own factor with a session alone.
        let challenge_id = challenge(&app, "olga").await;
        let passed: Value = step_up(&app, &challenge_id, &recovery[1]).await.json().await.unwrap();
        (passed["access_token"].as_str().unwrap().to_owned(), ())
    };
    assert_eq!(error_code(unlock(own_token).await.unwrap(), 403).await, "forbidden");
    let body: Value = unlock(admin.clone()).await.unwrap().json().await.unwrap();
    assert_eq!(body["unlocked"], false, "the recovery code had already unlocked it");
    for _ in 0..2 {
        let challenge_id = challenge(&app, "olga").await;
        for _ in 0..5 {
            step_up(&app, &challenge_id, "000000").await;
        }
    }
    let body: Value = unlock(admin).await.unwrap().json().await.unwrap();
    assert_eq!(body["unlocked"], true);
    let challenge_id = challenge(&app, "olga").await;
    assert_eq!(
        step_up(&app, &challenge_id, &code_now(&app, &secret)).await.status(),
        200
    );
    app.stop().await;
}

/// Adding, removing or re-issuing a second factor needs the current password once the
/// sign-in is more than five minutes old: a stolen session cannot swap the authenticator.
#[tokio::test]
async fn factor_changes_need_the_password_or_a_recent_sign_in() {
    let app = TestApp::spawn().await;
    app.create_user("petra", false).await;
    let (access, _) = app.login_tokens("petra").await;
    let (_, old_codes) = enrol(&app, &access).await; // signed in moments ago: no password asked
    let call = |method: reqwest::Method, path: &str, body: Value| {
        app.client
            .request(method, app.url(path))
            .bearer_auth(&access)
            .json(&body)
            .send()
    };
    app.clock.advance(chrono::Duration::minutes(6));
    for (method, path) in [
        (reqwest::Method::DELETE, "/api/me/totp"),
        (reqwest::Method::POST, "/api/me/totp/recovery-codes"),
        (reqwest::Method::POST, "/api/me/totp"),
    ] {
        let response = call(method.clone(), path, json!({})).await.unwrap();
        assert_eq!(error_code(response, 403).await, "reauthentication_required", "{path}");
        let wrong = call(method, path, json!({"password": "not the password"}))
            .await
            .unwrap();
        assert_eq!(error_code(wrong, 400).await, "invalid_current_password", "{path}");
    }
    // Three wrong passwords: the next check waits its two seconds (as a sign-in would).
    app.clock.advance(chrono::Duration::seconds(2));
    // The confirmed authenticator cannot be replaced in place, password or not.
    let replace = call(reqwest::Method::POST, "/api/me/totp", json!({"password": PASSWORD}))
        .await
        .unwrap();
    assert_eq!(error_code(replace, 409).await, "conflict");

    // New recovery codes: the old ones stop working, the new ones work, and the log says so.
    let fresh: Value = call(
        reqwest::Method::POST,
        "/api/me/totp/recovery-codes",
        json!({"password": PASSWORD}),
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    let fresh: Vec<String> = serde_json::from_value(fresh["recovery_codes"].clone()).unwrap();
    assert_eq!(fresh.len(), 10);
    assert!(fresh.iter().all(|c| !old_codes.contains(c)));
    let events = app.store().activity_page(None, None, 50).await.unwrap();
    for what in ["second_factor_enrolled", "recovery_codes_regenerated"] {
        assert!(events.iter().any(|e| e.reasons().iter().any(|r| r == what)), "{what}");
    }

    // Removed with the password: sign-in no longer asks, and the log says so.
    let removed = call(reqwest::Method::DELETE, "/api/me/totp", json!({"password": PASSWORD}))
        .await
        .unwrap();
    assert_eq!(removed.status(), 204);
    let again = call(reqwest::Method::DELETE, "/api/me/totp", json!({"password": PASSWORD}))
        .await
        .unwrap();
    assert_eq!(error_code(again, 404).await, "not_found");
    let events = app.store().activity_page(None, None, 50).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.reasons().iter().any(|r| r == "second_factor_removed"))
    );
    app.stop().await;
}

/// Recovery codes are stored as an HMAC under the server's key, never as a plain hash a
/// database reader could brute-force.
#[tokio::test]
async fn recovery_codes_are_stored_keyed() {
    let app = TestApp::spawn().await;
    let user = app.create_user("quentin", false).await;
    let (access, _) = app.login_tokens("quentin").await;
    let (_, codes) = enrol(&app, &access).await;
    let plain = totp::legacy_hash_recovery_code(&codes[0]);
    let stored = app
        .store()
        .use_recovery_code(user, "no such keyed hash", &plain, app.clock.now())
        .await;
    assert!(!stored.unwrap(), "no code is stored as its plain SHA-256");
    app.stop().await;
}
