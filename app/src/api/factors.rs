//! The authenticator app: whether there is one, enrolling it, removing it, and new
//! recovery codes. Each change carries the current password, which may be left empty within
//! five minutes of signing in.
//!
//! The server functions, and the part of the [`Backend`](super::Backend) they call, which the
//! `server` crate implements: a new server function here touches this file, its
//! implementation in `server::web`, and the service it calls.

use leptos::prelude::*;

use super::ApiClient;
use crate::wire::{AppError, TotpSetup};
#[cfg(feature = "ssr")]
use http::request::Parts;

/// Whether the signed-in user has an authenticator.
#[server(prefix = "/api/ui", endpoint = "totp/status", client = ApiClient)]
pub async fn second_factor_status() -> Result<bool, AppError> {
    let (backend, head) = super::ssr::context()?;
    backend.second_factor(&head).await.map_err(super::ssr::fail)
}

/// Starts enrolling an authenticator app.
#[server(prefix = "/api/ui", endpoint = "totp/begin", client = ApiClient)]
pub async fn begin_totp(password: Option<String>) -> Result<TotpSetup, AppError> {
    let (backend, head) = super::ssr::context()?;
    backend
        .begin_totp(&head, given(password))
        .await
        .map_err(super::ssr::fail)
}

/// Removes the authenticator app and its recovery codes.
#[server(prefix = "/api/ui", endpoint = "totp/remove", client = ApiClient)]
pub async fn remove_totp(password: Option<String>) -> Result<(), AppError> {
    let (backend, head) = super::ssr::context()?;
    backend
        .remove_totp(&head, given(password))
        .await
        .map_err(super::ssr::fail)
}

/// Ten new recovery codes, shown once; the old ones stop working.
#[server(prefix = "/api/ui", endpoint = "totp/recovery-codes", client = ApiClient)]
pub async fn regenerate_recovery_codes(password: Option<String>) -> Result<Vec<String>, AppError> {
    let (backend, head) = super::ssr::context()?;
    backend
        .regenerate_recovery_codes(&head, given(password))
        .await
        .map_err(super::ssr::fail)
}

/// An empty password field is no password (the recent sign-in stands in for it).
#[cfg(feature = "ssr")]
fn given(password: Option<String>) -> Option<String> {
    password.filter(|p| !p.is_empty())
}

/// Confirms enrolment with the first code; returns the recovery codes, shown once.
#[server(prefix = "/api/ui", endpoint = "totp/confirm", client = ApiClient)]
pub async fn confirm_totp(code: String) -> Result<Vec<String>, AppError> {
    let (backend, head) = super::ssr::context()?;
    backend.confirm_totp(&head, &code).await.map_err(super::ssr::fail)
}

/// What this area's server functions ask of the server.
#[cfg(feature = "ssr")]
#[async_trait::async_trait]
pub trait FactorBackend: Send + Sync {
    /// Whether the signed-in user has an authenticator.
    async fn second_factor(&self, head: &Parts) -> Result<bool, AppError>;

    /// Starts enrolling an authenticator for the signed-in user (after re-authentication:
    /// the password, or a sign-in within the last minutes).
    async fn begin_totp(&self, head: &Parts, password: Option<String>) -> Result<TotpSetup, AppError>;

    /// Removes the signed-in user's authenticator (the same re-authentication).
    async fn remove_totp(&self, head: &Parts, password: Option<String>) -> Result<(), AppError>;

    /// Replaces the recovery codes (the same re-authentication); returns the new ones.
    async fn regenerate_recovery_codes(&self, head: &Parts, password: Option<String>) -> Result<Vec<String>, AppError>;

    /// Confirms the enrolment; returns the recovery codes.
    async fn confirm_totp(&self, head: &Parts, code: &str) -> Result<Vec<String>, AppError>;
}
