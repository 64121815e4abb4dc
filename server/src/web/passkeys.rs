//! [`app::api::PasskeyBackend`] over the services. The browser sends the authenticator's
//! answer as JSON text; text that is not JSON at all is an invalid passkey, like JSON that
//! is not WebAuthn's.

use app::api::{PasskeyBackend, Reply};
use app::wire::{AppError, Me, Passkey, PasskeyCeremony};
use async_trait::async_trait;
use axum::http::request::Parts;
use secrecy::SecretString;
use serde_json::Value;

use super::WebBackend;
use crate::edge::wire;
use crate::service::{PasskeyOptions, StepUpAnswer};

fn ceremony(started: PasskeyOptions) -> PasskeyCeremony {
    PasskeyCeremony {
        challenge_id: started.challenge_id,
        options: started.options.to_string(),
    }
}

fn credential(text: &str) -> Result<Value, AppError> {
    serde_json::from_str(text).map_err(|_| AppError::InvalidPasskey)
}

#[async_trait]
impl PasskeyBackend for WebBackend {
    async fn passkey_options(&self, _head: &Parts) -> Result<PasskeyCeremony, AppError> {
        Ok(ceremony(self.services().sign_in.start_passkey().await?))
    }

    async fn passkey_sign_in(&self, head: &Parts, challenge_id: &str, answer: &str) -> Result<Reply<Me>, AppError> {
        let client = self.client(head).taking_cookies(true);
        let answer = credential(answer)?;
        let sign_in = &self.services().sign_in;
        let signed_in = sign_in.finish_passkey(challenge_id, &answer, &client).await?;
        Ok(self.signed_in_reply(&signed_in))
    }

    async fn step_up_passkey(&self, head: &Parts, challenge_id: &str, answer: &str) -> Result<Reply<Me>, AppError> {
        let client = self.client(head).taking_cookies(true);
        let answer = credential(answer)?;
        let sign_in = &self.services().sign_in;
        let signed_in = sign_in
            .step_up(challenge_id, StepUpAnswer::Passkey(&answer), &client)
            .await?;
        Ok(self.signed_in_reply(&signed_in))
    }

    async fn passkeys(&self, head: &Parts) -> Result<Vec<Passkey>, AppError> {
        let caller = self.caller(head).await?;
        let passkeys = self.services().passkeys.list(&caller).await?;
        Ok(passkeys.into_iter().map(wire::passkey).collect())
    }

    async fn begin_passkey(&self, head: &Parts, password: Option<String>) -> Result<PasskeyCeremony, AppError> {
        let caller = self.caller(head).await?;
        let client = self.client(head);
        let password = password.map(SecretString::from);
        let passkeys = &self.services().passkeys;
        Ok(ceremony(passkeys.begin_registration(&caller, password, &client).await?))
    }

    async fn add_passkey(
        &self,
        head: &Parts,
        challenge_id: &str,
        answer: &str,
        name: &str,
    ) -> Result<Passkey, AppError> {
        let caller = self.caller(head).await?;
        let client = self.client(head);
        let answer = credential(answer)?;
        let passkeys = &self.services().passkeys;
        let added = passkeys
            .finish_registration(&caller, challenge_id, &answer, name, &client)
            .await?;
        Ok(wire::passkey(added))
    }

    async fn remove_passkey(&self, head: &Parts, id: &str, password: Option<String>) -> Result<(), AppError> {
        let caller = self.caller(head).await?;
        let client = self.client(head);
        let password = password.map(SecretString::from);
        Ok(self.services().passkeys.remove(&caller, id, password, &client).await?)
    }
}
