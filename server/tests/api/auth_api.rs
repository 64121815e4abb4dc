//! The JSON API of ../shared/API.md: sign-in, sign-out, the caller, health, bad input.

use chrono::Duration;
use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, cookie_value, error_code, set_cookies};

#[tokio::test]
async fn json_login_returns_an_access_token_and_a_hardened_refresh_cookie() {
    let app = TestApp::spawn().await;
    app.create_user("alice", true).await;

    let response = app.login_json(json!({"username": "alice", "password": PASSWORD})).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let cookies = set_cookies(response.headers());
    let refresh = &cookies
        .iter()
        .find(|(n, _)| n == "__Secure-fin_refresh")
        .expect("refresh cookie")
        .1;
    for attribute in [
        "HttpOnly",
        "Secure",
        "SameSite=Strict",
        "Path=/api/auth",
        "Max-Age=2592000",
    ] {
        assert!(refresh.contains(attribute), "{refresh} lacks {attribute}");
    }
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 900);
    assert_eq!(body["role"], "admin");
    assert!(
        body.get("refresh_token").is_none(),
        "cookie delivery keeps the token out of the body"
    );

    let me = app.get_me(body["access_token"].as_str().unwrap()).await;
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.unwrap();
    assert_eq!(me["username"], "alice");
    assert_eq!(me["email"], "alice@example.com");
    assert_eq!(me["role"], "admin");
    assert_eq!(me["is_active"], true);
    assert!(me["id"].as_i64().is_some());
    app.stop().await;
}

#[tokio::test]
async fn oauth2_form_login_with_body_delivery_sets_no_cookie() {
    let app = TestApp::spawn().await;
    app.create_user("bob", false).await;
    let response = app
        .client
        .post(app.url("/api/auth/login"))
        .form(&[
            ("username", "bob"),
            ("password", PASSWORD),
            ("grant_type", "password"),
            ("refresh_delivery", "body"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(set_cookies(response.headers()).is_empty());
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["role"], "user");
    assert_eq!(body["refresh_token"].as_str().unwrap().len(), 86);
    app.stop().await;
}

#[tokio::test]
async fn the_email_address_and_any_letter_case_sign_in_too() {
    let app = TestApp::spawn().await;
    app.create_user("carol", false).await;
    for login in ["carol@example.com", "  CAROL  ", "Carol@Example.com"] {
        let response = app.login_json(json!({"username": login, "password": PASSWORD})).await;
        assert_eq!(response.status(), 200, "{login}");
    }
    app.stop().await;
}

#[tokio::test]
async fn unknown_user_wrong_password_and_inactive_account_look_the_same() {
    let app = TestApp::spawn().await;
    let dave = app.create_user("dave", false).await;
    app.create_user("erin", false).await;
    app.state.services.accounts.set_user_active(dave, false).await.unwrap();

    let mut bodies = Vec::new();
    for (username, password) in [
        ("nobody", PASSWORD),
        ("erin", "wrong password"),
        ("dave", PASSWORD),
        ("", ""),
        ("erin", ""),
    ] {
        let response = app
            .login_json(json!({"username": username, "password": password}))
            .await;
        assert_eq!(response.status(), 401, "{username}");
        bodies.push(response.text().await.unwrap());
    }
    assert!(bodies.windows(2).all(|w| w[0] == w[1]), "{bodies:?}");
    let body: Value = serde_json::from_str(&bodies[0]).unwrap();
    assert_eq!(
        body,
        json!({"error": "invalid_credentials", "message": "Invalid username or password"})
    );
    app.stop().await;
}

#[tokio::test]
async fn every_sign_in_attempt_is_logged_with_ip_and_device() {
    let app = TestApp::spawn().await;
    let id = app.create_user("frank", false).await;
    app.login_json(json!({"username": "frank", "password": "nope"})).await;
    app.login_json(json!({"username": "ghost", "password": "nope"})).await;
    app.login_tokens("frank").await;

    let events = app.store().activity_page(None, None, 10).await.unwrap();
    let summary: Vec<(&str, Option<i64>, Option<&str>)> = events
        .iter()
        .map(|e| (e.event_type.as_str(), e.user_id, e.username.as_deref()))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("login_succeeded", Some(id), Some("frank")),
            ("login_failed", None, Some("ghost")),
            ("login_failed", Some(id), Some("frank")),
        ]
    );
    assert!(
        events
            .iter()
            .all(|e| e.ip_address == "127.0.0.1" && e.device_info == "fin-tests/1.0")
    );
    app.stop().await;
}

#[tokio::test]
async fn logout_revokes_the_session_and_its_access_token() {
    let app = TestApp::spawn().await;
    app.create_user("gina", false).await;
    let (access, refresh) = app.login_tokens("gina").await;
    let (other_access, _) = app.login_tokens("gina").await;
    assert_eq!(app.get_me(&access).await.status(), 200);

    let response = app
        .client
        .post(app.url("/api/auth/logout"))
        .json(&json!({"refresh_token": refresh}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(
        cookie_value(response.headers(), "__Secure-fin_refresh").as_deref(),
        Some("")
    );
    assert_eq!(error_code(app.get_me(&access).await, 401).await, "invalid_token");
    assert_eq!(
        app.get_me(&other_access).await.status(),
        200,
        "only the signed-out session ends"
    );

    // Signing out again, or with garbage, is harmless.
    let again = app
        .client
        .post(app.url("/api/auth/logout"))
        .json(&json!({"refresh_token": refresh}))
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 204);
    let garbage = app
        .client
        .post(app.url("/api/auth/logout"))
        .json(&json!({"refresh_token": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(garbage.status(), 204);
    assert_eq!(app.count_events("logout").await, 1);
    app.stop().await;
}

#[tokio::test]
async fn logout_reads_the_refresh_cookie() {
    let app = TestApp::spawn().await;
    app.create_user("hana", false).await;
    let login = app.login_json(json!({"username": "hana", "password": PASSWORD})).await;
    let refresh = cookie_value(login.headers(), "__Secure-fin_refresh").unwrap();
    let access = login.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = app
        .client
        .post(app.url("/api/auth/logout"))
        .header("cookie", format!("__Secure-fin_refresh={refresh}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(app.get_me(&access).await.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn access_tokens_expire_after_fifteen_minutes() {
    let app = TestApp::spawn().await;
    app.create_user("ivan", false).await;
    let (access, _) = app.login_tokens("ivan").await;
    app.clock.advance(Duration::minutes(14));
    assert_eq!(app.get_me(&access).await.status(), 200);
    app.clock.advance(Duration::minutes(1));
    assert_eq!(error_code(app.get_me(&access).await, 401).await, "token_expired");
    app.stop().await;
}

#[tokio::test]
async fn a_deactivated_user_loses_access_at_once() {
    let app = TestApp::spawn().await;
    let id = app.create_user("judy", false).await;
    app.create_user("kurt", false).await;
    let (bystander, _) = app.login_tokens("kurt").await;
    let (access, _) = app.login_tokens("judy").await;
    app.state.services.accounts.set_user_active(id, false).await.unwrap();
    assert_eq!(error_code(app.get_me(&access).await, 401).await, "invalid_token");
    assert_eq!(app.get_me(&bystander).await.status(), 200, "only her sessions end");
    app.stop().await;
}

#[tokio::test]
async fn bad_requests_get_json_errors_never_5xx() {
    let app = TestApp::spawn().await;
    let post = |body: &'static str, content_type: &'static str| {
        app.client
            .post(app.url("/api/auth/login"))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    assert_eq!(
        error_code(post("{not json", "application/json").await.unwrap(), 400).await,
        "invalid_request"
    );
    assert_eq!(
        error_code(post(r#"{"username":"a"}"#, "application/json").await.unwrap(), 400).await,
        "invalid_request"
    );
    assert_eq!(
        error_code(
            post(r#"{"username":1,"password":2}"#, "application/json")
                .await
                .unwrap(),
            400
        )
        .await,
        "invalid_request"
    );
    assert_eq!(
        error_code(post("username=a&password=b", "text/plain").await.unwrap(), 415).await,
        "unsupported_media_type"
    );
    assert_eq!(
        error_code(
            post("\u{0}\u{1}", "application/x-www-form-urlencoded").await.unwrap(),
            400
        )
        .await,
        "invalid_request"
    );
    assert_eq!(
        error_code(
            post(
                "username=a&password=b&grant_type=client_credentials",
                "application/x-www-form-urlencoded"
            )
            .await
            .unwrap(),
            400
        )
        .await,
        "unsupported_grant_type"
    );
    let huge = app
        .client
        .post(app.url("/api/auth/login"))
        .header("content-type", "application/json")
        .body(vec![b' '; 200 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(huge, 413).await, "payload_too_large");
    let bad_utf8 = app
        .client
        .post(app.url("/api/auth/login"))
        .header("content-type", "application/json")
        .body(vec![b'{', 0xff, 0xfe, b'}'])
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(bad_utf8, 400).await, "invalid_request");

    assert_eq!(
        error_code(app.client.get(app.url("/api/nope")).send().await.unwrap(), 404).await,
        "not_found"
    );
    assert_eq!(
        error_code(app.client.get(app.url("/api")).send().await.unwrap(), 404).await,
        "not_found"
    );
    assert_eq!(
        error_code(app.client.get(app.url("/api/auth/login")).send().await.unwrap(), 405).await,
        "method_not_allowed"
    );
    let no_token = app.client.get(app.url("/api/me")).send().await.unwrap();
    assert_eq!(no_token.headers()["www-authenticate"], "Bearer");
    assert_eq!(error_code(no_token, 401).await, "invalid_token");
    for header in ["Bearer", "Bearer garbage", "Basic YTpi", "bearer a.b.c"] {
        let response = app
            .client
            .get(app.url("/api/me"))
            .header("authorization", header)
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(response, 401).await, "invalid_token", "{header}");
    }
    app.stop().await;
}

#[tokio::test]
async fn browsers_cannot_post_from_another_site() {
    let app = TestApp::spawn().await;
    app.create_user("cyd", false).await;
    let body = json!({"username": "cyd", "password": PASSWORD});
    let from = |header: &'static str, value: &'static str| {
        app.client
            .post(app.url("/api/auth/login"))
            .header(header, value)
            .json(&body)
            .send()
    };
    assert_eq!(
        error_code(from("origin", "https://evil.example").await.unwrap(), 403).await,
        "forbidden"
    );
    assert_eq!(
        error_code(from("sec-fetch-site", "cross-site").await.unwrap(), 403).await,
        "forbidden"
    );
    let same_origin = app
        .client
        .post(app.url("/api/auth/login"))
        .header("origin", app.base.clone())
        .header("sec-fetch-site", "same-origin")
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(same_origin.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn health_and_readiness() {
    let app = TestApp::spawn().await;
    let health: Value = app
        .client
        .get(app.url("/healthz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn metrics_count_requests_by_group_and_status_class() {
    let app = TestApp::spawn().await;
    app.create_user("mia", false).await;
    app.login_tokens("mia").await;
    let wrong = app
        .login_json(json!({"username": "mia", "password": "not the password at all"}))
        .await;
    assert_eq!(wrong.status(), 401);
    let response = app.client.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    for line in [
        "fin_http_requests_total{group=\"login\",status=\"2xx\"} 1",
        "fin_http_requests_total{group=\"login\",status=\"4xx\"} 1",
        "fin_http_request_duration_seconds_count{group=\"login\"} 2",
        "fin_database_up 1",
    ] {
        assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
    }
    // Nothing secret, and no label a client chose.
    assert!(!text.contains("mia") && !text.contains(PASSWORD));
    app.stop().await;
}

/// Signs in with the given `X-Forwarded-For` and returns the address the log recorded.
async fn logged_ip(app: &TestApp, forwarded_for: &str) -> String {
    app.create_user("kim", false).await;
    app.client
        .post(app.url("/api/auth/login"))
        .header("x-forwarded-for", forwarded_for)
        .json(&json!({"username": "kim", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let events = app.store().activity_page(None, None, 1).await.unwrap();
    events[0].ip_address.clone()
}

#[tokio::test]
async fn forwarded_for_is_ignored_from_untrusted_peers() {
    let app = TestApp::spawn().await;
    assert_eq!(logged_ip(&app, "81.2.69.142").await, "127.0.0.1");
    app.stop().await;
}

#[tokio::test]
async fn forwarded_for_is_honoured_from_a_trusted_proxy() {
    let app = TestApp::spawn_with(&[("FIN_TRUSTED_PROXIES", "127.0.0.1/32")]).await;
    assert_eq!(logged_ip(&app, "6.6.6.6, 81.2.69.142").await, "81.2.69.142");
    app.stop().await;
}

#[tokio::test]
async fn the_first_start_creates_one_admin_whose_password_works() {
    let app = TestApp::spawn().await;
    let password = app
        .state
        .services
        .accounts
        .bootstrap_admin()
        .await
        .unwrap()
        .expect("a fresh database gets an admin");
    assert!(
        app.state.services.accounts.bootstrap_admin().await.unwrap().is_none(),
        "only once"
    );
    let response = app
        .login_json(json!({"username": "admin", "password": secrecy::ExposeSecret::expose_secret(&password)}))
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["role"], "admin");
    app.stop().await;
}

#[tokio::test]
async fn the_signing_key_survives_a_restart() {
    let app = TestApp::spawn().await;
    app.create_user("mia", false).await;
    let (access, _) = app.login_tokens("mia").await;
    // A second app on the same database must accept the first one's tokens.
    let second = app.second_instance(&[]).await;
    assert!(second.services.auth.authenticate(&access).await.is_ok());
    app.stop().await;
}

#[tokio::test]
async fn the_insecure_development_setting_drops_secure_and_still_works() {
    let app = TestApp::spawn_with(&[("FIN_INSECURE_DEV_COOKIES", "true")]).await;
    app.create_user("dev", false).await;
    let login = app.login_json(json!({"username": "dev", "password": PASSWORD})).await;
    let cookies = set_cookies(login.headers());
    let refresh = &cookies
        .iter()
        .find(|(n, _)| n == "fin_refresh")
        .expect("unprefixed refresh cookie")
        .1;
    assert!(!refresh.contains("Secure") && refresh.contains("HttpOnly"), "{refresh}");
    let token = cookie_value(login.headers(), "fin_refresh").unwrap();
    let refreshed = app
        .client
        .post(app.url("/api/auth/refresh"))
        .header("cookie", format!("fin_refresh={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), 200);
    app.stop().await;
}

/// After the Argon2 settings change, an account hashed under the old ones is upgraded at its
/// next sign-in, so it costs (and times) the same as the others and as unknown names do.
#[tokio::test]
async fn a_hash_made_under_older_settings_is_upgraded_at_sign_in() {
    let app = TestApp::spawn().await;
    let older = app.second_instance(&[("FIN_ARGON2_ITERATIONS", "1")]).await;
    let user = older
        .services
        .accounts
        .create_user(server::service::NewAccount {
            username: "ulla".into(),
            email: "ulla@example.com".into(),
            password: secrecy::SecretString::from(PASSWORD.to_owned()),
            is_admin: false,
        })
        .await
        .unwrap();
    assert!(user.hashed_password.contains("t=1,"), "{}", user.hashed_password);
    let response = app
        .login_json(serde_json::json!({"username": "ulla", "password": PASSWORD}))
        .await;
    assert_eq!(response.status(), 200);
    let stored = app.store().find_user(user.id).await.unwrap().unwrap().hashed_password;
    assert!(stored.contains("t=2,"), "upgraded to today's settings: {stored}");
    let again = app
        .login_json(serde_json::json!({"username": "ulla", "password": PASSWORD}))
        .await;
    assert_eq!(again.status(), 200, "and the new hash verifies");
    app.stop().await;
}
