//! What every use case shares: who the caller is, what a sign-in hands out, and writing an
//! activity event with its place and device.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use secrecy::SecretString;

use super::error::Forbidden;
use crate::clock::Clock;
use crate::domain::access::{AccessClaims, AccessTokens, IssuedAccessToken};
use crate::domain::client::ClientInfo;
use crate::domain::device::Device;
use crate::domain::geo::Geolocator;
use crate::domain::user::User;
use crate::storage::{Decision, EventType, NewActivity};

/// A caller proven by a valid access token whose session is still live.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub claims: AccessClaims,
}

impl Principal {
    /// `Forbidden` unless the caller is an administrator.
    pub fn require_admin(&self) -> Result<(), Forbidden> {
        if self.user.is_admin { Ok(()) } else { Err(Forbidden) }
    }
}

/// The outcome of a successful sign-in or refresh: the user and both tokens.
pub struct SignedIn {
    pub user: User,
    pub session_id: String,
    pub access: IssuedAccessToken,
    pub refresh: SecretString,
    /// Seconds the refresh token lives (the cookie's Max-Age).
    pub refresh_max_age: i64,
    /// A device cookie to give a browser that had none.
    pub device_cookie: Option<SecretString>,
    /// The access token is bound to a device key (`cnf.jkt`): token type `DPoP`.
    pub dpop_bound: bool,
    /// The session is bound to a device key.
    pub session_bound: bool,
}

/// Session lifetimes and the rotation grace window.
#[derive(Debug, Clone, Copy)]
pub struct SessionPolicy {
    /// The absolute lifetime of a session, from sign-in.
    pub lifetime: Duration,
    /// A session unused for this long ends.
    pub idle_timeout: Duration,
    /// How long a spent refresh token may come back, from the same device, and get the
    /// same successor again (concurrent tabs, a retried request).
    pub grace: Duration,
}

/// Hands out a session's tokens: sign-in, step-up and refresh all end here.
#[derive(Debug, Clone)]
pub struct Issuer {
    pub tokens: Arc<AccessTokens>,
    pub policy: SessionPolicy,
}

impl Issuer {
    /// A fresh access token for the session, with the refresh token to hand out.
    ///
    /// A client that keeps its tokens itself (no cookies) and whose session is bound to a
    /// device key (`jkt`) gets an access token bound to that key too (RFC 9449). A browser's
    /// access cookie is not: page loads cannot carry proofs, and the cookie lives minutes.
    pub fn signed_in(
        &self,
        user: User,
        session_id: String,
        refresh: SecretString,
        bound_to: Option<&str>,
        client: &ClientInfo,
        now: DateTime<Utc>,
    ) -> SignedIn {
        let jkt = bound_to.filter(|_| !client.takes_cookies);
        let access = self
            .tokens
            .issue_bound(user.id, &user.username, user.role(), &session_id, jkt, now);
        SignedIn {
            user,
            session_id,
            access,
            refresh,
            // The session's lifetime (API.md). The token inside may die sooner (idle
            // timeout, revocation); the server decides, the cookie just carries it.
            refresh_max_age: self.policy.lifetime.num_seconds(),
            device_cookie: None,
            dpop_bound: jkt.is_some(),
            session_bound: bound_to.is_some(),
        }
    }
}

/// Writes what happened the same way from every use case: the clock's time, the client's
/// place and device. The events start allowed and without risk; the caller says otherwise.
#[derive(Debug, Clone)]
pub struct Recorder {
    geo: Arc<Geolocator>,
    clock: Arc<dyn Clock>,
}

impl Recorder {
    pub fn new(geo: Arc<Geolocator>, clock: Arc<dyn Clock>) -> Self {
        Self { geo, clock }
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// An event from this client, placed and with its device parsed.
    pub fn event(
        &self,
        event_type: EventType,
        user_id: Option<i64>,
        username: Option<String>,
        client: &ClientInfo,
        now: DateTime<Utc>,
    ) -> NewActivity {
        NewActivity {
            user_id,
            username,
            event_type,
            ip_address: client.ip.to_string(),
            device: Device::parse(&client.device),
            device_info: client.device.clone(),
            place: self.geo.locate(client.ip),
            risk_score: 0.0,
            risk_reasons: Vec::new(),
            decision: Decision::Allow,
            created_at: now,
            device_proven: false,
        }
    }

    /// An event about something the signed-in caller did.
    pub fn caller_event(
        &self,
        event_type: EventType,
        caller: &Principal,
        client: &ClientInfo,
        now: DateTime<Utc>,
    ) -> NewActivity {
        self.event(
            event_type,
            Some(caller.user.id),
            Some(caller.user.username.clone()),
            client,
            now,
        )
    }

    /// An event about a user, by someone else (an administrator): `reasons` say what and
    /// who.
    pub fn about_user(
        &self,
        event_type: EventType,
        user_id: i64,
        client: &ClientInfo,
        reasons: Vec<String>,
    ) -> NewActivity {
        let mut event = self.event(event_type, Some(user_id), None, client, self.now());
        event.risk_reasons = reasons;
        event
    }
}
