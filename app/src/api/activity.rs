//! The activity log: one's own, the admin search, the live page and its review panel, verdicts.
//!
//! The server functions, and the part of the [`Backend`](super::Backend) they call, which the
//! `server` crate implements: a new server function here touches this file, its
//! implementation in `server::web`, and the service it calls.

use leptos::prelude::*;

use super::ApiClient;
use crate::wire::{Activity, ActivityFilters, ActivityPage, AppError, EventReview};
#[cfg(feature = "ssr")]
use http::request::Parts;

/// A page of the signed-in user's own activity, newest first.
#[server(prefix = "/api/ui", endpoint = "activity", client = ApiClient)]
pub async fn my_activity(before: Option<String>) -> Result<ActivityPage, AppError> {
    let (backend, head) = super::ssr::context()?;
    backend.my_activity(&head, before).await.map_err(super::ssr::fail)
}

/// The admin activity search.
#[server(prefix = "/api/ui", endpoint = "admin/activity", client = ApiClient)]
pub async fn admin_activity(filters: ActivityFilters) -> Result<ActivityPage, AppError> {
    let (backend, head) = super::ssr::context()?;
    backend.admin_activity(&head, &filters).await.map_err(super::ssr::fail)
}

/// "This wasn't me": every other session of the user ends. Returns how many.
#[server(prefix = "/api/ui", endpoint = "activity/not-me", client = ApiClient)]
pub async fn report_not_me(id: i64) -> Result<u64, AppError> {
    let (backend, head) = super::ssr::context()?;
    backend.report_not_me(&head, id).await.map_err(super::ssr::fail)
}

/// An admin's verdict on an event: `legitimate` (the engine learns it) or `compromised`
/// (every session of the user ends).
#[server(prefix = "/api/ui", endpoint = "admin/activity/verdict", client = ApiClient)]
pub async fn judge_event(id: i64, verdict: String) -> Result<u64, AppError> {
    let (backend, head) = super::ssr::context()?;
    backend.judge_event(&head, id, &verdict).await.map_err(super::ssr::fail)
}

/// The newest events of every user, newest first: the live page's first screen, which
/// the stream then continues. Administrators only.
#[server(prefix = "/api/ui", endpoint = "admin/live", client = ApiClient)]
pub async fn live_activity() -> Result<Vec<Activity>, AppError> {
    let (backend, head) = super::ssr::context()?;
    backend.live_activity(&head).await.map_err(super::ssr::fail)
}

/// One event with what an admin needs to judge it.
#[server(prefix = "/api/ui", endpoint = "admin/review", client = ApiClient)]
pub async fn review_event(id: i64) -> Result<EventReview, AppError> {
    let (backend, head) = super::ssr::context()?;
    backend.review_event(&head, id).await.map_err(super::ssr::fail)
}

/// What this area's server functions ask of the server.
#[cfg(feature = "ssr")]
#[async_trait::async_trait]
pub trait ActivityBackend: Send + Sync {
    /// A page of the signed-in user's own activity, older than the cursor `before`.
    async fn my_activity(&self, head: &Parts, before: Option<String>) -> Result<ActivityPage, AppError>;

    /// Every user's activity matching the filters; administrators only.
    async fn admin_activity(&self, head: &Parts, filters: &ActivityFilters) -> Result<ActivityPage, AppError>;

    /// "This wasn't me" about one of the signed-in user's events.
    async fn report_not_me(&self, head: &Parts, id: i64) -> Result<u64, AppError>;

    /// An administrator's verdict on an event.
    async fn judge_event(&self, head: &Parts, id: i64, verdict: &str) -> Result<u64, AppError>;

    /// The newest events of every user; administrators only (as is all that follows).
    async fn live_activity(&self, head: &Parts) -> Result<Vec<Activity>, AppError>;

    /// One event with its user, their history and sessions.
    async fn review_event(&self, head: &Parts, id: i64) -> Result<EventReview, AppError>;
}
