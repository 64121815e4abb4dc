//! Proving it is still the account's owner before a sensitive change: the current password,
//! or a sign-in moments ago.
//!
//! A stolen session (a cookie copied by malware, a token lifted from a log) must not be
//! enough to change the password or to add, remove or re-issue a second factor. The
//! password check here is a sign-in in all but name, so it is guarded like one: the gate
//! bounds what one account or address has in flight; the throttle counts each check before
//! it runs; every wrong password is logged, and the fifth in a row ends the session that
//! sent it.

use std::sync::Arc;

use chrono::Duration;
use secrecy::SecretString;

use super::error::{Fault, ReauthError};
use super::gate::CheckGate;
use super::liveness::LivenessCache;
use super::shared::{Principal, Recorder};
use crate::domain::client::ClientInfo;
use crate::domain::password::Passwords;
use crate::domain::throttle::{ThrottlePolicy, Verdict, address_key, retry_after_secs};
use crate::storage::{ActivityStore, Decision, EventType, SessionStore, ThrottleStore};

/// Consecutive wrong current passwords after which the session that sent them ends: whoever
/// holds it is guessing, or has forgotten, and either way must sign in again.
const WRONG_PASSWORDS_END_SESSION: i64 = 5;
/// How recent a sign-in stands in for the password (NIST SP 800-63B 7.5.1's "recent").
pub const RECENT_SIGN_IN: Duration = Duration::minutes(5);

#[derive(Debug)]
pub struct Reauthenticator {
    pub(super) sessions: Arc<dyn SessionStore>,
    pub(super) activity: Arc<dyn ActivityStore>,
    pub(super) counters: Arc<dyn ThrottleStore>,
    pub(super) throttle: ThrottlePolicy,
    pub(super) gate: Arc<CheckGate>,
    pub(super) passwords: Passwords,
    pub(super) recorder: Recorder,
    pub(super) live: Arc<LivenessCache>,
}

impl Reauthenticator {
    /// The caller's current password, or (without one) a sign-in within [`RECENT_SIGN_IN`].
    pub async fn password_or_recent(
        &self,
        caller: &Principal,
        password: Option<SecretString>,
        client: &ClientInfo,
    ) -> Result<(), ReauthError> {
        if let Some(password) = password {
            return self.password(caller, password, client).await;
        }
        let started = self.sessions.session_started_at(&caller.claims.sid).await?;
        match started {
            Some(at) if self.recorder.now() - at <= RECENT_SIGN_IN => Ok(()),
            _ => Err(ReauthError::Required),
        }
    }

    /// Checks the caller's current password.
    pub async fn password(
        &self,
        caller: &Principal,
        password: SecretString,
        client: &ClientInfo,
    ) -> Result<(), ReauthError> {
        let user_id = caller.user.id;
        let _pass = self
            .gate
            .enter(&address_key(client.ip), &format!("u:{user_id}"))
            .await
            .map_err(|_| ReauthError::Busy)?;
        let key = self.throttle.password_check_key(user_id);
        let now = self.recorder.now();
        let counted = match self.counters.throttle_attempt(std::slice::from_ref(&key), now).await? {
            Verdict::Throttled { retry_at, .. } => {
                return Err(ReauthError::Throttled {
                    retry_after_secs: retry_after_secs(retry_at, now),
                });
            }
            Verdict::Allowed { counted } => counted,
        };
        let stored = Some(caller.user.hashed_password.clone());
        if self.passwords.verify(password, stored).await.map_err(Fault::Password)? {
            self.counters.clear_throttle(&[key.key]).await?;
            return Ok(());
        }
        let now = self.recorder.now();
        let mut event = self.recorder.caller_event(EventType::LoginFailed, caller, client, now);
        event.decision = Decision::Deny;
        event.risk_reasons = vec!["wrong_current_password".to_owned()];
        if counted >= WRONG_PASSWORDS_END_SESSION {
            event.risk_reasons.push("session_ended".to_owned());
            let sid = &caller.claims.sid;
            self.sessions
                .revoke_session(sid, now, "password_guessing", &event)
                .await?;
            self.live.forget_session(sid);
            tracing::warn!(user_id, ip = %client.ip, "repeated wrong current passwords: session ended");
        } else {
            self.activity.record_activity(&event).await?;
        }
        Err(ReauthError::WrongPassword)
    }
}
