//! Accounts: creating users, the first-run administrator, and changing one's password.

use std::sync::Arc;

use secrecy::{ExposeSecret, SecretString};

use super::error::AccountError;
use super::liveness::LivenessCache;
use super::reauth::Reauthenticator;
use super::shared::{Principal, Recorder};
use crate::domain::client::ClientInfo;
use crate::domain::password::{PasswordContext, PasswordPolicy, Passwords};
use crate::domain::token::random_urlsafe;
use crate::domain::user::{Email, NewUser, User, Username};
use crate::storage::{EventType, UserStore};

/// A user to create, as typed (validated by [`AccountService::create_user`]).
pub struct NewAccount {
    pub username: String,
    pub email: String,
    pub password: SecretString,
    pub is_admin: bool,
}

#[derive(Debug)]
pub struct AccountService {
    pub(super) users: Arc<dyn UserStore>,
    pub(super) reauth: Arc<Reauthenticator>,
    pub(super) passwords: Passwords,
    pub(super) policy: PasswordPolicy,
    pub(super) recorder: Recorder,
    pub(super) live: Arc<LivenessCache>,
}

impl AccountService {
    /// Adds a user (the `create-user` command, the first-run admin, the console).
    #[tracing::instrument(name = "accounts::create_user", skip_all)]
    pub async fn create_user(&self, account: NewAccount) -> Result<User, AccountError> {
        let username = Username::parse(&account.username)?;
        let email = Email::parse(&account.email)?;
        let context = PasswordContext {
            username: username.as_str(),
            email: email.as_str(),
        };
        self.policy.check(&account.password, context)?;
        let hashed_password = self.passwords.hash(account.password).await?;
        let new_user = NewUser {
            username,
            email,
            hashed_password,
            is_admin: account.is_admin,
        };
        Ok(self.users.insert_user(&new_user, self.recorder.now()).await?)
    }

    /// On a database without users, creates `admin` with a random password and returns the
    /// password, for the caller to show once. Several instances starting together create it
    /// once: the loser's insert hits the unique username and it stays quiet.
    #[tracing::instrument(name = "accounts::bootstrap_admin", skip_all)]
    pub async fn bootstrap_admin(&self) -> Result<Option<SecretString>, AccountError> {
        if self.users.count_users().await? > 0 {
            return Ok(None);
        }
        let password = SecretString::from(random_urlsafe(18));
        let admin = NewAccount {
            username: "admin".to_owned(),
            email: "admin@localhost".to_owned(),
            password: SecretString::from(password.expose_secret().to_owned()),
            is_admin: true,
        };
        match self.create_user(admin).await {
            Ok(_) => Ok(Some(password)),
            Err(AccountError::Conflict(_)) => Ok(None),
            Err(other) => Err(other),
        }
    }

    /// Changes the caller's password after checking the current one (guarded like a sign-in:
    /// see [`Reauthenticator`]), and ends every session (a stolen session must not outlive
    /// the password change that was meant to stop it).
    #[tracing::instrument(name = "accounts::change_password", skip_all)]
    pub async fn change_password(
        &self,
        caller: &Principal,
        current: SecretString,
        new: SecretString,
        client: &ClientInfo,
    ) -> Result<(), AccountError> {
        let context = PasswordContext {
            username: &caller.user.username,
            email: &caller.user.email,
        };
        self.policy.check(&new, context)?;
        self.reauth.password(caller, current, client).await?;
        let hashed = self.passwords.hash(new).await?;
        let now = self.recorder.now();
        let event = self
            .recorder
            .caller_event(EventType::PasswordChanged, caller, client, now);
        self.users.change_password(caller.user.id, &hashed, now, &event).await?;
        self.live.forget_user(caller.user.id);
        Ok(())
    }

    /// Sets a user's password on an administrator's behalf (the password policy applies);
    /// every session of theirs ends, so whoever held the old one is out.
    #[tracing::instrument(name = "accounts::reset_password", skip_all)]
    pub async fn reset_password(
        &self,
        caller: &Principal,
        user_id: i64,
        new: SecretString,
        client: &ClientInfo,
    ) -> Result<(), AccountError> {
        caller.require_admin()?;
        let user = self.users.find_user(user_id).await?.ok_or(AccountError::NotFound)?;
        let context = PasswordContext {
            username: &user.username,
            email: &user.email,
        };
        self.policy.check(&new, context)?;
        let hashed = self.passwords.hash(new).await?;
        let reasons = vec![format!("reset_by_admin:{}", caller.user.username)];
        let event = self
            .recorder
            .about_user(EventType::PasswordChanged, user_id, client, reasons);
        self.users
            .change_password(user_id, &hashed, event.created_at, &event)
            .await?;
        self.live.forget_user(user_id);
        Ok(())
    }

    /// Activates or deactivates a user; deactivating ends every session of the user at once.
    #[tracing::instrument(name = "accounts::set_user_active", skip_all)]
    pub async fn set_user_active(&self, user_id: i64, active: bool) -> Result<bool, AccountError> {
        let found = self.users.set_user_active(user_id, active, self.recorder.now()).await?;
        if !active {
            self.live.forget_user(user_id);
        }
        Ok(found)
    }
}
