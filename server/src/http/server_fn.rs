//! Status codes for server-function failures that happen before our code runs.
//!
//! Leptos answers a server function whose arguments do not decode with status 500 (the body
//! is already our `AppError::BadRequest`, via `FromServerFnError`). Bad input is the
//! client's fault, so the status becomes 400 here, the one place that sees those responses.

use axum::body::{Body, to_bytes};
use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::Response;

/// Server-function responses are small JSON values; anything larger is left alone.
const MAX_INSPECTED_BYTES: usize = 16 * 1024;

pub async fn bad_arguments_are_400(request: Request, next: Next) -> Response {
    let is_server_fn =
        request.uri().path().starts_with("/api/ui/") || request.uri().path().starts_with("/api/auth/ui/");
    let response = next.run(request).await;
    if !is_server_fn || response.status() != StatusCode::INTERNAL_SERVER_ERROR {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_INSPECTED_BYTES).await else {
        parts.status = StatusCode::INTERNAL_SERVER_ERROR;
        return Response::from_parts(parts, Body::empty());
    };
    let is_bad_request =
        serde_json::from_slice::<serde_json::Value>(&bytes).is_ok_and(|value| value["error"] == "bad_request");
    if is_bad_request {
        parts.status = StatusCode::BAD_REQUEST;
    }
    Response::from_parts(parts, Body::from(bytes))
}
