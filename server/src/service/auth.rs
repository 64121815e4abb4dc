//! Signing in and out, and recognising a signed-in caller.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};

use crate::clock::Clock;
use crate::domain::client::ClientInfo;
use crate::domain::password::{self, PasswordError, Passwords};
use crate::domain::token::{
    AccessClaims, AccessTokens, IssuedAccessToken, NewRefreshToken, TokenError, hash_refresh_token,
    looks_like_refresh_token,
};
use crate::domain::user::{Email, InvalidIdentity, NewUser, User, Username, normalise_login};
use crate::storage::{EventType, NewActivity, NewSession, Store, StoreError};

/// The service layer's one error type.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Unknown user, wrong password or inactive account: deliberately indistinguishable.
    #[error("invalid username or password")]
    InvalidCredentials,
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
            PasswordError::TooShort | PasswordError::TooLong => {
                AuthError::WeakPassword(error.to_string())
            }
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

#[derive(Debug)]
pub struct AuthService {
    store: Arc<dyn Store>,
    passwords: Passwords,
    tokens: AccessTokens,
    clock: Arc<dyn Clock>,
    refresh_ttl: chrono::Duration,
}

impl AuthService {
    pub fn new(
        store: Arc<dyn Store>,
        passwords: Passwords,
        tokens: AccessTokens,
        clock: Arc<dyn Clock>,
        refresh_ttl: chrono::Duration,
    ) -> Self {
        Self {
            store,
            passwords,
            tokens,
            clock,
            refresh_ttl,
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
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
                let tried = user
                    .as_ref()
                    .map(|u| u.username.clone())
                    .or_else(|| login.clone());
                let event = activity(
                    EventType::LoginFailed,
                    user.as_ref().map(|u| u.id),
                    tried,
                    client,
                    now,
                );
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
            expires_at: now + self.refresh_ttl,
        };
        let event = activity(
            EventType::LoginSucceeded,
            Some(user.id),
            Some(user.username.clone()),
            client,
            now,
        );
        self.store.open_session(&session, &event).await?;

        let access = self
            .tokens
            .issue(user.id, &user.username, user.role(), &session_id, now);
        Ok(SignedIn {
            user,
            session_id,
            access,
            refresh: refresh.secret,
            refresh_max_age: self.refresh_ttl.num_seconds(),
        })
    }

    /// Revokes the session the refresh token belongs to. Unknown, malformed or already
    /// revoked tokens are not an error: signing out is idempotent.
    pub async fn sign_out(
        &self,
        refresh_token: Option<&str>,
        client: &ClientInfo,
    ) -> Result<(), AuthError> {
        let Some(token) = refresh_token.filter(|t| looks_like_refresh_token(t)) else {
            return Ok(());
        };
        let now = self.clock.now();
        let event = activity(EventType::Logout, None, None, client, now);
        self.store
            .revoke_session_by_token(&hash_refresh_token(token), now, &event)
            .await?;
        Ok(())
    }

    /// Recognises the caller behind an access token: the signature and claims must hold, the
    /// session must not be revoked, and the account must still be active.
    pub async fn authenticate(&self, access_token: &str) -> Result<Principal, AuthError> {
        let now = self.clock.now();
        let claims = self.tokens.verify(access_token, now)?;
        let user_id = claims.user_id().ok_or(TokenError::Invalid)?;
        if !self.store.session_is_live(&claims.sid, now).await? {
            return Err(TokenError::Invalid.into());
        }
        match self.store.find_user(user_id).await? {
            Some(user) if user.is_active => Ok(Principal { user, claims }),
            _ => Err(TokenError::Invalid.into()),
        }
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
