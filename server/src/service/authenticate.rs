//! Recognising a signed-in caller from an access token, and publishing the keys that
//! verify one.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Duration, Utc};

use super::error::{AuthenticateError, Fault};
use super::liveness::LivenessCache;
use super::proofs::{Bound, DeviceProofs, Nonce};
use super::shared::Principal;
use crate::clock::Clock;
use crate::domain::access::{AccessClaims, AccessTokens, TokenError};
use crate::domain::client::ClientInfo;
use crate::domain::proof::ProofError;
use crate::storage::{KeyStore, SessionStore, UserStore};

/// The least time between two key reloads for unknown `kid`s, so forged `kid`s cannot make
/// every request query the database.
const KEY_RELOAD_INTERVAL: Duration = Duration::seconds(5);

#[derive(Debug)]
pub struct Authenticator {
    tokens: Arc<AccessTokens>,
    sessions: Arc<dyn SessionStore>,
    users: Arc<dyn UserStore>,
    keys: Arc<dyn KeyStore>,
    clock: Arc<dyn Clock>,
    live: Arc<LivenessCache>,
    proofs: Arc<DeviceProofs>,
    /// When verification keys were last reloaded for an unknown `kid` (by `clock`, so
    /// tests can move past the interval).
    last_key_reload: Mutex<Option<DateTime<Utc>>>,
}

/// What the authenticator is built from.
pub struct AuthenticatorParts {
    pub tokens: Arc<AccessTokens>,
    pub sessions: Arc<dyn SessionStore>,
    pub users: Arc<dyn UserStore>,
    pub keys: Arc<dyn KeyStore>,
    pub clock: Arc<dyn Clock>,
    pub live: Arc<LivenessCache>,
    pub proofs: Arc<DeviceProofs>,
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
            proofs: parts.proofs,
            last_key_reload: Mutex::new(None),
        }
    }

    /// Recognises the caller behind an access token: the signature and claims must hold, the
    /// session must not be revoked, and the account must still be active. A token bound to
    /// a device key is refused here: it needs [`Self::authenticate_proven`].
    pub async fn authenticate(&self, access_token: &str) -> Result<Principal, AuthenticateError> {
        let now = self.clock.now();
        let claims = self.verify(access_token, now).await?;
        if claims.cnf.is_some() {
            return Err(AuthenticateError::DeviceProof(ProofError::Missing));
        }
        self.recognise(claims, now).await
    }

    /// `Authorization: DPoP <token>` (RFC 9449 section 7): the token must be bound to a
    /// device key, and the request must carry a proof from that key made for it (`ath`),
    /// for this request, never used before.
    pub async fn authenticate_proven(
        &self,
        access_token: &str,
        client: &ClientInfo,
    ) -> Result<Principal, AuthenticateError> {
        let now = self.clock.now();
        let claims = self.verify(access_token, now).await?;
        let jkt = claims.cnf.as_ref().map(|c| c.jkt.clone()).ok_or(TokenError::Invalid)?;
        self.proofs
            .prove(
                Bound { jkt: &jkt, key: None },
                client,
                Some(access_token),
                Nonce::NotRequired,
                now,
            )
            .await?;
        self.recognise(claims, now).await
    }

    /// The session and the account behind verified claims.
    async fn recognise(&self, claims: AccessClaims, now: DateTime<Utc>) -> Result<Principal, AuthenticateError> {
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

    /// [`Self::authenticate`] from the database, whatever this instance's cache holds: for a
    /// caller whose standing has just changed, perhaps on another instance. The answer
    /// replaces the cached one.
    pub async fn authenticate_afresh(&self, access_token: &str) -> Result<Principal, AuthenticateError> {
        let claims = self.verify(access_token, self.clock.now()).await?;
        self.live.forget_session(&claims.sid);
        self.authenticate(access_token).await
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
            Err(TokenError::UnknownKey) if self.may_reload_keys(now) => {
                let keys = super::keys::verification_keys(self.keys.as_ref())
                    .await
                    .map_err(|e| Fault::Keys(e.to_string()))?;
                self.tokens.add_verification_keys(&keys);
                Ok(self.tokens.verify(token, now)?)
            }
            other => Ok(other?),
        }
    }

    fn may_reload_keys(&self, now: DateTime<Utc>) -> bool {
        let mut last = self.last_key_reload.lock().unwrap_or_else(|p| p.into_inner());
        // A clock set back counts as due, or reloads would stop until it caught up.
        let due = last.is_none_or(|at| now - at >= KEY_RELOAD_INTERVAL || now < at);
        if due {
            *last = Some(now);
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_trait::async_trait;
    use secrecy::ExposeSecret as _;

    use super::*;
    use crate::clock::ManualClock;
    use crate::domain::access::SigningKey;
    use crate::storage::{Schema as _, SqlStore, StoreError, StoredSigningKey};

    /// A key store that counts how often every stored key is read: one read is one reload.
    #[derive(Debug)]
    struct CountingKeys {
        inner: Arc<SqlStore>,
        reads: AtomicUsize,
    }

    #[async_trait]
    impl KeyStore for CountingKeys {
        async fn ensure_secret(&self, name: &str, candidate: &str, now: DateTime<Utc>) -> Result<String, StoreError> {
            self.inner.ensure_secret(name, candidate, now).await
        }
        async fn current_signing_key(&self) -> Result<Option<StoredSigningKey>, StoreError> {
            self.inner.current_signing_key().await
        }
        async fn signing_keys(&self) -> Result<Vec<StoredSigningKey>, StoreError> {
            self.reads.fetch_add(1, Ordering::SeqCst);
            self.inner.signing_keys().await
        }
        async fn rotate_signing_key(&self, key: &StoredSigningKey) -> Result<(), StoreError> {
            self.inner.rotate_signing_key(key).await
        }
        async fn ensure_signing_key(&self, key: &StoredSigningKey) -> Result<StoredSigningKey, StoreError> {
            self.inner.ensure_signing_key(key).await
        }
    }

    fn tokens_of(key: &SigningKey) -> AccessTokens {
        AccessTokens::new(key, &[], "fin-intelli", "fin-intelli", Duration::minutes(15))
    }

    /// A well-formed token signed by `key`, for a session nobody has.
    fn token_by(key: &SigningKey, now: DateTime<Utc>) -> String {
        let issued = tokens_of(key).issue(1, "mallory", "admin", "no-such-session", now);
        issued.token.expose_secret().to_owned()
    }

    #[tokio::test]
    async fn a_flood_of_unknown_kids_reloads_the_keys_once_per_interval() {
        let dir = std::env::temp_dir().join(format!("fin-keys-{}", uuid::Uuid::new_v4().simple()));
        let url = format!("sqlite:{}", dir.join("keys.db").display());
        let store = Arc::new(SqlStore::connect(&url, 2).await.unwrap());
        store.migrate().await.unwrap();
        let keys = Arc::new(CountingKeys {
            inner: store.clone(),
            reads: AtomicUsize::new(0),
        });
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let auth = Authenticator::new(AuthenticatorParts {
            tokens: Arc::new(tokens_of(&SigningKey::generate_ed25519())),
            sessions: store.clone(),
            users: store.clone(),
            keys: keys.clone(),
            clock: clock.clone(),
            live: Arc::new(LivenessCache::default()),
            proofs: Arc::new(DeviceProofs {
                spent: store.clone(),
                nonces: crate::domain::proof::NonceKey::new(vec![1; 32]),
                clock: clock.clone(),
            }),
        });
        let unknown_key = |result: Result<Principal, AuthenticateError>| {
            matches!(result, Err(AuthenticateError::Token(TokenError::UnknownKey)))
        };

        // A hundred forged `kid`s, each new, some at once: one reload.
        let forged: Vec<String> = (0..100)
            .map(|_| token_by(&SigningKey::generate_ed25519(), clock.now()))
            .collect();
        let results = futures::future::join_all(forged.iter().map(|t| auth.authenticate(t))).await;
        assert!(results.into_iter().all(unknown_key));
        assert_eq!(keys.reads.load(Ordering::SeqCst), 1, "one reload for the whole flood");

        // Another instance rotates in a key. Within the interval its tokens stay unknown here:
        // the flood spent the reload.
        super::super::keys::rotate_signing_key(keys.as_ref(), clock.as_ref())
            .await
            .unwrap();
        let rotated = super::super::keys::verification_keys(store.as_ref()).await.unwrap();
        let rotated_token = token_by(&rotated[0], clock.now());
        clock.advance(KEY_RELOAD_INTERVAL - Duration::milliseconds(1));
        assert!(unknown_key(auth.authenticate(&rotated_token).await));
        assert_eq!(keys.reads.load(Ordering::SeqCst), 1);

        // Once the interval has passed, the next unknown `kid` reloads, and the rotated key is
        // learned (its token now fails only on its made-up session).
        clock.advance(Duration::milliseconds(1));
        let learned = auth.authenticate(&rotated_token).await;
        assert!(
            matches!(learned, Err(AuthenticateError::Token(TokenError::Invalid))),
            "{learned:?}"
        );
        assert_eq!(keys.reads.load(Ordering::SeqCst), 2);
        assert!(unknown_key(auth.authenticate(&forged[0]).await));
        assert_eq!(
            keys.reads.load(Ordering::SeqCst),
            2,
            "and none more within the interval"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
