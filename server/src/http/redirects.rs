//! Page redirects that every client understands.
//!
//! A protected page sends a visitor without a session elsewhere with Leptos's `redirect`,
//! which sets `Location` but sets a redirect status only for requests that accept HTML:
//! `curl /` (`Accept: */*`) got `200` with an empty body and a `Location` nothing follows.
//! A page answer with a `Location` becomes a `302 Found` here, whatever the client accepts.

use axum::extract::Request;
use axum::http::{Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

/// Middleware: a `200` page response naming a `Location` is a redirect.
pub async fn with_status(request: Request, next: Next) -> Response {
    // Server functions answer their own client (which reads `Location` on a 200 and
    // navigates); only page loads are turned into redirects.
    let page_load =
        matches!(*request.method(), Method::GET | Method::HEAD) && !request.uri().path().starts_with("/api/");
    let mut response = next.run(request).await;
    if page_load && response.status() == StatusCode::OK && response.headers().contains_key(header::LOCATION) {
        *response.status_mut() = StatusCode::FOUND;
    }
    response
}
