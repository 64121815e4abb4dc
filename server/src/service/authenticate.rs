//! Recognising a signed-in caller from an access token, and publishing the keys that
//! verify one.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

use super::error::{AuthenticateError, Fault};
use super::liveness::LivenessCache;
use super::shared::Principal;
use crate::clock::Clock;
use crate::domain::access::{AccessClaims, AccessTokens, TokenError};
use crate::storage::{KeyStore, SessionStore, UserStore};

/// The least time between two key reloads for unknown `kid`s, so forged `kid`s cannot make
/// every request query the database.
const KEY_RELOAD_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Debug)]
pub struct Authenticator {
    tokens: Arc<AccessTokens>,
    sessions: Arc<dyn SessionStore>,
    users: Arc<dyn UserStore>,
    keys: Arc<dyn KeyStore>,
    clock: Arc<dyn Clock>,
    live: Arc<LivenessCache>,
    /// When verification keys were last reloaded for an unknown `kid`.
    last_key_reload: Mutex<Option<Instant>>,
}

/// What the authenticator is built from.
pub struct AuthenticatorParts {
    pub tokens: Arc<AccessTokens>,
    pub sessions: Arc<dyn SessionStore>,
    pub users: Arc<dyn UserStore>,
    pub keys: Arc<dyn KeyStore>,
    pub clock: Arc<dyn Clock>,
    pub live: Arc<LivenessCache>,
}

impl Authenticator {
    pub fn new(parts: AuthenticatorParts) -> Self {
        Self {
            tokens: parts.tokens,
            sessions: parts.sessions,
            users: parts.users,
            keys: parts.keys,
            clock: parts.clock,
            live: parts.live,
            last_key_reload: Mutex::new(None),
        }
    }

    /// Recognises the caller behind an access token: the signature and claims must hold, the
    /// session must not be revoked, and the account must still be active.
    pub async fn authenticate(&self, access_token: &str) -> Result<Principal, AuthenticateError> {
        let now = self.clock.now();
        let claims = self.verify(access_token, now).await?;
        let user_id = claims.user_id().ok_or(TokenError::Invalid)?;
        if let Some(user) = self.live.get(&claims.sid, now).filter(|u| u.id == user_id) {
            return Ok(Principal { user, claims });
        }
        // The session must be the token's user's own: `sid` and `sub` are checked together,
        // so a token naming someone else's session is no token at all.
        if !self.sessions.session_is_live(&claims.sid, user_id, now).await? {
            return Err(TokenError::Invalid.into());
        }
        match self.users.find_user(user_id).await? {
            Some(user) if user.is_active => {
                self.live.put(&claims.sid, user.clone(), now);
                Ok(Principal { user, claims })
            }
            _ => Err(TokenError::Invalid.into()),
        }
    }

    /// The public keys that verify access tokens, as a JWK Set.
    pub fn jwks(&self) -> serde_json::Value {
        self.tokens.jwks()
    }

    /// Verifies an access token; a `kid` this instance has not seen may belong to a key
    /// another instance rotated in, so the keys are reloaded (at most every few seconds)
    /// and the token checked once more.
    async fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<AccessClaims, AuthenticateError> {
        match self.tokens.verify(token, now) {
            Err(TokenError::UnknownKey) if self.may_reload_keys() => {
                let keys = super::keys::verification_keys(self.keys.as_ref())
                    .await
                    .map_err(|e| Fault::Keys(e.to_string()))?;
                self.tokens.add_verification_keys(&keys);
                Ok(self.tokens.verify(token, now)?)
            }
            other => Ok(other?),
        }
    }

    fn may_reload_keys(&self) -> bool {
        let mut last = self.last_key_reload.lock().unwrap_or_else(|p| p.into_inner());
        let due = last.is_none_or(|at| at.elapsed() >= KEY_RELOAD_INTERVAL);
        if due {
            *last = Some(Instant::now());
        }
        due
    }
}
