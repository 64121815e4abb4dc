//! Signing in and out, the step-up, changing one's password, and who is signed in.
//!
//! The server functions, and the part of the [`Backend`](super::Backend) they call, which the
//! `server` crate implements: a new server function here touches this file, its
//! implementation in `server::web`, and the service it calls.

use leptos::prelude::*;

use super::ApiClient;
use crate::wire::{AppError, Me};
#[cfg(feature = "ssr")]
use {super::Reply, http::request::Parts};

/// Signs in with a username (or e-mail) and password. On success the server sets the session
/// cookies and, for a plain form post without WASM, redirects to the home page.
#[server(prefix = "/api/auth", endpoint = "ui/sign-in", client = ApiClient)]
pub async fn sign_in(username: String, password: String) -> Result<Me, AppError> {
    let (backend, head) = super::ssr::context()?;
    let signed_in = super::ssr::respond(backend.sign_in(&head, &username, &password).await)?;
    leptos_axum::redirect("/");
    Ok(signed_in)
}

/// Answers a step-up challenge with an authenticator or recovery code; completes the
/// sign-in like [`sign_in`].
#[server(prefix = "/api/auth", endpoint = "ui/step-up", client = ApiClient)]
pub async fn step_up(challenge_id: String, code: String) -> Result<Me, AppError> {
    let (backend, head) = super::ssr::context()?;
    let signed_in = super::ssr::respond(backend.step_up(&head, &challenge_id, &code).await)?;
    leptos_axum::redirect("/");
    Ok(signed_in)
}

/// Ends the current session (revoking its refresh token) and clears the cookies.
#[server(prefix = "/api/auth", endpoint = "ui/sign-out", client = ApiClient)]
pub async fn sign_out() -> Result<(), AppError> {
    let (backend, head) = super::ssr::context()?;
    super::ssr::respond(backend.sign_out(&head).await)?;
    leptos_axum::redirect("/login");
    Ok(())
}

/// Changes the password; every session ends, this one included, and the user signs in again.
#[server(prefix = "/api/auth", endpoint = "ui/change-password", client = ApiClient)]
pub async fn change_password(current: String, new: String, confirm: String) -> Result<(), AppError> {
    if new != confirm {
        return Err(AppError::BadRequest("The new passwords do not match.".into()));
    }
    let (backend, head) = super::ssr::context()?;
    super::ssr::respond(backend.change_password(&head, &current, &new).await)?;
    leptos_axum::redirect("/login?changed=1");
    Ok(())
}

/// Who is signed in on this browser, if anyone.
#[server(prefix = "/api/ui", endpoint = "whoami", client = ApiClient)]
pub async fn whoami() -> Result<Option<Me>, AppError> {
    let (backend, head) = super::ssr::context()?;
    backend.current_user(&head).await.map_err(super::ssr::fail)
}

/// What this area's server functions ask of the server.
#[cfg(feature = "ssr")]
#[async_trait::async_trait]
pub trait AuthBackend: Send + Sync {
    /// Checks the credentials and opens a session; the reply carries its cookies.
    async fn sign_in(&self, head: &Parts, login: &str, password: &str) -> Result<Reply<Me>, AppError>;

    /// Answers a step-up challenge; the reply carries the session's cookies.
    async fn step_up(&self, head: &Parts, challenge_id: &str, code: &str) -> Result<Reply<Me>, AppError>;

    /// Revokes the session named by the request's refresh cookie and clears the cookies.
    async fn sign_out(&self, head: &Parts) -> Result<Reply<()>, AppError>;

    /// Changes the signed-in user's password, ending every session; clears the cookies.
    async fn change_password(&self, head: &Parts, current: &str, new: &str) -> Result<Reply<()>, AppError>;

    /// The user whose live session the request's cookies carry, if any.
    async fn current_user(&self, head: &Parts) -> Result<Option<Me>, AppError>;
}
