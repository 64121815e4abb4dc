//! [`app::api::AdminBackend`] over the services.

use app::api::AdminBackend;
use app::wire::{AdminUser, AppError, Passkey};
use async_trait::async_trait;
use axum::http::request::Parts;
use secrecy::SecretString;

use super::WebBackend;
use crate::edge::wire::admin_user;
use crate::service::{NewAccount, UserUpdate};

/// Accounts the console lists at once.
const USERS_PAGE: i64 = 200;

#[async_trait]
impl AdminBackend for WebBackend {
    async fn admin_end_session(&self, head: &Parts, user_id: i64, session_id: &str) -> Result<(), AppError> {
        let caller = self.caller(head).await?;
        let client = self.client(head);
        let admin = &self.services().admin;
        Ok(admin.end_session(&caller, user_id, session_id, &client).await?)
    }

    async fn admin_end_sessions(&self, head: &Parts, user_id: i64) -> Result<u64, AppError> {
        let caller = self.caller(head).await?;
        let client = self.client(head);
        Ok(self.services().admin.revoke_sessions(&caller, user_id, &client).await?)
    }

    async fn admin_users(&self, head: &Parts, search: &str) -> Result<Vec<AdminUser>, AppError> {
        let caller = self.caller(head).await?;
        let search = Some(search).filter(|s| !s.is_empty());
        let users = self.services().admin.users(&caller, search, None, USERS_PAGE).await?;
        Ok(users.iter().map(|u| admin_user(u, caller.user.id)).collect())
    }

    async fn admin_create_user(
        &self,
        head: &Parts,
        username: &str,
        email: &str,
        password: &str,
        is_admin: bool,
    ) -> Result<AdminUser, AppError> {
        let caller = self.caller(head).await?;
        let client = self.client(head);
        let account = NewAccount {
            username: username.to_owned(),
            email: email.to_owned(),
            password: SecretString::from(password.to_owned()),
            is_admin,
        };
        let user = self.services().admin.create_user(&caller, account, &client).await?;
        Ok(admin_user(&user, caller.user.id))
    }

    async fn admin_update_user(
        &self,
        head: &Parts,
        user_id: i64,
        is_active: Option<bool>,
        is_admin: Option<bool>,
    ) -> Result<AdminUser, AppError> {
        let caller = self.caller(head).await?;
        let client = self.client(head);
        let update = UserUpdate { is_active, is_admin };
        let user = self
            .services()
            .admin
            .update_user(&caller, user_id, update, &client)
            .await?;
        Ok(admin_user(&user, caller.user.id))
    }

    async fn admin_reset_password(&self, head: &Parts, user_id: i64, password: &str) -> Result<(), AppError> {
        let caller = self.caller(head).await?;
        let client = self.client(head);
        let password = SecretString::from(password.to_owned());
        let accounts = &self.services().accounts;
        Ok(accounts.reset_password(&caller, user_id, password, &client).await?)
    }

    async fn admin_unlock_factor(&self, head: &Parts, user_id: i64) -> Result<bool, AppError> {
        let caller = self.caller(head).await?;
        let client = self.client(head);
        Ok(self.services().factors.unlock(&caller, user_id, &client).await?)
    }

    async fn admin_user_passkeys(&self, head: &Parts, user_id: i64) -> Result<Vec<Passkey>, AppError> {
        let caller = self.caller(head).await?;
        let passkeys = self.services().passkeys.admin_list(&caller, user_id).await?;
        Ok(passkeys.into_iter().map(crate::edge::wire::passkey).collect())
    }

    async fn admin_remove_passkey(&self, head: &Parts, user_id: i64, passkey_id: &str) -> Result<(), AppError> {
        let caller = self.caller(head).await?;
        let client = self.client(head);
        let passkeys = &self.services().passkeys;
        Ok(passkeys.admin_remove(&caller, user_id, passkey_id, &client).await?)
    }
}
