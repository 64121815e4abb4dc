//! Sessions after sign-in: refresh rotation (with replay and theft detection), signing out,
//! and the caller's own device list.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::alarms::AlarmLimiter;
use super::error::{ProofCheckError, SessionError};
use super::liveness::LivenessCache;
use super::proofs::{Bound, DeviceProofs, Nonce};
use super::risk::{RiskGate, observation, parse_baseline};
use super::shared::{Issuer, Principal, Recorder, SignedIn};
use crate::domain::access::IssuedAccessToken;
use crate::domain::client::ClientInfo;
use crate::domain::proof::ProofError;
use crate::domain::risk::{CONCURRENT_WINDOW_SECS, DeviceKeyProof, Response};
use crate::domain::token::{SuccessorKey, hash_refresh_token, looks_like_refresh_token};
use crate::storage::{
    ActivityStore, Decision, EventType, NewActivity, RefreshContext, RotateOutcome, Rotation, SessionRecord,
    SessionStore, UserStore,
};

/// How soon after signing in a session may be bound to a device key: the browser registers
/// at once, so a cookie jar copied later cannot bind the thief's key to the session.
pub const REGISTRATION_WINDOW: chrono::Duration = chrono::Duration::minutes(5);

/// What asks for a session's renewal: a request that can carry a device proof, or a page
/// load that cannot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Renewal {
    Request,
    Navigation,
}

#[derive(Debug)]
pub struct SessionService {
    pub(super) sessions: Arc<dyn SessionStore>,
    pub(super) users: Arc<dyn UserStore>,
    pub(super) activity: Arc<dyn ActivityStore>,
    pub(super) issuer: Issuer,
    pub(super) successors: SuccessorKey,
    pub(super) recorder: Recorder,
    pub(super) risk: RiskGate,
    pub(super) live: Arc<LivenessCache>,
    pub(super) proofs: Arc<DeviceProofs>,
    pub(super) alarms: AlarmLimiter,
}

impl SessionService {
    /// Spends a refresh token and returns fresh tokens for the same session.
    ///
    /// - A live token is rotated (one atomic conditional write in the store).
    /// - A token spent less than the grace window ago, whose successor is still unused and
    ///   went to this same device (its device cookie, user agent and address), gets that
    ///   same successor back: two tabs refreshing at once, or a retry after a lost
    ///   response, keep the session. Each such answer is logged (`refresh_retry`).
    /// - Any other spent token is a replay: the whole session is revoked and a
    ///   `refresh_reused` event with risk 1.0 is written.
    /// - A session bound to a device key is refreshed only with a proof from that key
    ///   (see [`DeviceProofs::prove`]). Without one the refresh is refused and a
    ///   `refresh_unbound` event with risk 1.0 is written, but the session lives on: the
    ///   owner's device still holds the key.
    #[tracing::instrument(name = "sessions::refresh", skip_all)]
    pub async fn refresh(&self, presented: Option<&str>, client: &ClientInfo) -> Result<SignedIn, SessionError> {
        self.renew(presented, client, Renewal::Request).await
    }

    /// [`Self::refresh`] for a page load whose access cookie lapsed. A navigation cannot
    /// carry a device proof, so a bound session is not renewed here (the page's script
    /// renews it with its key) and its owner's navigation raises no alarm.
    #[tracing::instrument(name = "sessions::resume", skip_all)]
    pub async fn resume(&self, presented: Option<&str>, client: &ClientInfo) -> Result<SignedIn, SessionError> {
        self.renew(presented, client, Renewal::Navigation).await
    }

    async fn renew(
        &self,
        presented: Option<&str>,
        client: &ClientInfo,
        renewal: Renewal,
    ) -> Result<SignedIn, SessionError> {
        let presented = presented
            .filter(|t| looks_like_refresh_token(t))
            .ok_or(SessionError::InvalidRefreshToken)?;
        let now = self.recorder.now();
        let policy = self.issuer.policy;
        let successor = self.successors.successor(presented);
        let mut event = self.recorder.event(EventType::Refresh, None, None, client, now);
        let presented_hash = hash_refresh_token(presented);
        // Judge the refresh against its session before spending the token: a thief's
        // refresh ends the session instead of extending it.
        let context = self.sessions.refresh_context(&presented_hash).await?;
        if let Some(context) = &context
            && let Some(jkt) = &context.device_jkt
        {
            if renewal == Renewal::Navigation {
                return Err(SessionError::DeviceProof(ProofError::Missing));
            }
            let bound = Bound {
                jkt,
                key: context.device_key.as_deref(),
            };
            self.prove_device(bound, context, &event, client, now).await?;
            event.device_proven = true;
        }
        let mut learning = None;
        let mut risk_baseline = None;
        if let Some(context) = &context
            && let Some(baseline) = parse_baseline(context.risk_baseline.as_deref())
        {
            let (session_id, user_id) = (&context.session_id, context.user.id);
            let obs = observation(client, &event.place, &event.device, now);
            // Proven above, if bound; only the risk judgement asks where else the key is.
            let key_proof = match context.device_jkt.as_deref() {
                Some(jkt) => self.key_proof(jkt, session_id, &event, now).await?,
                None => DeviceKeyProof::Unbound,
            };
            let (judgement, memory) = self
                .risk
                .judge_refresh(user_id, client, &baseline, &obs, key_proof)
                .await?;
            event.risk_score = judgement.assessment.score;
            event.risk_reasons = judgement.assessment.reasons.clone();
            if judgement.response == Response::Block && self.sessions.session_is_live(session_id, user_id, now).await? {
                let mut alarm = event.clone();
                alarm.user_id = Some(user_id);
                alarm.decision = Decision::Block;
                self.sessions
                    .revoke_session(session_id, now, "risk_blocked", &alarm)
                    .await?;
                self.live.forget_session(session_id);
                tracing::warn!(user_id, session = %session_id, ip = %client.ip, score = alarm.risk_score, reasons = ?alarm.risk_reasons, "refresh blocked by the risk policy: session revoked");
                return Err(SessionError::RefreshBlocked);
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
            idle_timeout: policy.idle_timeout,
            device_info: client.device.clone(),
            device_hash: client.device_cookie.clone(),
            ip_address: client.ip.to_string(),
            country: event.place.country.clone(),
            city: event.place.city.clone(),
            risk_baseline,
        };
        let (user_id, session_id) = match self.sessions.rotate_refresh_token(&rotation, &event).await? {
            RotateOutcome::Rotated { user_id, session_id } => {
                if let Some((_, learner, memory, baseline)) = learning.filter(|(s, ..)| *s == session_id) {
                    let obs = observation(client, &event.place, &event.device, now);
                    self.risk
                        .learn_refresh(learner, &session_id, memory, baseline, &obs)
                        .await;
                }
                (user_id, session_id)
            }
            RotateOutcome::NotRotated(None) => return Err(SessionError::InvalidRefreshToken),
            RotateOutcome::NotRotated(Some(spent)) => {
                let Some(spent_at) = spent.spent_at else {
                    // Never spent, yet not rotatable: revoked or expired.
                    return Err(SessionError::InvalidRefreshToken);
                };
                let retry = now - spent_at <= policy.grace
                    && spent.successor_hash.as_deref() == Some(successor.hash.as_str())
                    && spent.successor_live
                    && spent.successor_device.as_deref() == Some(client.device.as_str())
                    && spent.successor_ip.as_deref() == Some(rotation.ip_address.as_str())
                    // The browser that got the successor, by its device cookie: someone
                    // sharing its user agent and address (a NAT) is not that browser.
                    && spent.successor_device_hash == client.device_cookie;
                if !retry {
                    let mut alarm =
                        self.recorder
                            .event(EventType::RefreshReused, Some(spent.user_id), None, client, now);
                    alarm.risk_score = 1.0;
                    alarm.risk_reasons = vec!["refresh_token_reused".to_owned()];
                    alarm.decision = Decision::Block;
                    self.sessions
                        .revoke_session(&spent.session_id, now, "refresh_reused", &alarm)
                        .await?;
                    self.live.forget_session(&spent.session_id);
                    tracing::warn!(user_id = spent.user_id, session = %spent.session_id, ip = %client.ip, "refresh token reused: session revoked");
                    return Err(SessionError::RefreshReused);
                }
                // A replay answered is still a replay: on the record, with its place.
                let mut retry = event.clone();
                retry.user_id = Some(spent.user_id);
                retry.risk_reasons.push("refresh_retry".to_owned());
                self.activity.record_activity(&retry).await?;
                (spent.user_id, spent.session_id)
            }
        };
        let bound_to = context.as_ref().and_then(|c| c.device_jkt.clone());
        // The user as read with the session: a deactivation revokes the sessions, which
        // the rotation's own condition sees, so this read cannot hand out a dead user.
        let user = match context.map(|c| c.user).filter(|u| u.id == user_id) {
            Some(user) => Some(user),
            None => self.users.find_user(user_id).await?,
        };
        let user = match user {
            Some(user) if user.is_active => user,
            _ => return Err(SessionError::InvalidRefreshToken),
        };
        Ok(self
            .issuer
            .signed_in(user, session_id, successor.secret, bound_to.as_deref(), client, now))
    }

    /// How a refresh that proved key `jkt` stands: proven, or proven while another live
    /// session proves the same key from another country (a copied key).
    async fn key_proof(
        &self,
        jkt: &str,
        session_id: &str,
        event: &NewActivity,
        now: DateTime<Utc>,
    ) -> Result<DeviceKeyProof, SessionError> {
        let Some(country) = event.place.country.as_deref() else {
            return Ok(DeviceKeyProof::Proven);
        };
        let since = now - chrono::Duration::seconds(CONCURRENT_WINDOW_SECS);
        let elsewhere = self
            .sessions
            .key_used_elsewhere(jkt, session_id, country, since, now)
            .await?;
        Ok(match elsewhere {
            Some(other) => {
                tracing::warn!(session = %session_id, here = country, elsewhere = %other, "one device key in two countries at once");
                DeviceKeyProof::ProvenElsewhereToo
            }
            None => DeviceKeyProof::Proven,
        })
    }

    /// Holds a bound session's refresh to its key. A refresh that does not prove it is
    /// refused and logged as `refresh_unbound` (risk 1.0, blocked; once a minute per
    /// session, see [`AlarmLimiter`]); one that only needs a fresh nonce is refused without
    /// an alarm, since it proved the key.
    async fn prove_device(
        &self,
        bound: Bound<'_>,
        context: &RefreshContext,
        event: &NewActivity,
        client: &ClientInfo,
        now: DateTime<Utc>,
    ) -> Result<(), SessionError> {
        let refused = match self.proofs.prove(bound, client, None, Nonce::Required, now).await {
            Ok(()) => return Ok(()),
            Err(ProofCheckError::Fault(fault)) => return Err(fault.into()),
            Err(ProofCheckError::Refused(refused)) => refused,
        };
        let user_id = context.user.id;
        // The refusal stands every time; the alarm at most once a minute per session.
        if refused != ProofError::NonceRequired && self.alarms.allow(&context.session_id, now) {
            let mut alarm = event.clone();
            alarm.event_type = EventType::RefreshUnbound;
            alarm.user_id = Some(user_id);
            alarm.risk_score = 1.0;
            alarm.risk_reasons = vec!["device_proof_missing".to_owned()];
            alarm.decision = Decision::Block;
            self.activity.record_activity(&alarm).await?;
            tracing::warn!(user_id, ip = %client.ip, why = %refused, "refresh of a device-bound session without its key: refused");
        }
        Err(SessionError::DeviceProof(refused))
    }

    /// Binds the session of refresh token `presented` to the key the request offers (a
    /// DBSC registration, or a DPoP proof from a page's own key): a session of a live
    /// account, not bound yet, signed in within [`REGISTRATION_WINDOW`]. Returns the session's id and a fresh access token for the
    /// bound cookie (a browser keeps a DBSC session only if its registration set the cookie).
    #[tracing::instrument(name = "sessions::register_device", skip_all)]
    pub async fn register_device(
        &self,
        presented: Option<&str>,
        client: &ClientInfo,
    ) -> Result<(String, IssuedAccessToken), SessionError> {
        let presented = presented
            .filter(|t| looks_like_refresh_token(t))
            .ok_or(SessionError::InvalidRefreshToken)?;
        let now = self.recorder.now();
        let context = self
            .sessions
            .refresh_context(&hash_refresh_token(presented))
            .await?
            .filter(|c| c.user.is_active)
            .ok_or(SessionError::InvalidRefreshToken)?;
        if !self
            .sessions
            .session_is_live(&context.session_id, context.user.id, now)
            .await?
        {
            return Err(SessionError::InvalidRefreshToken);
        }
        if context.device_jkt.is_some() {
            return Err(SessionError::BindingClosed);
        }
        let key = self.proofs.key_to_register(client, now).await?;
        let bound = self
            .sessions
            .bind_device_key(&context.session_id, &key, now - REGISTRATION_WINDOW, now)
            .await?;
        if !bound {
            return Err(SessionError::BindingClosed);
        }
        tracing::info!(user_id = context.user.id, session = %context.session_id, ip = %client.ip, "session bound to a device key after sign-in");
        let user = &context.user;
        let access = self
            .issuer
            .tokens
            .issue(user.id, &user.username, user.role(), &context.session_id, now);
        Ok((context.session_id, access))
    }

    /// Revokes the session the refresh token belongs to. Unknown, malformed or already
    /// revoked tokens are not an error: signing out is idempotent.
    #[tracing::instrument(name = "sessions::sign_out", skip_all)]
    pub async fn sign_out(&self, refresh_token: Option<&str>, client: &ClientInfo) -> Result<(), SessionError> {
        let Some(token) = refresh_token.filter(|t| looks_like_refresh_token(t)) else {
            return Ok(());
        };
        let now = self.recorder.now();
        let event = self.recorder.event(EventType::Logout, None, None, client, now);
        if let Some(user_id) = self
            .sessions
            .revoke_session_by_token(&hash_refresh_token(token), now, &event)
            .await?
        {
            self.live.forget_user(user_id);
        }
        Ok(())
    }

    /// Ends every session of the caller ("sign out everywhere").
    #[tracing::instrument(name = "sessions::sign_out_everywhere", skip_all)]
    pub async fn sign_out_everywhere(&self, caller: &Principal, client: &ClientInfo) -> Result<u64, SessionError> {
        self.end_sessions(caller, None, EventType::Logout, client).await
    }

    /// Ends every session of the caller but the current one ("sign out everywhere else").
    #[tracing::instrument(name = "sessions::end_other_sessions", skip_all)]
    pub async fn end_other_sessions(&self, caller: &Principal, client: &ClientInfo) -> Result<u64, SessionError> {
        self.end_sessions(caller, Some(&caller.claims.sid), EventType::SessionRevoked, client)
            .await
    }

    async fn end_sessions(
        &self,
        caller: &Principal,
        except: Option<&str>,
        kind: EventType,
        client: &ClientInfo,
    ) -> Result<u64, SessionError> {
        let now = self.recorder.now();
        let event = self.recorder.caller_event(kind, caller, client, now);
        let ended = self
            .sessions
            .revoke_user_sessions(caller.user.id, except, now, &event)
            .await?;
        self.live.forget_user(caller.user.id);
        Ok(ended)
    }

    /// The caller's live sessions, most recently used first.
    #[tracing::instrument(name = "sessions::list", skip_all)]
    pub async fn list(&self, caller: &Principal) -> Result<Vec<SessionRecord>, SessionError> {
        Ok(self.sessions.live_sessions(caller.user.id, self.recorder.now()).await?)
    }

    /// Ends one of the caller's own sessions; someone else's is `NotFound`, like a missing one.
    #[tracing::instrument(name = "sessions::end_session", skip_all)]
    pub async fn end_session(
        &self,
        caller: &Principal,
        session_id: &str,
        client: &ClientInfo,
    ) -> Result<(), SessionError> {
        let now = self.recorder.now();
        let owned = self
            .sessions
            .live_sessions(caller.user.id, now)
            .await?
            .iter()
            .any(|s| s.id == session_id);
        if !owned {
            return Err(SessionError::NotFound);
        }
        let event = self
            .recorder
            .caller_event(EventType::SessionRevoked, caller, client, now);
        self.sessions
            .revoke_session(session_id, now, "revoked_by_user", &event)
            .await?;
        self.live.forget_session(session_id);
        Ok(())
    }
}
