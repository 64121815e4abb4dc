//! Secrets stay secret: a whole sign-in, refresh, replay, failure and sign-out cycle, logged
//! at every level, leaves no password, token, cookie or key in the logs, and no error
//! response echoes one.

use base64::Engine;
use chrono::Duration;
use serde_json::json;

use crate::helpers::{Captured, PASSWORD, TestApp, cookie_value};

/// `POST /api/auth/refresh` with the token in the body, from the sign-in's address.
async fn refresh_from_london(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/auth/refresh"))
        .header("x-forwarded-for", "81.2.69.142")
        .json(&json!({ "refresh_token": token }))
        .send()
        .await
        .unwrap()
}

// One thread runs the test and the server it spawns, so the subscriber set for this thread
// sees everything the request handlers log.
#[tokio::test(flavor = "current_thread")]
async fn no_secret_reaches_the_logs_or_an_error_response() {
    let logs = Captured::default();
    let _guard = tracing::subscriber::set_default(logs.subscriber());

    let seed = base64::engine::general_purpose::STANDARD.encode([0x5au8; 32]);
    let app = TestApp::spawn_with(&[("FIN_JWT_ED25519_KEY", &seed), ("FIN_TRUSTED_PROXIES", "127.0.0.1/32")]).await;
    app.create_user("sam", false).await;
    let wrong_password = "not the password, but secret all the same";
    let mut secrets: Vec<String> = vec![PASSWORD.into(), wrong_password.into(), seed.clone()];
    let mut error_bodies = Vec::new();

    // A failure, then a sign-in with the tokens in the body.
    let failed = app.login_from("sam", wrong_password, "81.2.69.142").await;
    assert_eq!(failed.status(), 401);
    error_bodies.push(failed.text().await.unwrap());
    let signed_in = app.login_from("sam", PASSWORD, "81.2.69.142").await;
    assert_eq!(signed_in.status(), 200);
    let body: serde_json::Value = signed_in.json().await.unwrap();
    let access = body["access_token"].as_str().unwrap().to_owned();
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();
    secrets.extend([access.clone(), refresh.clone()]);
    assert_eq!(app.get_me(&access).await.status(), 200);

    // A rotation, then a replay of the spent token after the grace window (reuse alarm).
    let rotated = refresh_from_london(&app, &refresh).await;
    assert_eq!(rotated.status(), 200);
    let body: serde_json::Value = rotated.json().await.unwrap();
    secrets.push(body["access_token"].as_str().unwrap().to_owned());
    secrets.push(body["refresh_token"].as_str().unwrap().to_owned());
    app.clock.advance(Duration::seconds(60));
    let replayed = refresh_from_london(&app, &refresh).await;
    assert_eq!(replayed.status(), 401);
    error_bodies.push(replayed.text().await.unwrap());

    // The browser way: cookies in, cookies out, then a sign-out.
    let form = app
        .client
        .post(app.url("/api/auth/login"))
        .form(&[("username", "sam"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    let cookie_refresh = cookie_value(form.headers(), "__Secure-fin_refresh").unwrap();
    let cookie_access = cookie_value(form.headers(), "__Host-fin_access").unwrap();
    secrets.extend([cookie_refresh.clone(), cookie_access.clone()]);
    let by_cookie = app
        .client
        .post(app.url("/api/auth/refresh"))
        .header("cookie", format!("__Secure-fin_refresh={cookie_refresh}"))
        .send()
        .await
        .unwrap();
    assert_eq!(by_cookie.status(), 200);
    let next_refresh = cookie_value(by_cookie.headers(), "__Secure-fin_refresh").unwrap();
    secrets.push(next_refresh.clone());
    let out = app
        .client
        .post(app.url("/api/auth/logout"))
        .header("cookie", format!("__Secure-fin_refresh={next_refresh}"))
        .send()
        .await
        .unwrap();
    assert!(out.status().is_success(), "{}", out.status());

    // Errors about bad credentials never repeat them.
    let tampered = format!("{access}x");
    secrets.push(tampered.clone());
    let bad_bearer = app.get_me(&tampered).await;
    assert_eq!(bad_bearer.status(), 401);
    error_bodies.push(bad_bearer.text().await.unwrap());
    let bad_refresh = app
        .client
        .post(app.url("/api/auth/refresh"))
        .json(&json!({ "refresh_token": "guessed-refresh-token-value-1234567890" }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad_refresh.status(), 401);
    error_bodies.push(bad_refresh.text().await.unwrap());
    secrets.push("guessed-refresh-token-value-1234567890".into());
    app.stop().await;

    let logged = logs.text();
    assert!(
        logged.contains("refresh token reused"),
        "the capture works: the replay's alarm is in it\n{logged}"
    );
    for secret in &secrets {
        // A token's signature alone would give it away too.
        let tail = &secret[secret.len().saturating_sub(24)..];
        assert!(
            !logged.contains(tail),
            "a secret ending in …{} reached the logs",
            &tail[tail.len() - 4..]
        );
        for body in &error_bodies {
            assert!(!body.contains(tail), "an error response echoed a secret: {body}");
        }
    }
}
