//! Request ids: every response names its request in `X-Request-Id`, and what the request
//! logged, down to a storage failure deep in a service, carries the same id.

use std::process::{Command, Stdio};

use crate::cli;
use crate::helpers::{TestApp, TestDb};

#[tokio::test]
async fn every_response_carries_a_fresh_request_id() {
    let app = TestApp::spawn().await;
    let mut seen = Vec::new();
    for path in ["/healthz", "/api/me", "/api/nope", "/login"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        let id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
        assert!(id.len() >= 16, "{path}: {id}");
        assert!(!seen.contains(&id), "{path}: ids are not reused");
        seen.push(id);
    }
    app.stop().await;
}

#[tokio::test]
async fn an_id_is_taken_from_a_trusted_proxy_only() {
    let direct = TestApp::spawn().await;
    let response = direct
        .client
        .get(direct.url("/healthz"))
        .header("x-request-id", "chosen-by-the-client")
        .send()
        .await
        .unwrap();
    assert_ne!(response.headers()["x-request-id"], "chosen-by-the-client");
    direct.stop().await;

    let proxied = TestApp::spawn_with(&[("FIN_TRUSTED_PROXIES", "127.0.0.1/32")]).await;
    let response = proxied
        .client
        .get(proxied.url("/healthz"))
        .header("x-request-id", "edge-7f3a")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "edge-7f3a");
    proxied.stop().await;
}

/// The real binary with its own logging: a storage failure deep in the sign-in is logged
/// under the id the 500 names.
#[tokio::test]
async fn a_logged_error_carries_the_request_id_of_its_response() {
    let db = TestDb::new().await;
    let password = "a long enough passphrase";
    let created = cli::create_user(&db, &["--username", "ivy", "--email", "ivy@example.com"], password);
    assert!(created.status.success(), "{}", String::from_utf8_lossy(&created.stderr));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let server = cli::fin_intelli(&db)
        .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
        .env("FIN_BOOTSTRAP_ADMIN", "false")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    cli::wait_until_listening(port);
    // A sign-in reads the owner's known networks before anything else: without the table,
    // the storage layer fails and the edge logs it.
    db.execute("alter table known_networks rename to known_networks_gone")
        .await;

    let response = reqwest::Client::new()
        .post(format!("http://127.0.0.1:{port}/api/auth/login"))
        .json(&serde_json::json!({"username": "ivy", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 500);
    let id = response.headers()["x-request-id"].to_str().unwrap().to_owned();
    let killed = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let exited = tokio::task::spawn_blocking(move || server.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let log = String::from_utf8_lossy(&exited.stderr);
    let failure = log
        .lines()
        .find(|line| line.contains("storage failure"))
        .unwrap_or_else(|| panic!("the failure is logged:\n{log}"));
    assert!(failure.contains("ERROR"), "{failure}");
    assert!(
        failure.contains(&format!("id={id}")),
        "the line names the request: {failure}"
    );
    db.cleanup().await;
}
