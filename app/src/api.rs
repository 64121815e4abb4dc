//! The server functions: the browser's half of the contract with the server.
//!
//! The server functions are thin: each pulls the [`Backend`](crate::backend::Backend) out of
//! the request context and hands it the request head, so all policy lives in the `server`
//! crate's domain services and behaves exactly like the JSON API.

use leptos::prelude::*;

pub use crate::wire::*;

/// A URL of the fin-intelli server: `path` itself, except in a static bundle configured
/// for an API on another origin ([`crate::csr`]), where the origin goes in front.
pub fn url(path: &str) -> String {
    format!("{}{path}", leptos::server_fn::client::get_server_url())
}

/// How the browser calls the server functions. The static bundle's client sends cookies to
/// an API on another origin of the same site; the hydrated page keeps the default, its own
/// origin being the API's.
#[cfg(feature = "csr")]
pub type ApiClient = crate::csr::CredentialedClient;
#[cfg(not(feature = "csr"))]
pub type ApiClient = leptos::server_fn::client::browser::BrowserClient;

/// Signs in with a username (or e-mail) and password. On success the server sets the session
/// cookies and, for a plain form post without WASM, redirects to the home page.
#[server(prefix = "/api/auth", endpoint = "ui/sign-in", client = ApiClient)]
pub async fn sign_in(username: String, password: String) -> Result<Me, AppError> {
    let (backend, head) = ssr::context()?;
    let signed_in = ssr::respond(backend.sign_in(&head, &username, &password).await)?;
    leptos_axum::redirect("/");
    Ok(signed_in)
}

/// Answers a step-up challenge with an authenticator or recovery code; completes the
/// sign-in like [`sign_in`].
#[server(prefix = "/api/auth", endpoint = "ui/step-up", client = ApiClient)]
pub async fn step_up(challenge_id: String, code: String) -> Result<Me, AppError> {
    let (backend, head) = ssr::context()?;
    let signed_in = ssr::respond(backend.step_up(&head, &challenge_id, &code).await)?;
    leptos_axum::redirect("/");
    Ok(signed_in)
}

/// Whether the signed-in user has an authenticator.
#[server(prefix = "/api/ui", endpoint = "totp/status", client = ApiClient)]
pub async fn second_factor_status() -> Result<bool, AppError> {
    let (backend, head) = ssr::context()?;
    backend.second_factor(&head).await.map_err(ssr::fail)
}

/// Starts enrolling an authenticator app.
#[server(prefix = "/api/ui", endpoint = "totp/begin", client = ApiClient)]
pub async fn begin_totp() -> Result<TotpSetup, AppError> {
    let (backend, head) = ssr::context()?;
    backend.begin_totp(&head).await.map_err(ssr::fail)
}

/// Confirms enrolment with the first code; returns the recovery codes, shown once.
#[server(prefix = "/api/ui", endpoint = "totp/confirm", client = ApiClient)]
pub async fn confirm_totp(code: String) -> Result<Vec<String>, AppError> {
    let (backend, head) = ssr::context()?;
    backend.confirm_totp(&head, &code).await.map_err(ssr::fail)
}

/// Ends the current session (revoking its refresh token) and clears the cookies.
#[server(prefix = "/api/auth", endpoint = "ui/sign-out", client = ApiClient)]
pub async fn sign_out() -> Result<(), AppError> {
    let (backend, head) = ssr::context()?;
    ssr::respond(backend.sign_out(&head).await)?;
    leptos_axum::redirect("/login");
    Ok(())
}

/// The signed-in user's live sessions, this one first.
#[server(prefix = "/api/ui", endpoint = "sessions", client = ApiClient)]
pub async fn my_sessions() -> Result<Vec<SessionInfo>, AppError> {
    let (backend, head) = ssr::context()?;
    backend.sessions(&head).await.map_err(ssr::fail)
}

/// Signs one of the user's sessions out.
#[server(prefix = "/api/ui", endpoint = "sessions/end", client = ApiClient)]
pub async fn end_session(id: String) -> Result<(), AppError> {
    let (backend, head) = ssr::context()?;
    backend.end_session(&head, &id).await.map_err(ssr::fail)
}

/// Signs out every session but this one; returns how many ended.
#[server(prefix = "/api/ui", endpoint = "sessions/end-others", client = ApiClient)]
pub async fn end_other_sessions() -> Result<u64, AppError> {
    let (backend, head) = ssr::context()?;
    backend.end_other_sessions(&head).await.map_err(ssr::fail)
}

/// Changes the password; every session ends, this one included, and the user signs in again.
#[server(prefix = "/api/auth", endpoint = "ui/change-password", client = ApiClient)]
pub async fn change_password(current: String, new: String, confirm: String) -> Result<(), AppError> {
    if new != confirm {
        return Err(AppError::BadRequest("The new passwords do not match.".into()));
    }
    let (backend, head) = ssr::context()?;
    ssr::respond(backend.change_password(&head, &current, &new).await)?;
    leptos_axum::redirect("/login?changed=1");
    Ok(())
}

/// A page of the signed-in user's own activity, newest first.
#[server(prefix = "/api/ui", endpoint = "activity", client = ApiClient)]
pub async fn my_activity(before: Option<String>) -> Result<ActivityPage, AppError> {
    let (backend, head) = ssr::context()?;
    backend.my_activity(&head, before).await.map_err(ssr::fail)
}

/// The admin activity search.
#[server(prefix = "/api/ui", endpoint = "admin/activity", client = ApiClient)]
pub async fn admin_activity(filters: ActivityFilters) -> Result<ActivityPage, AppError> {
    let (backend, head) = ssr::context()?;
    backend.admin_activity(&head, &filters).await.map_err(ssr::fail)
}

/// "This wasn't me": every other session of the user ends. Returns how many.
#[server(prefix = "/api/ui", endpoint = "activity/not-me", client = ApiClient)]
pub async fn report_not_me(id: i64) -> Result<u64, AppError> {
    let (backend, head) = ssr::context()?;
    backend.report_not_me(&head, id).await.map_err(ssr::fail)
}

/// An admin's verdict on an event: `legitimate` (the engine learns it) or `compromised`
/// (every session of the user ends).
#[server(prefix = "/api/ui", endpoint = "admin/activity/verdict", client = ApiClient)]
pub async fn judge_event(id: i64, verdict: String) -> Result<u64, AppError> {
    let (backend, head) = ssr::context()?;
    backend.judge_event(&head, id, &verdict).await.map_err(ssr::fail)
}

/// The newest events of every user, newest first: the live page's first screen, which
/// the stream then continues. Administrators only.
#[server(prefix = "/api/ui", endpoint = "admin/live", client = ApiClient)]
pub async fn live_activity() -> Result<Vec<Activity>, AppError> {
    let (backend, head) = ssr::context()?;
    backend.live_activity(&head).await.map_err(ssr::fail)
}

/// One event with what an admin needs to judge it.
#[server(prefix = "/api/ui", endpoint = "admin/review", client = ApiClient)]
pub async fn review_event(id: i64) -> Result<EventReview, AppError> {
    let (backend, head) = ssr::context()?;
    backend.review_event(&head, id).await.map_err(ssr::fail)
}

/// Ends one session of a user.
#[server(prefix = "/api/ui", endpoint = "admin/sessions/end", client = ApiClient)]
pub async fn admin_end_session(user_id: i64, session_id: String) -> Result<(), AppError> {
    let (backend, head) = ssr::context()?;
    backend
        .admin_end_session(&head, user_id, &session_id)
        .await
        .map_err(ssr::fail)
}

/// Ends every session of a user; returns how many ended.
#[server(prefix = "/api/ui", endpoint = "admin/sessions/end-all", client = ApiClient)]
pub async fn admin_end_sessions(user_id: i64) -> Result<u64, AppError> {
    let (backend, head) = ssr::context()?;
    backend.admin_end_sessions(&head, user_id).await.map_err(ssr::fail)
}

/// Accounts matching `search` (name or e-mail; empty for all), newest first.
#[server(prefix = "/api/ui", endpoint = "admin/users", client = ApiClient)]
pub async fn admin_users(search: String) -> Result<Vec<AdminUser>, AppError> {
    let (backend, head) = ssr::context()?;
    backend.admin_users(&head, search.trim()).await.map_err(ssr::fail)
}

/// Creates an account. `is_admin` is a checkbox: present ("on") or absent.
#[server(prefix = "/api/ui", endpoint = "admin/users/create", client = ApiClient)]
pub async fn admin_create_user(
    username: String,
    email: String,
    password: String,
    is_admin: Option<String>,
) -> Result<AdminUser, AppError> {
    let (backend, head) = ssr::context()?;
    backend
        .admin_create_user(&head, &username, &email, &password, is_admin.is_some())
        .await
        .map_err(ssr::fail)
}

/// Activates or deactivates an account (deactivating ends its sessions), or grants or
/// removes the admin role.
#[server(prefix = "/api/ui", endpoint = "admin/users/update", client = ApiClient)]
pub async fn admin_update_user(
    user_id: i64,
    is_active: Option<bool>,
    is_admin: Option<bool>,
) -> Result<AdminUser, AppError> {
    let (backend, head) = ssr::context()?;
    backend
        .admin_update_user(&head, user_id, is_active, is_admin)
        .await
        .map_err(ssr::fail)
}

/// Sets a new password for an account; its sessions end.
#[server(prefix = "/api/ui", endpoint = "admin/users/password", client = ApiClient)]
pub async fn admin_reset_password(user_id: i64, password: String) -> Result<(), AppError> {
    let (backend, head) = ssr::context()?;
    backend
        .admin_reset_password(&head, user_id, &password)
        .await
        .map_err(ssr::fail)
}

/// Who is signed in on this browser, if anyone.
#[server(prefix = "/api/ui", endpoint = "whoami", client = ApiClient)]
pub async fn whoami() -> Result<Option<Me>, AppError> {
    let (backend, head) = ssr::context()?;
    backend.current_user(&head).await.map_err(ssr::fail)
}

#[cfg(feature = "ssr")]
mod ssr {
    //! The glue every server function shares: find the backend, apply its cookies, set the
    //! status of a failure.
    use super::AppError;
    use crate::backend::{Reply, SharedBackend};
    use http::request::Parts;
    use leptos::prelude::*;
    use leptos_axum::ResponseOptions;

    pub fn context() -> Result<(SharedBackend, Parts), AppError> {
        let backend = use_context::<SharedBackend>().ok_or(AppError::Internal)?;
        let head = use_context::<Parts>().ok_or(AppError::Internal)?;
        Ok((backend, head))
    }

    /// Applies the reply's `Set-Cookie` headers and unwraps its value.
    pub fn respond<T>(reply: Result<Reply<T>, AppError>) -> Result<T, AppError> {
        let reply = reply.map_err(fail)?;
        if let Some(response) = use_context::<ResponseOptions>() {
            for cookie in reply.set_cookies {
                response.append_header(http::header::SET_COOKIE, cookie);
            }
        }
        Ok(reply.value)
    }

    /// Sets the status that matches the error, so failures are 4xx/5xx on the wire too.
    pub fn fail(error: AppError) -> AppError {
        if let Some(response) = use_context::<ResponseOptions>()
            && let Ok(status) = http::StatusCode::from_u16(error.status())
        {
            response.set_status(status);
        }
        error
    }
}
