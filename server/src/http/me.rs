use axum::Json;
use serde::Serialize;

use super::Authenticated;

#[derive(Serialize)]
pub struct MeResponse {
    id: i64,
    username: String,
    email: String,
    role: &'static str,
    is_active: bool,
}

/// `GET /api/me`: the caller.
pub async fn me(Authenticated(principal): Authenticated) -> Json<MeResponse> {
    let user = principal.user;
    Json(MeResponse {
        id: user.id,
        role: user.role(),
        username: user.username,
        email: user.email,
        is_active: user.is_active,
    })
}
