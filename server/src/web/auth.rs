//! [`app::api::AuthBackend`] over the services.

use app::api::{AuthBackend, Reply};
use app::wire::{AppError, Me};
use async_trait::async_trait;
use axum::http::request::Parts;
use secrecy::SecretString;

use super::WebBackend;
use crate::edge::wire::me;
use crate::service::StepUpAnswer;

#[async_trait]
impl AuthBackend for WebBackend {
    async fn sign_in(&self, head: &Parts, login: &str, password: &str) -> Result<Reply<Me>, AppError> {
        let client = self.client(head).taking_cookies(true);
        let password = SecretString::from(password.to_owned());
        let signed_in = self.services().sign_in.sign_in(login, password, &client).await?;
        Ok(self.signed_in_reply(&signed_in))
    }

    async fn step_up(&self, head: &Parts, challenge_id: &str, code: &str) -> Result<Reply<Me>, AppError> {
        let client = self.client(head).taking_cookies(true);
        let signed_in = self
            .services()
            .sign_in
            .step_up(challenge_id, StepUpAnswer::Code(code), &client)
            .await?;
        Ok(self.signed_in_reply(&signed_in))
    }

    async fn sign_out(&self, head: &Parts) -> Result<Reply<()>, AppError> {
        let client = self.client(head);
        let token = self.edge.cookies.read_refresh(&head.headers);
        self.services().sessions.sign_out(token, &client).await?;
        Ok(Reply::new((), self.edge.cookies.clear_all()))
    }

    async fn change_password(&self, head: &Parts, current: &str, new: &str) -> Result<Reply<()>, AppError> {
        let caller = self.caller(head).await?;
        let client = self.client(head);
        let current = SecretString::from(current.to_owned());
        let new = SecretString::from(new.to_owned());
        // A wrong current password is `AppError::WrongCurrentPassword` (by `From`).
        let accounts = &self.services().accounts;
        accounts.change_password(&caller, current, new, &client).await?;
        Ok(Reply::new((), self.edge.cookies.clear_all()))
    }

    async fn current_user(&self, head: &Parts) -> Result<Option<Me>, AppError> {
        match self.caller(head).await {
            Ok(principal) => Ok(Some(me(&principal.user, principal.claims.exp))),
            // No cookie, or an expired or revoked session: simply "not signed in" for a page.
            Err(AppError::NotSignedIn) => Ok(None),
            Err(other) => Err(other),
        }
    }
}
