//! [`app::api::FactorBackend`] over the services.

use app::api::FactorBackend;
use app::wire::{AppError, TotpSetup};
use async_trait::async_trait;
use axum::http::request::Parts;
use secrecy::SecretString;

use super::WebBackend;

#[async_trait]
impl FactorBackend for WebBackend {
    async fn second_factor(&self, head: &Parts) -> Result<bool, AppError> {
        let caller = self.caller(head).await?;
        Ok(self.services().factors.has_second_factor(&caller).await?)
    }

    async fn begin_totp(&self, head: &Parts, password: Option<String>) -> Result<TotpSetup, AppError> {
        let caller = self.caller(head).await?;
        let client = self.client(head);
        let password = password.map(SecretString::from);
        let enrolment = self.services().factors.begin_totp(&caller, password, &client).await?;
        Ok(TotpSetup {
            qr_svg: crate::domain::totp::qr_svg(&enrolment.uri),
            secret: enrolment.secret,
        })
    }

    async fn confirm_totp(&self, head: &Parts, code: &str) -> Result<Vec<String>, AppError> {
        let caller = self.caller(head).await?;
        let client = self.client(head);
        Ok(self.services().factors.confirm_totp(&caller, code, &client).await?)
    }

    async fn remove_totp(&self, head: &Parts, password: Option<String>) -> Result<(), AppError> {
        let caller = self.caller(head).await?;
        let client = self.client(head);
        let password = password.map(SecretString::from);
        Ok(self.services().factors.remove_totp(&caller, password, &client).await?)
    }

    async fn regenerate_recovery_codes(&self, head: &Parts, password: Option<String>) -> Result<Vec<String>, AppError> {
        let caller = self.caller(head).await?;
        let client = self.client(head);
        let password = password.map(SecretString::from);
        Ok(self
            .services()
            .factors
            .regenerate_recovery_codes(&caller, password, &client)
            .await?)
    }
}
