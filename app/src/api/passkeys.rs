//! Passkeys: signing in with one (no username, no password), answering a step-up with one,
//! and the user's own list (add, see, remove). Adding or removing carries the current
//! password, which may be left empty within five minutes of signing in.
//!
//! Every ceremony has two halves: the server makes the options (and keeps their challenge),
//! the browser hands them to `navigator.credentials` and sends back what the authenticator
//! signed, as WebAuthn Level 3's JSON (`toJSON()`), in a string.
//!
//! The server functions, and the part of the [`Backend`](super::Backend) they call, which the
//! `server` crate implements: a new server function here touches this file, its
//! implementation in `server::web`, and the service it calls.

use leptos::prelude::*;

use super::ApiClient;
use crate::wire::{AppError, Me, Passkey, PasskeyCeremony};
#[cfg(feature = "ssr")]
use {super::Reply, http::request::Parts};

/// Starts a passkey sign-in: request options for any passkey of this site (the browser's
/// passkey picker, or its username autofill).
#[server(prefix = "/api/auth", endpoint = "ui/passkey/start", client = ApiClient)]
pub async fn passkey_options() -> Result<PasskeyCeremony, AppError> {
    let (backend, head) = super::ssr::context()?;
    backend.passkey_options(&head).await.map_err(super::ssr::fail)
}

/// Finishes a passkey sign-in with the authenticator's signed answer; opens a session like
/// a password sign-in (the reply sets its cookies).
#[server(prefix = "/api/auth", endpoint = "ui/passkey/finish", client = ApiClient)]
pub async fn passkey_sign_in(challenge_id: String, credential: String) -> Result<Me, AppError> {
    let (backend, head) = super::ssr::context()?;
    super::ssr::respond(backend.passkey_sign_in(&head, &challenge_id, &credential).await)
}

/// Answers a step-up challenge with a passkey; completes the sign-in.
#[server(prefix = "/api/auth", endpoint = "ui/step-up/passkey", client = ApiClient)]
pub async fn step_up_passkey(challenge_id: String, credential: String) -> Result<Me, AppError> {
    let (backend, head) = super::ssr::context()?;
    super::ssr::respond(backend.step_up_passkey(&head, &challenge_id, &credential).await)
}

/// The signed-in user's passkeys, oldest first.
#[server(prefix = "/api/ui", endpoint = "passkeys", client = ApiClient)]
pub async fn passkeys() -> Result<Vec<Passkey>, AppError> {
    let (backend, head) = super::ssr::context()?;
    backend.passkeys(&head).await.map_err(super::ssr::fail)
}

/// Starts adding a passkey: creation options, after re-authentication.
#[server(prefix = "/api/ui", endpoint = "passkeys/begin", client = ApiClient)]
pub async fn begin_passkey(password: Option<String>) -> Result<PasskeyCeremony, AppError> {
    let (backend, head) = super::ssr::context()?;
    backend
        .begin_passkey(&head, password.filter(|p| !p.is_empty()))
        .await
        .map_err(super::ssr::fail)
}

/// Finishes adding a passkey with the authenticator's new credential and the name the user
/// gave it.
#[server(prefix = "/api/ui", endpoint = "passkeys/add", client = ApiClient)]
pub async fn add_passkey(challenge_id: String, credential: String, name: String) -> Result<Passkey, AppError> {
    let (backend, head) = super::ssr::context()?;
    backend
        .add_passkey(&head, &challenge_id, &credential, &name)
        .await
        .map_err(super::ssr::fail)
}

/// Removes one of the user's passkeys (the same re-authentication as adding one).
#[server(prefix = "/api/ui", endpoint = "passkeys/remove", client = ApiClient)]
pub async fn remove_passkey(id: String, password: Option<String>) -> Result<(), AppError> {
    let (backend, head) = super::ssr::context()?;
    backend
        .remove_passkey(&head, &id, password.filter(|p| !p.is_empty()))
        .await
        .map_err(super::ssr::fail)
}

/// What this area's server functions ask of the server.
#[cfg(feature = "ssr")]
#[async_trait::async_trait]
pub trait PasskeyBackend: Send + Sync {
    /// Request options for a passkey sign-in.
    async fn passkey_options(&self, head: &Parts) -> Result<PasskeyCeremony, AppError>;

    /// Verifies a passkey sign-in and opens a session; the reply carries its cookies.
    async fn passkey_sign_in(&self, head: &Parts, challenge_id: &str, credential: &str) -> Result<Reply<Me>, AppError>;

    /// Answers a step-up challenge with a passkey; the reply carries the session's cookies.
    async fn step_up_passkey(&self, head: &Parts, challenge_id: &str, credential: &str) -> Result<Reply<Me>, AppError>;

    /// The signed-in user's passkeys.
    async fn passkeys(&self, head: &Parts) -> Result<Vec<Passkey>, AppError>;

    /// Creation options for a new passkey (after re-authentication).
    async fn begin_passkey(&self, head: &Parts, password: Option<String>) -> Result<PasskeyCeremony, AppError>;

    /// Registers the new passkey under `name`.
    async fn add_passkey(
        &self,
        head: &Parts,
        challenge_id: &str,
        credential: &str,
        name: &str,
    ) -> Result<Passkey, AppError>;

    /// Removes one of the signed-in user's passkeys (after re-authentication).
    async fn remove_passkey(&self, head: &Parts, id: &str, password: Option<String>) -> Result<(), AppError>;
}
