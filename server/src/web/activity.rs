//! [`app::api::ActivityBackend`] over the services.

use app::api::ActivityBackend;
use app::wire::{Activity, ActivityFilters, ActivityPage, AppError, EventReview};
use async_trait::async_trait;
use axum::http::request::Parts;

use super::WebBackend;
use crate::edge::wire::{self, DEFAULT_LIMIT, admin_user, parse_filters, session_info};
use crate::service::EventVerdict;

/// Events the live page starts with.
const LIVE_HISTORY: i64 = 200;

#[async_trait]
impl ActivityBackend for WebBackend {
    async fn my_activity(&self, head: &Parts, before: Option<String>) -> Result<ActivityPage, AppError> {
        let caller = self.caller(head).await?;
        let filters = ActivityFilters {
            before: before.unwrap_or_default(),
            ..ActivityFilters::default()
        };
        let parsed = parse_filters(&filters, None, false)?;
        let events = self
            .services()
            .activity
            .mine(&caller, parsed.filter.before, DEFAULT_LIMIT + 1)
            .await?;
        Ok(wire::page(events, DEFAULT_LIMIT))
    }

    async fn admin_activity(&self, head: &Parts, filters: &ActivityFilters) -> Result<ActivityPage, AppError> {
        let caller = self.caller(head).await?;
        // The JSON API's own rules and messages, on the typed filters.
        let parsed = parse_filters(filters, None, true)?;
        let events = self
            .services()
            .activity
            .search(&caller, &parsed.filter, DEFAULT_LIMIT + 1)
            .await?;
        Ok(wire::page(events, DEFAULT_LIMIT))
    }

    async fn report_not_me(&self, head: &Parts, id: i64) -> Result<u64, AppError> {
        let caller = self.caller(head).await?;
        let client = self.client(head);
        Ok(self.services().activity.report_not_me(&caller, id, &client).await?)
    }

    async fn judge_event(&self, head: &Parts, id: i64, verdict: &str) -> Result<u64, AppError> {
        let caller = self.caller(head).await?;
        let client = self.client(head);
        let verdict = EventVerdict::parse(verdict)
            .ok_or_else(|| AppError::BadRequest("The verdict must be legitimate or compromised.".into()))?;
        Ok(self.services().activity.judge(&caller, id, verdict, &client).await?)
    }

    async fn live_activity(&self, head: &Parts) -> Result<Vec<Activity>, AppError> {
        let caller = self.caller(head).await?;
        let events = self.services().activity.recent(&caller, LIVE_HISTORY).await?;
        Ok(events.into_iter().map(wire::activity).collect())
    }

    async fn review_event(&self, head: &Parts, id: i64) -> Result<EventReview, AppError> {
        let caller = self.caller(head).await?;
        let review = self.services().activity.review(&caller, id).await?;
        Ok(EventReview {
            event: wire::activity(review.event),
            user: review.user.as_ref().map(|u| admin_user(u, caller.user.id)),
            history: review.history.into_iter().map(wire::activity).collect(),
            sessions: review.sessions.into_iter().map(|s| session_info(s, None)).collect(),
        })
    }
}
