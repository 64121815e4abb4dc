//! Every request is answered in bounded time: a request still without a response when its
//! deadline passes (a database that stopped answering, a lock held elsewhere) gets 503
//! `service_unavailable` instead of hanging. The deadline covers the time to the response
//! head; bodies that stream by design (the live stream, CSV exports, streamed pages) go on.
//!
//! Dropping the handler's future at the deadline rolls back its open transaction, so a
//! request cut short changes nothing half-way.
//!
//! While the database is known to be unreachable ([`crate::service::DatabaseGate`]), every
//! request that needs it is answered 503 at once, with `Retry-After: 1`.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState, DatabaseDown};

/// Requests answered without the database: liveness, metrics, the published keys, static
/// files.
fn needs_database(path: &str) -> bool {
    !(matches!(
        path,
        "/healthz" | "/metrics" | "/.well-known/jwks.json" | "/world-map.svg"
    ) || path.starts_with("/pkg/"))
}

pub async fn bounded(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if state.database.is_down() && needs_database(request.uri().path()) {
        return ApiError::database_unavailable().into_response();
    }
    // The one route whose response head may legitimately wait: the stream answers only
    // after replaying what a reconnecting admin missed, and then stays open.
    if request.uri().path() == super::stream::PATH {
        return next.run(request).await;
    }
    // A cheap clone (shared bytes), kept only to name the request if it times out.
    let uri = request.uri().clone();
    match tokio::time::timeout(state.request_timeout, next.run(request)).await {
        Ok(response) => {
            if response.extensions().get::<DatabaseDown>().is_some() {
                state.database.report_down();
            }
            response
        }
        Err(_) => {
            tracing::warn!(
                path = uri.path(),
                timeout_secs = state.request_timeout.as_secs(),
                "request timed out"
            );
            ApiError::unavailable().into_response()
        }
    }
}
