//! The live page's and the admin console's server functions: reviewing an event, ending
//! one session or all of a user's, resetting a password. The server checks every call.

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp};

/// Calls a server function under `/api/ui/` as the browser holding `access` would.
async fn call(app: &TestApp, endpoint: &str, access: &str, form: &[(&str, &str)]) -> (u16, Value) {
    let response = app
        .client
        .post(app.url(&format!("/api/ui/{endpoint}")))
        .header("accept", "application/json")
        .header("cookie", format!("__Host-fin_access={access}"))
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn newest_event(app: &TestApp, username: &str, event_type: &str) -> server::storage::ActivityRecord {
    app.store()
        .activity_page(None, None, 100)
        .await
        .unwrap()
        .into_iter()
        .find(|e| e.username.as_deref() == Some(username) && e.event_type == event_type)
        .expect("the event is logged")
}

#[tokio::test]
async fn a_non_admin_is_refused_every_console_function() {
    let app = TestApp::spawn().await;
    let victim = app.create_user("vera", false).await.to_string();
    app.create_user("mal", false).await;
    let (access, _) = app.login_tokens("mal").await;
    let event = newest_event(&app, "mal", "login_succeeded").await.id.to_string();
    for (endpoint, form) in [
        ("admin/live", vec![]),
        ("admin/review", vec![("id", event.as_str())]),
        ("admin/users", vec![("search", "")]),
        ("admin/sessions/end-all", vec![("user_id", victim.as_str())]),
        (
            "admin/sessions/end",
            vec![("user_id", victim.as_str()), ("session_id", "x")],
        ),
        (
            "admin/users/password",
            vec![("user_id", victim.as_str()), ("password", "a brand new password 1")],
        ),
        (
            "admin/users/update",
            vec![("user_id", victim.as_str()), ("is_active", "false")],
        ),
    ] {
        let (status, body) = call(&app, endpoint, &access, &form).await;
        assert_eq!((status, body["error"].as_str()), (403, Some("forbidden")), "{endpoint}");
    }
    // Nothing happened to the account.
    app.login_tokens("vera").await;
    app.stop().await;
}

#[tokio::test]
async fn reviewing_an_event_shows_the_user_their_history_and_sessions() {
    let app = TestApp::spawn_with(&[("FIN_TRUSTED_PROXIES", "127.0.0.1/32")]).await;
    app.create_user("root", true).await;
    app.create_user("wes", false).await;
    let (access, _) = app.login_tokens("root").await;
    assert_eq!(app.login_from("wes", PASSWORD, "81.2.69.160").await.status(), 200);
    app.login_json(json!({"username": "wes", "password": "wrong"})).await;
    let event = newest_event(&app, "wes", "login_succeeded").await;

    let (status, review) = call(&app, "admin/review", &access, &[("id", &event.id.to_string())]).await;
    assert_eq!(status, 200, "{review}");
    assert_eq!(review["event"]["id"], event.id);
    assert_eq!(review["event"]["ip"], "81.2.69.160");
    assert_eq!(review["user"]["username"], "wes");
    assert_eq!(review["sessions"].as_array().unwrap().len(), 1);
    let history: Vec<&str> = review["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(
        history,
        ["login_failed", "login_succeeded"],
        "the user's events, newest first"
    );

    let (status, body) = call(&app, "admin/review", &access, &[("id", "999999")]).await;
    assert_eq!((status, body["error"].as_str()), (404, Some("not_found")));
    let (status, _) = call(&app, "admin/review", &access, &[("id", "twelve")]).await;
    assert_eq!(status, 400);
    app.stop().await;
}

#[tokio::test]
async fn an_admin_ends_one_session_of_a_user_and_it_is_audited() {
    let app = TestApp::spawn().await;
    app.create_user("root", true).await;
    let xia = app.create_user("xia", false).await;
    let yan_id = app.create_user("yan", false).await;
    let (access, _) = app.login_tokens("root").await;
    let (first, _) = app.login_tokens("xia").await;
    let (second, _) = app.login_tokens("xia").await;
    let (yans, _) = app.login_tokens("yan").await;
    let sessions = app.store().live_sessions(xia, chrono::Utc::now()).await.unwrap();
    assert_eq!(sessions.len(), 2);
    let yan_session = app.store().live_sessions(yan_id, chrono::Utc::now()).await.unwrap()[0]
        .id
        .clone();

    // Another user's session is not xia's to end: 404, and it lives on.
    let (status, _) = call(
        &app,
        "admin/sessions/end",
        &access,
        &[("user_id", &xia.to_string()), ("session_id", &yan_session)],
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(app.get_me(&yans).await.status(), 200);

    let ended = &sessions[0].id;
    let (status, body) = call(
        &app,
        "admin/sessions/end",
        &access,
        &[("user_id", &xia.to_string()), ("session_id", ended)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let statuses = [app.get_me(&first).await.status(), app.get_me(&second).await.status()];
    assert_eq!(
        statuses.iter().filter(|s| s.as_u16() == 401).count(),
        1,
        "exactly one ended: {statuses:?}"
    );
    let audit = newest_event(&app, "xia", "session_revoked").await;
    assert!(audit.reasons().contains(&"revoked_by_admin:root".to_owned()));

    let (status, body) = call(
        &app,
        "admin/sessions/end-all",
        &access,
        &[("user_id", &xia.to_string())],
    )
    .await;
    assert_eq!((status, body), (200, json!(1)));
    assert_eq!(app.get_me(&second).await.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn an_admin_resets_a_password_under_the_policy_and_the_old_sessions_end() {
    let app = TestApp::spawn().await;
    app.create_user("root", true).await;
    let zoe = app.create_user("zoe", false).await.to_string();
    let (access, _) = app.login_tokens("root").await;
    let (zoes, _) = app.login_tokens("zoe").await;

    let (status, body) = call(
        &app,
        "admin/users/password",
        &access,
        &[("user_id", &zoe), ("password", "short")],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (400, Some("bad_request")), "{body}");
    assert_eq!(app.get_me(&zoes).await.status(), 200, "a refused reset changes nothing");

    let new_password = "a fresh start in 2026";
    let (status, body) = call(
        &app,
        "admin/users/password",
        &access,
        &[("user_id", &zoe), ("password", new_password)],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(app.get_me(&zoes).await.status(), 401, "her sessions ended");
    let old = app.login_json(json!({"username": "zoe", "password": PASSWORD})).await;
    assert_eq!(old.status(), 401);
    let new = app
        .login_json(json!({"username": "zoe", "password": new_password}))
        .await;
    assert_eq!(new.status(), 200);
    let audit = newest_event(&app, "zoe", "password_changed").await;
    assert!(audit.reasons().contains(&"reset_by_admin:root".to_owned()));

    let (status, _) = call(
        &app,
        "admin/users/password",
        &access,
        &[("user_id", "424242"), ("password", new_password)],
    )
    .await;
    assert_eq!(status, 404);
    app.stop().await;
}

#[tokio::test]
async fn verdicts_are_audited_in_the_activity_log() {
    let app = TestApp::spawn().await;
    app.create_user("root", true).await;
    app.create_user("uma", false).await;
    let (access, _) = app.login_tokens("root").await;
    let (umas, _) = app.login_tokens("uma").await;
    let event = newest_event(&app, "uma", "login_succeeded").await.id.to_string();

    let (status, body) = call(
        &app,
        "admin/activity/verdict",
        &access,
        &[("id", &event), ("verdict", "legitimate")],
    )
    .await;
    assert_eq!((status, body), (200, json!(0)));
    let audit = newest_event(&app, "uma", "user_updated").await;
    assert_eq!(
        audit.reasons(),
        [format!("marked_legitimate:{event}"), "by:root".to_owned()]
    );
    assert_eq!(app.get_me(&umas).await.status(), 200, "legitimate ends nothing");

    let (status, body) = call(
        &app,
        "admin/activity/verdict",
        &access,
        &[("id", &event), ("verdict", "compromised")],
    )
    .await;
    assert_eq!((status, body), (200, json!(1)));
    let audit = newest_event(&app, "uma", "session_revoked").await;
    assert!(audit.reasons().contains(&"by:root".to_owned()), "{:?}", audit.reasons());
    assert_eq!(app.get_me(&umas).await.status(), 401);
    app.stop().await;
}
