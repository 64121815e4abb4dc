//! The storage contract, one trait per role. A service holds only the roles it uses;
//! [`super::Store`] is all of them, which both databases implement.

use std::collections::HashMap;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::{
    ActivityFilter, ActivityRecord, ActivityWakeups, BoundKey, Challenge, FailureSignals, NewActivity, NewSession,
    NewVerdict, PasskeyCeremonyRow, PasskeyRecord, PasskeyUse, RefreshContext, RiskLearning, RotateOutcome, Rotation,
    SessionRecord, StoreError, StoredSigningKey, TotpFactor,
};
use crate::domain::throttle::{ThrottleKey, Verdict};
use crate::domain::user::{NewUser, User};

/// The database itself.
#[async_trait]
pub trait Schema: Send + Sync + std::fmt::Debug {
    /// Applies the migrations this binary carries.
    async fn migrate(&self) -> Result<(), StoreError>;

    /// A cheap round trip, for readiness checks.
    async fn ping(&self) -> Result<(), StoreError>;
}

/// Accounts.
#[async_trait]
pub trait UserStore: Send + Sync + std::fmt::Debug {
    async fn count_users(&self) -> Result<i64, StoreError>;

    /// Stores a user; `StoreError::Conflict` names the taken field.
    async fn insert_user(&self, user: &NewUser, now: DateTime<Utc>) -> Result<User, StoreError>;

    /// Finds a user by normalised username or e-mail address.
    async fn find_user_by_login(&self, login: &str) -> Result<Option<User>, StoreError>;

    async fn find_user(&self, id: i64) -> Result<Option<User>, StoreError>;

    /// Users newest first, optionally those whose name or e-mail contains `search`, with
    /// ids below `before`, at most `limit` (1 to 1,000).
    async fn list_users(&self, search: Option<&str>, before: Option<i64>, limit: i64) -> Result<Vec<User>, StoreError>;

    /// Grants or removes the admin role; returns whether the user exists.
    async fn set_user_admin(&self, id: i64, admin: bool, now: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Activates or deactivates a user (deactivating revokes every session of the user);
    /// returns whether the user exists.
    async fn set_user_active(&self, id: i64, active: bool, now: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Replaces a user's password hash and revokes every session of the user, recording
    /// `event`, in one transaction.
    async fn change_password(
        &self,
        user_id: i64,
        hashed_password: &str,
        now: DateTime<Utc>,
        event: &NewActivity,
    ) -> Result<(), StoreError>;

    /// Replaces the hash of the same password made under older settings, if the stored one
    /// is still `old` (a password change in between wins). Sessions are untouched.
    async fn upgrade_password_hash(&self, user_id: i64, old: &str, new: &str) -> Result<bool, StoreError>;
}

/// Sessions and their refresh tokens. Every state change commits with its activity row.
#[async_trait]
pub trait SessionStore: Send + Sync + std::fmt::Debug {
    /// Stores a new session's first refresh token and its activity event in one transaction:
    /// a login that succeeded always has its log row.
    async fn open_session(&self, session: &NewSession, event: &NewActivity) -> Result<(), StoreError>;

    /// Revokes every refresh token of the session the given token belongs to and records
    /// the event, attributed to the session's user, in the same transaction. Returns that
    /// user's id, or `None` when no session matched (nothing is recorded then).
    async fn revoke_session_by_token(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
        event: &NewActivity,
    ) -> Result<Option<i64>, StoreError>;

    /// Binds a session that is not bound yet, was opened at or after `opened_since` and has
    /// not ended, to a device key (DBSC registration); `false` when it cannot be bound.
    async fn bind_device_key(
        &self,
        session_id: &str,
        key: &BoundKey,
        opened_since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// The country of another live session bound to key `jkt`, used since `since` from a
    /// country other than `country`, if there is one: one device key in two countries at
    /// once has been copied.
    async fn key_used_elsewhere(
        &self,
        jkt: &str,
        except_session: &str,
        country: &str,
        since: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> Result<Option<String>, StoreError>;

    /// When the session was opened (its sign-in), if it exists.
    async fn session_started_at(&self, session_id: &str) -> Result<Option<DateTime<Utc>>, StoreError>;

    /// Whether the session belongs to the user and is neither revoked nor past its absolute
    /// lifetime.
    async fn session_is_live(&self, session_id: &str, user_id: i64, now: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Spends a live refresh token and stores its successor, as one conditional write: of
    /// any number of concurrent attempts on one token, exactly one rotates it. The others,
    /// and attempts on dead tokens, get what is known about the token instead.
    async fn rotate_refresh_token(&self, rotation: &Rotation, event: &NewActivity)
    -> Result<RotateOutcome, StoreError>;

    /// Revokes a whole session (every token of the family) and records `event` in the same
    /// transaction, even when the session was already revoked (a replay is still news).
    /// Returns whether the session was live until now.
    async fn revoke_session(
        &self,
        session_id: &str,
        now: DateTime<Utc>,
        reason: &str,
        event: &NewActivity,
    ) -> Result<bool, StoreError>;

    /// Revokes every live session of a user but `except` (the caller's own, for "sign out
    /// everywhere else"), recording `event` when anything was revoked. Returns how many.
    async fn revoke_user_sessions(
        &self,
        user_id: i64,
        except: Option<&str>,
        now: DateTime<Utc>,
        event: &NewActivity,
    ) -> Result<u64, StoreError>;

    /// A user's live sessions, most recently used first.
    async fn live_sessions(&self, user_id: i64, now: DateTime<Utc>) -> Result<Vec<SessionRecord>, StoreError>;

    /// What a refresh is judged by, in one read: the session the token belongs to (spent
    /// or not), its risk baseline (JSON) and its user.
    async fn refresh_context(&self, token_hash: &str) -> Result<Option<RefreshContext>, StoreError>;
}

/// The activity log.
#[async_trait]
pub trait ActivityStore: Send + Sync + std::fmt::Debug {
    /// Writes one activity event on its own (failed sign-ins, for example).
    async fn record_activity(&self, event: &NewActivity) -> Result<i64, StoreError>;

    /// Events matching `filter`, newest first, at most `limit` (1 to 1,000).
    async fn search_activity(&self, filter: &ActivityFilter, limit: i64) -> Result<Vec<ActivityRecord>, StoreError>;

    /// Events newest first, optionally of one user, older than the event `before` (a page
    /// cursor), at most `limit`.
    async fn activity_page(
        &self,
        user_id: Option<i64>,
        before: Option<i64>,
        limit: i64,
    ) -> Result<Vec<ActivityRecord>, StoreError> {
        let filter = ActivityFilter {
            user_id,
            before,
            ..ActivityFilter::default()
        };
        self.search_activity(&filter, limit).await
    }

    /// One activity event.
    async fn activity_event(&self, id: i64) -> Result<Option<ActivityRecord>, StoreError>;

    /// Events after the event `after`, oldest first, at most `limit` (1 to 1,000): what the
    /// live feed has not seen yet, and what a resuming subscriber missed.
    async fn activity_after(&self, after: i64, limit: i64) -> Result<Vec<ActivityRecord>, StoreError>;

    /// The events with these ids that exist, oldest first (at most 1,000 ids).
    async fn activity_by_ids(&self, ids: &[i64]) -> Result<Vec<ActivityRecord>, StoreError>;

    /// The newest event's id, 0 when there is none.
    async fn latest_activity_id(&self) -> Result<i64, StoreError>;

    /// Word of committed activity: from this process, and with PostgreSQL from every
    /// process writing to the database.
    async fn activity_wakeups(&self) -> Result<ActivityWakeups, StoreError>;

    /// Deletes events older than `before`, at most `batch` of them (so one pass never holds
    /// a long lock); returns how many went.
    async fn prune_activity(&self, before: DateTime<Utc>, batch: i64) -> Result<u64, StoreError>;

    /// Records a verdict on an event and `audit` (the activity event saying who judged it),
    /// and ends the sessions the verdict names, in one transaction. Returns how many
    /// sessions ended.
    async fn set_verdict(&self, verdict: &NewVerdict, audit: &NewActivity) -> Result<u64, StoreError>;
}

/// Sign-in throttling, and the networks an account's owner is known to use.
#[async_trait]
pub trait ThrottleStore: Send + Sync + std::fmt::Debug {
    /// Counts a sign-in attempt under every key, or refuses it, as one locked step: the
    /// rows are locked in `keys` order, each key's rule decides from its stored counter,
    /// and only when no key blocks are all counters advanced. Concurrent attempts on a
    /// key queue on its row, so none can slip past the count.
    async fn throttle_attempt(&self, keys: &[ThrottleKey], now: DateTime<Utc>) -> Result<Verdict, StoreError>;

    /// Forgets throttle counters with no failure since `before`.
    async fn prune_throttle(&self, before: DateTime<Utc>) -> Result<u64, StoreError>;

    /// Starts the named counters afresh (a check that succeeded).
    async fn clear_throttle(&self, keys: &[String]) -> Result<(), StoreError>;

    /// Whether the user has signed in from `network` since `since`.
    async fn is_known_network(&self, user_id: i64, network: &str, since: DateTime<Utc>) -> Result<bool, StoreError>;
}

/// Second factors: the authenticator app, recovery codes, and pending step-up challenges.
#[async_trait]
pub trait FactorStore: Send + Sync + std::fmt::Debug {
    /// The user's authenticator, confirmed or pending.
    async fn totp_factor(&self, user_id: i64) -> Result<Option<TotpFactor>, StoreError>;

    /// Starts (or restarts) enrolment with a new secret; `Conflict` when a confirmed
    /// authenticator exists.
    async fn begin_totp(&self, user_id: i64, secret: &str, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// Confirms the pending authenticator at `step` and replaces the recovery codes, in
    /// one transaction.
    async fn confirm_totp(
        &self,
        user_id: i64,
        step: i64,
        code_hashes: &[String],
        now: DateTime<Utc>,
    ) -> Result<(), StoreError>;

    /// Counts a wrong answer against the user's confirmed authenticator, locking it when the
    /// count reaches `lock_after`; returns the factor as it now is (`None` without one).
    async fn count_factor_failure(
        &self,
        user_id: i64,
        lock_after: i64,
        now: DateTime<Utc>,
    ) -> Result<Option<TotpFactor>, StoreError>;

    /// Starts the failure count afresh and unlocks; false when there was nothing to clear.
    async fn clear_factor_failures(&self, user_id: i64) -> Result<bool, StoreError>;

    /// Records `step` as used if it is later than the last one used: a code works once,
    /// even when two requests carry it at the same moment.
    async fn use_totp_step(&self, user_id: i64, step: i64) -> Result<bool, StoreError>;

    /// Spends a recovery code, found by its keyed hash (or, among codes stored before keyed
    /// hashing, its plain one); false when it is unknown or spent.
    async fn use_recovery_code(
        &self,
        user_id: i64,
        keyed_hash: &str,
        legacy_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Replaces the recovery codes of a confirmed authenticator; false without one.
    async fn replace_recovery_codes(&self, user_id: i64, code_hashes: &[String]) -> Result<bool, StoreError>;

    /// Removes the authenticator (pending or confirmed) and its recovery codes; false when
    /// there was none.
    async fn remove_totp(&self, user_id: i64) -> Result<bool, StoreError>;

    async fn create_challenge(&self, challenge: &Challenge, now: DateTime<Utc>) -> Result<(), StoreError>;

    /// Counts an attempt at a live challenge (not consumed, not expired, under
    /// `max_attempts`) and returns it; `None` otherwise.
    async fn attempt_challenge(
        &self,
        id: &str,
        now: DateTime<Utc>,
        max_attempts: i64,
    ) -> Result<Option<Challenge>, StoreError>;

    /// Marks a challenge used; false when it already was.
    async fn consume_challenge(&self, id: &str, now: DateTime<Utc>) -> Result<bool, StoreError>;
}

/// What the risk engine learns and reads.
#[async_trait]
pub trait RiskStore: Send + Sync + std::fmt::Debug {
    /// A user's learned risk profile (JSON), if any.
    async fn risk_profile(&self, user_id: i64) -> Result<Option<String>, StoreError>;

    /// The population counts stored under `keys` (absent keys are missing from the map).
    async fn population(&self, keys: &[String]) -> Result<HashMap<String, f64>, StoreError>;

    /// Stores what an accepted event taught the engine, in one transaction: the user's
    /// profile, increments to population counts, and the session's baseline.
    async fn save_risk(&self, learned: &RiskLearning) -> Result<(), StoreError>;

    /// Failed sign-ins from `ip` since `since`: how many distinct other names failed, and
    /// how many failures named `username` since `account_since`.
    async fn failure_signals(
        &self,
        ip: &str,
        username: &str,
        since: DateTime<Utc>,
        account_since: DateTime<Utc>,
    ) -> Result<FailureSignals, StoreError>;
}

/// Server secrets and access-token signing keys.
#[async_trait]
pub trait KeyStore: Send + Sync + std::fmt::Debug {
    /// A named server secret: stores `candidate` unless one exists; returns the stored one.
    async fn ensure_secret(&self, name: &str, candidate: &str, now: DateTime<Utc>) -> Result<String, StoreError>;

    /// The current access-token signing key, if one has been stored.
    async fn current_signing_key(&self) -> Result<Option<StoredSigningKey>, StoreError>;

    /// Every stored signing key, active and retired, newest first.
    async fn signing_keys(&self) -> Result<Vec<StoredSigningKey>, StoreError>;

    /// Retires the active signing key and makes `key` the active one, in one transaction.
    async fn rotate_signing_key(&self, key: &StoredSigningKey) -> Result<(), StoreError>;

    /// Stores `key` unless a key already exists, and returns whichever key is current. Two
    /// instances starting at once end up with the same key.
    async fn ensure_signing_key(&self, key: &StoredSigningKey) -> Result<StoredSigningKey, StoreError>;
}

/// Device proofs already accepted: each is good for one request (RFC 9449 section 11.1).
#[async_trait]
pub trait ProofStore: Send + Sync + std::fmt::Debug {
    /// Records the proof `jti` of key `jkt` as used, until `expires_at`; `false` when it
    /// was used before. One conditional insert, so two instances cannot both accept it.
    async fn spend_proof(&self, jkt: &str, jti: &str, expires_at: DateTime<Utc>) -> Result<bool, StoreError>;

    /// Forgets proofs that could no longer be accepted anyway (expired before `now`).
    async fn prune_spent_proofs(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
}

/// Passkeys and the WebAuthn ceremonies in progress.
#[async_trait]
pub trait PasskeyStore: Send + Sync + std::fmt::Debug {
    /// The user's passkeys, oldest first.
    async fn passkeys(&self, user_id: i64) -> Result<Vec<PasskeyRecord>, StoreError>;

    /// The passkey with this credential id, whoever owns it.
    async fn passkey_by_credential(&self, credential_id: &str) -> Result<Option<PasskeyRecord>, StoreError>;

    /// Stores a new passkey with its activity row, in one transaction; `Conflict` when the
    /// credential id is registered already.
    async fn add_passkey(&self, passkey: &PasskeyRecord, event: &NewActivity) -> Result<(), StoreError>;

    /// Records a verified use: the time, and the credential's new record when it changed.
    /// The update is conditional on the stored record being the one verified against, so
    /// of two assertions racing with the same counter only one is recorded; false then.
    async fn record_passkey_use(&self, used: &PasskeyUse<'_>, verified_against: &str) -> Result<bool, StoreError>;

    /// Removes one of the user's passkeys with its activity row; false when the user has
    /// no passkey by that id.
    async fn remove_passkey(&self, user_id: i64, id: &str, event: &NewActivity) -> Result<bool, StoreError>;

    /// Keeps a ceremony's state until it is finished.
    async fn start_ceremony(&self, ceremony: &PasskeyCeremonyRow) -> Result<(), StoreError>;

    /// Takes the unexpired ceremony `id` started for `purpose` (deleting it: one use).
    async fn take_ceremony(
        &self,
        id: &str,
        purpose: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<PasskeyCeremonyRow>, StoreError>;

    /// Reads the unexpired ceremony `id` started for `purpose` without taking it: a step-up's,
    /// whose challenge row counts the attempts and is spent by the sign-in it completes.
    async fn peek_ceremony(
        &self,
        id: &str,
        purpose: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<PasskeyCeremonyRow>, StoreError>;

    /// Forgets ceremonies that can no longer be finished.
    async fn prune_ceremonies(&self, now: DateTime<Utc>) -> Result<u64, StoreError>;
}
