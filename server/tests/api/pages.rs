//! The server-rendered pages and the server functions behind them, over plain HTTP (the
//! browser suite in end2end/ covers hydration).

use serde_json::Value;

use crate::helpers::{PASSWORD, TestApp, cookie_value};

/// A page request as a browser makes it (the `Accept` header decides redirect statuses).
fn page(app: &TestApp, path: &str) -> reqwest::RequestBuilder {
    app.client
        .get(app.url(path))
        .header("accept", "text/html,application/xhtml+xml")
}

#[tokio::test]
async fn the_login_page_renders_on_the_server() {
    let app = TestApp::spawn().await;
    let response = page(&app, "/login").send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-frame-options"], "DENY");
    let html = response.text().await.unwrap();
    assert!(html.contains("<form") && html.contains("name=\"password\""), "{html}");
    assert!(html.contains("/pkg/fin_intelli.js"), "hydration script is linked");
    app.stop().await;
}

#[tokio::test]
async fn home_sends_visitors_without_a_session_to_login() {
    let app = TestApp::spawn().await;
    let response = page(&app, "/").send().await.unwrap();
    assert!(response.status().is_redirection(), "{}", response.status());
    assert_eq!(response.headers()["location"], "/api/auth/resume?next=%2F");
    let resume = page(&app, "/api/auth/resume?next=%2F").send().await.unwrap();
    assert_eq!(resume.status(), 303);
    assert_eq!(resume.headers()["location"], "/login", "no refresh cookie: sign in");
    app.stop().await;
}

/// `curl /` sends `Accept: */*`: it gets a redirect status too, not a `200` with an empty
/// body and a `Location` nothing follows.
#[tokio::test]
async fn a_plain_request_for_a_protected_page_is_redirected() {
    let app = TestApp::spawn().await;
    for accept in ["*/*", "application/json"] {
        let response = app
            .client
            .get(app.url("/"))
            .header("accept", accept)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 302, "Accept: {accept}");
        assert_eq!(response.headers()["location"], "/api/auth/resume?next=%2F");
    }
    app.stop().await;
}

#[tokio::test]
async fn resume_exchanges_the_refresh_cookie_and_returns_to_the_page() {
    let app = TestApp::spawn().await;
    app.create_user("otto", false).await;
    let (_, refresh) = app.login_tokens("otto").await;
    let cookie = format!("__Secure-fin_refresh={refresh}");
    let resume = page(&app, "/api/auth/resume?next=%2Fsomewhere")
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(resume.status(), 303);
    assert_eq!(resume.headers()["location"], "/somewhere");
    let access = cookie_value(resume.headers(), "__Host-fin_access").expect("fresh access cookie");
    assert_ne!(
        cookie_value(resume.headers(), "__Secure-fin_refresh").unwrap(),
        refresh,
        "rotated"
    );
    let home = page(&app, "/")
        .header("cookie", format!("__Host-fin_access={access}"))
        .send()
        .await
        .unwrap();
    assert_eq!(home.status(), 200);

    for next in ["//evil.example", "https://evil.example"] {
        let (_, refresh) = app.login_tokens("otto").await;
        let resume = page(&app, &format!("/api/auth/resume?next={next}"))
            .header("cookie", format!("__Secure-fin_refresh={refresh}"))
            .send()
            .await
            .unwrap();
        assert_eq!(resume.headers()["location"], "/", "never an open redirect: {next}");
    }
    app.stop().await;
}

#[tokio::test]
async fn unknown_pages_are_real_404s() {
    let app = TestApp::spawn().await;
    let response = page(&app, "/no/such/page").send().await.unwrap();
    assert_eq!(response.status(), 404);
    app.stop().await;
}

#[tokio::test]
async fn the_sign_in_server_function_sets_cookies_and_home_shows_the_user() {
    let app = TestApp::spawn().await;
    app.create_user("nina", true).await;

    let wrong = app
        .client
        .post(app.url("/api/auth/ui/sign-in"))
        .header("accept", "application/json")
        .form(&[("username", "nina"), ("password", "nope")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    let error: Value = wrong.json().await.unwrap();
    assert_eq!(error["error"], "invalid_credentials");

    let signed_in = app
        .client
        .post(app.url("/api/auth/ui/sign-in"))
        .header("accept", "application/json")
        .form(&[("username", "nina"), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 200);
    assert_eq!(
        signed_in.headers()["cache-control"],
        "no-store",
        "a server function's answer"
    );
    let access = cookie_value(signed_in.headers(), "__Host-fin_access").expect("access cookie");
    let refresh = cookie_value(signed_in.headers(), "__Secure-fin_refresh").expect("refresh cookie");
    let me: Value = signed_in.json().await.unwrap();
    assert_eq!(me["username"], "nina");

    let home = page(&app, "/")
        .header("cookie", format!("__Host-fin_access={access}"))
        .send()
        .await
        .unwrap();
    assert_eq!(home.status(), 200);
    assert_eq!(home.headers()["cache-control"], "no-store", "a page with personal data");
    let html = home.text().await.unwrap();
    assert!(html.contains("nina") && html.contains("admin"), "{html}");
    let csv = app
        .client
        .get(app.url("/admin/activity.csv"))
        .header("cookie", format!("__Host-fin_access={access}"))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert_eq!(csv.headers()["cache-control"], "no-store", "the CSV export");

    let signed_out = app
        .client
        .post(app.url("/api/auth/ui/sign-out"))
        .header("accept", "application/json")
        .header(
            "cookie",
            format!("__Secure-fin_refresh={refresh}; __Host-fin_access={access}"),
        )
        .send()
        .await
        .unwrap();
    assert!(signed_out.status().is_success(), "{}", signed_out.status());
    let home = page(&app, "/")
        .header("cookie", format!("__Host-fin_access={access}"))
        .send()
        .await
        .unwrap();
    assert!(
        home.status().is_redirection(),
        "the revoked session no longer renders as signed in"
    );
    app.stop().await;
}

#[tokio::test]
async fn malformed_server_function_calls_are_400_json() {
    let app = TestApp::spawn().await;
    for body in ["username=a", "", "password=only"] {
        let response = app
            .client
            .post(app.url("/api/auth/ui/sign-in"))
            .header("accept", "application/json")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{body:?}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["error"], "bad_request");
    }
    app.stop().await;
}

/// The `nonce="…"` values of the page's inline scripts.
fn script_nonces(html: &str) -> Vec<String> {
    html.split("<script")
        .skip(1)
        .filter_map(|tag| {
            let tag = &tag[..tag.find('>')?];
            let start = tag.find("nonce=\"")? + "nonce=\"".len();
            Some(tag[start..][..tag[start..].find('"')?].to_owned())
        })
        .collect()
}

#[tokio::test]
async fn pages_carry_a_fresh_nonce_policy_and_everything_else_a_closed_one() {
    let app = TestApp::spawn().await;
    let mut seen = Vec::new();
    for _ in 0..2 {
        let response = page(&app, "/login").send().await.unwrap();
        let policy = response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(response.headers()["x-content-type-options"], "nosniff");
        assert_eq!(response.headers()["referrer-policy"], "no-referrer");
        assert!(
            response.headers().get("strict-transport-security").is_none(),
            "plain HTTP: no HSTS"
        );
        let html = response.text().await.unwrap();
        let nonces = script_nonces(&html);
        assert!(!nonces.is_empty(), "the hydration script carries a nonce: {html}");
        assert!(nonces.iter().all(|n| n == &nonces[0]), "one nonce per page: {nonces:?}");
        assert!(
            policy.contains(&format!("script-src 'self' 'nonce-{}' 'wasm-unsafe-eval';", nonces[0])),
            "{policy}"
        );
        assert!(
            policy.contains("frame-ancestors 'none'") && policy.contains("object-src 'none'"),
            "{policy}"
        );
        seen.push(nonces[0].clone());
    }
    assert_ne!(seen[0], seen[1], "each response has its own nonce");

    // A page the router does not know is rendered too, under the same kind of policy.
    let missing = page(&app, "/no/such/page").send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let policy = missing.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    let nonces = script_nonces(&missing.text().await.unwrap());
    assert!(policy.contains(&format!("'nonce-{}'", nonces[0])), "{policy}");

    for path in ["/api/me", "/healthz", "/.well-known/jwks.json"] {
        let response = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(
            response.headers()["content-security-policy"],
            "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
            "{path}"
        );
    }
    app.stop().await;
}

/// The HSTS header `app` sends on a request that says it arrived over `proto`.
async fn hsts_for(app: &TestApp, proto: &str) -> Option<String> {
    let response = app
        .client
        .get(app.url("/healthz"))
        .header("x-forwarded-proto", proto)
        .send()
        .await
        .unwrap();
    let hsts = response.headers().get("strict-transport-security")?;
    Some(hsts.to_str().unwrap().to_owned())
}

#[tokio::test]
async fn hsts_only_when_a_trusted_proxy_says_the_request_came_over_tls() {
    let trusting = TestApp::spawn_with(&[("FIN_TRUSTED_PROXIES", "127.0.0.1/32")]).await;
    assert_eq!(
        hsts_for(&trusting, "https").await.as_deref(),
        Some("max-age=63072000; includeSubDomains")
    );
    assert_eq!(hsts_for(&trusting, "http").await, None);
    trusting.stop().await;

    // Anyone else's word is not enough.
    let app = TestApp::spawn().await;
    assert_eq!(hsts_for(&app, "https").await, None);
    app.stop().await;
}

#[tokio::test]
async fn pages_and_json_go_out_compressed_and_the_live_stream_does_not() {
    let app = TestApp::spawn().await;
    app.create_user("root", true).await;
    let (access, _) = app.login_tokens("root").await;

    // A page, to a browser that takes brotli; the API's JSON, to a client that takes gzip.
    let login = page(&app, "/login")
        .header("accept-encoding", "br, gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), 200);
    assert_eq!(login.headers()["content-encoding"], "br");
    assert!(
        login.headers()["vary"]
            .to_str()
            .unwrap()
            .to_ascii_lowercase()
            .contains("accept-encoding")
    );
    let document = app
        .client
        .get(app.url("/api/openapi.json"))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(document.headers()["content-encoding"], "gzip");
    let squeezed = document.bytes().await.unwrap().len();
    let plain = app.client.get(app.url("/api/openapi.json")).send().await.unwrap();
    assert!(
        plain.headers().get("content-encoding").is_none(),
        "nothing asked, nothing compressed"
    );
    let whole = plain.bytes().await.unwrap().len();
    assert!(squeezed * 4 < whole, "{squeezed} of {whole} bytes");

    // A streamed body (the CSV export, page by page) is compressed to its end.
    let csv = app
        .client
        .get(app.url("/api/admin/activity.csv"))
        .bearer_auth(&access)
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert_eq!(csv.headers()["content-encoding"], "gzip");
    let gzipped = csv.bytes().await.expect("the whole export arrives");
    assert_eq!(&gzipped[..2], [0x1f, 0x8b], "a gzip stream");

    // The live stream's events leave as they happen: never held back by a compressor.
    let stream = app
        .client
        .get(app.url("/api/admin/stream"))
        .bearer_auth(&access)
        .header("accept-encoding", "br, gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    assert!(stream.headers().get("content-encoding").is_none());
    drop(stream);
    app.stop().await;
}
