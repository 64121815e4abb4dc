//! Signing in and out, and recognising a signed-in caller.

mod admin;

pub use admin::EventReview;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};

use super::liveness::LivenessCache;
use super::risk::{Memory, RiskGate, RiskPolicy, observation, parse_baseline};
use crate::clock::Clock;
use crate::domain::access::{AccessClaims, AccessTokens, IssuedAccessToken, TokenError};
use crate::domain::client::ClientInfo;
use crate::domain::device::Device;
use crate::domain::geo::Geolocator;
use crate::domain::password::{self, PasswordError, Passwords};
use crate::domain::risk::{Response, Signals};
use crate::domain::throttle::ThrottleKey;
use crate::domain::throttle::{Scope, ThrottlePolicy, Verdict, known_network};
use crate::domain::token::{NewRefreshToken, SuccessorKey, hash_refresh_token, looks_like_refresh_token};
use crate::domain::totp;
use crate::domain::user::{Email, InvalidIdentity, NewUser, User, Username, has_control_character, normalise_login};
use crate::storage::Challenge;
use crate::storage::{
    ActivityFilter, ActivityRecord, Decision, EventType, NewActivity, NewSession, RotateOutcome, Rotation,
    SessionRecord, Store, StoreError,
};

/// How long a network the owner signed in from keeps them clear of the account-wide
/// throttle.
const KNOWN_NETWORK_MEMORY: Duration = Duration::days(90);

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
    /// Too many recent failures from this address or against this account.
    #[error("too many attempts; retry in {retry_after_secs} s")]
    Throttled { retry_after_secs: i64 },
    /// The risk policy asks for a second factor: answer the challenge at
    /// `POST /api/auth/step-up`.
    #[error("a second factor is required")]
    StepUpRequired { challenge_id: String },
    /// A wrong, spent or expired second-factor code, or an unknown challenge.
    #[error("the code is not valid")]
    InvalidCode,
    /// The risk policy refused the sign-in.
    #[error("sign-in blocked by the risk policy")]
    LoginBlocked,
    /// A refresh looked like someone else holding the token: the session is ended.
    #[error("session ended by the risk policy")]
    RefreshBlocked,
    /// An admin tried to deactivate or demote themselves.
    #[error("an administrator cannot deactivate or demote themselves")]
    SelfLockout,
    /// Authenticated, but not allowed (an admin-only action).
    #[error("forbidden")]
    Forbidden,
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

/// What an administrator can say about an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventVerdict {
    Legitimate,
    Compromised,
}

impl EventVerdict {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "legitimate" => Some(EventVerdict::Legitimate),
            "compromised" => Some(EventVerdict::Compromised),
            _ => None,
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
    /// A device cookie to give a browser that had none.
    pub device_cookie: Option<SecretString>,
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
    geo: Arc<Geolocator>,
    throttle: ThrottlePolicy,
    risk: RiskGate,
}

/// What [`AuthService`] is built from.
pub struct AuthParts {
    pub store: Arc<dyn Store>,
    pub passwords: Passwords,
    pub tokens: AccessTokens,
    pub successors: SuccessorKey,
    pub clock: Arc<dyn Clock>,
    pub policy: SessionPolicy,
    pub geo: Arc<Geolocator>,
    pub throttle: ThrottlePolicy,
    pub risk: RiskPolicy,
}

impl AuthService {
    pub fn new(parts: AuthParts) -> Self {
        Self {
            risk: RiskGate::new(parts.store.clone(), parts.risk),
            store: parts.store,
            passwords: parts.passwords,
            tokens: parts.tokens,
            successors: parts.successors,
            clock: parts.clock,
            policy: parts.policy,
            last_key_reload: std::sync::Mutex::new(None),
            live_sessions: LivenessCache::default(),
            geo: parts.geo,
            throttle: parts.throttle,
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn geo(&self) -> &Geolocator {
        &self.geo
    }

    /// Signs in with a username or e-mail address and a password.
    ///
    /// The attempt is counted by the throttle first (see [`crate::domain::throttle`]); a
    /// throttled attempt is logged and refused without checking the password. Otherwise
    /// every path verifies one Argon2 hash (a dummy one for unknown users) and writes one
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
        let now = self.clock.now();
        let tried = user.as_ref().map(|u| u.username.clone()).or_else(|| login.clone());
        let account = match &user {
            Some(user) => format!("u:{}", user.id),
            None => format!("n:{}", login.as_deref().unwrap_or("")),
        };
        let network = known_network(client.ip);
        let known = match &user {
            Some(user) => {
                self.store
                    .is_known_network(user.id, &network, now - KNOWN_NETWORK_MEMORY)
                    .await?
            }
            None => false,
        };
        let keys = self.throttle.keys(&account, client.ip, known);
        if let Verdict::Throttled { retry_at, scope } = self.store.throttle_attempt(&keys, now).await? {
            let mut event = self.event(EventType::LoginFailed, user.as_ref().map(|u| u.id), tried, client, now);
            event.decision = Decision::Throttle;
            event.risk_reasons = vec![scope.reason().to_owned()];
            self.store.record_activity(&event).await?;
            // Whole seconds, rounded up: retrying at the advertised time must succeed.
            let millis = (retry_at - now).num_milliseconds().max(1);
            return Err(AuthError::Throttled {
                retry_after_secs: (millis + 999) / 1000,
            });
        }

        let stored_hash = user.as_ref().map(|u| u.hashed_password.clone());
        let password_ok = self.passwords.verify(password, stored_hash).await?;
        let now = self.clock.now();
        let user = match user {
            Some(user) if password_ok && user.is_active => user,
            user => {
                let mut event = self.event(EventType::LoginFailed, user.as_ref().map(|u| u.id), tried, client, now);
                event.decision = Decision::Deny;
                self.store.record_activity(&event).await?;
                return Err(AuthError::InvalidCredentials);
            }
        };

        // The risk engine judges the sign-in against the user's own history.
        let mut event = self.event(
            EventType::LoginSucceeded,
            Some(user.id),
            Some(user.username.clone()),
            client,
            now,
        );
        let memory = self.risk.memory(user.id, client, &event.place).await?;
        let signals = self.risk.signals(client, &user.username, now).await?;
        let judgement = {
            let obs = observation(client, &event.place, &event.device, now);
            self.risk.judge_login(&memory, &obs, signals)
        };
        event.risk_score = judgement.assessment.score;
        event.risk_reasons = judgement.assessment.reasons.clone();
        let block = match judgement.response {
            Response::Allow => false,
            Response::Block => true,
            Response::StepUp => match self.store.totp_factor(user.id).await? {
                Some(factor) if factor.confirmed_at.is_some() => {
                    return Err(self.challenge(&user, event).await?);
                }
                _ => self.risk.no_factor_blocks(),
            },
        };
        if block {
            event.event_type = EventType::LoginBlocked;
            event.decision = Decision::Block;
            self.store.record_activity(&event).await?;
            tracing::warn!(user_id = user.id, ip = %client.ip, score = event.risk_score, reasons = ?event.risk_reasons, "sign-in blocked by the risk policy");
            return Err(AuthError::LoginBlocked);
        }
        self.open_signed_in(user, client, event, memory, signals, keys, network, now)
            .await
    }

    /// Parks a sign-in behind a second factor: a challenge to answer within five minutes,
    /// and a `step_up_required` event.
    async fn challenge(&self, user: &User, mut event: NewActivity) -> Result<AuthError, AuthError> {
        let now = event.created_at;
        let challenge = Challenge {
            id: crate::domain::token::random_urlsafe(24),
            user_id: user.id,
            expires_at: now + Duration::minutes(5),
            attempts: 0,
            risk_score: event.risk_score,
            risk_reasons: serde_json::to_string(&event.risk_reasons).unwrap_or_else(|_| "[]".to_owned()),
        };
        self.store.create_challenge(&challenge, now).await?;
        event.event_type = EventType::StepUpRequired;
        event.decision = Decision::Challenge;
        self.store.record_activity(&event).await?;
        Ok(AuthError::StepUpRequired {
            challenge_id: challenge.id,
        })
    }

    /// Answers a step-up challenge with a TOTP code or a recovery code; on success the
    /// sign-in completes as if the risk had been low, logged with its score and reasons.
    pub async fn step_up(&self, challenge_id: &str, code: &str, client: &ClientInfo) -> Result<SignedIn, AuthError> {
        const MAX_ATTEMPTS: i64 = 5;
        // Challenge ids are base64url; anything else names no challenge (and a NUL would be
        // a database error on PostgreSQL, not an answer).
        let well_formed =
            !challenge_id.is_empty() && challenge_id.len() <= 64 && crate::domain::token::is_urlsafe(challenge_id);
        if !well_formed {
            return Err(AuthError::InvalidCode);
        }
        let now = self.clock.now();
        let challenge = self
            .store
            .attempt_challenge(challenge_id, now, MAX_ATTEMPTS)
            .await?
            .ok_or(AuthError::InvalidCode)?;
        let user = match self.store.find_user(challenge.user_id).await? {
            Some(user) if user.is_active => user,
            _ => return Err(AuthError::InvalidCode),
        };
        let factor = self
            .store
            .totp_factor(user.id)
            .await?
            .filter(|f| f.confirmed_at.is_some())
            .ok_or(AuthError::InvalidCode)?;
        let passed = match totp::verify(&factor.secret, code, now, factor.last_step) {
            Some(step) => self.store.use_totp_step(user.id, step).await?,
            None => {
                let hash = hash_refresh_token(&totp::normalise_recovery_code(code));
                self.store.use_recovery_code(user.id, &hash, now).await?
            }
        };
        let mut event = self.event(
            EventType::LoginSucceeded,
            Some(user.id),
            Some(user.username.clone()),
            client,
            now,
        );
        event.risk_score = challenge.risk_score;
        event.risk_reasons = serde_json::from_str(&challenge.risk_reasons).unwrap_or_default();
        if !passed || !self.store.consume_challenge(challenge_id, now).await? {
            event.event_type = EventType::LoginFailed;
            event.decision = Decision::Deny;
            event.risk_reasons.push("invalid_second_factor".to_owned());
            self.store.record_activity(&event).await?;
            return Err(AuthError::InvalidCode);
        }
        event.decision = Decision::Challenge;
        event.risk_reasons.push("second_factor_passed".to_owned());
        let memory = self.risk.memory(user.id, client, &event.place).await?;
        let signals = self.risk.signals(client, &user.username, now).await?;
        let network = known_network(client.ip);
        let keys = self.throttle.keys(&format!("u:{}", user.id), client.ip, true);
        self.open_signed_in(user, client, event, memory, signals, keys, network, now)
            .await
    }

    /// The end of every successful sign-in: the session and its log row, the throttle
    /// counts cleared, the device cookie, and what the risk engine learns.
    #[allow(clippy::too_many_arguments)]
    async fn open_signed_in(
        &self,
        user: User,
        client: &ClientInfo,
        event: NewActivity,
        memory: Memory,
        signals: Signals,
        keys: Vec<ThrottleKey>,
        network: String,
        now: DateTime<Utc>,
    ) -> Result<SignedIn, AuthError> {
        let refresh = NewRefreshToken::generate();
        let session_id = uuid::Uuid::new_v4().to_string();
        let (throttle_clear, throttle_refund) = keys
            .into_iter()
            .partition::<Vec<_>, _>(|k| k.scope == Scope::AccountFromAddress);
        let session = NewSession {
            user_id: user.id,
            session_id: session_id.clone(),
            token_hash: refresh.hash,
            device_info: client.device.clone(),
            ip_address: client.ip.to_string(),
            created_at: now,
            expires_at: now + self.policy.lifetime,
            token_expires_at: now + self.policy.idle_timeout.min(self.policy.lifetime),
            country: event.place.country.clone(),
            city: event.place.city.clone(),
            known_network: network,
            throttle_clear: throttle_clear.into_iter().map(|k| k.key).collect(),
            throttle_refund: throttle_refund.into_iter().map(|k| k.key).collect(),
        };
        self.store.open_session(&session, &event).await?;
        // A browser without a device cookie gets one now, and the engine learns it as this
        // user's, so the next sign-in from this browser is recognised.
        let new_cookie = (client.device_cookie.is_none() && client.takes_cookies)
            .then(|| SecretString::from(crate::domain::token::random_urlsafe(32)));
        let issued = new_cookie
            .as_ref()
            .map(|c| crate::domain::token::hash_refresh_token(c.expose_secret()));
        let obs = observation(client, &event.place, &event.device, now);
        self.risk
            .learn_login(user.id, &session_id, memory, &obs, issued.as_deref(), signals)
            .await;

        let mut signed_in = self.signed_in(user, session_id, refresh.secret, now);
        signed_in.device_cookie = new_cookie;
        Ok(signed_in)
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
            device_cookie: None,
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
        let mut event = self.event(EventType::Refresh, None, None, client, now);
        let presented_hash = hash_refresh_token(presented);
        // Judge the refresh against its session before spending the token: a thief's
        // refresh ends the session instead of extending it.
        let context = self.store.refresh_context(&presented_hash).await?;
        let mut learning = None;
        let mut risk_baseline = None;
        if let Some(context) = &context
            && let Some(baseline) = parse_baseline(context.risk_baseline.as_deref())
        {
            let (session_id, user_id) = (&context.session_id, context.user.id);
            let obs = observation(client, &event.place, &event.device, now);
            let (judgement, memory) = self.risk.judge_refresh(user_id, client, &baseline, &obs).await?;
            event.risk_score = judgement.assessment.score;
            event.risk_reasons = judgement.assessment.reasons.clone();
            if judgement.response == Response::Block && self.store.session_is_live(session_id, now).await? {
                let mut alarm = event.clone();
                alarm.user_id = Some(user_id);
                alarm.decision = Decision::Block;
                self.store
                    .revoke_session(session_id, now, "risk_blocked", &alarm)
                    .await?;
                self.live_sessions.forget_session(session_id);
                tracing::warn!(user_id, session = %session_id, ip = %client.ip, score = alarm.risk_score, reasons = ?alarm.risk_reasons, "refresh blocked by the risk policy: session revoked");
                return Err(AuthError::RefreshBlocked);
            }
            match memory {
                // A refresh that moved teaches the user's history, after the rotation.
                Some(memory) => learning = Some((session_id.clone(), user_id, memory, baseline)),
                // Any other only moves the session's baseline, in the rotation's own write.
                None => risk_baseline = self.risk.followed_baseline(&baseline, &obs),
            }
        }
        let rotation = Rotation {
            presented_hash,
            successor_hash: successor.hash.clone(),
            now,
            idle_timeout: self.policy.idle_timeout,
            device_info: client.device.clone(),
            ip_address: client.ip.to_string(),
            country: event.place.country.clone(),
            city: event.place.city.clone(),
            risk_baseline,
        };
        let (user_id, session_id) = match self.store.rotate_refresh_token(&rotation, &event).await? {
            RotateOutcome::Rotated { user_id, session_id } => {
                if let Some((_, learner, memory, baseline)) = learning.filter(|(s, ..)| *s == session_id) {
                    let obs = observation(client, &event.place, &event.device, now);
                    self.risk
                        .learn_refresh(learner, &session_id, memory, baseline, &obs)
                        .await;
                }
                (user_id, session_id)
            }
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
                    let mut alarm = self.event(EventType::RefreshReused, Some(spent.user_id), None, client, now);
                    alarm.risk_score = 1.0;
                    alarm.risk_reasons = vec!["refresh_token_reused".to_owned()];
                    alarm.decision = Decision::Block;
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
        // The user as read with the session: a deactivation revokes the sessions, which
        // the rotation's own condition sees, so this read cannot hand out a dead user.
        let user = match context.map(|c| c.user).filter(|u| u.id == user_id) {
            Some(user) => Some(user),
            None => self.store.find_user(user_id).await?,
        };
        let user = match user {
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
        let event = self.caller_event(kind, caller, client, now);
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

    pub fn require_admin(caller: &Principal) -> Result<(), AuthError> {
        if caller.user.is_admin {
            Ok(())
        } else {
            Err(AuthError::Forbidden)
        }
    }

    /// Users for the admin console, newest first.
    pub async fn admin_users(
        &self,
        caller: &Principal,
        search: Option<&str>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<User>, AuthError> {
        Self::require_admin(caller)?;
        if search.is_some_and(has_control_character) {
            return Ok(Vec::new());
        }
        Ok(self.store.list_users(search, before, limit).await?)
    }

    /// Creates a user on an admin's behalf; audited as `user_updated`.
    pub async fn admin_create_user(
        &self,
        caller: &Principal,
        new: (&str, &str, SecretString, bool),
        client: &ClientInfo,
    ) -> Result<User, AuthError> {
        Self::require_admin(caller)?;
        let (username, email, password, is_admin) = new;
        let user = self.create_user(username, email, password, is_admin).await?;
        self.audit(caller, user.id, "user_created", client).await?;
        Ok(user)
    }

    /// Activates, deactivates, promotes or demotes a user. An admin cannot deactivate or
    /// demote themselves: the console must never lock out the one using it.
    pub async fn admin_update_user(
        &self,
        caller: &Principal,
        user_id: i64,
        is_active: Option<bool>,
        is_admin: Option<bool>,
        client: &ClientInfo,
    ) -> Result<User, AuthError> {
        Self::require_admin(caller)?;
        if user_id == caller.user.id && (is_active == Some(false) || is_admin == Some(false)) {
            return Err(AuthError::SelfLockout);
        }
        let now = self.clock.now();
        if let Some(admin) = is_admin
            && !self.store.set_user_admin(user_id, admin, now).await?
        {
            return Err(AuthError::NotFound);
        }
        if let Some(active) = is_active
            && !self.set_user_active(user_id, active).await?
        {
            return Err(AuthError::NotFound);
        }
        let reason = match (is_active, is_admin) {
            (Some(false), _) => "user_deactivated",
            (Some(true), _) => "user_activated",
            (None, Some(true)) => "admin_granted",
            (None, Some(false)) => "admin_removed",
            (None, None) => "user_unchanged",
        };
        self.audit(caller, user_id, reason, client).await?;
        self.store.find_user(user_id).await?.ok_or(AuthError::NotFound)
    }

    /// Ends every session of a user on an admin's behalf.
    pub async fn admin_revoke_sessions(
        &self,
        caller: &Principal,
        user_id: i64,
        client: &ClientInfo,
    ) -> Result<u64, AuthError> {
        Self::require_admin(caller)?;
        self.store.find_user(user_id).await?.ok_or(AuthError::NotFound)?;
        let now = self.clock.now();
        let mut event = self.event(EventType::SessionRevoked, Some(user_id), None, client, now);
        event.risk_reasons = vec![format!("revoked_by_admin:{}", caller.user.username)];
        let ended = self.store.revoke_user_sessions(user_id, None, now, &event).await?;
        self.live_sessions.forget_user(user_id);
        Ok(ended)
    }

    /// An admin action on a user, in the activity log: `user_updated` about the user, the
    /// reason naming what changed and who did it.
    async fn audit(&self, caller: &Principal, user_id: i64, what: &str, client: &ClientInfo) -> Result<(), AuthError> {
        let mut event = self.event(EventType::UserUpdated, Some(user_id), None, client, self.clock.now());
        event.risk_reasons = vec![what.to_owned(), format!("by:{}", caller.user.username)];
        self.store.record_activity(&event).await?;
        Ok(())
    }

    /// Starts TOTP enrolment: a new secret to scan. Replaces a pending one; a confirmed
    /// authenticator must stay (409) so a stolen session cannot swap it silently.
    pub async fn begin_totp(&self, caller: &Principal) -> Result<(String, String), AuthError> {
        let secret = totp::new_secret();
        self.store.begin_totp(caller.user.id, &secret, self.clock.now()).await?;
        let uri = totp::otpauth_uri("fin_intelli", &caller.user.username, &secret);
        Ok((secret, uri))
    }

    /// Confirms enrolment with the first code; returns the recovery codes, shown once and
    /// stored only as hashes.
    pub async fn confirm_totp(
        &self,
        caller: &Principal,
        code: &str,
        client: &ClientInfo,
    ) -> Result<Vec<String>, AuthError> {
        let now = self.clock.now();
        let factor = self
            .store
            .totp_factor(caller.user.id)
            .await?
            .filter(|f| f.confirmed_at.is_none())
            .ok_or(AuthError::InvalidCode)?;
        let step = totp::verify(&factor.secret, code, now, None).ok_or(AuthError::InvalidCode)?;
        let codes = totp::recovery_codes();
        let hashes: Vec<String> = codes
            .iter()
            .map(|c| hash_refresh_token(&totp::normalise_recovery_code(c)))
            .collect();
        self.store.confirm_totp(caller.user.id, step, &hashes, now).await?;
        let mut event = self.caller_event(EventType::UserUpdated, caller, client, now);
        event.risk_reasons = vec!["second_factor_enrolled".to_owned()];
        self.store.record_activity(&event).await?;
        Ok(codes)
    }

    /// Whether the caller has a confirmed authenticator.
    pub async fn has_second_factor(&self, caller: &Principal) -> Result<bool, AuthError> {
        Ok(self
            .store
            .totp_factor(caller.user.id)
            .await?
            .is_some_and(|f| f.confirmed_at.is_some()))
    }

    /// "This wasn't me" about one of the caller's own events: every other session of the
    /// caller ends (the one reporting is presumably the owner), and the event keeps the
    /// verdict. Someone else's event, or none, is `NotFound`.
    pub async fn report_not_me(
        &self,
        caller: &Principal,
        event_id: i64,
        client: &ClientInfo,
    ) -> Result<u64, AuthError> {
        self.store
            .activity_event(event_id)
            .await?
            .filter(|e| e.user_id == Some(caller.user.id))
            .ok_or(AuthError::NotFound)?;
        let now = self.clock.now();
        let mut event = self.caller_event(EventType::SessionRevoked, caller, client, now);
        event.risk_reasons = vec!["reported_not_me".to_owned()];
        let ended = self
            .store
            .set_verdict(
                event_id,
                "not_me",
                &caller.user.username,
                now,
                &event,
                Some((caller.user.id, Some(&caller.claims.sid))),
            )
            .await?;
        self.live_sessions.forget_user(caller.user.id);
        Ok(ended)
    }

    /// An administrator's verdict on a user's event. `Legitimate` teaches the user's
    /// profile that this is them; `Compromised` ends every session of the user.
    pub async fn judge_event(
        &self,
        caller: &Principal,
        event_id: i64,
        verdict: EventVerdict,
        client: &ClientInfo,
    ) -> Result<u64, AuthError> {
        Self::require_admin(caller)?;
        let record = self.store.activity_event(event_id).await?.ok_or(AuthError::NotFound)?;
        let user_id = record.user_id.ok_or(AuthError::NotFound)?;
        let now = self.clock.now();
        match verdict {
            EventVerdict::Legitimate => {
                let mut audit = self.event(EventType::UserUpdated, Some(user_id), None, client, now);
                audit.risk_reasons = vec![
                    format!("marked_legitimate:{event_id}"),
                    format!("by:{}", caller.user.username),
                ];
                self.store
                    .set_verdict(event_id, "legitimate", &caller.user.username, now, &audit, None)
                    .await?;
                self.risk.learn_verified(user_id, &record).await;
                Ok(0)
            }
            EventVerdict::Compromised => {
                let mut event = self.event(EventType::SessionRevoked, Some(user_id), None, client, now);
                event.risk_reasons = vec![
                    "admin_compromised".to_owned(),
                    format!("event:{event_id}"),
                    format!("by:{}", caller.user.username),
                ];
                let ended = self
                    .store
                    .set_verdict(
                        event_id,
                        "compromised",
                        &caller.user.username,
                        now,
                        &event,
                        Some((user_id, None)),
                    )
                    .await?;
                self.live_sessions.forget_user(user_id);
                Ok(ended)
            }
        }
    }

    /// The admin activity search: every user's events matching `filter`, newest first.
    pub async fn search_activity(
        &self,
        caller: &Principal,
        filter: &ActivityFilter,
        limit: i64,
    ) -> Result<Vec<ActivityRecord>, AuthError> {
        Self::require_admin(caller)?;
        if filter.username.as_deref().is_some_and(has_control_character) {
            return Ok(Vec::new());
        }
        Ok(self.store.search_activity(filter, limit).await?)
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
        let event = self.caller_event(EventType::PasswordChanged, caller, client, now);
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
        let event = self.caller_event(EventType::SessionRevoked, caller, client, now);
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
        let event = self.event(EventType::Logout, None, None, client, now);
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

impl AuthService {
    /// An activity event from this client, placed and with its device parsed, allowed and
    /// without risk until the caller says otherwise.
    fn event(
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
        }
    }

    /// An event about something the signed-in caller did.
    fn caller_event(
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
}
