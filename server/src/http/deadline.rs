//! Every request is answered in bounded time: a request still without a response when its
//! deadline passes (a database that stopped answering, a lock held elsewhere) gets 503
//! `service_unavailable` instead of hanging. The deadline covers the time to the response
//! head; bodies that stream by design (the live stream, CSV exports, streamed pages) go on.
//!
//! Dropping the handler's future at the deadline rolls back its open transaction, so a
//! request cut short changes nothing half-way.

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};

/// The one route whose response head may legitimately wait: the stream answers only after
/// replaying what a reconnecting admin missed, and then stays open.
const STREAM_PATH: &str = "/api/admin/stream";

pub async fn bounded(State(state): State<AppState>, request: Request, next: Next) -> Response {
    if request.uri().path() == STREAM_PATH {
        return next.run(request).await;
    }
    let path = request.uri().path().to_owned();
    match tokio::time::timeout(state.request_timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => {
            tracing::warn!(%path, timeout_secs = state.request_timeout.as_secs(), "request timed out");
            ApiError::unavailable().into_response()
        }
    }
}
