//! [`app::api::SessionBackend`] over the services.

use app::api::SessionBackend;
use app::wire::{AppError, SessionInfo};
use async_trait::async_trait;
use axum::http::request::Parts;

use super::WebBackend;
use crate::edge::wire::session_info;

#[async_trait]
impl SessionBackend for WebBackend {
    async fn sessions(&self, head: &Parts) -> Result<Vec<SessionInfo>, AppError> {
        let caller = self.caller(head).await?;
        let sessions = self.services().sessions.list(&caller).await?;
        let mut sessions: Vec<SessionInfo> = sessions
            .into_iter()
            .map(|s| session_info(s, Some(&caller.claims.sid)))
            .collect();
        sessions.sort_by_key(|s| !s.current);
        Ok(sessions)
    }

    async fn end_session(&self, head: &Parts, id: &str) -> Result<(), AppError> {
        let caller = self.caller(head).await?;
        let client = self.client(head);
        Ok(self.services().sessions.end_session(&caller, id, &client).await?)
    }

    async fn end_other_sessions(&self, head: &Parts) -> Result<u64, AppError> {
        let caller = self.caller(head).await?;
        let client = self.client(head);
        Ok(self.services().sessions.end_other_sessions(&caller, &client).await?)
    }
}
