//! The route table: every path and method the application answers itself, with its handler.
//! [`super::router`] mounts exactly these (the Leptos pages and server functions come on
//! top), and the `openapi` test holds the OpenAPI document to [`table`], so a route cannot
//! be added, renamed or dropped without the document noticing.

use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{MethodFilter, MethodRouter, on};

use super::{AppState, activity, admin, assets, auth, dbsc, health, me, metrics, openapi, passkeys, sessions, stream};

/// One routed operation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Route {
    pub method: Method,
    pub path: &'static str,
}

/// An operation and its handler; the method is named once, for both.
fn route<H, T>(method: Method, path: &'static str, handler: H) -> (Route, MethodRouter<AppState>)
where
    H: Handler<T, AppState>,
    T: 'static,
{
    let filter = MethodFilter::try_from(method.clone()).expect("a method axum can route");
    (Route { method, path }, on(filter, handler))
}

/// Every operation, with its handler, in the order the API document lists them.
pub(super) fn handlers() -> Vec<(Route, MethodRouter<AppState>)> {
    use Method as M;
    vec![
        route(M::POST, "/api/auth/login", auth::login),
        route(M::POST, "/api/auth/refresh", auth::refresh),
        route(M::GET, "/api/auth/resume", auth::resume),
        route(M::POST, "/api/auth/logout", auth::logout),
        route(M::POST, "/api/auth/logout-all", auth::logout_all),
        route(M::POST, "/api/auth/step-up", auth::step_up),
        route(M::POST, "/api/auth/device-key", auth::bind_device_key),
        route(M::POST, "/api/auth/passkey/start", passkeys::start_sign_in),
        route(M::POST, "/api/auth/passkey/finish", passkeys::finish_sign_in),
        route(M::POST, dbsc::REGISTER_PATH, dbsc::register),
        route(M::POST, dbsc::REFRESH_PATH, dbsc::refresh),
        route(M::GET, "/api/activity", activity::mine),
        route(M::POST, "/api/activity/{id}/not-me", activity::not_me),
        route(M::GET, "/api/admin/users", admin::list),
        route(M::POST, "/api/admin/users", admin::create),
        route(M::PATCH, "/api/admin/users/{id}", admin::update),
        route(M::POST, "/api/admin/users/{id}/revoke-sessions", admin::revoke_sessions),
        route(
            M::POST,
            "/api/admin/users/{id}/second-factor/unlock",
            admin::unlock_second_factor,
        ),
        route(M::GET, "/api/admin/users/{id}/passkeys", passkeys::admin_list),
        route(
            M::DELETE,
            "/api/admin/users/{id}/passkeys/{passkey_id}",
            passkeys::admin_remove,
        ),
        route(M::GET, "/api/admin/activity", activity::admin_search),
        route(M::POST, "/api/admin/activity/{id}/verdict", activity::verdict),
        route(M::GET, "/api/admin/activity.csv", activity::admin_csv),
        route(M::GET, stream::PATH, stream::admin_stream),
        route(M::GET, "/api/sessions", sessions::list),
        route(M::DELETE, "/api/sessions/{id}", sessions::revoke),
        route(M::GET, "/api/me", me::me),
        route(M::POST, "/api/me/password", me::change_password),
        route(M::POST, "/api/me/totp", me::begin_totp),
        route(M::DELETE, "/api/me/totp", me::remove_totp),
        route(M::POST, "/api/me/totp/confirm", me::confirm_totp),
        route(M::POST, "/api/me/totp/recovery-codes", me::regenerate_recovery_codes),
        route(M::POST, "/api/me/passkeys/start", passkeys::start_registration),
        route(M::POST, "/api/me/passkeys/finish", passkeys::finish_registration),
        route(M::GET, "/api/me/passkeys", passkeys::list),
        route(M::DELETE, "/api/me/passkeys/{id}", passkeys::remove),
        route(M::GET, "/api/openapi.json", openapi::document),
        route(M::GET, "/.well-known/jwks.json", health::jwks),
        route(M::GET, "/healthz", health::healthz),
        route(M::GET, "/readyz", health::readyz),
        route(M::GET, "/metrics", metrics::metrics),
        route(M::GET, "/admin/activity.csv", activity::admin_csv_from_browser),
        route(M::GET, "/world-map.svg", assets::world_map),
        route(M::GET, "/favicon.svg", assets::favicon),
    ]
}

/// Every operation the application routes itself (the Leptos pages, the server functions
/// and the JSON 404 and 405 catch-alls aside).
pub fn table() -> Vec<Route> {
    handlers().into_iter().map(|(route, _)| route).collect()
}
