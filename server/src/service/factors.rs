//! Second factors: enrolling an authenticator app, its recovery codes, and checking either
//! when the risk engine asks for a step-up.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use secrecy::SecretString;

use super::error::{FactorError, Fault};
use super::reauth::Reauthenticator;
use super::shared::{Principal, Recorder};
use crate::domain::client::ClientInfo;
use crate::domain::totp;
use crate::storage::{ActivityStore, Decision, EventType, FactorStore, TotpFactor};

/// Wrong answers in a row, across every challenge, that lock the authenticator: a guesser
/// holding the password gets ten tries in all (about 1 in 100,000 against a 6-digit code),
/// not five per fresh challenge forever.
pub const FACTOR_LOCK_AFTER: i64 = 10;

/// What a step-up answer amounted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    /// The user has no confirmed authenticator to check against.
    NoFactor,
    Passed,
    Wrong,
    /// The authenticator is locked after too many wrong answers: only a recovery code (or
    /// an administrator) unlocks it.
    Locked,
}

/// A new authenticator to scan.
#[derive(Debug, Clone)]
pub struct TotpEnrolment {
    /// Base32, for typing in by hand.
    pub secret: String,
    /// The `otpauth://` URI the QR code carries.
    pub uri: String,
}

#[derive(Debug)]
pub struct SecondFactorService {
    pub(super) factors: Arc<dyn FactorStore>,
    pub(super) activity: Arc<dyn ActivityStore>,
    pub(super) recorder: Recorder,
    pub(super) reauth: Arc<Reauthenticator>,
    pub(super) recovery_key: totp::RecoveryKey,
}

impl SecondFactorService {
    /// Starts TOTP enrolment: a new secret to scan. Needs the current password or a sign-in
    /// in the last minutes, so a stolen session cannot enrol the thief's authenticator.
    /// Replaces a pending one; a confirmed authenticator must stay (409): replacing it
    /// means removing it first, which asks the same.
    #[tracing::instrument(name = "factors::begin_totp", skip_all)]
    pub async fn begin_totp(
        &self,
        caller: &Principal,
        password: Option<SecretString>,
        client: &ClientInfo,
    ) -> Result<TotpEnrolment, FactorError> {
        self.reauth.password_or_recent(caller, password, client).await?;
        let secret = totp::new_secret();
        self.factors
            .begin_totp(caller.user.id, &secret, self.recorder.now())
            .await?;
        let uri = totp::otpauth_uri("fin_intelli", &caller.user.username, &secret);
        Ok(TotpEnrolment { secret, uri })
    }

    /// Confirms enrolment with the first code; returns the recovery codes, shown once and
    /// stored only as hashes.
    #[tracing::instrument(name = "factors::confirm_totp", skip_all)]
    pub async fn confirm_totp(
        &self,
        caller: &Principal,
        code: &str,
        client: &ClientInfo,
    ) -> Result<Vec<String>, FactorError> {
        let now = self.recorder.now();
        let factor = self
            .factors
            .totp_factor(caller.user.id)
            .await?
            .filter(|f| f.confirmed_at.is_none())
            .ok_or(FactorError::InvalidCode)?;
        let step = totp::verify(&factor.secret, code, now, None).ok_or(FactorError::InvalidCode)?;
        let codes = totp::recovery_codes();
        let hashes: Vec<String> = codes.iter().map(|c| self.recovery_key.hash(c)).collect();
        self.factors.confirm_totp(caller.user.id, step, &hashes, now).await?;
        self.record(caller, client, "second_factor_enrolled").await?;
        Ok(codes)
    }

    /// Removes the caller's authenticator and its recovery codes (the same
    /// re-authentication as enrolling).
    #[tracing::instrument(name = "factors::remove_totp", skip_all)]
    pub async fn remove_totp(
        &self,
        caller: &Principal,
        password: Option<SecretString>,
        client: &ClientInfo,
    ) -> Result<(), FactorError> {
        self.reauth.password_or_recent(caller, password, client).await?;
        if !self.factors.remove_totp(caller.user.id).await? {
            return Err(FactorError::NotFound);
        }
        self.record(caller, client, "second_factor_removed").await
    }

    /// Replaces the caller's recovery codes with ten new ones, shown once (the same
    /// re-authentication as enrolling); every old code stops working.
    #[tracing::instrument(name = "factors::regenerate_recovery_codes", skip_all)]
    pub async fn regenerate_recovery_codes(
        &self,
        caller: &Principal,
        password: Option<SecretString>,
        client: &ClientInfo,
    ) -> Result<Vec<String>, FactorError> {
        self.reauth.password_or_recent(caller, password, client).await?;
        let codes = totp::recovery_codes();
        let hashes: Vec<String> = codes.iter().map(|c| self.recovery_key.hash(c)).collect();
        if !self.factors.replace_recovery_codes(caller.user.id, &hashes).await? {
            return Err(FactorError::NotFound);
        }
        self.record(caller, client, "recovery_codes_regenerated").await?;
        Ok(codes)
    }

    /// The caller's own record of a change to their factors (and, once mail exists, their
    /// notice).
    async fn record(&self, caller: &Principal, client: &ClientInfo, what: &str) -> Result<(), FactorError> {
        let mut event = self
            .recorder
            .caller_event(EventType::UserUpdated, caller, client, self.recorder.now());
        event.risk_reasons = vec![what.to_owned()];
        self.activity.record_activity(&event).await?;
        Ok(())
    }

    /// Whether the caller has a confirmed authenticator.
    #[tracing::instrument(name = "factors::has_second_factor", skip_all)]
    pub async fn has_second_factor(&self, caller: &Principal) -> Result<bool, Fault> {
        self.is_enrolled(caller.user.id).await
    }

    /// Whether the user has a confirmed authenticator (a step-up can be asked of them).
    pub(super) async fn is_enrolled(&self, user_id: i64) -> Result<bool, Fault> {
        Ok(self
            .factors
            .totp_factor(user_id)
            .await?
            .is_some_and(|f| f.confirmed_at.is_some()))
    }

    /// Checks a step-up answer: a current authenticator code (each works once), or an
    /// unspent recovery code (spent now). Wrong answers are counted across challenges;
    /// the tenth in a row locks the authenticator's codes (the owner is told in their
    /// activity log), and a recovery code, the other factor, unlocks it.
    pub(super) async fn check(
        &self,
        user_id: i64,
        code: &str,
        client: &ClientInfo,
        now: DateTime<Utc>,
    ) -> Result<Answer, Fault> {
        let Some(factor) = self
            .factors
            .totp_factor(user_id)
            .await?
            .filter(|f| f.confirmed_at.is_some())
        else {
            return Ok(Answer::NoFactor);
        };
        let totp_step = match factor.locked_at {
            None => totp::verify(&factor.secret, code, now, factor.last_step),
            Some(_) => None,
        };
        let passed = match totp_step {
            Some(step) => self.factors.use_totp_step(user_id, step).await?,
            None => {
                let keyed = self.recovery_key.hash(code);
                let legacy = totp::legacy_hash_recovery_code(code);
                self.factors.use_recovery_code(user_id, &keyed, &legacy, now).await?
            }
        };
        if passed {
            if factor.failures > 0 || factor.locked_at.is_some() {
                self.factors.clear_factor_failures(user_id).await?;
            }
            return Ok(Answer::Passed);
        }
        let counted = self
            .factors
            .count_factor_failure(user_id, FACTOR_LOCK_AFTER, now)
            .await?;
        match counted {
            Some(TotpFactor {
                locked_at: Some(_),
                failures,
                ..
            }) => {
                // The count is incremented atomically, so exactly one wrong answer is the
                // one that locked it: that one tells the owner.
                if failures == FACTOR_LOCK_AFTER {
                    self.tell_locked(user_id, client, now).await?;
                }
                Ok(Answer::Locked)
            }
            _ => Ok(Answer::Wrong),
        }
    }

    /// The owner's record of the lock (and, once mail exists, their notice).
    async fn tell_locked(&self, user_id: i64, client: &ClientInfo, now: DateTime<Utc>) -> Result<(), Fault> {
        let mut event = self
            .recorder
            .event(EventType::UserUpdated, Some(user_id), None, client, now);
        event.decision = Decision::Block;
        event.risk_reasons = vec!["second_factor_locked".to_owned()];
        self.activity.record_activity(&event).await?;
        tracing::warn!(user_id, ip = %client.ip, "second factor locked after repeated wrong codes");
        Ok(())
    }

    /// Unlocks a user's authenticator on an administrator's word, and starts its failure
    /// count afresh; false when it was neither locked nor counting.
    #[tracing::instrument(name = "factors::unlock", skip_all)]
    pub async fn unlock(&self, caller: &Principal, user_id: i64, client: &ClientInfo) -> Result<bool, FactorError> {
        caller.require_admin()?;
        let unlocked = self.factors.clear_factor_failures(user_id).await?;
        if unlocked {
            let reasons = vec![format!("second_factor_unlocked_by_admin:{}", caller.user.username)];
            let event = self
                .recorder
                .about_user(EventType::UserUpdated, user_id, client, reasons);
            self.activity.record_activity(&event).await?;
        }
        Ok(unlocked)
    }
}
