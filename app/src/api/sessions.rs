//! The signed-in user's devices (sessions), and ending them.
//!
//! The server functions, and the part of the [`Backend`](super::Backend) they call, which the
//! `server` crate implements: a new server function here touches this file, its
//! implementation in `server::web`, and the service it calls.

use leptos::prelude::*;

use super::ApiClient;
use crate::wire::{AppError, SessionInfo};
#[cfg(feature = "ssr")]
use http::request::Parts;

/// The signed-in user's live sessions, this one first.
#[server(prefix = "/api/ui", endpoint = "sessions", client = ApiClient)]
pub async fn my_sessions() -> Result<Vec<SessionInfo>, AppError> {
    let (backend, head) = super::ssr::context()?;
    backend.sessions(&head).await.map_err(super::ssr::fail)
}

/// Signs one of the user's sessions out.
#[server(prefix = "/api/ui", endpoint = "sessions/end", client = ApiClient)]
pub async fn end_session(id: String) -> Result<(), AppError> {
    let (backend, head) = super::ssr::context()?;
    backend.end_session(&head, &id).await.map_err(super::ssr::fail)
}

/// Signs out every session but this one; returns how many ended.
#[server(prefix = "/api/ui", endpoint = "sessions/end-others", client = ApiClient)]
pub async fn end_other_sessions() -> Result<u64, AppError> {
    let (backend, head) = super::ssr::context()?;
    backend.end_other_sessions(&head).await.map_err(super::ssr::fail)
}

/// What this area's server functions ask of the server.
#[cfg(feature = "ssr")]
#[async_trait::async_trait]
pub trait SessionBackend: Send + Sync {
    /// The signed-in user's live sessions.
    async fn sessions(&self, head: &Parts) -> Result<Vec<SessionInfo>, AppError>;

    /// Ends one of the signed-in user's sessions.
    async fn end_session(&self, head: &Parts, id: &str) -> Result<(), AppError>;

    /// Ends every session of the signed-in user but the current one.
    async fn end_other_sessions(&self, head: &Parts) -> Result<u64, AppError>;
}
