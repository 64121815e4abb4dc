use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::{ApiError, AppState};

/// The process is up; also says whether geolocation data has loaded (it loads in the
/// background and is never a reason to refuse traffic).
pub async fn healthz(State(state): State<AppState>) -> Json<Value> {
    Json(json!({ "status": "ok", "geolocation": state.geo.status() }))
}

/// The process can serve: the database answers.
pub async fn readyz(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    match state.store.ping().await {
        Ok(()) => Ok(Json(json!({ "status": "ready" }))),
        Err(error) => {
            tracing::warn!(%error, "readiness check failed");
            Err(ApiError::database_unavailable())
        }
    }
}

/// `GET /.well-known/jwks.json`: the public keys that verify access tokens. Cacheable for a
/// few minutes: a rotated-in key verifies nothing until it signs, and the retired one stays.
pub async fn jwks(State(state): State<AppState>) -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CACHE_CONTROL, "public, max-age=300")],
        Json(state.services.auth.jwks()),
    )
}
