//! Refresh rotation with reuse detection, and sessions the user can see and end.

use chrono::Duration;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, cookie_value, error_code};

async fn refresh(app: &TestApp, token: &str) -> reqwest::Response {
    refresh_as(app, token, "fin-tests/1.0").await
}

async fn refresh_as(app: &TestApp, token: &str, user_agent: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/auth/refresh"))
        .header("user-agent", user_agent)
        .json(&json!({ "refresh_token": token }))
        .send()
        .await
        .unwrap()
}

/// Refreshes and returns (access, refresh), asserting success.
async fn rotate(app: &TestApp, token: &str) -> (String, String) {
    let response = refresh(app, token).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    (
        body["access_token"].as_str().unwrap().to_owned(),
        body["refresh_token"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn a_refresh_spends_the_token_and_issues_a_working_successor() {
    let app = TestApp::spawn().await;
    app.create_user("pia", false).await;
    let (_, r1) = app.login_tokens("pia").await;
    let (access, r2) = rotate(&app, &r1).await;
    assert_ne!(r1, r2);
    assert_eq!(app.get_me(&access).await.status(), 200);
    let (_, r3) = rotate(&app, &r2).await;
    assert_ne!(r2, r3);
    assert_eq!(app.count_events("refresh").await, 2);
    app.stop().await;
}

#[tokio::test]
async fn a_replay_after_the_grace_window_revokes_the_whole_family() {
    let app = TestApp::spawn().await;
    app.create_user("quinn", false).await;
    let (_, r1) = app.login_tokens("quinn").await;
    let (access2, r2) = rotate(&app, &r1).await;
    app.clock.advance(Duration::seconds(11));

    assert_eq!(error_code(refresh(&app, &r1).await, 401).await, "refresh_token_reused");
    assert_eq!(
        error_code(refresh(&app, &r2).await, 401).await,
        "invalid_refresh_token",
        "the successor dies too"
    );
    assert_eq!(
        error_code(app.get_me(&access2).await, 401).await,
        "invalid_token",
        "and its access token"
    );
    let alarm = app.store().activity_page(None, None, 10).await.unwrap();
    let alarm = alarm
        .iter()
        .find(|e| e.event_type == "refresh_reused")
        .expect("alarm event");
    assert_eq!(alarm.risk_score, 1.0);
    assert!(alarm.user_id.is_some());
    app.stop().await;
}

#[tokio::test]
async fn a_retry_inside_the_grace_window_gets_the_same_successor() {
    let app = TestApp::spawn().await;
    app.create_user("rosa", false).await;
    let (_, r1) = app.login_tokens("rosa").await;
    let (_, r2) = rotate(&app, &r1).await;
    app.clock.advance(Duration::seconds(9));
    let (access, r2_again) = rotate(&app, &r1).await;
    assert_eq!(r2, r2_again);
    assert_eq!(app.get_me(&access).await.status(), 200);

    // Once the successor has itself been spent, its parent is an ancestor: never a retry.
    let (_, _r3) = rotate(&app, &r2).await;
    assert_eq!(error_code(refresh(&app, &r1).await, 401).await, "refresh_token_reused");
    assert_eq!(app.count_events("refresh_reused").await, 1);
    app.stop().await;
}

/// A refresh from a browser holding `device` (its device cookie), body delivery.
async fn refresh_from(app: &TestApp, token: &str, device: &str) -> reqwest::Response {
    app.client
        .post(app.url("/api/auth/refresh"))
        .header("cookie", format!("__Host-fin_device={device}"))
        .json(&json!({ "refresh_token": token }))
        .send()
        .await
        .unwrap()
}

/// Inside the grace window, "the same device" is the browser's device cookie, not its user
/// agent and address (which everyone behind one NAT with the same browser shares); and
/// every retry the window answers is on the record.
#[tokio::test]
async fn the_grace_window_answers_only_the_same_browser_and_logs_each_retry() {
    let app = TestApp::spawn().await;
    app.create_user("sven", false).await;
    let (own, other) = ("o".repeat(43), "x".repeat(43));
    let login = |device: String| {
        app.client
            .post(app.url("/api/auth/login"))
            .header("cookie", format!("__Host-fin_device={device}"))
            .json(&json!({"username": "sven", "password": PASSWORD, "refresh_delivery": "body"}))
            .send()
    };
    let first: Value = login(own.clone()).await.unwrap().json().await.unwrap();
    let r1 = first["refresh_token"].as_str().unwrap().to_owned();
    let rotated: Value = refresh_from(&app, &r1, &own).await.json().await.unwrap();
    let r2 = rotated["refresh_token"].as_str().unwrap().to_owned();
    let retried: Value = refresh_from(&app, &r1, &own).await.json().await.unwrap();
    assert_eq!(
        retried["refresh_token"].as_str(),
        Some(r2.as_str()),
        "the same browser retries"
    );
    let events = app.store().activity_page(None, None, 10).await.unwrap();
    assert_eq!(events[0].event_type, "refresh");
    assert!(
        events[0].reasons().iter().any(|r| r == "refresh_retry"),
        "{:?}",
        events[0]
    );

    // Same user agent, same address, another browser: a replay, and the session ends.
    let second: Value = login(own.clone()).await.unwrap().json().await.unwrap();
    let s1 = second["refresh_token"].as_str().unwrap().to_owned();
    let rotated: Value = refresh_from(&app, &s1, &own).await.json().await.unwrap();
    let s2 = rotated["refresh_token"].as_str().unwrap().to_owned();
    let thief = refresh_from(&app, &s1, &other).await;
    assert_eq!(error_code(thief, 401).await, "refresh_token_reused");
    assert_eq!(
        error_code(refresh_from(&app, &s2, &own).await, 401).await,
        "invalid_refresh_token"
    );
    app.stop().await;
}

#[tokio::test]
async fn another_device_inside_the_grace_window_is_reuse() {
    let app = TestApp::spawn().await;
    app.create_user("sami", false).await;
    let (_, r1) = app.login_tokens("sami").await;
    let (_, r2) = rotate(&app, &r1).await;
    let thief = refresh_as(&app, &r1, "curl/8.0").await;
    assert_eq!(error_code(thief, 401).await, "refresh_token_reused");
    assert_eq!(error_code(refresh(&app, &r2).await, 401).await, "invalid_refresh_token");
    app.stop().await;
}

#[tokio::test]
async fn fifty_concurrent_refreshes_of_one_token_yield_one_successor() {
    let app = TestApp::spawn().await;
    app.create_user("tara", false).await;
    let (_, r1) = app.login_tokens("tara").await;
    let attempts = (0..50).map(|_| refresh(&app, &r1));
    let responses = futures_join_all(attempts).await;
    let mut successors = std::collections::BTreeSet::new();
    for response in responses {
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        successors.insert(body["refresh_token"].as_str().unwrap().to_owned());
    }
    assert_eq!(successors.len(), 1, "every concurrent refresh got the same successor");
    let r2 = successors.into_iter().next().unwrap();
    rotate(&app, &r2).await;
    let refreshes = app.store().activity_page(None, None, 100).await.unwrap();
    let (retries, rotations): (Vec<_>, Vec<_>) = refreshes
        .iter()
        .filter(|e| e.event_type == "refresh")
        .partition(|e| e.reasons().iter().any(|r| r == "refresh_retry"));
    assert_eq!(rotations.len(), 2, "one rotation each");
    assert_eq!(
        retries.len(),
        49,
        "and every retry the grace window answered, on the record"
    );
    assert_eq!(app.count_events("refresh_reused").await, 0);
    app.stop().await;
}

async fn futures_join_all<F: std::future::Future>(futures: impl Iterator<Item = F>) -> Vec<F::Output> {
    let handles: Vec<_> = futures.collect();
    let mut outputs = Vec::with_capacity(handles.len());
    let mut pinned: Vec<_> = handles.into_iter().map(Box::pin).collect();
    // Poll all at once so the requests really are in flight together.
    let mut done: Vec<Option<F::Output>> = (0..pinned.len()).map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (slot, future) in done.iter_mut().zip(pinned.iter_mut()) {
            if slot.is_none() {
                match future.as_mut().poll(cx) {
                    std::task::Poll::Ready(output) => *slot = Some(output),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.extend(done.into_iter().map(|o| o.unwrap()));
    outputs
}

#[tokio::test]
async fn the_cookie_delivery_rotates_the_cookie() {
    let app = TestApp::spawn().await;
    app.create_user("uma", false).await;
    let login = app.login_json(json!({"username": "uma", "password": PASSWORD})).await;
    let r1 = cookie_value(login.headers(), "__Secure-fin_refresh").unwrap();
    let response = app
        .client
        .post(app.url("/api/auth/refresh"))
        .header("cookie", format!("__Secure-fin_refresh={r1}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let r2 = cookie_value(response.headers(), "__Secure-fin_refresh").unwrap();
    assert_ne!(r1, r2);
    let body: Value = response.json().await.unwrap();
    assert!(body.get("refresh_token").is_none());
    app.stop().await;
}

/// Cookie tossing: a sibling subdomain can plant a second `__Secure-fin_refresh` cookie.
/// A request carrying two is refused, whichever comes first, and spends neither.
#[tokio::test]
async fn a_request_with_two_refresh_cookies_is_refused() {
    let app = TestApp::spawn().await;
    app.create_user("umar", false).await;
    let login = app.login_json(json!({"username": "umar", "password": PASSWORD})).await;
    let own = cookie_value(login.headers(), "__Secure-fin_refresh").unwrap();
    let planted = "p".repeat(43);
    let post = |cookie: String| {
        app.client
            .post(app.url("/api/auth/refresh"))
            .header("cookie", cookie)
            .send()
    };
    for cookie in [
        format!("__Secure-fin_refresh={own}; __Secure-fin_refresh={planted}"),
        format!("__Secure-fin_refresh={planted}; __Secure-fin_refresh={own}"),
    ] {
        let response = post(cookie).await.unwrap();
        assert_eq!(response.status(), 401, "two refresh cookies are never served");
    }
    let response = post(format!("__Secure-fin_refresh={own}")).await.unwrap();
    assert_eq!(response.status(), 200, "the user's own token was not spent");
    app.stop().await;
}

/// The subject and session an access token names.
fn subject_and_session(access: &str) -> (String, String) {
    use base64::Engine as _;
    let payload = access.split('.').nth(1).unwrap();
    let claims: Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    (
        claims["sub"].as_str().unwrap().to_owned(),
        claims["sid"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn refresh_tokens_cannot_be_guessed_truncated_or_carried_across_users_and_sessions() {
    let app = TestApp::spawn().await;
    let bea = app.create_user("bea", false).await;
    let cal = app.create_user("cal", false).await;
    let (bea_access, bea_1) = app.login_tokens("bea").await;
    let (_, bea_2) = app.login_tokens("bea").await;
    let (cal_access, cal_1) = app.login_tokens("cal").await;

    // Guessed (well-formed random tokens), truncated, one character changed, extended.
    let mut attempts: Vec<String> = (0..20)
        .map(|_| {
            use base64::Engine as _;
            let bytes: [u8; 32] = rand::random();
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
        })
        .collect();
    attempts.push(bea_1[..bea_1.len() - 1].to_owned());
    attempts.push(bea_1[..bea_1.len() / 2].to_owned());
    let mut flipped = bea_1.clone().into_bytes();
    flipped[5] = if flipped[5] == b'A' { b'B' } else { b'A' };
    attempts.push(String::from_utf8(flipped).unwrap());
    attempts.push(format!("{bea_1}A"));
    attempts.push(format!("{bea_1}{cal_1}"));
    for token in &attempts {
        assert_eq!(
            error_code(refresh(&app, token).await, 401).await,
            "invalid_refresh_token"
        );
    }

    // A token only ever yields its own user and its own session.
    let (cal_access_2, cal_2) = rotate(&app, &cal_1).await;
    assert_eq!(subject_and_session(&cal_access_2), subject_and_session(&cal_access));
    assert_eq!(subject_and_session(&cal_access).0, cal.to_string());
    let (bea_access_2, bea_1b) = rotate(&app, &bea_1).await;
    assert_eq!(subject_and_session(&bea_access_2), subject_and_session(&bea_access));
    assert_eq!(subject_and_session(&bea_access).0, bea.to_string());

    // Replaying Bea's spent token ends that one session only: her other session and Cal's
    // carry on.
    app.clock.advance(Duration::seconds(11));
    assert_eq!(
        error_code(refresh(&app, &bea_1).await, 401).await,
        "refresh_token_reused"
    );
    assert_eq!(
        error_code(refresh(&app, &bea_1b).await, 401).await,
        "invalid_refresh_token"
    );
    rotate(&app, &bea_2).await;
    rotate(&app, &cal_2).await;

    app.stop().await;
}

#[tokio::test]
async fn bad_refresh_tokens_are_refused_cleanly() {
    let app = TestApp::spawn().await;
    for token in ["", "garbage", &"A".repeat(86), &"é".repeat(43)] {
        assert_eq!(
            error_code(refresh(&app, token).await, 401).await,
            "invalid_refresh_token",
            "{token}"
        );
    }
    let none = app.client.post(app.url("/api/auth/refresh")).send().await.unwrap();
    assert_eq!(error_code(none, 401).await, "invalid_refresh_token");
    let bad_json = app
        .client
        .post(app.url("/api/auth/refresh"))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(bad_json, 400).await, "invalid_request");
    app.stop().await;
}

#[tokio::test]
async fn sessions_end_when_idle_and_at_their_absolute_lifetime() {
    let app = TestApp::spawn().await;
    app.create_user("vera", false).await;
    let (_, r1) = app.login_tokens("vera").await;
    app.clock.advance(Duration::days(7) + Duration::seconds(1));
    assert_eq!(
        error_code(refresh(&app, &r1).await, 401).await,
        "invalid_refresh_token",
        "idle"
    );

    let (_, mut token) = app.login_tokens("vera").await;
    for _ in 0..4 {
        app.clock.advance(Duration::days(6));
        token = rotate(&app, &token).await.1;
    }
    app.clock.advance(Duration::days(5));
    token = rotate(&app, &token).await.1;
    // Day 30 and a second: used a day ago, but the session's absolute lifetime is over.
    app.clock.advance(Duration::days(1) + Duration::seconds(1));
    assert_eq!(
        error_code(refresh(&app, &token).await, 401).await,
        "invalid_refresh_token",
        "30 days"
    );
    app.stop().await;
}

#[tokio::test]
async fn sessions_are_listed_and_ended_one_at_a_time_or_all_at_once() {
    let app = TestApp::spawn().await;
    app.create_user("wes", false).await;
    app.create_user("xena", false).await;
    let (phone, _) = app.login_tokens("wes").await;
    let (laptop, _) = app.login_tokens("wes").await;
    let (xena, _) = app.login_tokens("xena").await;

    let list = |token: String| {
        let app = &app;
        async move {
            let response = app
                .client
                .get(app.url("/api/sessions"))
                .bearer_auth(token)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            response.json::<Vec<Value>>().await.unwrap()
        }
    };
    let sessions = list(phone.clone()).await;
    assert_eq!(sessions.len(), 2);
    assert_eq!(sessions.iter().filter(|s| s["current"] == true).count(), 1);
    for field in ["id", "device", "ip", "created_at", "last_used_at"] {
        assert!(sessions[0][field].is_string(), "{field}");
    }
    let laptop_id = sessions.iter().find(|s| s["current"] == false).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();

    let delete = |token: &str, id: &str| {
        app.client
            .delete(app.url(&format!("/api/sessions/{id}")))
            .bearer_auth(token)
            .send()
    };
    assert_eq!(
        error_code(delete(&xena, &laptop_id).await.unwrap(), 404).await,
        "not_found",
        "not hers"
    );
    assert_eq!(delete(&phone, &laptop_id).await.unwrap().status(), 204);
    assert_eq!(app.get_me(&laptop).await.status(), 401);
    assert_eq!(app.get_me(&phone).await.status(), 200);
    assert_eq!(
        error_code(delete(&phone, &laptop_id).await.unwrap(), 404).await,
        "not_found"
    );
    assert_eq!(list(phone.clone()).await.len(), 1);

    let (tablet, _) = app.login_tokens("wes").await;
    let all = app
        .client
        .post(app.url("/api/auth/logout-all"))
        .bearer_auth(&tablet)
        .send()
        .await
        .unwrap();
    assert_eq!(all.status(), 204);
    assert_eq!(app.get_me(&phone).await.status(), 401);
    assert_eq!(app.get_me(&tablet).await.status(), 401);
    assert_eq!(app.get_me(&xena).await.status(), 200, "other users keep their sessions");
    app.stop().await;
}

#[tokio::test]
async fn a_password_change_ends_every_session() {
    let app = TestApp::spawn().await;
    app.create_user("yara", false).await;
    app.create_user("yves", false).await;
    let (bystander, _) = app.login_tokens("yves").await;
    let (phone, _) = app.login_tokens("yara").await;
    let (laptop, _) = app.login_tokens("yara").await;
    let change = |token: &str, current: &str, new: &str| {
        app.client
            .post(app.url("/api/me/password"))
            .bearer_auth(token)
            .json(&json!({"current_password": current, "new_password": new}))
            .send()
    };
    let wrong = change(&laptop, "not it", "a brand new passphrase").await.unwrap();
    assert_eq!(error_code(wrong, 400).await, "invalid_current_password");
    let weak = change(&laptop, PASSWORD, "short").await.unwrap();
    assert_eq!(error_code(weak, 422).await, "weak_password");
    assert_eq!(app.get_me(&phone).await.status(), 200, "failed attempts change nothing");

    assert_eq!(
        change(&laptop, PASSWORD, "a brand new passphrase")
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(app.get_me(&phone).await.status(), 401);
    assert_eq!(app.get_me(&laptop).await.status(), 401);
    assert_eq!(app.get_me(&bystander).await.status(), 200, "only her sessions end");
    let old = app.login_json(json!({"username": "yara", "password": PASSWORD})).await;
    assert_eq!(old.status(), 401);
    let new = app
        .login_json(json!({"username": "yara", "password": "a brand new passphrase"}))
        .await;
    assert_eq!(new.status(), 200);
    assert_eq!(app.count_events("password_changed").await, 1);
    app.stop().await;
}

#[tokio::test]
async fn sessions_show_a_readable_device() {
    let app = TestApp::spawn().await;
    app.create_user("zoe", false).await;
    let response = app
        .client
        .post(app.url("/api/auth/login"))
        .header(
            "user-agent",
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0",
        )
        .json(&json!({"username": "zoe", "password": PASSWORD, "refresh_delivery": "body"}))
        .send()
        .await
        .unwrap();
    let access = response.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let sessions: Vec<Value> = app
        .client
        .get(app.url("/api/sessions"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(sessions[0]["device"], "Firefox on Windows");
    assert_eq!(sessions[0]["current"], true);
    app.stop().await;
}

#[tokio::test]
async fn a_session_revoked_on_another_instance_stops_working_within_a_second() {
    let app = TestApp::spawn().await;
    app.create_user("ivy", false).await;
    let (access, refresh) = app.login_tokens("ivy").await;
    assert_eq!(app.get_me(&access).await.status(), 200, "now cached by this instance");

    let other = app.second_instance(&[]).await;
    let client = server::domain::client::ClientInfo::new("127.0.0.1".parse().unwrap(), None);
    other.services.sessions.sign_out(Some(&refresh), &client).await.unwrap();
    // This instance may still answer from its cache, but for a second at most.
    app.clock.advance(Duration::seconds(1));
    assert_eq!(error_code(app.get_me(&access).await, 401).await, "invalid_token");
    app.stop().await;
}

#[tokio::test]
async fn a_revocation_on_this_instance_takes_effect_at_once() {
    let app = TestApp::spawn().await;
    app.create_user("jon", false).await;
    let (access, _) = app.login_tokens("jon").await;
    assert_eq!(app.get_me(&access).await.status(), 200);
    let all = app
        .client
        .post(app.url("/api/auth/logout-all"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(all.status(), 204);
    assert_eq!(app.get_me(&access).await.status(), 401, "no waiting for the cache");
    app.stop().await;
}

#[tokio::test]
async fn my_activity_pages_through_my_own_events_only() {
    let app = TestApp::spawn().await;
    app.create_user("kai", false).await;
    app.create_user("lou", false).await;
    app.login_json(json!({"username": "kai", "password": "wrong password"}))
        .await;
    app.login_tokens("lou").await;
    let (_, r1) = app.login_tokens("kai").await;
    let (access, _) = rotate(&app, &r1).await;

    let page = |query: String| {
        let app = &app;
        let access = access.clone();
        async move {
            app.client
                .get(app.url(&format!("/api/activity{query}")))
                .bearer_auth(access)
                .send()
                .await
                .unwrap()
        }
    };
    let first: Value = page("?limit=2".into()).await.json().await.unwrap();
    let kinds: Vec<&str> = first["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["refresh", "login_succeeded"]);
    let item = &first["items"][1];
    for field in [
        "id",
        "event_type",
        "ip",
        "device",
        "risk_score",
        "risk_reasons",
        "created_at",
    ] {
        assert!(!item[field].is_null(), "{field}");
    }
    assert_eq!(item["username"], "kai");
    assert_eq!(first["items"][0]["username"], "kai", "a refresh names its user too");
    let next = first["next"].as_str().expect("a second page").to_owned();
    let second: Value = page(format!("?limit=2&before={next}")).await.json().await.unwrap();
    let kinds: Vec<&str> = second["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["login_failed"], "lou's events are not kai's");
    assert!(second["next"].is_null());

    assert_eq!(
        error_code(page("?before=garbage".into()).await, 400).await,
        "invalid_cursor"
    );
    assert_eq!(error_code(page("?limit=0".into()).await, 400).await, "invalid_request");
    let anonymous = app.client.get(app.url("/api/activity")).send().await.unwrap();
    assert_eq!(error_code(anonymous, 401).await, "invalid_token");
    app.stop().await;
}
