//! Passkeys a user holds: adding one (after re-authentication), listing, removing, and an
//! administrator removing one of a lost device. Also the ceremonies the sign-in service
//! runs with them: the usernameless sign-in's and the step-up's.
//!
//! A ceremony's state (its challenge) is a row of `passkey_ceremonies`, so any instance can
//! finish what another started; registrations and sign-ins take their row (a delete), so a
//! replayed answer finds nothing. A step-up's row stays until the step-up challenge it
//! belongs to is spent or expires, as that challenge already counts attempts and is used once.

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::error::{FactorError, Fault};
use super::reauth::Reauthenticator;
use super::shared::{Principal, Recorder};
use crate::domain::client::ClientInfo;
use crate::domain::passkey::{
    Assertion, Attestation, CEREMONY_SECS, PasskeyError, RelyingParty, StoredCredential, Verified,
};
use crate::domain::token;
use crate::storage::{EventType, PasskeyCeremonyRow, PasskeyRecord, PasskeyStore, PasskeyUse};

/// The longest name a passkey may be given.
pub const NAME_MAX_CHARS: usize = 64;

/// What a ceremony was started for; it finishes nothing else.
#[derive(Debug, Clone, Copy)]
pub(super) enum Purpose {
    SignIn,
    Register,
    StepUp,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::SignIn => "sign_in",
            Purpose::Register => "register",
            Purpose::StepUp => "step_up",
        }
    }
}

/// A ceremony started: its id (the challenge row's) and the options for the browser.
#[derive(Debug, Clone)]
pub struct PasskeyOptions {
    pub challenge_id: String,
    pub options: Value,
}

/// A registration's state: webauthn-rs's, and the user handle the credential is made for
/// (the user's existing one, or a new UUID for their first passkey).
#[derive(Serialize, Deserialize)]
struct Registration {
    handle: Uuid,
    ceremony: String,
}

#[derive(Debug)]
pub struct PasskeyService {
    pub(super) passkeys: Arc<dyn PasskeyStore>,
    pub(super) reauth: Arc<Reauthenticator>,
    pub(super) recorder: Recorder,
    pub(super) rp: Arc<RelyingParty>,
}

impl PasskeyService {
    /// Creation options for a new passkey. Needs the current password or a sign-in in the
    /// last minutes, so a stolen session cannot plant the thief's passkey.
    #[tracing::instrument(name = "passkeys::begin_registration", skip_all)]
    pub async fn begin_registration(
        &self,
        caller: &Principal,
        password: Option<SecretString>,
        client: &ClientInfo,
    ) -> Result<PasskeyOptions, FactorError> {
        self.reauth.password_or_recent(caller, password, client).await?;
        let existing = self.passkeys.passkeys(caller.user.id).await?;
        let handle = existing
            .first()
            .and_then(|p| Uuid::parse_str(&p.user_handle).ok())
            .unwrap_or_else(Uuid::new_v4);
        let ids: Vec<String> = existing.into_iter().map(|p| p.credential_id).collect();
        let ceremony = self
            .rp
            .start_registration(handle, &caller.user.username, &ids)
            .map_err(fault)?;
        let state = serde_json::to_string(&Registration {
            handle,
            ceremony: ceremony.state,
        })
        .map_err(|e| fault(PasskeyError::Stored(e.to_string())))?;
        let challenge_id = self.keep(Purpose::Register, Some(caller.user.id), state).await?;
        Ok(PasskeyOptions {
            challenge_id,
            options: ceremony.options,
        })
    }

    /// Verifies the new credential against the caller's own registration ceremony and
    /// stores it under `name`, with a `passkey_added` event.
    #[tracing::instrument(name = "passkeys::finish_registration", skip_all)]
    pub async fn finish_registration(
        &self,
        caller: &Principal,
        challenge_id: &str,
        credential: &Value,
        name: &str,
        client: &ClientInfo,
    ) -> Result<PasskeyRecord, FactorError> {
        let name = valid_name(name)?;
        let answer = Attestation::parse(credential).map_err(|_| FactorError::InvalidPasskey)?;
        let now = self.recorder.now();
        let ceremony = self
            .take(challenge_id, Purpose::Register, now)
            .await?
            .filter(|c| c.user_id == Some(caller.user.id))
            .ok_or(FactorError::InvalidPasskey)?;
        let registration: Registration =
            serde_json::from_str(&ceremony.state).map_err(|e| fault(PasskeyError::Stored(e.to_string())))?;
        let made = match self.rp.finish_registration(&answer, &registration.ceremony) {
            Ok(made) => made,
            Err(PasskeyError::Stored(cause)) => return Err(fault(PasskeyError::Stored(cause))),
            Err(refused) => {
                tracing::info!(user_id = caller.user.id, %refused, "passkey registration refused");
                return Err(FactorError::InvalidPasskey);
            }
        };
        let record = PasskeyRecord {
            id: token::random_urlsafe(16),
            user_id: caller.user.id,
            credential_id: made.credential_id,
            user_handle: registration.handle.to_string(),
            name,
            credential: made.stored,
            backup_eligible: made.flags.backup_eligible,
            backed_up: made.flags.backed_up,
            created_at: now,
            last_used_at: None,
        };
        let mut event = self.recorder.caller_event(EventType::UserUpdated, caller, client, now);
        event.risk_reasons = vec!["passkey_added".to_owned()];
        self.passkeys.add_passkey(&record, &event).await?;
        Ok(record)
    }

    /// The caller's passkeys, oldest first.
    #[tracing::instrument(name = "passkeys::list", skip_all)]
    pub async fn list(&self, caller: &Principal) -> Result<Vec<PasskeyRecord>, FactorError> {
        Ok(self.passkeys.passkeys(caller.user.id).await?)
    }

    /// Removes one of the caller's passkeys (the same re-authentication as adding one).
    #[tracing::instrument(name = "passkeys::remove", skip_all)]
    pub async fn remove(
        &self,
        caller: &Principal,
        id: &str,
        password: Option<SecretString>,
        client: &ClientInfo,
    ) -> Result<(), FactorError> {
        self.reauth.password_or_recent(caller, password, client).await?;
        let mut event = self
            .recorder
            .caller_event(EventType::UserUpdated, caller, client, self.recorder.now());
        event.risk_reasons = vec!["passkey_removed".to_owned()];
        match self.passkeys.remove_passkey(caller.user.id, id, &event).await? {
            true => Ok(()),
            false => Err(FactorError::NotFound),
        }
    }

    /// A user's passkeys, for an administrator.
    #[tracing::instrument(name = "passkeys::admin_list", skip_all)]
    pub async fn admin_list(&self, caller: &Principal, user_id: i64) -> Result<Vec<PasskeyRecord>, FactorError> {
        caller.require_admin()?;
        Ok(self.passkeys.passkeys(user_id).await?)
    }

    /// Removes a user's passkey on an administrator's word (a lost or stolen device); the
    /// owner's log says who.
    #[tracing::instrument(name = "passkeys::admin_remove", skip_all)]
    pub async fn admin_remove(
        &self,
        caller: &Principal,
        user_id: i64,
        id: &str,
        client: &ClientInfo,
    ) -> Result<(), FactorError> {
        caller.require_admin()?;
        let reasons = vec![
            "passkey_removed".to_owned(),
            format!("by_admin:{}", caller.user.username),
        ];
        let event = self
            .recorder
            .about_user(EventType::UserUpdated, user_id, client, reasons);
        match self.passkeys.remove_passkey(user_id, id, &event).await? {
            true => Ok(()),
            false => Err(FactorError::NotFound),
        }
    }

    /// Whether the user has a passkey (a step-up can be asked of them).
    pub(super) async fn has_passkey(&self, user_id: i64) -> Result<bool, Fault> {
        Ok(!self.passkeys.passkeys(user_id).await?.is_empty())
    }

    /// Request options for a usernameless sign-in.
    pub(super) async fn start_sign_in(&self) -> Result<PasskeyOptions, Fault> {
        let ceremony = self.rp.start_sign_in().map_err(fault_of)?;
        let challenge_id = self.keep(Purpose::SignIn, None, ceremony.state).await?;
        Ok(PasskeyOptions {
            challenge_id,
            options: ceremony.options,
        })
    }

    /// Verifies a sign-in: its ceremony (taken, so the answer works once), the credential it
    /// names, that the authenticator's user handle is its owner's, and the signature. The
    /// passkey whose owner signs in, or `None` for any refusal.
    pub(super) async fn verify_sign_in(
        &self,
        challenge_id: &str,
        answer: &Assertion,
        now: DateTime<Utc>,
    ) -> Result<Result<PasskeyRecord, Refusal>, Fault> {
        // The credential first, so that a refusal of a known passkey (a replay, another
        // origin) lands in its owner's log.
        let Some(passkey) = self.passkeys.passkey_by_credential(&answer.credential_id()).await? else {
            self.take(challenge_id, Purpose::SignIn, now).await?;
            return Ok(Err(Refusal::unknown("unknown credential")));
        };
        let Some(ceremony) = self.take(challenge_id, Purpose::SignIn, now).await? else {
            return Ok(Err(Refusal::of(&passkey, "no such ceremony".to_owned())));
        };
        let handle_matches = answer
            .user_handle()
            .is_some_and(|handle| handle.to_string() == passkey.user_handle);
        if !handle_matches {
            return Ok(Err(Refusal::of(&passkey, "user handle mismatch".to_owned())));
        }
        let verified = self.rp.finish_sign_in(answer, &ceremony.state, &stored(&passkey));
        self.settle(passkey, verified, now).await
    }

    /// Options for answering a step-up with one of the user's passkeys (none without one),
    /// kept under the step-up challenge's own id.
    pub(super) async fn start_step_up(
        &self,
        challenge_id: &str,
        user_id: i64,
        expires_at: DateTime<Utc>,
    ) -> Result<Option<Value>, Fault> {
        let passkeys = self.passkeys.passkeys(user_id).await?;
        if passkeys.is_empty() {
            return Ok(None);
        }
        let credentials: Vec<StoredCredential> = passkeys.iter().map(stored).collect();
        let ceremony = self.rp.start_step_up(&credentials).map_err(fault_of)?;
        let row = PasskeyCeremonyRow {
            id: challenge_id.to_owned(),
            purpose: Purpose::StepUp.as_str().to_owned(),
            user_id: Some(user_id),
            state: ceremony.state,
            expires_at,
        };
        self.passkeys.start_ceremony(&row).await?;
        Ok(Some(ceremony.options))
    }

    /// Verifies a step-up's answer: one of the challenged user's passkeys, signed for the
    /// step-up's own challenge.
    pub(super) async fn verify_step_up(
        &self,
        challenge_id: &str,
        user_id: i64,
        answer: &Assertion,
        now: DateTime<Utc>,
    ) -> Result<Result<PasskeyRecord, Refusal>, Fault> {
        let ceremony = self
            .passkeys
            .peek_ceremony(challenge_id, Purpose::StepUp.as_str(), now)
            .await?
            .filter(|c| c.user_id == Some(user_id));
        let Some(ceremony) = ceremony else {
            return Ok(Err(Refusal::unknown("no passkey ceremony for this step-up")));
        };
        let passkey = self
            .passkeys
            .passkey_by_credential(&answer.credential_id())
            .await?
            .filter(|p| p.user_id == user_id);
        let Some(passkey) = passkey else {
            return Ok(Err(Refusal::unknown("not one of the user's passkeys")));
        };
        let verified = self.rp.finish_step_up(answer, &ceremony.state, &stored(&passkey));
        self.settle(passkey, verified, now).await
    }

    /// Records a verified use (last used, counter, flags), or says why it was refused. The
    /// record is conditional on the credential as verified, so two answers racing past the
    /// counter check cannot both count.
    async fn settle(
        &self,
        mut passkey: PasskeyRecord,
        verified: Result<Verified, PasskeyError>,
        now: DateTime<Utc>,
    ) -> Result<Result<PasskeyRecord, Refusal>, Fault> {
        let verified = match verified {
            Ok(verified) => verified,
            Err(PasskeyError::Stored(cause)) => return Err(fault_of(PasskeyError::Stored(cause))),
            Err(refused) => return Ok(Err(Refusal::of(&passkey, refused.to_string()))),
        };
        let used = PasskeyUse {
            id: &passkey.id,
            used_at: now,
            credential: verified.updated.as_deref(),
            backed_up: verified.flags.backed_up,
        };
        if !self.passkeys.record_passkey_use(&used, &passkey.credential).await? {
            return Ok(Err(Refusal::of(&passkey, "raced by another use".to_owned())));
        }
        passkey.last_used_at = Some(now);
        passkey.backed_up = verified.flags.backed_up;
        Ok(Ok(passkey))
    }

    /// Keeps a new ceremony's state; returns its id.
    async fn keep(&self, purpose: Purpose, user_id: Option<i64>, state: String) -> Result<String, Fault> {
        let row = PasskeyCeremonyRow {
            id: token::random_urlsafe(24),
            purpose: purpose.as_str().to_owned(),
            user_id,
            state,
            expires_at: self.recorder.now() + Duration::seconds(CEREMONY_SECS as i64),
        };
        self.passkeys.start_ceremony(&row).await?;
        Ok(row.id)
    }

    /// Takes a ceremony by an id as the caller sent it: one that cannot be ours names none.
    async fn take(
        &self,
        challenge_id: &str,
        purpose: Purpose,
        now: DateTime<Utc>,
    ) -> Result<Option<PasskeyCeremonyRow>, Fault> {
        if !well_formed_id(challenge_id) {
            return Ok(None);
        }
        Ok(self.passkeys.take_ceremony(challenge_id, purpose.as_str(), now).await?)
    }
}

/// Why an assertion was refused, and whose passkey it named when it named a known one (so
/// the refusal goes into the owner's log).
#[derive(Debug)]
pub(super) struct Refusal {
    pub owner: Option<i64>,
    pub why: String,
}

impl Refusal {
    fn unknown(why: &str) -> Self {
        Self {
            owner: None,
            why: why.to_owned(),
        }
    }

    fn of(passkey: &PasskeyRecord, why: String) -> Self {
        Self {
            owner: Some(passkey.user_id),
            why,
        }
    }
}

/// Ceremony ids are base64url; anything else names no ceremony (and a NUL would be a
/// database error on PostgreSQL, not an answer).
pub(super) fn well_formed_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && token::is_urlsafe(id)
}

/// A passkey's name: trimmed, 1 to 64 characters, no control characters.
fn valid_name(name: &str) -> Result<String, FactorError> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 || chars > NAME_MAX_CHARS || name.chars().any(char::is_control) {
        return Err(FactorError::InvalidName(format!(
            "A passkey's name is 1 to {NAME_MAX_CHARS} characters"
        )));
    }
    Ok(name.to_owned())
}

fn stored(passkey: &PasskeyRecord) -> StoredCredential {
    StoredCredential {
        credential_id: passkey.credential_id.clone(),
        stored: passkey.credential.clone(),
    }
}

fn fault_of(error: PasskeyError) -> Fault {
    Fault::Passkey(error.to_string())
}

fn fault(error: PasskeyError) -> FactorError {
    FactorError::Fault(fault_of(error))
}
