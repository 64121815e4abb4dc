//! Resource limits: the listener's header-read timeout and connection limit (slowloris),
//! and the caps on live streams.

use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{EventStream, PASSWORD, TestApp, error_code};

/// A client that never reuses a connection: the server closes idle ones at its header
/// timeout, which these tests set short.
fn fresh_client() -> reqwest::Client {
    reqwest::Client::builder().pool_max_idle_per_host(0).build().unwrap()
}

async fn access_token(client: &reqwest::Client, app: &TestApp, username: &str) -> String {
    let response = client
        .post(app.url("/api/auth/login"))
        .json(&serde_json::json!({"username": username, "password": PASSWORD, "refresh_delivery": "body"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

async fn open_stream(client: &reqwest::Client, app: &TestApp, access: &str) -> reqwest::Response {
    client
        .get(app.url("/api/admin/stream"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
}

async fn connect(app: &TestApp) -> TcpStream {
    TcpStream::connect(app.base.trim_start_matches("http://"))
        .await
        .unwrap()
}

/// Reads until the server closes the connection (or resets it); false if `wait` passes first.
async fn closed_within(stream: &mut (impl AsyncRead + Unpin), wait: Duration) -> bool {
    let mut buffer = [0u8; 1024];
    tokio::time::timeout(wait, async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {} // a 408 before closing is fine
            }
        }
    })
    .await
    .is_ok()
}

#[tokio::test]
async fn a_request_head_trickled_in_is_cut_off_at_the_header_read_timeout() {
    let app = TestApp::spawn_with(&[("FIN_HEADER_READ_TIMEOUT_SECS", "1")]).await;

    // Slowloris: a header line every 200 ms, never the blank line that ends the head.
    let mut slow = connect(&app).await;
    let started = Instant::now();
    let (mut reader, mut writer) = slow.split();
    writer
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n")
        .await
        .unwrap();
    let trickle = async {
        for n in 0..25 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if writer.write_all(format!("X-Slow-{n}: a\r\n").as_bytes()).await.is_err() {
                // Refused: the server closed it; the reader says when.
                std::future::pending::<()>().await;
            }
        }
    };
    let closed = tokio::select! {
        closed = closed_within(&mut reader, Duration::from_secs(5)) => closed,
        () = trickle => false,
    };
    let after = started.elapsed();
    assert!(closed, "the server kept a never-finished head open for 5 s");
    assert!(
        after >= Duration::from_millis(900) && after < Duration::from_secs(4),
        "closed after {after:?}"
    );

    // A connection that sends nothing at all is closed the same way.
    let mut silent = connect(&app).await;
    assert!(closed_within(&mut silent, Duration::from_secs(4)).await);
    app.stop().await;
}

#[tokio::test]
async fn a_live_stream_outlives_the_header_read_timeout() {
    let app = TestApp::spawn_with(&[("FIN_HEADER_READ_TIMEOUT_SECS", "1")]).await;
    app.create_user("root", true).await;
    let client = fresh_client();
    let access = access_token(&client, &app, "root").await;
    let mut stream = EventStream::new(open_stream(&client, &app, &access).await);

    // Nothing comes from the client on a stream: the head deadline must not apply.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    access_token(&client, &app, "root").await;
    let events = stream.activities(1, Duration::from_secs(5)).await;
    assert_eq!(events.len(), 1, "the stream ended or missed the sign-in");
    assert_eq!(events[0].json()["event_type"], "login_succeeded");
    drop(stream);
    app.stop().await;
}

#[tokio::test]
async fn beyond_the_connection_limit_a_connection_waits_until_another_closes() {
    let app = TestApp::spawn_with(&[("FIN_MAX_CONNECTIONS", "2"), ("FIN_MAX_STREAMS", "1")]).await;
    let first = connect(&app).await;
    let _second = connect(&app).await;
    // Give the server time to take both.
    tokio::time::sleep(Duration::from_millis(200)).await;

    let mut third = connect(&app).await;
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut response = Vec::new();
    let waited = tokio::time::timeout(Duration::from_millis(800), third.read_to_end(&mut response)).await;
    assert!(
        waited.is_err(),
        "served beyond the limit: {:?}",
        String::from_utf8_lossy(&response)
    );

    drop(first);
    tokio::time::timeout(Duration::from_secs(3), third.read_to_end(&mut response))
        .await
        .expect("served once a connection closed")
        .unwrap();
    let response = String::from_utf8_lossy(&response);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    app.stop().await;
}

#[tokio::test]
async fn live_streams_are_capped_per_admin_and_in_all() {
    let app = TestApp::spawn_with(&[("FIN_MAX_STREAMS_PER_ADMIN", "2"), ("FIN_MAX_STREAMS", "3")]).await;
    app.create_user("root", true).await;
    app.create_user("ada", true).await;
    let client = fresh_client();
    let root = access_token(&client, &app, "root").await;
    let ada = access_token(&client, &app, "ada").await;

    let root_1 = EventStream::new(open_stream(&client, &app, &root).await);
    let _root_2 = EventStream::new(open_stream(&client, &app, &root).await);
    let refused = open_stream(&client, &app, &root).await;
    assert_eq!(error_code(refused, 429).await, "too_many_streams");

    // Another admin has places of their own, until the instance is full.
    let _ada_1 = EventStream::new(open_stream(&client, &app, &ada).await);
    let refused = open_stream(&client, &app, &ada).await;
    assert_eq!(error_code(refused, 429).await, "too_many_streams");

    // A stream that ends gives its place back.
    drop(root_1);
    let deadline = Instant::now() + Duration::from_secs(3);
    let again = loop {
        let response = open_stream(&client, &app, &root).await;
        if response.status() != 429 || Instant::now() > deadline {
            break response;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let _root_3 = EventStream::new(again);
    app.stop().await;
}
