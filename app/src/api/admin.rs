//! The admin console: accounts, their sessions and passwords.
//!
//! The server functions, and the part of the [`Backend`](super::Backend) they call, which the
//! `server` crate implements: a new server function here touches this file, its
//! implementation in `server::web`, and the service it calls.

use leptos::prelude::*;

use super::ApiClient;
use crate::wire::{AdminUser, AppError, Passkey};
#[cfg(feature = "ssr")]
use http::request::Parts;

/// Ends one session of a user.
#[server(prefix = "/api/ui", endpoint = "admin/sessions/end", client = ApiClient)]
pub async fn admin_end_session(user_id: i64, session_id: String) -> Result<(), AppError> {
    let (backend, head) = super::ssr::context()?;
    backend
        .admin_end_session(&head, user_id, &session_id)
        .await
        .map_err(super::ssr::fail)
}

/// Ends every session of a user; returns how many ended.
#[server(prefix = "/api/ui", endpoint = "admin/sessions/end-all", client = ApiClient)]
pub async fn admin_end_sessions(user_id: i64) -> Result<u64, AppError> {
    let (backend, head) = super::ssr::context()?;
    backend
        .admin_end_sessions(&head, user_id)
        .await
        .map_err(super::ssr::fail)
}

/// Accounts matching `search` (name or e-mail; empty for all), newest first.
#[server(prefix = "/api/ui", endpoint = "admin/users", client = ApiClient)]
pub async fn admin_users(search: String) -> Result<Vec<AdminUser>, AppError> {
    let (backend, head) = super::ssr::context()?;
    backend
        .admin_users(&head, search.trim())
        .await
        .map_err(super::ssr::fail)
}

/// Creates an account. `is_admin` is a checkbox: present ("on") or absent.
#[server(prefix = "/api/ui", endpoint = "admin/users/create", client = ApiClient)]
pub async fn admin_create_user(
    username: String,
    email: String,
    password: String,
    is_admin: Option<String>,
) -> Result<AdminUser, AppError> {
    let (backend, head) = super::ssr::context()?;
    backend
        .admin_create_user(&head, &username, &email, &password, is_admin.is_some())
        .await
        .map_err(super::ssr::fail)
}

/// Activates or deactivates an account (deactivating ends its sessions), or grants or
/// removes the admin role.
#[server(prefix = "/api/ui", endpoint = "admin/users/update", client = ApiClient)]
pub async fn admin_update_user(
    user_id: i64,
    is_active: Option<bool>,
    is_admin: Option<bool>,
) -> Result<AdminUser, AppError> {
    let (backend, head) = super::ssr::context()?;
    backend
        .admin_update_user(&head, user_id, is_active, is_admin)
        .await
        .map_err(super::ssr::fail)
}

/// Sets a new password for an account; its sessions end.
#[server(prefix = "/api/ui", endpoint = "admin/users/password", client = ApiClient)]
pub async fn admin_reset_password(user_id: i64, password: String) -> Result<(), AppError> {
    let (backend, head) = super::ssr::context()?;
    backend
        .admin_reset_password(&head, user_id, &password)
        .await
        .map_err(super::ssr::fail)
}

/// Unlocks a user's authenticator after too many wrong codes; whether there was a lock or a
/// failure count to clear.
#[server(prefix = "/api/ui", endpoint = "admin/users/unlock-factor", client = ApiClient)]
pub async fn admin_unlock_factor(user_id: i64) -> Result<bool, AppError> {
    let (backend, head) = super::ssr::context()?;
    backend
        .admin_unlock_factor(&head, user_id)
        .await
        .map_err(super::ssr::fail)
}

/// A user's passkeys, as the console shows them.
#[server(prefix = "/api/ui", endpoint = "admin/users/passkeys", client = ApiClient)]
pub async fn admin_user_passkeys(user_id: i64) -> Result<Vec<Passkey>, AppError> {
    let (backend, head) = super::ssr::context()?;
    backend
        .admin_user_passkeys(&head, user_id)
        .await
        .map_err(super::ssr::fail)
}

/// Removes one of a user's passkeys (a lost or stolen device).
#[server(prefix = "/api/ui", endpoint = "admin/users/passkeys/remove", client = ApiClient)]
pub async fn admin_remove_passkey(user_id: i64, passkey_id: String) -> Result<(), AppError> {
    let (backend, head) = super::ssr::context()?;
    backend
        .admin_remove_passkey(&head, user_id, &passkey_id)
        .await
        .map_err(super::ssr::fail)
}

/// What this area's server functions ask of the server.
#[cfg(feature = "ssr")]
#[async_trait::async_trait]
pub trait AdminBackend: Send + Sync {
    /// Ends one session of a user.
    async fn admin_end_session(&self, head: &Parts, user_id: i64, session_id: &str) -> Result<(), AppError>;

    /// Ends every session of a user.
    async fn admin_end_sessions(&self, head: &Parts, user_id: i64) -> Result<u64, AppError>;

    /// Accounts matching a search.
    async fn admin_users(&self, head: &Parts, search: &str) -> Result<Vec<AdminUser>, AppError>;

    /// Creates an account.
    async fn admin_create_user(
        &self,
        head: &Parts,
        username: &str,
        email: &str,
        password: &str,
        is_admin: bool,
    ) -> Result<AdminUser, AppError>;

    /// Changes an account's state or role.
    async fn admin_update_user(
        &self,
        head: &Parts,
        user_id: i64,
        is_active: Option<bool>,
        is_admin: Option<bool>,
    ) -> Result<AdminUser, AppError>;

    /// Sets an account's password.
    async fn admin_reset_password(&self, head: &Parts, user_id: i64, password: &str) -> Result<(), AppError>;

    /// Unlocks a user's authenticator; whether anything was cleared.
    async fn admin_unlock_factor(&self, head: &Parts, user_id: i64) -> Result<bool, AppError>;

    /// A user's passkeys.
    async fn admin_user_passkeys(&self, head: &Parts, user_id: i64) -> Result<Vec<Passkey>, AppError>;

    /// Removes one of a user's passkeys.
    async fn admin_remove_passkey(&self, head: &Parts, user_id: i64, passkey_id: &str) -> Result<(), AppError>;
}
