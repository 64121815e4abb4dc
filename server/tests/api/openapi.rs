//! `GET /api/openapi.json`: the document is served as JSON, every reference in it resolves,
//! and its operations are exactly the routes `http::router` registers, so a route added,
//! removed or renamed without the document fails here. (Whether the statuses and bodies
//! it describes are the ones the handlers send is what `make api-fuzz` checks.)

use std::collections::BTreeSet;

use serde_json::Value;

use server::http::routes;

use crate::helpers::{TestApp, error_code};

/// Routes that are not part of the JSON API: the browser's CSV download (access cookie), the
/// world map and the icon. Anything else the router serves must be in the document.
const NOT_API: [&str; 3] = ["/admin/activity.csv", "/favicon.svg", "/world-map.svg"];

/// `(METHOD, path)` of every operation in the route table `http::router` mounts.
fn router_routes() -> BTreeSet<(String, String)> {
    routes::table()
        .into_iter()
        .map(|route| (route.method.to_string(), route.path.to_owned()))
        .collect()
}

/// `(METHOD, path)` of every operation in the document.
fn documented_operations(doc: &Value) -> BTreeSet<(String, String)> {
    let mut operations = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            if ["get", "post", "put", "patch", "delete"].contains(&method.as_str()) {
                operations.insert((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    operations
}

/// Every `$ref` in `value`, as JSON pointers into the document.
fn refs<'a>(value: &'a Value, out: &mut Vec<&'a str>) {
    match value {
        Value::Object(map) => {
            for (key, value) in map {
                match (key.as_str(), value) {
                    ("$ref", Value::String(target)) => out.push(target),
                    _ => refs(value, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_document_is_served_and_names_every_route() {
    let app = TestApp::spawn().await;
    let response = app.client.get(app.url("/api/openapi.json")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "application/json");
    assert_eq!(response.headers()["cache-control"], "no-store");
    let doc: Value = response.json().await.expect("the document is JSON");
    assert_eq!(
        doc,
        serde_json::from_str::<Value>(DOCUMENT).unwrap(),
        "served as embedded"
    );
    assert!(
        doc["openapi"].as_str().is_some_and(|v| v.starts_with("3.1.")),
        "{}",
        doc["openapi"]
    );

    let mut targets = Vec::new();
    refs(&doc, &mut targets);
    assert!(!targets.is_empty());
    for target in targets {
        let pointer = target
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("external $ref {target}"));
        assert!(doc.pointer(pointer).is_some(), "$ref {target} does not resolve");
    }

    // The document against the router, both ways.
    let routes = router_routes();
    let (api, other): (BTreeSet<_>, BTreeSet<_>) = routes.into_iter().partition(|(_, path)| {
        path.starts_with("/api/")
            || ["/.well-known/jwks.json", "/healthz", "/readyz", "/metrics"].contains(&path.as_str())
    });
    let other: BTreeSet<&str> = other.iter().map(|(_, path)| path.as_str()).collect();
    assert_eq!(
        other,
        BTreeSet::from(NOT_API),
        "a new route outside the JSON API: document it, or list it in NOT_API"
    );
    let documented = documented_operations(&doc);
    let missing: Vec<_> = api.difference(&documented).collect();
    let phantom: Vec<_> = documented.difference(&api).collect();
    assert!(missing.is_empty(), "routes missing from openapi.json: {missing:?}");
    assert!(
        phantom.is_empty(),
        "operations in openapi.json that no route serves: {phantom:?}"
    );
    assert!(api.len() >= 25, "the route table holds only {api:?}");

    // And each documented operation is really routed (no catch-all 404, no 405), asked
    // without credentials or body.
    for (method, path) in &documented {
        let url = app.url(&path.replace("{id}", "1"));
        let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
        let response = app.client.request(method.clone(), url).send().await.unwrap();
        let status = response.status();
        let body = response.text().await.unwrap();
        assert_ne!(status, 405, "{method} {path}: {body}");
        assert!(
            !body.contains("No such API endpoint"),
            "{method} {path} is not routed: {status} {body}"
        );
    }
    app.stop().await;
}

/// The document as the server embeds it (the test above checks that it is what is served).
const DOCUMENT: &str = include_str!("../../src/http/openapi.json");

#[test]
fn every_operation_documents_its_errors_as_json() {
    let doc: Value = serde_json::from_str(DOCUMENT).expect("the document is JSON");
    let resolve = |value: &Value| -> Value {
        match value["$ref"].as_str() {
            Some(target) => doc.pointer(target.trim_start_matches('#')).cloned().unwrap(),
            None => value.clone(),
        }
    };
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, operation) in item.as_object().unwrap() {
            let responses = operation["responses"].as_object().unwrap();
            // Every handler answers within the deadline or with 503.
            assert!(responses.contains_key("503"), "{method} {path} lacks 503");
            let protected = operation["security"]
                .as_array()
                .is_some_and(|s| s.iter().any(|r| r.get("bearerAuth").is_some()));
            if protected {
                assert!(responses.contains_key("401"), "{method} {path} lacks 401");
            }
            if ["post", "patch", "delete"].contains(&method.as_str()) {
                assert!(
                    responses.contains_key("403"),
                    "{method} {path} lacks the cross-site 403"
                );
            }
            if operation.get("requestBody").is_some() {
                for status in ["400", "413", "415"] {
                    assert!(responses.contains_key(status), "{method} {path} lacks {status}");
                }
            }
            for (status, response) in responses {
                let response = resolve(response);
                if status.starts_with('4') || status.starts_with('5') {
                    let schema = &response["content"]["application/json"]["schema"];
                    assert!(schema.is_object(), "{method} {path} {status} is not a JSON error");
                }
            }
        }
    }
}

/// What `make api-fuzz` and probing the document's routes turned up: answers that were plain
/// text or HTML where every /api response is a JSON error.
#[tokio::test]
async fn malformed_paths_and_queries_get_json_errors() {
    let app = TestApp::spawn().await;
    app.create_user("root", true).await;
    let (token, _) = app.login_tokens("root").await;

    // `/api/` (the catch-all needs a non-empty rest) used to fall through to the HTML 404 page.
    let response = app.client.get(app.url("/api/")).send().await.unwrap();
    assert_eq!(error_code(response, 404).await, "not_found");

    // `next` given twice used to be axum's plain-text query rejection.
    let response = app
        .client
        .get(app.url("/api/auth/resume?next=/a&next=/b"))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(response, 400).await, "invalid_request");

    // A path parameter that is not UTF-8 once decoded names nothing: 404, as JSON (it used
    // to be axum's plain-text 400).
    for (method, path) in [
        (reqwest::Method::DELETE, "/api/sessions/%FF"),
        (reqwest::Method::PATCH, "/api/admin/users/%FF"),
        (reqwest::Method::POST, "/api/admin/users/%C3%28/revoke-sessions"),
        (reqwest::Method::POST, "/api/activity/%FF/not-me"),
        (reqwest::Method::POST, "/api/admin/activity/%FF/verdict"),
    ] {
        let response = app
            .client
            .request(method.clone(), app.url(path))
            .bearer_auth(&token)
            .json(&serde_json::json!({}))
            .send()
            .await
            .unwrap();
        assert_eq!(error_code(response, 404).await, "not_found", "{method} {path}");
    }
    app.stop().await;
}

/// Inputs with a NUL reached PostgreSQL, which refuses them with an error (500); they name
/// nothing that exists, so they get the answer any unknown name gets, on either database.
#[tokio::test]
async fn nul_characters_never_reach_the_database() {
    let app = TestApp::spawn().await;
    app.create_user("root", true).await;
    let (token, _) = app.login_tokens("root").await;

    let response = app
        .login_json(serde_json::json!({"username": "ro\u{0}ot", "password": crate::helpers::PASSWORD}))
        .await;
    assert_eq!(error_code(response, 401).await, "invalid_credentials");
    let response = app
        .client
        .post(app.url("/api/auth/login"))
        .form(&[("username", "\u{0}"), ("password", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(response, 401).await, "invalid_credentials");
    let response = app
        .client
        .post(app.url("/api/auth/step-up"))
        .json(&serde_json::json!({"challenge_id": "a\u{0}b", "code": "123456"}))
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(response, 401).await, "invalid_code");

    for path in ["/api/admin/users?q=ro%00ot", "/api/admin/activity?user=ro%00ot"] {
        let response = app.client.get(app.url(path)).bearer_auth(&token).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let page: Value = response.json().await.unwrap();
        assert_eq!(page["items"], serde_json::json!([]), "{path}");
    }
    let response = app
        .client
        .get(app.url("/api/admin/activity.csv?user=ro%00ot"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap().lines().count(), 1, "the header row only");
    app.stop().await;
}
