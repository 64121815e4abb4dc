//! The admin console's user endpoints (../shared/API.md "Administration"): list and
//! search, create, activate or deactivate, grant or remove admin, end every session.
//! Admins only: everyone else gets 403, whatever the UI shows.

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use chrono::SecondsFormat;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use super::extract::{PathSegment, SessionsEnded, json_body, path_id};
use super::{ApiError, AppState, Authenticated};
use crate::domain::client::ClientInfo;
use crate::domain::user::User;
use crate::edge::wire::{cursor, parse_cursor};
use crate::service::{NewAccount, UserUpdate};

const MAX_LIMIT: i64 = 200;

#[derive(Serialize)]
pub struct UserView {
    id: i64,
    username: String,
    email: String,
    role: &'static str,
    is_active: bool,
    created_at: String,
}

impl From<User> for UserView {
    fn from(user: User) -> Self {
        Self {
            role: user.role(),
            id: user.id,
            username: user.username,
            email: user.email,
            is_active: user.is_active,
            created_at: user.created_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        }
    }
}

#[derive(Serialize)]
pub struct UserPage {
    items: Vec<UserView>,
    next: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct UserQuery {
    q: Option<String>,
    limit: Option<String>,
    before: Option<String>,
}

/// `GET /api/admin/users?q=&limit=&before=`.
pub async fn list(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    RawQuery(raw): RawQuery,
) -> Result<Json<UserPage>, ApiError> {
    let query: UserQuery = serde_urlencoded::from_str(raw.as_deref().unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("The query string is not valid: {e}")))?;
    let limit = match query.limit.as_deref().filter(|l| !l.is_empty()) {
        None => 50,
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| ApiError::bad_request(format!("limit must be a whole number from 1 to {MAX_LIMIT}")))?,
    };
    let before = query
        .before
        .as_deref()
        .filter(|b| !b.is_empty())
        .map(|b| {
            parse_cursor(b)
                .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "invalid_cursor", "The cursor is not valid"))
        })
        .transpose()?;
    let search = query.q.as_deref().map(str::trim).filter(|q| !q.is_empty());
    let mut users = state.services.admin.users(&caller, search, before, limit + 1).await?;
    let next = (users.len() as i64 > limit).then(|| {
        users.truncate(limit as usize);
        users.last().map(|u| cursor(u.id))
    });
    Ok(Json(UserPage {
        items: users.into_iter().map(UserView::from).collect(),
        next: next.flatten(),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewUserBody {
    username: String,
    email: String,
    password: String,
    #[serde(default)]
    is_admin: bool,
}

/// `POST /api/admin/users` → 201 with the user.
pub async fn create(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    client: ClientInfo,
    body: Result<Json<NewUserBody>, JsonRejection>,
) -> Result<(StatusCode, Json<UserView>), ApiError> {
    let body = json_body(body)?;
    let user = state
        .services
        .admin
        .create_user(
            &caller,
            NewAccount {
                username: body.username,
                email: body.email,
                password: SecretString::from(body.password),
                is_admin: body.is_admin,
            },
            &client,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(user.into())))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateUserBody {
    is_active: Option<bool>,
    is_admin: Option<bool>,
}

/// `PATCH /api/admin/users/{id}` `{"is_active"?, "is_admin"?}`.
pub async fn update(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    client: ClientInfo,
    PathSegment(id): PathSegment,
    body: Result<Json<UpdateUserBody>, JsonRejection>,
) -> Result<Json<UserView>, ApiError> {
    let body = json_body(body)?;
    if body.is_active.is_none() && body.is_admin.is_none() {
        return Err(ApiError::bad_request("Give is_active, is_admin or both"));
    }
    let user = state
        .services
        .admin
        .update_user(
            &caller,
            path_id(&id, "user")?,
            UserUpdate {
                is_active: body.is_active,
                is_admin: body.is_admin,
            },
            &client,
        )
        .await?;
    Ok(Json(user.into()))
}

#[derive(Serialize)]
pub struct FactorUnlocked {
    unlocked: bool,
}

/// `POST /api/admin/users/{id}/second-factor/unlock`.
pub async fn unlock_second_factor(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    client: ClientInfo,
    PathSegment(id): PathSegment,
) -> Result<Json<FactorUnlocked>, ApiError> {
    let unlocked = state
        .services
        .factors
        .unlock(&caller, path_id(&id, "user")?, &client)
        .await?;
    Ok(Json(FactorUnlocked { unlocked }))
}

/// `POST /api/admin/users/{id}/revoke-sessions`.
pub async fn revoke_sessions(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    client: ClientInfo,
    PathSegment(id): PathSegment,
) -> Result<Json<SessionsEnded>, ApiError> {
    let sessions_ended = state
        .services
        .admin
        .revoke_sessions(&caller, path_id(&id, "user")?, &client)
        .await?;
    Ok(Json(SessionsEnded { sessions_ended }))
}
