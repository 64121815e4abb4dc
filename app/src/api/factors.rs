//! The authenticator app: whether there is one, and enrolling it.
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
pub async fn begin_totp() -> Result<TotpSetup, AppError> {
    let (backend, head) = super::ssr::context()?;
    backend.begin_totp(&head).await.map_err(super::ssr::fail)
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

    /// Starts enrolling an authenticator for the signed-in user.
    async fn begin_totp(&self, head: &Parts) -> Result<TotpSetup, AppError>;

    /// Confirms the enrolment; returns the recovery codes.
    async fn confirm_totp(&self, head: &Parts, code: &str) -> Result<Vec<String>, AppError>;
}
