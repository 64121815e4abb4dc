//! Static assets the server carries inside its binary, so they need no site directory.

use axum::http::{HeaderValue, header};
use axum::response::IntoResponse;

/// The land outline behind the "where you signed in from" map (Natural Earth 1:110m,
/// public domain; built by `style/world-map.mjs`). Equirectangular, viewBox 0 0 360 150.
const WORLD_MAP: &str = include_str!("../../../style/world-map.svg");

/// The site's icon: every page links it, so browsers do not ask for a `/favicon.ico` that
/// would be a 404.
const FAVICON: &str = include_str!("../../../style/favicon.svg");

pub async fn favicon() -> impl IntoResponse {
    svg(FAVICON)
}

pub async fn world_map() -> impl IntoResponse {
    svg(WORLD_MAP)
}

fn svg(body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("image/svg+xml")),
            (header::CACHE_CONTROL, HeaderValue::from_static("public, max-age=86400")),
        ],
        body,
    )
}
