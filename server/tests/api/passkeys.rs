//! Passkeys over HTTP, with the software authenticator of `authenticator.rs`: adding one,
//! signing in with it without a username, answering a step-up with it, removing it, and
//! every refusal a phisher, a replayer or a thief runs into.

use serde_json::{Value, json};

use crate::authenticator::SoftwareAuthenticator;
use crate::helpers::{PASSWORD, TestApp, error_code};

/// The default `FIN_PUBLIC_URL`: the relying party `localhost`.
const ORIGIN: &str = "http://localhost:8000";

async fn post(app: &TestApp, path: &str, access: Option<&str>, body: Value) -> reqwest::Response {
    let mut request = app.client.post(app.url(path)).json(&body);
    if let Some(access) = access {
        request = request.bearer_auth(access);
    }
    request.send().await.unwrap()
}

async fn json_of(response: reqwest::Response, status: u16) -> Value {
    let status_seen = response.status();
    let body: Value = response.json().await.unwrap();
    assert_eq!(status_seen, status, "{body}");
    body
}

/// Starts a registration for the signed-in `access` (within five minutes of its sign-in,
/// so without a password).
async fn start_registration(app: &TestApp, access: &str) -> Value {
    json_of(post(app, "/api/me/passkeys/start", Some(access), json!({})).await, 200).await
}

async fn finish_registration(app: &TestApp, access: &str, challenge: &Value, credential: Value) -> reqwest::Response {
    let body = json!({"challenge_id": challenge["challenge_id"], "credential": credential, "name": "Laptop"});
    post(app, "/api/me/passkeys/finish", Some(access), body).await
}

/// Adds a passkey made by `authenticator`; returns it as the API shows it.
async fn add_passkey(app: &TestApp, access: &str, authenticator: &mut SoftwareAuthenticator) -> Value {
    let started = start_registration(app, access).await;
    let credential = authenticator.register(&started["options"]);
    json_of(finish_registration(app, access, &started, credential).await, 201).await
}

/// The sign-in's first half: a ceremony any passkey can answer.
async fn start_sign_in(app: &TestApp) -> Value {
    json_of(post(app, "/api/auth/passkey/start", None, json!({})).await, 200).await
}

async fn finish_sign_in(app: &TestApp, challenge_id: &Value, credential: &Value) -> reqwest::Response {
    let body = json!({"challenge_id": challenge_id, "credential": credential, "refresh_delivery": "body"});
    post(app, "/api/auth/passkey/finish", None, body).await
}

/// A whole usernameless sign-in with `authenticator`.
async fn sign_in(app: &TestApp, authenticator: &mut SoftwareAuthenticator) -> reqwest::Response {
    let started = start_sign_in(app).await;
    let credential = authenticator.assert(&started["options"]);
    finish_sign_in(app, &started["challenge_id"], &credential).await
}

async fn list(app: &TestApp, access: &str) -> Vec<Value> {
    let response = app
        .client
        .get(app.url("/api/me/passkeys"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap();
    serde_json::from_value(json_of(response, 200).await).unwrap()
}

/// The whole life of a passkey's sign-in: made for this origin with user verification as a
/// discoverable credential, then the only thing needed to sign in (no username, no
/// password), recorded in the owner's log, and good for one answer per challenge.
#[tokio::test]
async fn a_passkey_is_added_and_signs_in_without_a_username() {
    let app = TestApp::spawn().await;
    let pia = app.create_user("pia", false).await;
    let (access, _) = app.login_tokens("pia").await;
    let started = start_registration(&app, &access).await;
    let selection = &started["options"]["authenticatorSelection"];
    assert_eq!(selection["residentKey"], "required", "{started}");
    assert_eq!(selection["userVerification"], "required");
    assert_eq!(started["options"]["rp"]["id"], "localhost");

    let mut phone = SoftwareAuthenticator::new(ORIGIN);
    let credential = phone.register(&started["options"]);
    let added = json_of(finish_registration(&app, &access, &started, credential).await, 201).await;
    assert_eq!(added["name"], "Laptop");
    assert_eq!(added["last_used_at"], Value::Null);
    assert_eq!(added["backed_up"], false);

    let options = start_sign_in(&app).await;
    assert_eq!(options["options"]["userVerification"], "required");
    assert_eq!(options["options"]["rpId"], "localhost");
    let assertion = phone.assert(&options["options"]);
    let signed_in = json_of(finish_sign_in(&app, &options["challenge_id"], &assertion).await, 200).await;
    let me: Value = app
        .get_me(signed_in["access_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(me["username"], "pia");
    assert!(signed_in["refresh_token"].is_string());

    // The same answer again: its ceremony is spent.
    let replayed = finish_sign_in(&app, &options["challenge_id"], &assertion).await;
    assert_eq!(error_code(replayed, 401).await, "invalid_credentials");

    let passkeys = list(&app, &access).await;
    assert_eq!(passkeys.len(), 1);
    assert!(passkeys[0]["last_used_at"].is_string(), "{:?}", passkeys[0]);

    let events = app.store().activity_page(None, None, 100).await.unwrap();
    let has = |kind: &str, reason: &str| {
        events
            .iter()
            .any(|e| e.event_type == kind && e.risk_reasons.contains(reason) && e.user_id == Some(pia))
    };
    assert!(has("user_updated", "passkey_added"));
    assert!(has("login_succeeded", "\"passkey\""));
    assert!(
        has("login_failed", "passkey_refused"),
        "the replay is in the owner's log"
    );
}

/// A phishing page's origin, an authenticator that did not verify its user, a stranger's
/// key under a real user's handle, and a counter that went back are all refused, with the
/// answer a wrong password gets; a synced passkey whose counter stays at zero is not.
#[tokio::test]
async fn phished_unverified_foreign_and_cloned_answers_are_refused() {
    let app = TestApp::spawn().await;
    app.create_user("quinn", false).await;
    let (access, _) = app.login_tokens("quinn").await;
    let mut key = SoftwareAuthenticator::new(ORIGIN);
    add_passkey(&app, &access, &mut key).await;

    key.origin_override = Some("http://localhost.evil.example".to_owned());
    assert_eq!(
        error_code(sign_in(&app, &mut key).await, 401).await,
        "invalid_credentials"
    );
    key.origin_override = None;

    key.user_verified = false;
    assert_eq!(
        error_code(sign_in(&app, &mut key).await, 401).await,
        "invalid_credentials"
    );
    key.user_verified = true;

    let mut stranger = SoftwareAuthenticator::stranger(ORIGIN, &key.user_handle());
    assert_eq!(
        error_code(sign_in(&app, &mut stranger).await, 401).await,
        "invalid_credentials"
    );

    assert_eq!(sign_in(&app, &mut key).await.status(), 200);
    // A clone of the key replays the counter the original has already shown.
    key.set_counter(0);
    assert_eq!(
        error_code(sign_in(&app, &mut key).await, 401).await,
        "invalid_credentials"
    );

    // Synced passkeys keep their counter at zero: that is no clone.
    app.create_user("ravi", false).await;
    let (access, _) = app.login_tokens("ravi").await;
    let mut synced = SoftwareAuthenticator::new(ORIGIN);
    synced.synced = true;
    synced.counter_step = 0;
    let added = add_passkey(&app, &access, &mut synced).await;
    assert_eq!(added["backed_up"], true);
    assert_eq!(added["backup_eligible"], true);
    assert_eq!(sign_in(&app, &mut synced).await.status(), 200);
    assert_eq!(sign_in(&app, &mut synced).await.status(), 200);
}

/// A new passkey must answer the caller's own, unspent ceremony from this origin, be new
/// to the service, and have a sensible name; starting one needs a recent sign-in or the
/// password.
#[tokio::test]
async fn registration_refuses_replays_foreign_ceremonies_duplicates_and_stale_sessions() {
    let app = TestApp::spawn().await;
    app.create_user("sam", false).await;
    app.create_user("tess", false).await;
    let (sam, _) = app.login_tokens("sam").await;
    let (tess, _) = app.login_tokens("tess").await;
    let mut key = SoftwareAuthenticator::new(ORIGIN);

    let started = start_registration(&app, &sam).await;
    let credential = key.register(&started["options"]);
    // Tess cannot finish Sam's ceremony (and spending it there leaves Sam none).
    let foreign = finish_registration(&app, &tess, &started, credential.clone()).await;
    assert_eq!(error_code(foreign, 400).await, "invalid_passkey");
    let spent = finish_registration(&app, &sam, &started, credential).await;
    assert_eq!(error_code(spent, 400).await, "invalid_passkey");

    let started = start_registration(&app, &sam).await;
    key.origin_override = Some("http://evil.example".to_owned());
    let phished = key.register(&started["options"]);
    key.origin_override = None;
    assert_eq!(
        error_code(finish_registration(&app, &sam, &started, phished).await, 400).await,
        "invalid_passkey"
    );

    for name in ["", "   ", &"x".repeat(65)] {
        let started = start_registration(&app, &sam).await;
        let credential = key.register(&started["options"]);
        let body = json!({"challenge_id": started["challenge_id"], "credential": credential, "name": name});
        let response = post(&app, "/api/me/passkeys/finish", Some(&sam), body).await;
        assert_eq!(error_code(response, 422).await, "invalid_input", "{name:?}");
    }

    add_passkey(&app, &sam, &mut key).await;
    // The same credential again, even for another account, is refused.
    let started = start_registration(&app, &tess).await;
    let again = key.register_again(&started["options"]);
    assert_eq!(
        error_code(finish_registration(&app, &tess, &started, again).await, 409).await,
        "conflict"
    );
    let listed = list(&app, &sam).await;
    assert_eq!(listed.len(), 1);
    let excluded = started["options"]["excludeCredentials"].as_array().map_or(0, Vec::len);
    assert_eq!(excluded, 0, "Tess's options exclude only Tess's passkeys");
    let started = start_registration(&app, &sam).await;
    let excluded = started["options"]["excludeCredentials"].as_array().map_or(0, Vec::len);
    assert_eq!(excluded, 1, "Sam's options exclude Sam's passkey");

    // Six minutes after signing in, the session alone no longer stands for the password.
    app.clock.advance(chrono::Duration::minutes(6));
    let stale = post(&app, "/api/me/passkeys/start", Some(&sam), json!({})).await;
    assert_eq!(error_code(stale, 403).await, "reauthentication_required");
    let wrong = post(
        &app,
        "/api/me/passkeys/start",
        Some(&sam),
        json!({"password": "not it"}),
    )
    .await;
    assert_eq!(error_code(wrong, 400).await, "invalid_current_password");
    let right = post(
        &app,
        "/api/me/passkeys/start",
        Some(&sam),
        json!({"password": PASSWORD}),
    )
    .await;
    assert_eq!(right.status(), 200);
}

/// A risky password sign-in of a user with a passkey offers it first, in the challenge
/// itself; a stranger's key does not answer it, the user's does. The passkey's own sign-in
/// is never stepped up: it is two factors already.
#[tokio::test]
async fn a_risky_password_sign_in_asks_for_the_passkey_first() {
    let app = TestApp::spawn_with(&[("FIN_RISK_STEP_UP", "0")]).await;
    app.create_user("uma", false).await;
    let (access, _) = app.login_tokens("uma").await; // no factor yet: let through
    let mut key = SoftwareAuthenticator::new(ORIGIN);
    let added = add_passkey(&app, &access, &mut key).await;

    let response = app
        .login_json(json!({"username": "uma", "password": PASSWORD, "refresh_delivery": "body"}))
        .await;
    let challenge = json_of(response, 401).await;
    assert_eq!(challenge["error"], "step_up_required");
    let options = &challenge["passkey"];
    assert_eq!(options["userVerification"], "required", "{challenge}");
    let allowed = options["allowCredentials"].as_array().unwrap();
    assert_eq!(allowed.len(), 1);

    let step_up = |credential: Value| {
        let body =
            json!({"challenge_id": challenge["challenge_id"], "credential": credential, "refresh_delivery": "body"});
        post(&app, "/api/auth/step-up", None, body)
    };
    let mut stranger = SoftwareAuthenticator::stranger(ORIGIN, &key.user_handle());
    let wrong = step_up(stranger.assert(&stranger_options(options))).await;
    assert_eq!(error_code(wrong, 401).await, "invalid_code");
    let passed = json_of(step_up(key.assert(options)).await, 200).await;
    assert!(passed["access_token"].is_string());

    assert_eq!(sign_in(&app, &mut key).await.status(), 200, "no step-up for a passkey");
    let listed = list(&app, &access).await;
    assert_eq!(listed[0]["id"], added["id"]);
}

/// The same options without their allow list, so the stranger signs with its own key.
fn stranger_options(options: &Value) -> Value {
    let mut options = options.clone();
    options["allowCredentials"] = json!([]);
    options
}

/// A removed passkey signs in no more. Its owner removes it (re-authenticated like adding
/// one), or an administrator does for a lost device; others cannot.
#[tokio::test]
async fn removed_passkeys_no_longer_sign_in_and_admins_can_remove_them() {
    let app = TestApp::spawn().await;
    let vera = app.create_user("vera", false).await;
    app.create_user("root", true).await;
    let (access, _) = app.login_tokens("vera").await;
    let mut key = SoftwareAuthenticator::new(ORIGIN);
    let added = add_passkey(&app, &access, &mut key).await;
    let path = format!("/api/me/passkeys/{}", added["id"].as_str().unwrap());

    let delete = |path: String, token: String| {
        app.client
            .delete(app.url(&path))
            .bearer_auth(token)
            .json(&json!({}))
            .send()
    };
    assert_eq!(delete(path.clone(), access.clone()).await.unwrap().status(), 204);
    assert_eq!(
        error_code(sign_in(&app, &mut key).await, 401).await,
        "invalid_credentials"
    );
    assert!(list(&app, &access).await.is_empty());
    let again = delete(path, access.clone()).await.unwrap();
    assert_eq!(error_code(again, 404).await, "not_found");

    let second = add_passkey(&app, &access, &mut key).await;
    let admin_path = format!("/api/admin/users/{vera}/passkeys");
    let by_owner = app
        .client
        .get(app.url(&admin_path))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(by_owner, 403).await, "forbidden");
    let (root, _) = app.login_tokens("root").await;
    let seen = app
        .client
        .get(app.url(&admin_path))
        .bearer_auth(&root)
        .send()
        .await
        .unwrap();
    let seen = json_of(seen, 200).await;
    assert_eq!(seen[0]["id"], second["id"]);
    let one = format!("{admin_path}/{}", second["id"].as_str().unwrap());
    assert_eq!(delete(one.clone(), root.clone()).await.unwrap().status(), 204);
    assert_eq!(error_code(delete(one, root).await.unwrap(), 404).await, "not_found");
    assert_eq!(
        error_code(sign_in(&app, &mut key).await, 401).await,
        "invalid_credentials"
    );
    let events = app.store().activity_page(None, None, 100).await.unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.user_id == Some(vera) && e.risk_reasons.contains("by_admin:root"))
    );
}

/// Bodies that are not what a browser sends are 4xx JSON errors, never a 500.
#[tokio::test]
async fn malformed_passkey_bodies_are_client_errors() {
    let app = TestApp::spawn().await;
    app.create_user("wes", false).await;
    let (access, _) = app.login_tokens("wes").await;
    let started = start_sign_in(&app).await;

    for credential in [
        json!("x"),
        json!({}),
        json!({"id": "AA", "rawId": "AA", "type": "public-key"}),
    ] {
        let response = finish_sign_in(&app, &started["challenge_id"], &credential).await;
        assert_eq!(error_code(response, 400).await, "invalid_request", "{credential}");
    }
    let mut key = SoftwareAuthenticator::new(ORIGIN);
    add_passkey(&app, &access, &mut key).await;
    let real = start_sign_in(&app).await;
    let credential = key.assert(&real["options"]);
    for challenge_id in [json!(""), json!("!!"), json!("a\u{0}b"), json!("A".repeat(200))] {
        let response = finish_sign_in(&app, &challenge_id, &credential).await;
        assert_eq!(error_code(response, 401).await, "invalid_credentials", "{challenge_id}");
    }
    let missing = post(&app, "/api/auth/passkey/finish", None, json!({"credential": {}})).await;
    assert_eq!(error_code(missing, 400).await, "invalid_request");
    let both = post(
        &app,
        "/api/auth/step-up",
        None,
        json!({"challenge_id": "x", "code": "123456", "credential": {}}),
    )
    .await;
    assert_eq!(error_code(both, 400).await, "invalid_request");
    let not_webauthn = json!({"challenge_id": "x", "credential": "x", "name": "n"});
    let response = post(&app, "/api/me/passkeys/finish", Some(&access), not_webauthn).await;
    assert_eq!(error_code(response, 400).await, "invalid_passkey");
}
