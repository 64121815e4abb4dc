//! The password policy where passwords are chosen: a change (`POST /api/me/password`), a new
//! account (`POST /api/admin/users`) and an admin's reset (the console's server function).
//! Each refusal is 422 `weak_password` on the API and 400 on the server functions, with a
//! message that tells the person why.

use serde_json::{Value, json};

use crate::helpers::{PASSWORD, TestApp};

async fn refusal(response: reqwest::Response) -> (u16, String, String) {
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap();
    let text = |key: &str| body[key].as_str().unwrap_or_default().to_owned();
    (status, text("error"), text("message"))
}

#[tokio::test]
async fn common_contextual_and_sequential_passwords_are_refused_with_the_reason() {
    let app = TestApp::spawn().await;
    app.create_user("root", true).await;
    let quinn = app.create_user("quinn", false).await.to_string();
    let (admin, _) = app.login_tokens("root").await;
    let (access, _) = app.login_tokens("quinn").await;

    // A password change to a common password: refused, and nothing changes.
    let change = |new: &str| {
        app.client
            .post(app.url("/api/me/password"))
            .bearer_auth(&access)
            .json(&json!({"current_password": PASSWORD, "new_password": new}))
            .send()
    };
    let (status, code, message) = refusal(change("password123").await.unwrap()).await;
    assert_eq!((status, code.as_str()), (422, "weak_password"));
    assert_eq!(
        message,
        "This password is in a list of commonly used or breached passwords, which attackers try first; choose \
         another."
    );
    let (status, _, message) = refusal(change("Quinn 2024 forever").await.unwrap()).await;
    assert_eq!(status, 422);
    assert!(message.contains("username"), "{message}");
    assert_eq!(
        app.get_me(&access).await.status(),
        200,
        "a refused change changes nothing"
    );

    // A new account whose password holds its own username, then one with a good password.
    let create = |username: &str, password: &str| {
        app.client
            .post(app.url("/api/admin/users"))
            .bearer_auth(&admin)
            .json(&json!({"username": username, "email": format!("{username}@example.com"), "password": password}))
            .send()
    };
    let (status, code, message) = refusal(create("rosalind", "rosalind was here").await.unwrap()).await;
    assert_eq!((status, code.as_str()), (422, "weak_password"));
    assert_eq!(
        message,
        "This password contains the account's username, which is the first thing an attacker tries; choose one \
         that does not."
    );
    let (status, _, message) = refusal(create("rosalind", "my fin_intelli login").await.unwrap()).await;
    assert_eq!(status, 422);
    assert!(message.contains("name of this service"), "{message}");
    assert_eq!(
        create("rosalind", "a kettle of fish on a tuesday")
            .await
            .unwrap()
            .status(),
        201
    );
    let signed_in = app
        .login_json(json!({"username": "rosalind", "password": "a kettle of fish on a tuesday"}))
        .await;
    assert_eq!(signed_in.status(), 200);

    // An admin's reset through the console's server function: the UI shows the message.
    let reset = |password: &str| {
        app.client
            .post(app.url("/api/ui/admin/users/password"))
            .header("accept", "application/json")
            .header("cookie", format!("__Host-fin_access={admin}"))
            .form(&[("user_id", quinn.as_str()), ("password", password)])
            .send()
    };
    let (status, code, message) = refusal(reset("qwertyuiop").await.unwrap()).await;
    assert_eq!((status, code.as_str()), (400, "bad_request"));
    assert!(message.starts_with("This password is a sequence"), "{message}");
    let (status, _, message) = refusal(reset("quinn@example.com").await.unwrap()).await;
    assert_eq!(status, 400);
    assert!(message.contains("username"), "the username is named first: {message}");
    assert_eq!(
        app.get_me(&access).await.status(),
        200,
        "a refused reset changes nothing"
    );

    // A good new password goes through, and the old sessions end as always.
    assert_eq!(change("violets under the old bridge").await.unwrap().status(), 204);
    assert_eq!(app.get_me(&access).await.status(), 401);
    app.stop().await;
}
