//! The rows the store reads and writes.

use std::fmt;

use chrono::{DateTime, Utc};

use crate::domain::device::Device;
use crate::domain::geo::Place;
use crate::domain::user::User;

/// What an activity event records. Stored as its snake_case name (../shared/API.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    LoginSucceeded,
    LoginFailed,
    Refresh,
    RefreshReused,
    /// A refresh of a device-bound session without a valid proof from its key: a copied
    /// token or cookie jar, refused.
    RefreshUnbound,
    Logout,
    SessionRevoked,
    StepUpRequired,
    LoginBlocked,
    PasswordChanged,
    UserUpdated,
}

impl EventType {
    pub const ALL: [EventType; 11] = [
        EventType::LoginSucceeded,
        EventType::LoginFailed,
        EventType::Refresh,
        EventType::RefreshReused,
        EventType::RefreshUnbound,
        EventType::Logout,
        EventType::SessionRevoked,
        EventType::StepUpRequired,
        EventType::LoginBlocked,
        EventType::PasswordChanged,
        EventType::UserUpdated,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            EventType::LoginSucceeded => "login_succeeded",
            EventType::LoginFailed => "login_failed",
            EventType::Refresh => "refresh",
            EventType::RefreshReused => "refresh_reused",
            EventType::RefreshUnbound => "refresh_unbound",
            EventType::Logout => "logout",
            EventType::SessionRevoked => "session_revoked",
            EventType::StepUpRequired => "step_up_required",
            EventType::LoginBlocked => "login_blocked",
            EventType::PasswordChanged => "password_changed",
            EventType::UserUpdated => "user_updated",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|e| e.as_str() == name)
    }
}

impl fmt::Display for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What was decided about the attempt an event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Allow,
    /// Wrong credentials, an invalid token: refused on the facts.
    Deny,
    /// Refused unheard: too many recent failures.
    Throttle,
    /// A second factor was asked for.
    Challenge,
    /// Refused by the risk policy, or a stolen token caught.
    Block,
}

impl Decision {
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
            Decision::Throttle => "throttle",
            Decision::Challenge => "challenge",
            Decision::Block => "block",
        }
    }
}

/// An activity event about to be written.
#[derive(Debug, Clone)]
pub struct NewActivity {
    pub user_id: Option<i64>,
    /// The name the event is about; for a failed sign-in, the name that was tried.
    pub username: Option<String>,
    pub event_type: EventType,
    pub ip_address: String,
    /// The User-Agent as sent (bounded), and what was parsed out of it.
    pub device_info: String,
    pub device: Device,
    pub place: Place,
    pub risk_score: f64,
    pub risk_reasons: Vec<String>,
    pub decision: Decision,
    pub created_at: DateTime<Utc>,
    /// The client proved the session's device key (see `service::proofs`).
    pub device_proven: bool,
}

/// A stored activity event.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct ActivityRecord {
    pub id: i64,
    pub user_id: Option<i64>,
    pub username: Option<String>,
    pub event_type: String,
    pub ip_address: String,
    pub device_info: String,
    pub device_browser: Option<String>,
    pub device_os: Option<String>,
    pub device_type: Option<String>,
    pub risk_score: f64,
    /// A JSON array of reason codes.
    pub risk_reasons: String,
    pub decision: String,
    pub geolocation_country: Option<String>,
    pub geolocation_city: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub accuracy_radius_km: Option<i32>,
    pub asn: Option<i64>,
    pub asn_org: Option<String>,
    /// "not_me", "legitimate" or "compromised", once someone has said.
    pub verdict: Option<String>,
    pub created_at: DateTime<Utc>,
    pub device_proven: bool,
}

impl ActivityRecord {
    pub fn reasons(&self) -> Vec<String> {
        serde_json::from_str(&self.risk_reasons).unwrap_or_default()
    }
}

/// Which events the admin search wants; every filter is optional.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ActivityFilter {
    /// Events of one user (by id): "My activity".
    pub user_id: Option<i64>,
    /// Events naming this username (including failed sign-ins that tried it).
    pub username: Option<String>,
    pub event_type: Option<EventType>,
    pub min_risk: Option<f64>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Keyset cursor: only events with a smaller id.
    pub before: Option<i64>,
}

/// The first refresh token of a new session. Only its hash is ever stored.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub user_id: i64,
    pub session_id: String,
    pub token_hash: String,
    pub device_info: String,
    /// The hash of the browser's device cookie, when it has one (see `SpentToken`).
    pub device_hash: Option<String>,
    pub ip_address: String,
    pub created_at: DateTime<Utc>,
    /// The session's absolute end.
    pub expires_at: DateTime<Utc>,
    /// The first token's end: the idle timeout, within the session's lifetime.
    pub token_expires_at: DateTime<Utc>,
    pub country: Option<String>,
    pub city: Option<String>,
    /// The client's address as throttling keys it (IPv4, or IPv6 /64), remembered as one
    /// the owner signs in from (the `known_networks` table keeps its older name).
    pub known_network: String,
    /// Throttle keys to clear (this account from this address) and to give back the count
    /// the attempt took (the address-wide and account-wide keys).
    pub throttle_clear: Vec<String>,
    pub throttle_refund: Vec<String>,
    /// The device key the session is bound to, when the client proved one at sign-in.
    pub device_key: Option<BoundKey>,
}

/// A session's device key: the public JWK as stored and its RFC 7638 thumbprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundKey {
    pub jwk: String,
    pub jkt: String,
}

/// A signing key as stored: the secret base64-encoded. `Debug` hides it.
#[derive(Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct StoredSigningKey {
    pub kid: String,
    pub algorithm: String,
    pub secret: String,
    pub created_at: DateTime<Utc>,
}

impl fmt::Debug for StoredSigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredSigningKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
            .field("secret", &"<redacted>")
            .field("created_at", &self.created_at)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_names_round_trip() {
        for event in EventType::ALL {
            assert_eq!(EventType::parse(event.as_str()), Some(event));
        }
        assert_eq!(EventType::parse("nope"), None);
    }
}

/// What one accepted event taught the risk engine, to store at once.
#[derive(Debug, Clone)]
pub struct RiskLearning {
    pub user_id: i64,
    pub profile: String,
    pub population: Vec<(String, f64)>,
    /// The session's new baseline, if the event belongs to one.
    pub session: Option<StoredBaseline>,
    pub now: DateTime<Utc>,
}

/// A session's risk baseline (JSON), as the engine last left it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredBaseline {
    pub session_id: String,
    pub baseline: String,
}

/// A verdict on one activity event, by its owner ("this wasn't me") or an administrator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewVerdict {
    NotMe,
    Legitimate,
    Compromised,
}

impl ReviewVerdict {
    /// The stored name, also the revocation reason of the sessions it ends.
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewVerdict::NotMe => "not_me",
            ReviewVerdict::Legitimate => "legitimate",
            ReviewVerdict::Compromised => "compromised",
        }
    }
}

/// A verdict to record, and the sessions it ends.
#[derive(Debug, Clone)]
pub struct NewVerdict {
    pub event_id: i64,
    pub verdict: ReviewVerdict,
    /// The username of whoever judged.
    pub by: String,
    pub at: DateTime<Utc>,
    /// Sessions to end with the verdict (someone else got in).
    pub revoke: Option<RevokeSessions>,
}

/// Every live session of a user but one.
#[derive(Debug, Clone)]
pub struct RevokeSessions {
    pub user_id: i64,
    /// The session to keep (the one reporting), if any.
    pub except: Option<String>,
}

/// Failed sign-ins from one address, as the risk engine reads them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FailureSignals {
    /// Distinct other names that failed from the address.
    pub other_names: i64,
    /// Failures that named this account, in the shorter account window.
    pub account_failures: i64,
}

/// A session (token family) as the Devices page shows it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SessionRecord {
    pub id: String,
    pub user_id: i64,
    pub device_info: String,
    pub ip_address: String,
    pub country: Option<String>,
    pub city: Option<String>,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Whether the session is bound to a device key (its refreshes must prove it).
    pub device_bound: bool,
}

/// One refresh: spend `presented_hash`, issue `successor_hash` in the same session.
#[derive(Debug, Clone)]
pub struct Rotation {
    pub presented_hash: String,
    pub successor_hash: String,
    pub now: DateTime<Utc>,
    /// The successor expires after this much idleness, but never after the session does.
    pub idle_timeout: chrono::Duration,
    pub device_info: String,
    /// The hash of the client's device cookie, when it has one.
    pub device_hash: Option<String>,
    pub ip_address: String,
    pub country: Option<String>,
    pub city: Option<String>,
    /// The session's new risk baseline (JSON), written with the rotation when the refresh
    /// taught the engine nothing else; `None` leaves the stored one.
    pub risk_baseline: Option<String>,
}

/// The session a refresh token belongs to, and its user.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RefreshContext {
    pub session_id: String,
    pub risk_baseline: Option<String>,
    /// The thumbprint of the device key the session is bound to; `None`: never bound.
    pub device_jkt: Option<String>,
    /// That key, as stored (DBSC refresh proofs name no key: they are checked with it).
    pub device_key: Option<String>,
    #[sqlx(flatten)]
    pub user: User,
}

/// What became of a rotation attempt.
#[derive(Debug, Clone, PartialEq)]
pub enum RotateOutcome {
    /// The token was live and is now spent; its successor is stored.
    Rotated { user_id: i64, session_id: String },
    /// Nothing changed. `None`: no such token.
    NotRotated(Option<SpentToken>),
}

/// A refresh token that could not be spent, and what is known about it, for the caller
/// to tell a retry inside the grace window from a replay.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SpentToken {
    pub user_id: i64,
    pub session_id: String,
    pub spent_at: Option<DateTime<Utc>>,
    pub successor_hash: Option<String>,
    /// The successor is neither spent, revoked nor expired, and its session is live.
    pub successor_live: bool,
    /// Who received the successor (the client that spent this token).
    pub successor_device: Option<String>,
    pub successor_ip: Option<String>,
    /// The successor's browser, by its device cookie's hash (none without a cookie).
    pub successor_device_hash: Option<String>,
}

/// A user's authenticator, as stored.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct TotpFactor {
    /// Base32. (At rest in the database: whoever can read the database can also read the
    /// password hashes; see ARCHITECTURE.md.)
    pub secret: String,
    pub confirmed_at: Option<DateTime<Utc>>,
    pub last_step: Option<i64>,
    /// Wrong answers in a row, across challenges.
    pub failures: i64,
    /// Set when the failures reached the limit: no authenticator code is accepted until a
    /// recovery code is used or an administrator unlocks it.
    pub locked_at: Option<DateTime<Utc>>,
}

/// A pending step-up: the password was right, the risk asks for a second factor.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Challenge {
    pub id: String,
    pub user_id: i64,
    pub expires_at: DateTime<Utc>,
    pub attempts: i64,
    pub risk_score: f64,
    /// A JSON array.
    pub risk_reasons: String,
}

/// A user's passkey as stored: the credential webauthn-rs verifies against, and what the
/// Security page shows.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct PasskeyRecord {
    pub id: String,
    pub user_id: i64,
    /// Base64url, unique across every account.
    pub credential_id: String,
    /// The WebAuthn user id (a UUID) the credential was made for.
    pub user_handle: String,
    pub name: String,
    /// webauthn-rs's record of the credential (JSON): public key, counter, flags.
    pub credential: String,
    pub backup_eligible: bool,
    pub backed_up: bool,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A passkey assertion that verified: when it was used, and the credential's record and
/// flags where the authenticator changed them.
#[derive(Debug, Clone)]
pub struct PasskeyUse<'a> {
    pub id: &'a str,
    pub used_at: DateTime<Utc>,
    pub credential: Option<&'a str>,
    pub backed_up: bool,
}

/// A WebAuthn ceremony in progress, kept until it is finished or expires.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct PasskeyCeremonyRow {
    pub id: String,
    /// `sign_in`, `register` or `step_up`: a ceremony finishes only what it was started for.
    pub purpose: String,
    /// Who started it (registration, step-up); none for a sign-in.
    pub user_id: Option<i64>,
    /// webauthn-rs's state (JSON), with the challenge.
    pub state: String,
    pub expires_at: DateTime<Utc>,
}
