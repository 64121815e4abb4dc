//! The server functions' backend: [`app::api::Backend`] over the same services the JSON
//! API uses, one module per area of `app::api`. Thin on purpose: the request head in (caller, client), one service call, the
//! outcome out as wire types ([`crate::edge::wire`]) and [`AppError`] (by `From`).

mod activity;
mod admin;
mod auth;
mod factors;
mod passkeys;
mod sessions;

use app::api::Reply;
use app::wire::{AppError, Me};
use axum::http::request::Parts;

use crate::domain::client::ClientInfo;
use crate::edge::Edge;
use crate::edge::wire::me;
use crate::service::{Principal, Services, SignedIn};

pub struct WebBackend {
    edge: Edge,
}

impl WebBackend {
    pub fn new(edge: Edge) -> Self {
        Self { edge }
    }

    fn services(&self) -> &Services {
        &self.edge.services
    }

    fn client(&self, head: &Parts) -> ClientInfo {
        self.edge.client(head)
    }

    /// The user and the session's cookies, after a sign-in or a step-up, with the offer to
    /// bind the session to a device key (DBSC) where it is not bound already.
    fn signed_in_reply(&self, signed_in: &SignedIn) -> Reply<Me> {
        let mut cookies = self.edge.cookies.session(signed_in);
        let me = me(&signed_in.user, signed_in.access.expires_at);
        if signed_in.session_bound {
            return Reply::new(me, cookies);
        }
        // Open to binding: the browser's DBSC key, or else the page's own WebCrypto key.
        cookies.push(self.edge.cookies.binding_offered());
        Reply::new(me, cookies).with_header(crate::edge::dbsc_registration_offer(&self.services().proofs.nonce()))
    }

    /// The signed-in caller, from the access cookie.
    async fn caller(&self, head: &Parts) -> Result<Principal, AppError> {
        let token = self
            .edge
            .cookies
            .read_access(&head.headers)
            .ok_or(AppError::NotSignedIn)?;
        Ok(self.services().auth.authenticate(token).await?)
    }
}
