//! Faults: a database that stops answering gets the caller a prompt 503, never a hang, and
//! the app carries on by itself once the database answers again.

use std::time::{Duration, Instant};

use serde_json::json;
use server::clock::Clock as _;

use crate::helpers::{PASSWORD, TestApp, error_code};

#[tokio::test]
async fn a_request_stuck_behind_the_database_is_answered_503_at_its_deadline() {
    let app = TestApp::spawn_with(&[("FIN_REQUEST_TIMEOUT_SECS", "1")]).await;
    let lee = app.create_user("lee", false).await;
    let sign_in = json!({"username": "lee", "password": PASSWORD, "refresh_delivery": "body"});

    let lock = app.hold_write_lock().await;
    let started = Instant::now();
    let stuck = app.login_json(sign_in.clone()).await;
    let waited = started.elapsed();
    assert_eq!(error_code(stuck, 503).await, "service_unavailable");
    // Generous: the point is an answer instead of a hang, not its speed.
    assert!(waited < Duration::from_secs(9), "answered after {waited:?}");
    lock.release().await;

    // The database answers again: so does the app, and the cut request left nothing behind.
    let signed_in = app.login_json(sign_in).await;
    assert_eq!(signed_in.status(), 200);
    assert_eq!(app.count_events("login_succeeded").await, 1);
    let sessions = app.store().live_sessions(lee, app.clock.now()).await;
    assert_eq!(sessions.unwrap().len(), 1, "only the answered sign-in opened a session");
    app.stop().await;
}

/// Many requests writing at once (sign-ins, failures, rotations: each a transaction with its
/// activity row) never surface the database's own contention, such as SQLite's "database is
/// locked", to a caller.
#[tokio::test]
async fn concurrent_writers_never_see_a_locked_database() {
    let app = TestApp::spawn_with(&[("FIN_TRUSTED_PROXIES", "127.0.0.1/32")]).await;
    let names: Vec<String> = (0..16).map(|i| format!("writer{i}")).collect();
    for name in &names {
        app.create_user(name, false).await;
    }
    let ips: Vec<String> = (0..names.len()).map(|i| format!("81.2.69.{}", 10 + i)).collect();

    let sign_ins = names
        .iter()
        .enumerate()
        .map(|(i, name)| app.login_from(name, PASSWORD, &ips[i]));
    let failures = names
        .iter()
        .enumerate()
        .map(|(i, name)| app.login_from(name, "wrong password, on purpose", &ips[i]));
    let (signed_in, failed) = tokio::join!(futures::future::join_all(sign_ins), futures::future::join_all(failures));
    let mut refresh_tokens = Vec::new();
    for response in signed_in {
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        refresh_tokens.push(body["refresh_token"].as_str().unwrap().to_owned());
    }
    for response in failed {
        assert_eq!(error_code(response, 401).await, "invalid_credentials");
    }

    let rotations = refresh_tokens.iter().enumerate().map(|(i, token)| {
        app.client
            .post(app.url("/api/auth/refresh"))
            .header("x-forwarded-for", &ips[i])
            .json(&json!({ "refresh_token": token }))
            .send()
    });
    for response in futures::future::join_all(rotations).await {
        assert_eq!(response.unwrap().status(), 200);
    }
    assert_eq!(app.count_events("login_succeeded").await, names.len());
    assert_eq!(app.count_events("login_failed").await, names.len());
    assert_eq!(app.count_events("refresh").await, names.len());
    app.stop().await;
}
