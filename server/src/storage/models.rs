//! The rows the store reads and writes.

use std::fmt;

use chrono::{DateTime, Utc};

/// What an activity event records. Stored as its snake_case name (../shared/API.md).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    LoginSucceeded,
    LoginFailed,
    Refresh,
    RefreshReused,
    Logout,
    SessionRevoked,
    StepUpRequired,
    LoginBlocked,
    PasswordChanged,
    UserUpdated,
}

impl EventType {
    pub const ALL: [EventType; 10] = [
        EventType::LoginSucceeded,
        EventType::LoginFailed,
        EventType::Refresh,
        EventType::RefreshReused,
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

/// An activity event about to be written.
#[derive(Debug, Clone)]
pub struct NewActivity {
    pub user_id: Option<i64>,
    /// The name the event is about; for a failed sign-in, the name that was tried.
    pub username: Option<String>,
    pub event_type: EventType,
    pub ip_address: String,
    pub device_info: String,
    pub risk_score: f64,
    pub geolocation_country: Option<String>,
    pub geolocation_city: Option<String>,
    pub created_at: DateTime<Utc>,
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
    pub risk_score: f64,
    pub geolocation_country: Option<String>,
    pub geolocation_city: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// The first refresh token of a new session. Only its hash is ever stored.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub user_id: i64,
    pub session_id: String,
    pub token_hash: String,
    pub device_info: String,
    pub ip_address: String,
    pub created_at: DateTime<Utc>,
    /// The session's absolute end.
    pub expires_at: DateTime<Utc>,
    /// The first token's end: the idle timeout, within the session's lifetime.
    pub token_expires_at: DateTime<Utc>,
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

/// A session (token family) as the Devices page shows it.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct SessionRecord {
    pub id: String,
    pub user_id: i64,
    pub device_info: String,
    pub ip_address: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
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
    pub ip_address: String,
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
}
