//! `GET /api/openapi.json`: the OpenAPI 3.1 document of the JSON API.
//!
//! The document is a file next to this one, written by hand from the handlers and compiled
//! in, so there is one source. Two things keep it honest: the `openapi` integration test
//! compares its paths and methods with the routes `http::router` registers, and
//! `make api-fuzz` runs Schemathesis against a live server with it, which fails on any status,
//! content type or body the document does not describe.

use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};

/// The document, exactly as served.
pub const DOCUMENT: &str = include_str!("openapi.json");

pub async fn document() -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))],
        DOCUMENT,
    )
        .into_response()
}
