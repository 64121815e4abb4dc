//! The admin console's user endpoints: admins only, audited, and deactivation ends sessions.

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp, error_code};

#[tokio::test]
async fn admins_list_create_update_and_end_sessions_of_users() {
    let app = TestApp::spawn().await;
    let root_id = app.create_user("root", true).await;
    let alice = app.create_user("alice", false).await;
    app.create_user("al_ice", false).await;
    let (admin, _) = app.login_tokens("root").await;
    let (user, _) = app.login_tokens("alice").await;
    let send = |method: reqwest::Method, path: &str, token: &str, body: Option<Value>| {
        let mut request = app.client.request(method, app.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        request.send()
    };

    // Non-admins are refused everything.
    for (method, path) in [
        (reqwest::Method::GET, "/api/admin/users".to_owned()),
        (
            reqwest::Method::POST,
            format!("/api/admin/users/{alice}/revoke-sessions"),
        ),
    ] {
        assert_eq!(
            error_code(send(method, &path, &user, None).await.unwrap(), 403).await,
            "forbidden"
        );
    }

    // Search, with LIKE wildcards taken literally, and paging.
    let page: Value = send(reqwest::Method::GET, "/api/admin/users?q=al_", &admin, None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let names: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["username"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["al_ice"]);
    let page: Value = send(reqwest::Method::GET, "/api/admin/users?limit=2", &admin, None)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    let next = page["next"].as_str().unwrap();
    let rest: Value = send(
        reqwest::Method::GET,
        &format!("/api/admin/users?limit=2&before={next}"),
        &admin,
        None,
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(rest["items"][0]["username"], "root");
    assert_eq!(
        send(reqwest::Method::GET, "/api/admin/users?limit=0", &admin, None)
            .await
            .unwrap()
            .status(),
        400
    );

    // Create: 201, then conflicts and bad input are 4xx.
    let body = json!({"username": "bob", "email": "bob@example.com", "password": PASSWORD, "is_admin": false});
    let response = send(reqwest::Method::POST, "/api/admin/users", &admin, Some(body.clone()))
        .await
        .unwrap();
    assert_eq!(response.status(), 201);
    let bob: Value = response.json().await.unwrap();
    assert_eq!(
        (bob["username"].as_str(), bob["role"].as_str()),
        (Some("bob"), Some("user"))
    );
    assert_eq!(
        send(reqwest::Method::POST, "/api/admin/users", &admin, Some(body))
            .await
            .unwrap()
            .status(),
        409
    );
    let weak = json!({"username": "carol", "email": "carol@example.com", "password": "short"});
    assert_eq!(
        send(reqwest::Method::POST, "/api/admin/users", &admin, Some(weak))
            .await
            .unwrap()
            .status(),
        422
    );
    assert_eq!(
        send(
            reqwest::Method::POST,
            "/api/admin/users",
            &admin,
            Some(json!({"username": 1}))
        )
        .await
        .unwrap()
        .status(),
        400
    );

    // Promote, then deactivate: alice's session ends at once.
    let path = format!("/api/admin/users/{alice}");
    let updated: Value = send(reqwest::Method::PATCH, &path, &admin, Some(json!({"is_admin": true})))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(updated["role"], "admin");
    let updated: Value = send(reqwest::Method::PATCH, &path, &admin, Some(json!({"is_active": false})))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(updated["is_active"], false);
    assert_eq!(app.get_me(&user).await.status(), 401);
    assert_eq!(
        send(reqwest::Method::PATCH, &path, &admin, Some(json!({})))
            .await
            .unwrap()
            .status(),
        400
    );
    assert_eq!(
        send(
            reqwest::Method::PATCH,
            "/api/admin/users/999999",
            &admin,
            Some(json!({"is_active": true}))
        )
        .await
        .unwrap()
        .status(),
        404
    );
    assert_eq!(
        send(
            reqwest::Method::PATCH,
            "/api/admin/users/abc",
            &admin,
            Some(json!({"is_active": true}))
        )
        .await
        .unwrap()
        .status(),
        404
    );
    // No self-lockout.
    let response = send(
        reqwest::Method::PATCH,
        &format!("/api/admin/users/{root_id}"),
        &admin,
        Some(json!({"is_admin": false})),
    )
    .await
    .unwrap();
    assert_eq!(error_code(response, 409).await, "self_lockout");

    // Ending a user's sessions.
    app.login_tokens("bob").await;
    let bob_id = bob["id"].as_i64().unwrap();
    let ended: Value = send(
        reqwest::Method::POST,
        &format!("/api/admin/users/{bob_id}/revoke-sessions"),
        &admin,
        None,
    )
    .await
    .unwrap()
    .json()
    .await
    .unwrap();
    assert_eq!(ended["sessions_ended"], 1);

    // Each action is on the record.
    assert_eq!(
        app.count_events("user_updated").await,
        3,
        "created, promoted, deactivated"
    );
    app.stop().await;
}
