//! The HTTP surface: the JSON API of ../shared/API.md, health checks, and the Leptos pages
//! and server functions, in one axum router.

pub(crate) mod activity;
mod admin;
mod assets;
mod auth;
pub mod cors;
mod dbsc;
mod deadline;
mod error;
mod extract;
#[cfg(fuzzing)]
pub mod fuzzing;
pub mod headers;
mod health;
mod me;
pub mod metrics;
mod openapi;
mod origin;
mod passkeys;
mod redirects;
pub mod request_id;
pub mod routes;
mod server_fn;
mod sessions;
mod stream;

use std::sync::Arc;

use axum::Router;
use axum::extract::FromRef;
use axum::http::{HeaderValue, header};
use axum::routing::any;
use ipnet::IpNet;
use leptos::prelude::*;
use leptos_axum::{LeptosRoutes, generate_route_list};
use tower_http::CompressionLevel;
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;

pub use error::{ApiError, DatabaseDown};
pub use extract::Authenticated;

use crate::domain::geo::Geolocator;
use crate::edge::Edge;
pub use crate::edge::wire::{cursor, parse_cursor};
use crate::service::{ActivityFeed, DatabaseGate, Maintenance, Services};
use crate::storage::Store;
use crate::web::WebBackend;

/// Largest request body accepted anywhere. Sign-in forms are tiny; this bounds the memory a
/// request can make us hold.
pub const MAX_BODY_BYTES: usize = 64 * 1024;

/// Everything a handler may need, built once at start and cloned cheaply per request.
#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    pub store: Arc<dyn Store>,
    pub geo: Arc<Geolocator>,
    pub maintenance: Maintenance,
    /// Answers 503 at once while the database is known to be unreachable.
    pub database: DatabaseGate,
    /// Request counters and latencies for `GET /metrics`.
    pub metrics: metrics::Metrics,
    pub feed: ActivityFeed,
    pub cookies: crate::edge::cookies::Cookies,
    pub trusted_proxies: Arc<[IpNet]>,
    /// The static bundle's origins (`FIN_CORS_ORIGINS`): CORS with credentials, and past the
    /// cross-site refusal.
    pub allowed_origins: cors::AllowedOrigins,
    pub security: headers::SecurityHeaders,
    /// How long a request may take to get its response head (see `deadline`).
    pub request_timeout: std::time::Duration,
    /// How many connections the listener serves and how long it waits for a request head
    /// (read by `startup::serve`, not by handlers).
    pub connections: crate::connections::ConnectionLimits,
    pub leptos: LeptosOptions,
}

impl AppState {
    /// What the server functions' backend needs of the state.
    pub fn edge(&self) -> Edge {
        Edge {
            services: self.services.clone(),
            cookies: self.cookies,
            trusted_proxies: self.trusted_proxies.clone(),
        }
    }

    /// The client behind a request head.
    pub fn client(&self, parts: &axum::http::request::Parts) -> crate::domain::client::ClientInfo {
        crate::edge::client_info(parts, &self.cookies, &self.trusted_proxies)
    }
}

impl FromRef<AppState> for LeptosOptions {
    fn from_ref(state: &AppState) -> Self {
        state.leptos.clone()
    }
}

/// The whole application router.
pub fn router(state: AppState) -> Router {
    // The table's `/api/` operations, never cached, with the JSON API's own 404s and 405s;
    // the rest (health, keys, metrics, the browser's CSV and the map) beside the pages.
    let (api, site): (Vec<_>, Vec<_>) = routes::handlers()
        .into_iter()
        .partition(|(route, _)| route.path.starts_with("/api/"));
    let mount = |router: Router<AppState>, (route, handler): (routes::Route, _)| router.route(route.path, handler);
    let site = site.into_iter().fold(Router::new(), mount);
    let api = api
        .into_iter()
        .fold(Router::new(), mount)
        .route("/api", any(api_not_found))
        .route("/api/", any(api_not_found))
        .route("/api/{*rest}", any(api_not_found))
        .method_not_allowed_fallback(method_not_allowed)
        .layer(SetResponseHeaderLayer::overriding(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ));

    let backend: app::api::SharedBackend = Arc::new(WebBackend::new(state.edge()));
    let leptos_options = state.leptos.clone();
    let routes = generate_route_list(app::App);
    let context = move || page_context(&backend);

    Router::new()
        .merge(api)
        .merge(site)
        .leptos_routes_with_context(&state, routes, context.clone(), move || {
            app::shell(leptos_options.clone())
        })
        .fallback(leptos_axum::file_and_error_handler_with_context::<AppState, _>(
            context,
            app::shell,
        ))
        .layer(axum::middleware::from_fn(server_fn::bad_arguments_are_400))
        .layer(axum::middleware::from_fn(redirects::with_status))
        .layer(axum::middleware::from_fn_with_state(
            state.allowed_origins.clone(),
            origin::refuse_cross_site,
        ))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(state.clone(), deadline::bounded))
        // Outside the deadline, so its 503 is readable by a listed origin too.
        .layer(axum::middleware::from_fn_with_state(
            state.allowed_origins.clone(),
            cors::allow_listed,
        ))
        .layer(compression())
        .layer(axum::middleware::from_fn_with_state(state.clone(), headers::harden))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::count))
        // Outermost: every response carries its id, and everything inside logs under it.
        .layer(axum::middleware::from_fn_with_state(
            state.trusted_proxies.clone(),
            request_id::trace,
        ))
        .with_state(state)
}

/// Brotli or gzip for what the client accepts, made per response: pages, JSON, CSV. Not the
/// live stream (its events must leave as they happen), nor images or anything under 32
/// bytes (tower-http's default predicate), nor a static file served from its precompressed
/// copy (`.br`/`.gz` made at build time, which already carries its encoding). Quality 4:
/// brotli's default (11) costs a hundred times the CPU for a few per cent.
fn compression() -> CompressionLayer {
    CompressionLayer::new()
        .br(true)
        .gzip(true)
        .quality(CompressionLevel::Precise(4))
}

/// What every page render and server function gets: the backend, and this response's
/// Content-Security-Policy nonce (made by [`headers::harden`]) in place of the one Leptos
/// would make up, so the inline scripts carry the nonce the header names.
fn page_context(backend: &app::api::SharedBackend) {
    provide_context(backend.clone());
    let nonce = use_context::<axum::http::request::Parts>()
        .and_then(|parts| parts.extensions.get::<headers::CspNonce>().cloned());
    if let Some(nonce) = nonce {
        provide_context(leptos::nonce::Nonce::from_value(nonce.value()));
    }
}

async fn api_not_found() -> ApiError {
    ApiError::not_found()
}

async fn method_not_allowed() -> ApiError {
    ApiError::method_not_allowed()
}
