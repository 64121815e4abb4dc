//! The activity log: where each event came from, that it is written with the change it
//! records, and the admin search and CSV export over it.

use serde_json::Value;
use server::clock::Clock as _;

use crate::helpers::{PASSWORD, TestApp, error_code, geoip_available};

const PROXY: (&str, &str) = ("FIN_TRUSTED_PROXIES", "127.0.0.1/32");

/// The caller's newest event, through the public API.
async fn newest_event(app: &TestApp, access: &str) -> Value {
    let page: Value = app
        .client
        .get(app.url("/api/activity?limit=1"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    page["items"][0].clone()
}

async fn access_token(response: reqwest::Response) -> String {
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn a_login_through_a_trusted_proxy_is_placed_by_the_forwarded_address() {
    if !geoip_available() {
        return;
    }
    let app = TestApp::spawn_with(&[PROXY]).await;
    app.create_user("alice", false).await;

    let access = access_token(app.login_from("alice", PASSWORD, "81.2.69.142").await).await;
    let event = newest_event(&app, &access).await;
    assert_eq!(event["event_type"], "login_succeeded");
    assert_eq!(event["ip"], "81.2.69.142");
    assert_eq!(
        (event["country"].as_str(), event["city"].as_str()),
        (Some("GB"), Some("London"))
    );
    assert_eq!(event["asn"], 20712, "Andrews & Arnold");
    assert_eq!(event["asn_org"], "Andrews & Arnold Ltd");
    let (lat, lon) = (
        event["latitude"].as_f64().unwrap(),
        event["longitude"].as_f64().unwrap(),
    );
    assert!((51.0..52.0).contains(&lat) && (-1.0..1.0).contains(&lon), "{lat} {lon}");
    assert_eq!(event["decision"], "allow");
    assert_eq!(event["device"], "Unknown browser on Unknown OS");

    // The proxy's own hop is skipped; the client's is the right-most untrusted one.
    let access = access_token(app.login_from("alice", PASSWORD, "1.1.1.1, 127.0.0.1").await).await;
    let event = newest_event(&app, &access).await;
    assert_eq!(
        (event["ip"].as_str(), event["country"].as_str()),
        (Some("1.1.1.1"), Some("AU"))
    );

    // A private address behind the proxy is "Local network", not a place.
    let access = access_token(app.login_from("alice", PASSWORD, "10.0.0.1").await).await;
    let event = newest_event(&app, &access).await;
    assert_eq!(
        (event["ip"].as_str(), event["city"].as_str()),
        (Some("10.0.0.1"), Some("Local network"))
    );
    assert!(event["country"].is_null() && event["latitude"].is_null());

    // The session carries its place too.
    let sessions: Value = app
        .client
        .get(app.url("/api/sessions"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cities: Vec<&str> = sessions
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["city"].as_str())
        .collect();
    assert!(
        cities.contains(&"London") && cities.contains(&"Local network"),
        "{sessions}"
    );
    app.stop().await;
}

#[tokio::test]
async fn forwarded_addresses_from_an_untrusted_peer_are_ignored() {
    let app = TestApp::spawn().await; // no trusted proxies: the default
    app.create_user("alice", false).await;
    let access = access_token(app.login_from("alice", PASSWORD, "81.2.69.142").await).await;
    let event = newest_event(&app, &access).await;
    assert_eq!(event["ip"], "127.0.0.1", "the TCP peer, not the header");
    assert_eq!(event["city"], "Local network");
    app.stop().await;
}

#[tokio::test]
async fn missing_or_corrupt_geolocation_files_never_stop_a_login() {
    let dir = std::env::temp_dir().join(format!("fin-geo-missing-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).unwrap();
    let corrupt = dir.join("corrupt.mmdb");
    std::fs::write(&corrupt, b"this is not a MaxMind database").unwrap();
    let city = format!("{},{}", dir.join("missing.mmdb").display(), corrupt.display());
    let asn = dir.join("missing.csv").display().to_string();
    let app = TestApp::spawn_with(&[PROXY, ("FIN_GEOIP_CITY_DB", &city), ("FIN_GEOIP_ASN_DB", &asn)]).await;
    app.create_user("alice", false).await;

    let access = access_token(app.login_from("alice", PASSWORD, "81.2.69.142").await).await;
    let event = newest_event(&app, &access).await;
    assert_eq!(event["ip"], "81.2.69.142");
    assert!(
        event["country"].is_null() && event["city"].is_null() && event["asn"].is_null(),
        "{event}"
    );
    // Failed sign-ins are still logged, and still fail normally.
    let response = app.login_from("alice", "wrong password", "81.2.69.142").await;
    assert_eq!(error_code(response, 401).await, "invalid_credentials");
    app.stop().await;
    std::fs::remove_dir_all(dir).unwrap();
}

const FAIL_ACTIVITY_SQLITE: &str = "create trigger fail_activity before insert on user_activity_logs \
     begin select raise(abort, 'injected fault'); end;";
const FAIL_ACTIVITY_PG: &str = "create function fail_activity() returns trigger language plpgsql as \
     $$ begin raise exception 'injected fault'; end $$; \
     create trigger fail_activity before insert on user_activity_logs \
     for each row execute function fail_activity();";

#[tokio::test]
async fn a_login_whose_log_row_cannot_be_written_fails_and_leaves_no_session() {
    let app = TestApp::spawn().await;
    let alice = app.create_user("alice", false).await;
    app.exec_sql(FAIL_ACTIVITY_SQLITE, FAIL_ACTIVITY_PG).await;

    let response = app
        .login_json(serde_json::json!({"username": "alice", "password": PASSWORD}))
        .await;
    assert_eq!(response.status(), 500);
    assert!(
        response.headers().get("set-cookie").is_none(),
        "no refresh token handed out"
    );
    assert_eq!(error_code(response, 500).await, "internal_error");
    let now = app.clock.now();
    assert!(
        app.store().live_sessions(alice, now).await.unwrap().is_empty(),
        "the session was rolled back with its log row"
    );
    let response = app
        .login_json(serde_json::json!({"username": "alice", "password": "wrong"}))
        .await;
    assert_eq!(
        response.status(),
        500,
        "an unlogged failure is not reported as a plain failure"
    );

    app.exec_sql(
        "drop trigger fail_activity;",
        "drop trigger fail_activity on user_activity_logs; drop function fail_activity();",
    )
    .await;
    let (access, _) = app.login_tokens("alice").await;
    assert_eq!(newest_event(&app, &access).await["event_type"], "login_succeeded");
    assert_eq!(app.store().live_sessions(alice, now).await.unwrap().len(), 1);
    app.stop().await;
}

/// Every id of an admin search, following `next` to the end with small pages.
async fn all_pages(app: &TestApp, admin: &str, filters: &str) -> Vec<i64> {
    let mut ids = Vec::new();
    let mut url = format!("/api/admin/activity?limit=2&{filters}");
    loop {
        let response = app.client.get(app.url(&url)).bearer_auth(admin).send().await.unwrap();
        assert_eq!(response.status(), 200, "{url}");
        let page: Value = response.json().await.unwrap();
        ids.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|e| e["id"].as_i64().unwrap()),
        );
        match page["next"].as_str() {
            Some(next) => url = format!("/api/admin/activity?limit=2&{filters}&before={next}"),
            None => return ids,
        }
    }
}

async fn csv_ids(app: &TestApp, admin: &str, filters: &str) -> Vec<i64> {
    let response = app
        .client
        .get(app.url(&format!("/api/admin/activity.csv?{filters}")))
        .bearer_auth(admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/csv; charset=utf-8");
    let text = response.text().await.unwrap();
    let mut lines = text.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .starts_with("id,created_at,user_id,username,event_type,decision,risk_score")
    );
    lines.map(|l| l.split(',').next().unwrap().parse().unwrap()).collect()
}

#[tokio::test]
async fn the_admin_search_and_the_csv_export_return_the_same_rows() {
    let app = TestApp::spawn_with(&[PROXY]).await;
    app.create_user("root", true).await;
    app.create_user("alice", false).await;
    app.create_user("bob", false).await;
    for (who, password, ip) in [
        ("alice", PASSWORD, "81.2.69.142"),
        ("alice", "nope", "1.1.1.1"),
        ("bob", PASSWORD, "8.8.8.8"),
        ("=cmd|' /C calc'!A0", "nope", "1.1.1.1"),
        ("alice", PASSWORD, "1.1.1.1"),
        ("bob", "nope", "8.8.8.8"),
    ] {
        app.login_from(who, password, ip).await;
    }
    let (admin, _) = app.login_tokens("root").await;

    for filters in [
        "",
        "user=alice",
        "event_type=login_failed",
        "user=alice&event_type=login_succeeded",
        "min_risk=0",
        "min_risk=0.5",
        "since=2000-01-01T00:00:00Z&until=2100-01-01T00:00:00Z",
        "until=2000-01-01T00:00:00Z",
    ] {
        let pages = all_pages(&app, &admin, filters).await;
        assert_eq!(pages, csv_ids(&app, &admin, filters).await, "filters: {filters}");
        assert!(pages.windows(2).all(|w| w[0] > w[1]), "newest first");
    }
    assert_eq!(all_pages(&app, &admin, "user=alice").await.len(), 3);
    assert_eq!(all_pages(&app, &admin, "event_type=login_failed").await.len(), 3);
    assert!(all_pages(&app, &admin, "until=2000-01-01T00:00:00Z").await.is_empty());

    // The attacker-chosen name cannot become a spreadsheet formula.
    let csv = app
        .client
        .get(app.url("/api/admin/activity.csv?event_type=login_failed"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(csv.contains(",\"'=cmd|' /c calc'!a0\","), "{csv}");

    // Admins only; bad filters are 400s.
    let (user, _) = app.login_tokens("alice").await;
    for path in ["/api/admin/activity", "/api/admin/activity.csv"] {
        let response = app.client.get(app.url(path)).bearer_auth(&user).send().await.unwrap();
        assert_eq!(error_code(response, 403).await, "forbidden");
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(error_code(response, 401).await, "invalid_token");
        for bad in [
            "?event_type=nope",
            "?min_risk=2",
            "?since=today",
            "?before=%%",
            "?sort=asc",
        ] {
            let response = app
                .client
                .get(app.url(&format!("{path}{bad}")))
                .bearer_auth(&admin)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 400, "{path}{bad}");
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn old_activity_is_pruned_by_the_retention_pass() {
    let app = TestApp::spawn_with(&[("FIN_ACTIVITY_RETENTION_DAYS", "30")]).await;
    app.create_user("alice", false).await;
    app.login_tokens("alice").await;
    app.clock.advance(chrono::Duration::days(29));
    app.login_tokens("alice").await;
    assert_eq!(app.count_events("login_succeeded").await, 2);
    app.clock.advance(chrono::Duration::days(2));
    let pruned = app.state.maintenance.run_once().await.unwrap();
    assert_eq!(pruned.events, 1, "only the event older than 30 days");
    assert_eq!(app.count_events("login_succeeded").await, 1);
    app.stop().await;
}

/// Every page of a store search, newest first, following the keyset cursor.
async fn search_all(
    app: &TestApp,
    filter: &server::storage::ActivityFilter,
    page: i64,
) -> Vec<server::storage::ActivityRecord> {
    let mut filter = filter.clone();
    let mut found = Vec::new();
    loop {
        let rows = app.store().search_activity(&filter, page).await.unwrap();
        let full = rows.len() as i64 == page;
        filter.before = rows.last().map(|r| r.id);
        found.extend(rows);
        if !full {
            return found;
        }
    }
}

#[tokio::test]
async fn time_range_searches_find_every_row_far_below_the_newest_and_late_commits() {
    use chrono::{TimeZone as _, Utc};
    use server::storage::{ActivityFilter, EventType};
    let app = TestApp::spawn().await;
    // 3,000 events a minute apart, ids in time order as the log grows, so a range in the
    // past lies below thousands of newer rows; then five written late with old times (a
    // slow commit, another instance's clock), so ids and times disagree.
    let bulk = |rows: u32, minutes: &str| {
        format!(
            "with recursive n(i) as (select 1 union all select i + 1 from n where i < {rows}) \
             insert into user_activity_logs (username, event_type, ip_address, device_info, risk_score, risk_reasons, decision, created_at) \
             select 'bulk', case when i % 3 = 0 then 'login_failed' else 'refresh' end, '10.0.0.1', 'bulk loader', 0.1, '[]', 'allow', {{at}} from n"
        )
        .replace("{at}", minutes)
    };
    let sqlite_at = |expr: &str| format!("strftime('%Y-%m-%dT%H:%M:%fZ', '2026-01-01', '+' || ({expr}) || ' minutes')");
    let postgres_at = |expr: &str| format!("timestamptz '2026-01-01Z' + ({expr}) * interval '1 minute'");
    app.exec_sql(&bulk(3000, &sqlite_at("i")), &bulk(3000, &postgres_at("i")))
        .await;
    app.exec_sql(&bulk(5, &sqlite_at("i * 97")), &bulk(5, &postgres_at("i * 97")))
        .await;

    let all = search_all(&app, &ActivityFilter::default(), 1000).await;
    assert_eq!(all.len(), 3005);
    let minute = |m: i64| Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::minutes(m);
    for (since, until, event_type) in [
        (Some(10), Some(400), None),
        (Some(10), Some(400), Some(EventType::LoginFailed)),
        (None, Some(120), None),
        (Some(2_950), None, None),
        (Some(900), Some(2_990), None),
        (Some(5_000), None, None),
    ] {
        let filter = ActivityFilter {
            since: since.map(minute),
            until: until.map(minute),
            event_type,
            ..Default::default()
        };
        let want: Vec<i64> = all
            .iter()
            .filter(|r| filter.since.is_none_or(|s| r.created_at >= s))
            .filter(|r| filter.until.is_none_or(|u| r.created_at < u))
            .filter(|r| event_type.is_none_or(|t| r.event_type == t.as_str()))
            .map(|r| r.id)
            .collect();
        for page in [50, 7, 1000] {
            let got: Vec<i64> = search_all(&app, &filter, page).await.iter().map(|r| r.id).collect();
            assert_eq!(
                got, want,
                "since {since:?} until {until:?} {event_type:?}, pages of {page}"
            );
        }
    }
    app.stop().await;
}
