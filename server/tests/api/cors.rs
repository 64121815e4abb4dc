//! The static bundle served from another origin of the same site (`FIN_CORS_ORIGINS`): CORS
//! with credentials for the listed origins and no CORS at all for others, preflights, the
//! cross-site refusal, and the resume redirect back to the bundle.

use crate::helpers::{PASSWORD, TestApp, cookie_value, error_code};

/// The static bundle's origin; the API is on another origin of the same site.
const BUNDLE: &str = "https://app.example.com";
const OTHER: &str = "https://evil.example.com";

async fn spawn() -> TestApp {
    TestApp::spawn_with(&[("FIN_CORS_ORIGINS", &format!("{BUNDLE},http://127.0.0.1:8080"))]).await
}

/// The `Access-Control-*` headers of a response, by name.
fn cors_headers(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .keys()
        .map(|name| name.as_str().to_owned())
        .filter(|name| name.starts_with("access-control-"))
        .collect()
}

fn header<'a>(response: &'a reqwest::Response, name: &str) -> &'a str {
    response.headers()[name].to_str().unwrap()
}

/// A server-function call as the bundle's page makes it: from its origin, same site.
fn server_fn(app: &TestApp, path: &str, origin: &str) -> reqwest::RequestBuilder {
    app.client
        .post(app.url(path))
        .header("origin", origin)
        .header("sec-fetch-site", "same-site")
        .header("accept", "application/json")
        .header("content-type", "application/x-www-form-urlencoded")
}

#[tokio::test]
async fn a_listed_origin_signs_in_and_reads_answers_with_credentials() {
    let app = spawn().await;
    app.create_user("stella", false).await;
    let signed_in = server_fn(&app, "/api/auth/ui/sign-in", BUNDLE)
        .body(format!("username=stella&password={}", PASSWORD.replace(' ', "+")))
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 200);
    assert_eq!(header(&signed_in, "access-control-allow-origin"), BUNDLE);
    assert_eq!(header(&signed_in, "access-control-allow-credentials"), "true");
    // The page must see the server function's redirect to follow it.
    assert!(header(&signed_in, "access-control-expose-headers").contains("serverfnredirect"));
    assert!(header(&signed_in, "vary").contains("origin"));
    let access = cookie_value(signed_in.headers(), "__Host-fin_access").expect("session cookie");

    // The cookie the browser keeps for the API then works from the bundle's origin.
    let whoami = server_fn(&app, "/api/ui/whoami", BUNDLE)
        .header("cookie", format!("__Host-fin_access={access}"))
        .send()
        .await
        .unwrap();
    assert_eq!(whoami.status(), 200);
    assert_eq!(header(&whoami, "access-control-allow-origin"), BUNDLE);
    let me: serde_json::Value = whoami.json().await.unwrap();
    assert_eq!(me["username"], "stella");

    // Errors are readable too (the page shows them), and a second listed origin is its own.
    let anonymous = server_fn(&app, "/api/ui/sessions", "http://127.0.0.1:8080")
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert_eq!(
        header(&anonymous, "access-control-allow-origin"),
        "http://127.0.0.1:8080"
    );
    app.stop().await;
}

#[tokio::test]
async fn other_origins_get_no_cors_and_their_unsafe_requests_are_refused() {
    let app = spawn().await;
    app.create_user("stella", false).await;
    for origin in [
        OTHER,
        "https://app.example.com.evil.example",
        "http://app.example.com",
        "null",
    ] {
        let read = app
            .client
            .get(app.url("/healthz"))
            .header("origin", origin)
            .send()
            .await
            .unwrap();
        assert_eq!(read.status(), 200);
        assert_eq!(cors_headers(&read), Vec::<String>::new(), "{origin}");

        let sign_in = server_fn(&app, "/api/auth/ui/sign-in", origin)
            .body(format!("username=stella&password={}", PASSWORD.replace(' ', "+")))
            .send()
            .await
            .unwrap();
        assert_eq!(cors_headers(&sign_in), Vec::<String>::new(), "{origin}");
        assert!(cookie_value(sign_in.headers(), "__Host-fin_access").is_none());
        assert_eq!(error_code(sign_in, 403).await, "forbidden", "{origin}");

        let login = app
            .client
            .post(app.url("/api/auth/login"))
            .header("origin", origin)
            .json(&serde_json::json!({"username": "stella", "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(login, 403).await, "forbidden", "{origin}");
    }
    // The JSON API from the listed origin (no Sec-Fetch-Site: an older browser) passes.
    let login = app
        .client
        .post(app.url("/api/auth/login"))
        .header("origin", BUNDLE)
        .json(&serde_json::json!({"username": "stella", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    assert_eq!(header(&login, "access-control-allow-origin"), BUNDLE);
    app.stop().await;
}

#[tokio::test]
async fn preflights_are_answered_for_listed_origins_only() {
    let app = spawn().await;
    let preflight = |origin: &'static str| {
        app.client
            .request(reqwest::Method::OPTIONS, app.url("/api/auth/login"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
            .send()
    };
    let allowed = preflight(BUNDLE).await.unwrap();
    assert_eq!(allowed.status(), 204);
    assert_eq!(header(&allowed, "access-control-allow-origin"), BUNDLE);
    assert_eq!(header(&allowed, "access-control-allow-credentials"), "true");
    assert!(header(&allowed, "access-control-allow-methods").contains("POST"));
    assert!(header(&allowed, "access-control-allow-headers").contains("content-type"));
    assert!(header(&allowed, "access-control-max-age").parse::<u32>().is_ok());

    let refused = preflight(OTHER).await.unwrap();
    assert!(refused.status().is_client_error(), "{}", refused.status());
    assert_eq!(cors_headers(&refused), Vec::<String>::new());
    assert_eq!(
        refused.headers()["content-type"],
        "application/json",
        "the API's JSON error"
    );

    // A plain OPTIONS (no preflight) is not answered as one.
    let plain = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/auth/login"))
        .header("origin", BUNDLE)
        .send()
        .await
        .unwrap();
    assert_ne!(plain.status(), 204);
    assert!(plain.headers().get("access-control-allow-methods").is_none());
    app.stop().await;
}

#[tokio::test]
async fn without_configured_origins_nothing_changes() {
    let app = TestApp::spawn().await;
    let read = app
        .client
        .get(app.url("/healthz"))
        .header("origin", BUNDLE)
        .send()
        .await
        .unwrap();
    assert_eq!(cors_headers(&read), Vec::<String>::new());
    let preflight = app
        .client
        .request(reqwest::Method::OPTIONS, app.url("/api/auth/login"))
        .header("origin", BUNDLE)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(cors_headers(&preflight), Vec::<String>::new());
    let login = app
        .client
        .post(app.url("/api/auth/login"))
        .header("origin", BUNDLE)
        .header("sec-fetch-site", "same-site")
        .json(&serde_json::json!({"username": "x", "password": "y"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(login, 403).await, "forbidden");
    app.stop().await;
}

#[tokio::test]
async fn resume_returns_to_the_bundle_on_a_listed_origin_only() {
    let app = spawn().await;
    app.create_user("stella", false).await;
    let resume = |next: String, refresh: Option<String>| {
        let mut request = app
            .client
            .get(app.url(&format!("/api/auth/resume?next={next}")))
            .header("accept", "text/html");
        if let Some(refresh) = refresh {
            request = request.header("cookie", format!("__Secure-fin_refresh={refresh}"));
        }
        request.send()
    };
    let (_, refresh) = app.login_tokens("stella").await;
    let back = resume(
        format!("{BUNDLE}/devices").replace(':', "%3A").replace('/', "%2F"),
        Some(refresh),
    )
    .await
    .unwrap();
    assert_eq!(back.status(), 303);
    assert_eq!(header(&back, "location"), format!("{BUNDLE}/devices"));
    assert!(cookie_value(back.headers(), "__Host-fin_access").is_some());

    // Without a session: the bundle's own sign-in page.
    let signed_out = resume(format!("{BUNDLE}/devices"), None).await.unwrap();
    assert_eq!(header(&signed_out, "location"), format!("{BUNDLE}/login"));

    // Any other site: this one's home (no open redirect).
    let (_, refresh) = app.login_tokens("stella").await;
    let elsewhere = resume(format!("{OTHER}/devices"), Some(refresh)).await.unwrap();
    assert_eq!(header(&elsewhere, "location"), "/");
    let elsewhere = resume(format!("{OTHER}/devices"), None).await.unwrap();
    assert_eq!(header(&elsewhere, "location"), "/login");
    app.stop().await;
}
