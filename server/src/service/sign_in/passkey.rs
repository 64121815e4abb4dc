//! Signing in with a passkey: no username and no password. The authenticator names its
//! credential and signs the server's challenge for this origin only, after verifying its
//! user (a PIN, a fingerprint): two factors in one gesture, which nothing can phish.
//!
//! The rest is a sign-in like any other: the address is throttled, the risk engine judges
//! the attempt against the account's history and may refuse it, but never asks for another
//! factor; the session opened is the same (bound to the device's key where one is proven).

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::{Accepted, SignInService, identified, key_identity};
use crate::domain::client::ClientInfo;
use crate::domain::passkey::Assertion;
use crate::domain::risk::Response;
use crate::domain::throttle::{Scope, Verdict, address_key, retry_after_secs};
use crate::service::error::SignInError;
use crate::service::factors::Answer;
use crate::service::passkeys::{PasskeyOptions, Refusal};
use crate::service::risk::observation;
use crate::service::shared::SignedIn;
use crate::storage::{Decision, EventType};

impl SignInService {
    /// Starts a passkey sign-in: request options any passkey of this site can answer.
    #[tracing::instrument(name = "sign_in::start_passkey", skip_all)]
    pub async fn start_passkey(&self) -> Result<PasskeyOptions, SignInError> {
        Ok(self.passkeys.start_sign_in().await?)
    }

    /// Finishes a passkey sign-in. Every refusal (an unknown, spent or expired ceremony, a
    /// credential nobody registered, a signature or origin that does not verify, an inactive
    /// account, the risk policy) is the same `InvalidCredentials`, and is logged.
    #[tracing::instrument(name = "sign_in::finish_passkey", skip_all)]
    pub async fn finish_passkey(
        &self,
        challenge_id: &str,
        credential: &Value,
        client: &ClientInfo,
    ) -> Result<SignedIn, SignInError> {
        let answer = Assertion::parse(credential).map_err(|_| SignInError::MalformedCredential)?;
        let now = self.recorder.now();
        let device_key = self.proofs.key_to_bind(client, now).await?;
        // Counted on the address before anything is checked, like a password attempt: the
        // account is not known until the passkey is, and a passkey cannot be guessed anyway.
        let keys: Vec<_> = self
            .throttle
            .keys("passkey", client.ip, false)
            .into_iter()
            .filter(|k| k.scope == Scope::Address)
            .collect();
        if let Verdict::Throttled { retry_at, scope } = self.counters.throttle_attempt(&keys, now).await? {
            self.refused_unheard(None, None, client, now, scope.reason()).await?;
            return Err(SignInError::Throttled {
                retry_after_secs: retry_after_secs(retry_at, now),
            });
        }
        let passkey = match self.passkeys.verify_sign_in(challenge_id, &answer, now).await? {
            Ok(passkey) => passkey,
            Err(refusal) => return Err(self.refused(refusal, client, now).await?),
        };
        let user = match self.users.find_user(passkey.user_id).await? {
            Some(user) if user.is_active => user,
            _ => {
                let refusal = Refusal {
                    owner: Some(passkey.user_id),
                    why: "inactive account".to_owned(),
                };
                return Err(self.refused(refusal, client, now).await?);
            }
        };

        let username = Some(user.username.clone());
        let mut event = self
            .recorder
            .event(EventType::LoginSucceeded, Some(user.id), username, client, now);
        let memory = self.risk.memory(user.id, client, &event.place).await?;
        let signals = self.risk.signals(client, &user.username, now).await?;
        let identity = key_identity(device_key.as_ref());
        let judgement = {
            let obs = identified(
                observation(client, &event.place, &event.device, now),
                identity.as_deref(),
            );
            self.risk.judge_login(&memory, &obs, signals)
        };
        event.risk_score = judgement.assessment.score;
        event.risk_reasons = judgement.assessment.reasons.clone();
        event.risk_reasons.push("passkey".to_owned());
        // A user-verified passkey is two factors already: a step-up would ask for what it
        // just proved. A block still blocks.
        if let Response::Block = judgement.response {
            event.event_type = EventType::LoginBlocked;
            event.decision = Decision::Block;
            self.activity.record_activity(&event).await?;
            tracing::warn!(user_id = user.id, ip = %client.ip, score = event.risk_score, "passkey sign-in blocked by the risk policy");
            return Err(SignInError::InvalidCredentials);
        }
        let accepted = Accepted {
            user,
            event,
            memory,
            signals,
            keys,
            network: address_key(client.ip),
            device_key,
        };
        self.open_session(accepted, client, now).await
    }

    /// Checks a step-up answered with a passkey.
    pub(super) async fn check_passkey(
        &self,
        challenge_id: &str,
        user_id: i64,
        answer: &Assertion,
        now: DateTime<Utc>,
    ) -> Result<Answer, SignInError> {
        match self.passkeys.verify_step_up(challenge_id, user_id, answer, now).await? {
            Ok(_) => Ok(Answer::Passed),
            Err(refusal) => {
                tracing::info!(user_id, why = %refusal.why, "step-up passkey refused");
                Ok(Answer::Wrong)
            }
        }
    }

    /// Logs a refused passkey sign-in (in its owner's log when it named a known passkey);
    /// the answer is the one a wrong password gets.
    async fn refused(
        &self,
        refusal: Refusal,
        client: &ClientInfo,
        now: DateTime<Utc>,
    ) -> Result<SignInError, SignInError> {
        tracing::info!(user_id = ?refusal.owner, why = %refusal.why, "passkey sign-in refused");
        let mut event = self
            .recorder
            .event(EventType::LoginFailed, refusal.owner, None, client, now);
        event.decision = Decision::Deny;
        event.risk_reasons = vec!["passkey".to_owned(), "passkey_refused".to_owned()];
        self.activity.record_activity(&event).await?;
        Ok(SignInError::InvalidCredentials)
    }
}
