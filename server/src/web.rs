//! The server functions' backend: [`app::backend::Backend`] over the same services the JSON
//! API uses. Thin on purpose: the request head in (caller, client), one service call, the
//! outcome out as wire types ([`crate::edge::wire`]) and [`AppError`] (by `From`).

use app::backend::{Backend, Reply};
use app::wire::{
    Activity, ActivityFilters, ActivityPage, AdminUser, AppError, EventReview, Me, SessionInfo, TotpSetup,
};
use async_trait::async_trait;
use axum::http::request::Parts;
use secrecy::SecretString;

use crate::domain::client::ClientInfo;
use crate::edge::Edge;
use crate::edge::wire::{self, DEFAULT_LIMIT, admin_user, me, parse_filters, session_info};
use crate::service::{AuthError, EventVerdict, NewAccount, Principal, Services, SignedIn, UserUpdate};

/// Events the live page starts with.
const LIVE_HISTORY: i64 = 200;
/// Accounts the console lists at once.
const USERS_PAGE: i64 = 200;

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

    /// The user and the session's cookies, after a sign-in or a step-up.
    fn signed_in_reply(&self, signed_in: &SignedIn) -> Reply<Me> {
        Reply::new(
            me(&signed_in.user, signed_in.access.expires_at),
            self.edge.cookies.session(signed_in),
        )
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

#[async_trait]
impl Backend for WebBackend {
    async fn sign_in(&self, head: &Parts, login: &str, password: &str) -> Result<Reply<Me>, AppError> {
        let client = self.client(head).taking_cookies(true);
        let password = SecretString::from(password.to_owned());
        let signed_in = self.services().sign_in.sign_in(login, password, &client).await?;
        Ok(self.signed_in_reply(&signed_in))
    }

    async fn step_up(&self, head: &Parts, challenge_id: &str, code: &str) -> Result<Reply<Me>, AppError> {
        let client = self.client(head).taking_cookies(true);
        let signed_in = self.services().sign_in.step_up(challenge_id, code, &client).await?;
        Ok(self.signed_in_reply(&signed_in))
    }

    async fn second_factor(&self, head: &Parts) -> Result<bool, AppError> {
        let caller = self.caller(head).await?;
        Ok(self.services().factors.has_second_factor(&caller).await?)
    }

    async fn begin_totp(&self, head: &Parts) -> Result<TotpSetup, AppError> {
        let caller = self.caller(head).await?;
        let enrolment = self.services().factors.begin_totp(&caller).await?;
        Ok(TotpSetup {
            qr_svg: crate::domain::totp::qr_svg(&enrolment.uri),
            secret: enrolment.secret,
        })
    }

    async fn confirm_totp(&self, head: &Parts, code: &str) -> Result<Vec<String>, AppError> {
        let caller = self.caller(head).await?;
        let client = self.client(head);
        Ok(self.services().factors.confirm_totp(&caller, code, &client).await?)
    }

    async fn sign_out(&self, head: &Parts) -> Result<Reply<()>, AppError> {
        let client = self.client(head);
        let token = self.edge.cookies.read_refresh(&head.headers);
        self.services().sessions.sign_out(token, &client).await?;
        Ok(Reply::new((), self.edge.cookies.clear_all()))
    }

    async fn sessions(&self, head: &Parts) -> Result<Vec<SessionInfo>, AppError> {
        let caller = self.caller(head).await?;
        let sessions = self.services().sessions.list(&caller).await?;
        let mut sessions: Vec<SessionInfo> = sessions
            .into_iter()
            .map(|s| session_info(s, Some(&caller.claims.sid)))
            .collect();
        sessions.sort_by_key(|s| !s.current);
        Ok(sessions)
    }

    async fn end_session(&self, head: &Parts, id: &str) -> Result<(), AppError> {
        let caller = self.caller(head).await?;
        let client = self.client(head);
        Ok(self.services().sessions.end_session(&caller, id, &client).await?)
    }

    async fn end_other_sessions(&self, head: &Parts) -> Result<u64, AppError> {
        let caller = self.caller(head).await?;
        let client = self.client(head);
        Ok(self.services().sessions.end_other_sessions(&caller, &client).await?)
    }

    async fn change_password(&self, head: &Parts, current: &str, new: &str) -> Result<Reply<()>, AppError> {
        let caller = self.caller(head).await?;
        let client = self.client(head);
        let current = SecretString::from(current.to_owned());
        let new = SecretString::from(new.to_owned());
        match self
            .services()
            .accounts
            .change_password(&caller, current, new, &client)
            .await
        {
            Ok(()) => Ok(Reply::new((), self.edge.cookies.clear_all())),
            Err(AuthError::InvalidCredentials) => Err(AppError::WrongCurrentPassword),
            Err(other) => Err(other.into()),
        }
    }

    async fn my_activity(&self, head: &Parts, before: Option<String>) -> Result<ActivityPage, AppError> {
        let caller = self.caller(head).await?;
        let filters = ActivityFilters {
            before: before.unwrap_or_default(),
            ..ActivityFilters::default()
        };
        let parsed = parse_filters(&filters, None, false)?;
        let events = self
            .services()
            .activity
            .mine(&caller, parsed.filter.before, DEFAULT_LIMIT + 1)
            .await?;
        Ok(wire::page(events, DEFAULT_LIMIT))
    }

    async fn admin_activity(&self, head: &Parts, filters: &ActivityFilters) -> Result<ActivityPage, AppError> {
        let caller = self.caller(head).await?;
        // The JSON API's own rules and messages, on the typed filters.
        let parsed = parse_filters(filters, None, true)?;
        let events = self
            .services()
            .activity
            .search(&caller, &parsed.filter, DEFAULT_LIMIT + 1)
            .await?;
        Ok(wire::page(events, DEFAULT_LIMIT))
    }

    async fn report_not_me(&self, head: &Parts, id: i64) -> Result<u64, AppError> {
        let caller = self.caller(head).await?;
        let client = self.client(head);
        Ok(self.services().activity.report_not_me(&caller, id, &client).await?)
    }

    async fn judge_event(&self, head: &Parts, id: i64, verdict: &str) -> Result<u64, AppError> {
        let caller = self.caller(head).await?;
        let client = self.client(head);
        let verdict = EventVerdict::parse(verdict)
            .ok_or_else(|| AppError::BadRequest("The verdict must be legitimate or compromised.".into()))?;
        Ok(self.services().activity.judge(&caller, id, verdict, &client).await?)
    }

    async fn live_activity(&self, head: &Parts) -> Result<Vec<Activity>, AppError> {
        let caller = self.caller(head).await?;
        let events = self.services().activity.recent(&caller, LIVE_HISTORY).await?;
        Ok(events.into_iter().map(wire::activity).collect())
    }

    async fn review_event(&self, head: &Parts, id: i64) -> Result<EventReview, AppError> {
        let caller = self.caller(head).await?;
        let review = self.services().activity.review(&caller, id).await?;
        Ok(EventReview {
            event: wire::activity(review.event),
            user: review.user.as_ref().map(admin_user),
            history: review.history.into_iter().map(wire::activity).collect(),
            sessions: review.sessions.into_iter().map(|s| session_info(s, None)).collect(),
        })
    }

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
        Ok(users.iter().map(admin_user).collect())
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
        Ok(admin_user(&user))
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
        Ok(admin_user(&user))
    }

    async fn admin_reset_password(&self, head: &Parts, user_id: i64, password: &str) -> Result<(), AppError> {
        let caller = self.caller(head).await?;
        let client = self.client(head);
        let password = SecretString::from(password.to_owned());
        let accounts = &self.services().accounts;
        Ok(accounts.reset_password(&caller, user_id, password, &client).await?)
    }

    async fn current_user(&self, head: &Parts) -> Result<Option<Me>, AppError> {
        match self.caller(head).await {
            Ok(principal) => Ok(Some(me(&principal.user, principal.claims.exp))),
            // No cookie, or an expired or revoked session: simply "not signed in" for a page.
            Err(AppError::NotSignedIn) => Ok(None),
            Err(other) => Err(other),
        }
    }
}
