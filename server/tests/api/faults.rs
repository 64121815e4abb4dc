//! Faults: a database that stops answering gets the caller a prompt 503, never a hang, and
//! the app carries on by itself once the database answers again.

use std::time::{Duration, Instant};

use serde_json::json;

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
    let sessions = app
        .store()
        .live_sessions(lee, chrono::Utc::now() + chrono::Duration::seconds(1))
        .await;
    assert_eq!(sessions.unwrap().len(), 1, "only the answered sign-in opened a session");
    app.stop().await;
}
