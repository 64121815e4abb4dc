//! `GET /api/admin/stream`: live activity for admins, across instances, resumable.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{EventStream, PASSWORD, TestApp};

const TRUST_LOCAL_PROXY: (&str, &str) = ("FIN_TRUSTED_PROXIES", "127.0.0.1/32");

fn postgres() -> bool {
    std::env::var("FIN_TEST_DB").is_ok_and(|db| db == "postgres")
}

async fn subscribe(client: &reqwest::Client, url: &str, access: &str, last_event_id: Option<&str>) -> EventStream {
    let mut request = client.get(url).bearer_auth(access);
    if let Some(id) = last_event_id {
        request = request.header("last-event-id", id);
    }
    EventStream::new(request.send().await.unwrap())
}

async fn error_of(response: reqwest::Response) -> (u16, String) {
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await.expect("a JSON error");
    (status, body["error"].as_str().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn only_admins_may_subscribe() {
    let app = TestApp::spawn().await;
    app.create_user("nina", false).await;
    let (access, _) = app.login_tokens("nina").await;

    let refused = app
        .client
        .get(app.url("/api/admin/stream"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(refused).await, (403, "forbidden".to_owned()));
    let anonymous = app.client.get(app.url("/api/admin/stream")).send().await.unwrap();
    assert_eq!(error_of(anonymous).await, (401, "invalid_token".to_owned()));
    let forged = app
        .client
        .get(app.url("/api/admin/stream"))
        .header("cookie", "__Host-fin_access=not.a.token")
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(forged).await, (401, "invalid_token".to_owned()));
    app.stop().await;
}

#[tokio::test]
async fn a_bad_resume_point_is_a_400() {
    let app = TestApp::spawn().await;
    app.create_user("root", true).await;
    let (access, _) = app.login_tokens("root").await;
    for (header, query) in [
        (Some("twelve"), ""),
        (Some("-1"), ""),
        (None, "?last_event_id=1e9"),
        (None, "?since=5"),
    ] {
        let mut request = app
            .client
            .get(app.url(&format!("/api/admin/stream{query}")))
            .bearer_auth(&access);
        if let Some(h) = header {
            request = request.header("last-event-id", h);
        }
        let (status, code) = error_of(request.send().await.unwrap()).await;
        assert_eq!((status, code.as_str()), (400, "invalid_request"), "{header:?} {query}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_login_on_one_instance_reaches_an_admin_on_another_within_a_second() {
    let app = TestApp::spawn_with(&[TRUST_LOCAL_PROXY]).await;
    app.create_user("root", true).await;
    app.create_user("olga", false).await;
    let (access, _) = app.login_tokens("root").await;
    let other = app.serve_second_instance(&[TRUST_LOCAL_PROXY]).await;
    let mut stream = subscribe(&app.client, &other.url("/api/admin/stream"), &access, None).await;
    // The feed starts after what is already logged (the admin's own sign-in included).
    assert!(stream.activities(1, Duration::from_millis(300)).await.is_empty());

    let response = app.login_from("olga", PASSWORD, "81.2.69.160").await;
    assert_eq!(response.status(), 200);
    let signed_in = Instant::now();
    let events = stream.activities(1, Duration::from_secs(3)).await;
    let delay = signed_in.elapsed();
    assert_eq!(events.len(), 1, "the sign-in reached the other instance");
    let event = events[0].json();
    assert_eq!(event["event_type"], "login_succeeded");
    assert_eq!(event["username"], "olga");
    assert_eq!(event["ip"], "81.2.69.160");
    assert_eq!(events[0].id.as_deref(), Some(event["id"].to_string().as_str()));
    // PostgreSQL announces the row to every instance; with SQLite, a second process on
    // the same file is found by the feed's once-a-second look.
    let bound = if postgres() {
        Duration::from_secs(1)
    } else {
        Duration::from_millis(1500)
    };
    assert!(delay < bound, "delivered after {delay:?}");

    drop(stream);
    other.stop().await;
    app.stop().await;
}

#[tokio::test]
async fn last_event_id_delivers_exactly_the_missed_events() {
    let app = TestApp::spawn().await;
    app.create_user("root", true).await;
    app.create_user("pia", false).await;
    let (access, _) = app.login_tokens("root").await;

    let mut stream = subscribe(&app.client, &app.url("/api/admin/stream"), &access, None).await;
    app.login_tokens("pia").await;
    // A stream without `Last-Event-ID` starts live; root's own sign-in, committed just
    // before, may still arrive first (its PostgreSQL notice can trail the subscription).
    // The point of resumption is pia's sign-in.
    let mut first = stream.activities(1, Duration::from_secs(3)).await;
    if first.first().is_some_and(|e| e.json()["username"] == "root") {
        first = stream.activities(1, Duration::from_secs(3)).await;
    }
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].json()["username"], "pia");
    let last_seen = first[0].id.clone().expect("events carry ids");
    drop(stream);

    // While disconnected: two failures and a success.
    for password in ["wrong one", "wrong two"] {
        app.login_json(json!({"username": "pia", "password": password})).await;
    }
    app.login_tokens("pia").await;
    let missed: Vec<serde_json::Value> = app
        .store()
        .activity_after(last_seen.parse().unwrap(), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|e| json!(e.id))
        .collect();
    assert_eq!(missed.len(), 3);

    let mut resumed = subscribe(&app.client, &app.url("/api/admin/stream"), &access, Some(&last_seen)).await;
    let replayed = resumed.activities(3, Duration::from_secs(3)).await;
    let ids: Vec<serde_json::Value> = replayed.iter().map(|e| e.json()["id"].clone()).collect();
    assert_eq!(ids, missed, "exactly the missed events, in order");
    let types: Vec<String> = replayed
        .iter()
        .map(|e| e.json()["event_type"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(types, ["login_failed", "login_failed", "login_succeeded"]);

    // Then live, with nothing repeated in between.
    app.login_json(json!({"username": "pia", "password": "wrong three"}))
        .await;
    let next = resumed.activities(1, Duration::from_secs(3)).await;
    assert_eq!(next.len(), 1);
    let id: i64 = next[0].id.as_deref().unwrap().parse().unwrap();
    assert!(id > missed[2].as_i64().unwrap());
    assert_eq!(next[0].json()["event_type"], "login_failed");

    // The query parameter resumes the same way (a page starting after its history).
    let url = app.url(&format!("/api/admin/stream?last_event_id={last_seen}"));
    let mut from_query = EventStream::new(app.client.get(url).bearer_auth(&access).send().await.unwrap());
    assert_eq!(from_query.activities(4, Duration::from_secs(3)).await.len(), 4);
    app.stop().await;
}

#[tokio::test]
async fn a_stalled_subscriber_neither_blocks_others_nor_loses_events() {
    let app = TestApp::spawn().await;
    app.create_user("root", true).await;
    let (access, _) = app.login_tokens("root").await;

    // One subscriber reads nothing while far more events arrive than the server buffers
    // (1,024 events) plus what the sockets hold (megabytes on loopback).
    // Both start after root's own sign-in, which the feed may still be publishing.
    let before = app.store().latest_activity_id().await.unwrap().to_string();
    let mut stalled = subscribe(&app.client, &app.url("/api/admin/stream"), &access, Some(&before)).await;
    let mut reader = subscribe(&app.client, &app.url("/api/admin/stream"), &access, Some(&before)).await;
    const EVENTS: usize = 20_000;
    let bulk = format!(
        "with recursive n(i) as (select 1 union all select i + 1 from n where i < {EVENTS}) \
         insert into user_activity_logs (username, event_type, ip_address, device_info, device_browser, device_os, risk_score, risk_reasons, decision, created_at) \
         select 'bulk', 'login_failed', '10.0.0.' || (i % 250), 'bulk loader', 'Firefox', 'Linux', 0.5, '[\"new_country\"]', 'deny', {{now}} from n"
    );
    // Another connection writes, as another process would: the feed finds the rows on its
    // own once-a-second look (SQLite) or by PostgreSQL's announcements.
    app.exec_sql(
        &bulk.replace("{now}", "'2026-11-25T12:00:00Z'"),
        &bulk.replace("{now}", "now()"),
    )
    .await;
    let first = app.store().activity_after(0, 1).await.unwrap()[0].id;
    let written: Vec<i64> = app
        .store()
        .search_activity(
            &server::storage::ActivityFilter {
                username: Some("bulk".into()),
                ..Default::default()
            },
            1,
        )
        .await
        .map(|newest| (newest[0].id - EVENTS as i64 + 1..=newest[0].id).collect())
        .unwrap();
    assert!(written[0] > first);

    let read = ids(&reader.activities(EVENTS, Duration::from_secs(60)).await);
    assert_same(&read, &written, "the reading subscriber, while the other stalled");

    // The stalled one now reads: every event, in order, none twice.
    let got = ids(&stalled.activities(EVENTS, Duration::from_secs(60)).await);
    assert_same(&got, &written, "the stalled subscriber");
    assert!(
        stalled.activities(1, Duration::from_millis(300)).await.is_empty(),
        "and nothing more"
    );
    app.stop().await;
}

fn ids(events: &[crate::helpers::SseEvent]) -> Vec<i64> {
    events
        .iter()
        .map(|e| e.id.as_deref().unwrap().parse().unwrap())
        .collect()
}

/// Equal id lists, or a short account of where they differ (not 20,000 numbers).
fn assert_same(got: &[i64], want: &[i64], who: &str) {
    let first_difference = got.iter().zip(want).position(|(g, w)| g != w);
    assert!(
        got.len() == want.len() && first_difference.is_none(),
        "{who}: got {} events, want {}; first difference at index {first_difference:?}",
        got.len(),
        want.len()
    );
}

/// `PATCH /api/admin/users/{id}` with `body`, as the admin holding `token`, at `base`.
async fn update_user(client: &reqwest::Client, base: &str, token: &str, id: i64, body: serde_json::Value) {
    let response = client
        .patch(format!("{base}/api/admin/users/{id}"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

async fn users_status(client: &reqwest::Client, base: &str, token: &str) -> u16 {
    let response = client
        .get(format!("{base}/api/admin/users"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    response.status().as_u16()
}

#[tokio::test]
async fn a_demoted_admin_loses_the_console_and_the_stream_at_once() {
    let app = TestApp::spawn().await;
    app.create_user("root", true).await;
    let ops = app.create_user("ops", true).await;
    let (root, _) = app.login_tokens("root").await;
    // ops in two places: the console in one, the stream in the other.
    let (access, _) = app.login_tokens("ops").await;
    let (watching, _) = app.login_tokens("ops").await;
    assert_eq!(users_status(&app.client, &app.base, &access).await, 200);
    let mut demoted = subscribe(&app.client, &app.url("/api/admin/stream"), &watching, None).await;
    let mut watcher = subscribe(&app.client, &app.url("/api/admin/stream"), &root, None).await;

    update_user(&app.client, &app.base, &root, ops, json!({"is_admin": false})).await;
    let changed = Instant::now();
    // The clock stands still: a cached "still an admin" would be believed forever.
    assert_eq!(users_status(&app.client, &app.base, &access).await, 403);
    assert!(
        demoted.ends_within(Duration::from_secs(2)).await,
        "the demoted admin's stream is still open after {:?}",
        changed.elapsed()
    );
    let refused = app
        .client
        .get(app.url("/api/admin/stream"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap();
    assert_eq!(error_of(refused).await, (403, "forbidden".to_owned()));
    assert_eq!(app.get_me(&access).await.status(), 200, "still signed in, as a user");

    // The other admin's stream goes on, and shows the change.
    let seen = next_of_type(&mut watcher, "user_updated").await;
    assert_eq!(seen["user_id"], ops);
    assert!(seen["risk_reasons"].to_string().contains("admin_removed"), "{seen}");
    app.stop().await;
}

#[tokio::test]
async fn an_admin_deactivated_on_another_instance_loses_the_stream_at_once() {
    let app = TestApp::spawn().await;
    app.create_user("root", true).await;
    let ops = app.create_user("ops", true).await;
    let (root, _) = app.login_tokens("root").await;
    let (access, _) = app.login_tokens("ops").await;
    let mut stream = subscribe(&app.client, &app.url("/api/admin/stream"), &access, None).await;
    let mut watcher = subscribe(&app.client, &app.url("/api/admin/stream"), &root, None).await;
    let other = app.serve_second_instance(&[]).await;

    update_user(&app.client, &other.base, &root, ops, json!({"is_active": false})).await;
    let changed = Instant::now();
    assert_eq!(users_status(&app.client, &other.base, &access).await, 401);
    // The event reaches this instance through the feed: at once with PostgreSQL's
    // announcements, within the feed's one-second look on SQLite.
    assert!(
        stream.ends_within(Duration::from_millis(2500)).await,
        "the deactivated admin's stream is still open after {:?}",
        changed.elapsed()
    );
    // This instance's own answers follow within the cache's second.
    app.clock.advance(chrono::Duration::seconds(1));
    assert_eq!(users_status(&app.client, &app.base, &access).await, 401);
    let seen = next_of_type(&mut watcher, "user_updated").await;
    assert!(seen["risk_reasons"].to_string().contains("user_deactivated"), "{seen}");
    other.stop().await;
    app.stop().await;
}

/// The next activity of `event_type` on `stream` (earlier ones skipped), within 3 s.
async fn next_of_type(stream: &mut EventStream, event_type: &str) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(3);
    while let Some(left) = deadline.checked_duration_since(Instant::now()) {
        let Some(event) = stream.activities(1, left).await.pop() else {
            break;
        };
        let event = event.json();
        if event["event_type"] == event_type {
            return event;
        }
    }
    panic!("no {event_type} event on the stream");
}
