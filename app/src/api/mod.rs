//! The server functions: the browser's half of the contract with the server, one module per
//! area ([`auth`], [`factors`], [`passkeys`], [`sessions`], [`activity`], [`admin`]).
//!
//! The server functions are thin: each pulls the [`Backend`] out of the request context and
//! hands it the request head, so all policy lives in the `server` crate's services and
//! behaves exactly like the JSON API. `server` depends on `app`, so `app` cannot call into
//! `server` directly: each area declares the few operations its functions need, in wire
//! types, as a trait behind the `ssr` feature, and `server::web` implements them. Nothing of
//! that compiles into the WASM bundles.

pub mod activity;
pub mod admin;
pub mod auth;
pub mod factors;
pub mod passkeys;
pub mod sessions;

pub use activity::*;
pub use admin::*;
pub use auth::*;
pub use factors::*;
pub use passkeys::*;
pub use sessions::*;

pub use crate::wire::*;

/// A URL of the fin-intelli server: `path` itself, except in a static bundle configured
/// for an API on another origin ([`crate::csr`]), where the origin goes in front.
pub fn url(path: &str) -> String {
    format!("{}{path}", leptos::server_fn::client::get_server_url())
}

/// How the browser calls the server functions. The static bundle's client sends cookies to
/// an API on another origin of the same site; the hydrated page keeps the default, its own
/// origin being the API's.
#[cfg(feature = "csr")]
pub type ApiClient = crate::csr::CredentialedClient;
#[cfg(not(feature = "csr"))]
pub type ApiClient = leptos::server_fn::client::browser::BrowserClient;

/// A value plus the cookies the response must set.
#[cfg(feature = "ssr")]
#[derive(Debug)]
pub struct Reply<T> {
    pub value: T,
    pub set_cookies: Vec<http::HeaderValue>,
    /// Other response headers (a DBSC registration offer).
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
}

#[cfg(feature = "ssr")]
impl<T> Reply<T> {
    pub fn new(value: T, set_cookies: Vec<http::HeaderValue>) -> Self {
        Self {
            value,
            set_cookies,
            headers: Vec::new(),
        }
    }

    /// The reply with one more response header.
    pub fn with_header(mut self, header: (http::HeaderName, http::HeaderValue)) -> Self {
        self.headers.push(header);
        self
    }
}

/// Everything the server functions ask of the server.
#[cfg(feature = "ssr")]
pub trait Backend:
    AuthBackend + FactorBackend + PasskeyBackend + SessionBackend + ActivityBackend + AdminBackend + 'static
{
}

#[cfg(feature = "ssr")]
impl<T> Backend for T where
    T: AuthBackend + FactorBackend + PasskeyBackend + SessionBackend + ActivityBackend + AdminBackend + 'static
{
}

/// How the backend travels through the Leptos context.
#[cfg(feature = "ssr")]
pub type SharedBackend = std::sync::Arc<dyn Backend>;

#[cfg(feature = "ssr")]
mod ssr {
    //! The glue every server function shares: find the backend, apply its cookies, set the
    //! status of a failure.
    use super::AppError;
    use super::{Reply, SharedBackend};
    use http::request::Parts;
    use leptos::prelude::*;
    use leptos_axum::ResponseOptions;

    pub fn context() -> Result<(SharedBackend, Parts), AppError> {
        let backend = use_context::<SharedBackend>().ok_or(AppError::Internal)?;
        let head = use_context::<Parts>().ok_or(AppError::Internal)?;
        Ok((backend, head))
    }

    /// Applies the reply's `Set-Cookie` headers and unwraps its value.
    pub fn respond<T>(reply: Result<Reply<T>, AppError>) -> Result<T, AppError> {
        let reply = reply.map_err(fail)?;
        if let Some(response) = use_context::<ResponseOptions>() {
            for cookie in reply.set_cookies {
                response.append_header(http::header::SET_COOKIE, cookie);
            }
            for (name, value) in reply.headers {
                response.insert_header(name, value);
            }
        }
        Ok(reply.value)
    }

    /// Sets the status that matches the error, so failures are 4xx/5xx on the wire too.
    pub fn fail(error: AppError) -> AppError {
        if let Some(response) = use_context::<ResponseOptions>()
            && let Ok(status) = http::StatusCode::from_u16(error.status())
        {
            response.set_status(status);
        }
        error
    }
}
