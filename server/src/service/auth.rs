//! Signing in and out, and recognising a signed-in caller.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};

use super::liveness::LivenessCache;
use crate::clock::Clock;
use crate::domain::access::{AccessClaims, AccessTokens, IssuedAccessToken, TokenError};
use crate::domain::client::ClientInfo;
use crate::domain::password::{self, PasswordError, Passwords};
use crate::domain::token::{NewRefreshToken, SuccessorKey, hash_refresh_token, looks_like_refresh_token};
use crate::domain::user::{Email, InvalidIdentity, NewUser, User, Username, normalise_login};
use crate::storage::{
    ActivityRecord, EventType, NewActivity, NewSession, RotateOutcome, Rotation, SessionRecord, Store, StoreError,
};

/// The service layer's one error type.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Unknown user, wrong password or inactive account: deliberately indistinguishable.
    #[error("invalid username or password")]
    InvalidCredentials,
    /// Unknown, malformed, revoked or expired refresh token.
    #[error("the refresh token is invalid")]
    InvalidRefreshToken,
    /// A spent refresh token came back outside the grace window: the session is revoked.
    #[error("the refresh token was already used")]
    RefreshReused,
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Token(#[from] TokenError),
    #[error(transparent)]
    InvalidIdentity(#[from] InvalidIdentity),
    #[error("{0}")]
    WeakPassword(String),
    #[error("{0} is already taken")]
    Conflict(&'static str),
    #[error(transparent)]
    Store(StoreError),
    #[error(transparent)]
    Password(PasswordError),
    #[error("cannot load keys: {0}")]
    Keys(String),
}

impl From<StoreError> for AuthError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(field) => AuthError::Conflict(field),
            other => AuthError::Store(other),
        }
    }
}

impl From<PasswordError> for AuthError {
    fn from(error: PasswordError) -> Self {
        match error {
            PasswordError::TooShort | PasswordError::TooLong => AuthError::WeakPassword(error.to_string()),
            other => AuthError::Password(other),
        }
    }
}

/// The outcome of a successful sign-in: the user and both tokens.
pub struct SignedIn {
    pub user: User,
    pub session_id: String,
    pub access: IssuedAccessToken,
    pub refresh: SecretString,
    /// Seconds the refresh token lives (the cookie's Max-Age).
    pub refresh_max_age: i64,
}

/// A caller proven by a valid access token whose session is still live.
#[derive(Debug, Clone)]
pub struct Principal {
    pub user: User,
    pub claims: AccessClaims,
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

#[derive(Debug)]
pub struct AuthService {
    store: Arc<dyn Store>,
    passwords: Passwords,
    tokens: AccessTokens,
    successors: SuccessorKey,
    clock: Arc<dyn Clock>,
    policy: SessionPolicy,
    /// When verification keys were last reloaded for an unknown `kid` (throttled, so forged
    /// `kid`s cannot make every request query the database).
    last_key_reload: std::sync::Mutex<Option<std::time::Instant>>,
    live_sessions: LivenessCache,
}

impl AuthService {
    pub fn new(
        store: Arc<dyn Store>,
        passwords: Passwords,
        tokens: AccessTokens,
        successors: SuccessorKey,
        clock: Arc<dyn Clock>,
        policy: SessionPolicy,
    ) -> Self {
        Self {
            store,
            passwords,
            tokens,
            successors,
            clock,
            policy,
            last_key_reload: std::sync::Mutex::new(None),
            live_sessions: LivenessCache::default(),
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Signs in with a username or e-mail address and a password.
    ///
    /// Every path verifies one Argon2 hash (a dummy one for unknown users) and writes one
    /// activity row, so the answer's timing says nothing about which check failed.
    pub async fn sign_in(
        &self,
        login: &str,
        password: SecretString,
        client: &ClientInfo,
    ) -> Result<SignedIn, AuthError> {
        let login = normalise_login(login);
        let user = match &login {
            Some(login) => self.store.find_user_by_login(login).await?,
            None => None,
        };
        let stored_hash = user.as_ref().map(|u| u.hashed_password.clone());
        let password_ok = self.passwords.verify(password, stored_hash).await?;
        let now = self.clock.now();

        let user = match user {
            Some(user) if password_ok && user.is_active => user,
            user => {
                let tried = user.as_ref().map(|u| u.username.clone()).or_else(|| login.clone());
                let event = activity(EventType::LoginFailed, user.as_ref().map(|u| u.id), tried, client, now);
                self.store.record_activity(&event).await?;
                return Err(AuthError::InvalidCredentials);
            }
        };

        let refresh = NewRefreshToken::generate();
        let session_id = uuid::Uuid::new_v4().to_string();
        let session = NewSession {
            user_id: user.id,
            session_id: session_id.clone(),
            token_hash: refresh.hash,
            device_info: client.device.clone(),
            ip_address: client.ip.to_string(),
            created_at: now,
            expires_at: now + self.policy.lifetime,
            token_expires_at: now + self.policy.idle_timeout.min(self.policy.lifetime),
        };
        let event = activity(
            EventType::LoginSucceeded,
            Some(user.id),
            Some(user.username.clone()),
            client,
            now,
        );
        self.store.open_session(&session, &event).await?;

        Ok(self.signed_in(user, session_id, refresh.secret, now))
    }

    /// A fresh access token for the session, with the refresh token to hand out.
    fn signed_in(&self, user: User, session_id: String, refresh: SecretString, now: DateTime<Utc>) -> SignedIn {
        let access = self
            .tokens
            .issue(user.id, &user.username, user.role(), &session_id, now);
        SignedIn {
            user,
            session_id,
            access,
            refresh,
            refresh_max_age: self.refresh_max_age(),
        }
    }

    /// The refresh cookie's Max-Age: the session's lifetime (API.md). The token inside may
    /// die sooner (idle timeout, revocation); the server decides, the cookie just carries it.
    fn refresh_max_age(&self) -> i64 {
        self.policy.lifetime.num_seconds()
    }

    /// Spends a refresh token and returns fresh tokens for the same session.
    ///
    /// - A live token is rotated (one atomic conditional write in the store).
    /// - A token spent less than the grace window ago, whose successor is still unused and
    ///   went to this same device (user agent and address), gets that same successor back:
    ///   two tabs refreshing at once, or a retry after a lost response, keep the session.
    /// - Any other spent token is a replay: the whole session is revoked and a
    ///   `refresh_reused` event with risk 1.0 is written.
    pub async fn refresh(&self, presented: Option<&str>, client: &ClientInfo) -> Result<SignedIn, AuthError> {
        let presented = presented
            .filter(|t| looks_like_refresh_token(t))
            .ok_or(AuthError::InvalidRefreshToken)?;
        let now = self.clock.now();
        let successor = self.successors.successor(presented);
        let rotation = Rotation {
            presented_hash: hash_refresh_token(presented),
            successor_hash: successor.hash.clone(),
            now,
            idle_timeout: self.policy.idle_timeout,
            device_info: client.device.clone(),
            ip_address: client.ip.to_string(),
        };
        let event = activity(EventType::Refresh, None, None, client, now);
        let (user_id, session_id) = match self.store.rotate_refresh_token(&rotation, &event).await? {
            RotateOutcome::Rotated { user_id, session_id } => (user_id, session_id),
            RotateOutcome::NotRotated(None) => return Err(AuthError::InvalidRefreshToken),
            RotateOutcome::NotRotated(Some(spent)) => {
                let Some(spent_at) = spent.spent_at else {
                    // Never spent, yet not rotatable: revoked or expired.
                    return Err(AuthError::InvalidRefreshToken);
                };
                let retry = now - spent_at <= self.policy.grace
                    && spent.successor_hash.as_deref() == Some(successor.hash.as_str())
                    && spent.successor_live
                    && spent.successor_device.as_deref() == Some(client.device.as_str())
                    && spent.successor_ip.as_deref() == Some(rotation.ip_address.as_str());
                if !retry {
                    let mut alarm = activity(EventType::RefreshReused, Some(spent.user_id), None, client, now);
                    alarm.risk_score = 1.0;
                    self.store
                        .revoke_session(&spent.session_id, now, "refresh_reused", &alarm)
                        .await?;
                    self.live_sessions.forget_session(&spent.session_id);
                    tracing::warn!(user_id = spent.user_id, session = %spent.session_id, ip = %client.ip, "refresh token reused: session revoked");
                    return Err(AuthError::RefreshReused);
                }
                (spent.user_id, spent.session_id)
            }
        };
        let user = match self.store.find_user(user_id).await? {
            Some(user) if user.is_active => user,
            _ => return Err(AuthError::InvalidRefreshToken),
        };
        Ok(self.signed_in(user, session_id, successor.secret, now))
    }

    /// Ends every session of the caller ("sign out everywhere").
    pub async fn sign_out_everywhere(&self, caller: &Principal, client: &ClientInfo) -> Result<u64, AuthError> {
        self.end_sessions(caller, None, EventType::Logout, client).await
    }

    /// Ends every session of the caller but the current one ("sign out everywhere else").
    pub async fn end_other_sessions(&self, caller: &Principal, client: &ClientInfo) -> Result<u64, AuthError> {
        self.end_sessions(caller, Some(&caller.claims.sid), EventType::SessionRevoked, client)
            .await
    }

    async fn end_sessions(
        &self,
        caller: &Principal,
        except: Option<&str>,
        kind: EventType,
        client: &ClientInfo,
    ) -> Result<u64, AuthError> {
        let now = self.clock.now();
        let event = caller_activity(kind, caller, client, now);
        let ended = self
            .store
            .revoke_user_sessions(caller.user.id, except, now, &event)
            .await?;
        self.live_sessions.forget_user(caller.user.id);
        Ok(ended)
    }

    /// A page of the caller's own activity, newest first.
    pub async fn my_activity(
        &self,
        caller: &Principal,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<ActivityRecord>, AuthError> {
        Ok(self.store.activity_page(Some(caller.user.id), before, limit).await?)
    }

    /// The caller's live sessions, most recently used first.
    pub async fn sessions(&self, caller: &Principal) -> Result<Vec<SessionRecord>, AuthError> {
        Ok(self.store.live_sessions(caller.user.id, self.clock.now()).await?)
    }

    /// Changes the caller's password after checking the current one, and ends every session
    /// (a stolen session must not outlive the password change that was meant to stop it).
    pub async fn change_password(
        &self,
        caller: &Principal,
        current: SecretString,
        new: SecretString,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        password::check_policy(&new)?;
        if !self
            .passwords
            .verify(current, Some(caller.user.hashed_password.clone()))
            .await?
        {
            return Err(AuthError::InvalidCredentials);
        }
        let hashed = self.passwords.hash(new).await?;
        let now = self.clock.now();
        let event = caller_activity(EventType::PasswordChanged, caller, client, now);
        self.store.change_password(caller.user.id, &hashed, now, &event).await?;
        self.live_sessions.forget_user(caller.user.id);
        Ok(())
    }

    /// Ends one of the caller's own sessions; someone else's is `NotFound`, like a missing one.
    pub async fn end_session(
        &self,
        caller: &Principal,
        session_id: &str,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let now = self.clock.now();
        let owned = self
            .store
            .live_sessions(caller.user.id, now)
            .await?
            .iter()
            .any(|s| s.id == session_id);
        if !owned {
            return Err(AuthError::NotFound);
        }
        let event = caller_activity(EventType::SessionRevoked, caller, client, now);
        self.store
            .revoke_session(session_id, now, "revoked_by_user", &event)
            .await?;
        self.live_sessions.forget_session(session_id);
        Ok(())
    }

    /// Revokes the session the refresh token belongs to. Unknown, malformed or already
    /// revoked tokens are not an error: signing out is idempotent.
    pub async fn sign_out(&self, refresh_token: Option<&str>, client: &ClientInfo) -> Result<(), AuthError> {
        let Some(token) = refresh_token.filter(|t| looks_like_refresh_token(t)) else {
            return Ok(());
        };
        let now = self.clock.now();
        let event = activity(EventType::Logout, None, None, client, now);
        if let Some(user_id) = self
            .store
            .revoke_session_by_token(&hash_refresh_token(token), now, &event)
            .await?
        {
            self.live_sessions.forget_user(user_id);
        }
        Ok(())
    }

    /// Recognises the caller behind an access token: the signature and claims must hold, the
    /// session must not be revoked, and the account must still be active.
    pub async fn authenticate(&self, access_token: &str) -> Result<Principal, AuthError> {
        let now = self.clock.now();
        let claims = self.verify_access_token(access_token, now).await?;
        let user_id = claims.user_id().ok_or(TokenError::Invalid)?;
        if let Some(user) = self.live_sessions.get(&claims.sid, now).filter(|u| u.id == user_id) {
            return Ok(Principal { user, claims });
        }
        if !self.store.session_is_live(&claims.sid, now).await? {
            return Err(TokenError::Invalid.into());
        }
        match self.store.find_user(user_id).await? {
            Some(user) if user.is_active => {
                self.live_sessions.put(&claims.sid, user.clone(), now);
                Ok(Principal { user, claims })
            }
            _ => Err(TokenError::Invalid.into()),
        }
    }

    /// Verifies an access token; a `kid` this instance has not seen may belong to a key
    /// another instance rotated in, so the keys are reloaded (at most every few seconds)
    /// and the token checked once more.
    async fn verify_access_token(&self, token: &str, now: DateTime<Utc>) -> Result<AccessClaims, AuthError> {
        match self.tokens.verify(token, now) {
            Err(TokenError::UnknownKey) if self.may_reload_keys() => {
                let keys = super::keys::verification_keys(self.store.as_ref())
                    .await
                    .map_err(|e| AuthError::Keys(e.to_string()))?;
                self.tokens.add_verification_keys(&keys);
                Ok(self.tokens.verify(token, now)?)
            }
            other => Ok(other?),
        }
    }

    fn may_reload_keys(&self) -> bool {
        const MIN_INTERVAL: std::time::Duration = std::time::Duration::from_secs(5);
        let mut last = self.last_key_reload.lock().unwrap_or_else(|p| p.into_inner());
        let due = last.is_none_or(|at| at.elapsed() >= MIN_INTERVAL);
        if due {
            *last = Some(std::time::Instant::now());
        }
        due
    }

    /// The public keys that verify access tokens, as a JWK Set.
    pub fn jwks(&self) -> serde_json::Value {
        self.tokens.jwks()
    }

    /// Activates or deactivates a user; deactivating ends every session of the user at once.
    pub async fn set_user_active(&self, user_id: i64, active: bool) -> Result<bool, AuthError> {
        let found = self.store.set_user_active(user_id, active, self.clock.now()).await?;
        if !active {
            self.live_sessions.forget_user(user_id);
        }
        Ok(found)
    }

    /// Adds a user (the `create-user` command and the first-run admin).
    pub async fn create_user(
        &self,
        username: &str,
        email: &str,
        password: SecretString,
        is_admin: bool,
    ) -> Result<User, AuthError> {
        let username = Username::parse(username)?;
        let email = Email::parse(email)?;
        password::check_policy(&password)?;
        let hashed_password = self.passwords.hash(password).await?;
        let new_user = NewUser {
            username,
            email,
            hashed_password,
            is_admin,
        };
        Ok(self.store.insert_user(&new_user, self.clock.now()).await?)
    }

    /// On a database without users, creates `admin` with a random password and returns the
    /// password, for the caller to show once. Several instances starting together create it
    /// once: the loser's insert hits the unique username and it stays quiet.
    pub async fn bootstrap_admin(&self) -> Result<Option<SecretString>, AuthError> {
        if self.store.count_users().await? > 0 {
            return Ok(None);
        }
        let password = SecretString::from(crate::domain::token::random_urlsafe(18));
        match self
            .create_user(
                "admin",
                "admin@localhost",
                SecretString::from(password.expose_secret().to_owned()),
                true,
            )
            .await
        {
            Ok(_) => Ok(Some(password)),
            Err(AuthError::Conflict(_)) => Ok(None),
            Err(other) => Err(other),
        }
    }
}

/// An event about something the signed-in caller did.
fn caller_activity(event_type: EventType, caller: &Principal, client: &ClientInfo, now: DateTime<Utc>) -> NewActivity {
    activity(
        event_type,
        Some(caller.user.id),
        Some(caller.user.username.clone()),
        client,
        now,
    )
}

fn activity(
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
        device_info: client.device.clone(),
        risk_score: 0.0,
        geolocation_country: None,
        geolocation_city: None,
        created_at: now,
    }
}
