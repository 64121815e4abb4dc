//! The wire types: what the server functions, the JSON API and the pages exchange, and the
//! UI's one error type. The server builds them (`server::edge::wire`); the pages read them.

use leptos::server_fn::codec::JsonEncoding;
use leptos::server_fn::error::{FromServerFnError, ServerFnErrorErr};
use serde::{Deserialize, Serialize};

/// What a user may do. Serialised in lowercase, as in the JSON API's `role` field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    User,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::User => "user",
        }
    }
}

/// The signed-in user, as the UI and `GET /api/me` show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Me {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub role: Role,
    pub is_active: bool,
    /// When this browser's access token expires (Unix seconds), so the page can refresh it
    /// in time.
    pub access_expires_at: i64,
}

/// One of the signed-in user's sessions, as the Devices page lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SessionInfo {
    pub id: String,
    /// "Firefox on Windows".
    pub device: String,
    pub ip: String,
    /// "London, GB", "Local network", or "Unknown place".
    pub place: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub last_used_at: String,
    /// The session this browser is using.
    pub current: bool,
    /// Bound to a key the device holds: a copy of its cookies or tokens cannot renew it.
    pub device_bound: bool,
}

/// What an activity event records, as the JSON API's `event_type` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    LoginSucceeded,
    LoginFailed,
    Refresh,
    RefreshReused,
    RefreshUnbound,
    Logout,
    SessionRevoked,
    StepUpRequired,
    LoginBlocked,
    PasswordChanged,
    UserUpdated,
    /// A kind this version does not know (written by a newer instance sharing the database).
    #[serde(other)]
    Other,
}

impl EventType {
    /// Every kind, in the order the filters offer them.
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
            EventType::Other => "other",
        }
    }

    /// The kind a stored name means; `Other` for a name this version does not know.
    pub fn parse(name: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|e| e.as_str() == name)
            .unwrap_or(EventType::Other)
    }

    /// The kind in words.
    pub fn label(self) -> &'static str {
        match self {
            EventType::LoginSucceeded => "Signed in",
            EventType::LoginFailed => "Failed sign-in",
            EventType::Refresh => "Session refreshed",
            EventType::RefreshReused => "Stolen token caught",
            EventType::RefreshUnbound => "Copied session refused",
            EventType::Logout => "Signed out",
            EventType::SessionRevoked => "Session ended",
            EventType::StepUpRequired => "Second factor asked",
            EventType::LoginBlocked => "Sign-in blocked",
            EventType::PasswordChanged => "Password changed",
            EventType::UserUpdated => "Account changed",
            EventType::Other => "Other",
        }
    }

    /// Whether the risk engine judged the attempt (account changes carry notes, not risk).
    pub fn is_judged(self) -> bool {
        matches!(
            self,
            EventType::LoginSucceeded
                | EventType::LoginFailed
                | EventType::Refresh
                | EventType::RefreshReused
                | EventType::RefreshUnbound
                | EventType::StepUpRequired
                | EventType::LoginBlocked
        )
    }
}

/// What was decided about the attempt an event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Allow,
    Deny,
    Throttle,
    Challenge,
    Block,
    /// A decision this version does not know.
    #[serde(other)]
    Other,
}

impl Decision {
    const ALL: [Decision; 5] = [
        Decision::Allow,
        Decision::Deny,
        Decision::Throttle,
        Decision::Challenge,
        Decision::Block,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allow",
            Decision::Deny => "deny",
            Decision::Throttle => "throttle",
            Decision::Challenge => "challenge",
            Decision::Block => "block",
            Decision::Other => "other",
        }
    }

    pub fn parse(name: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|d| d.as_str() == name)
            .unwrap_or(Decision::Other)
    }
}

/// What someone said about an event afterwards.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The account's owner: "this wasn't me".
    NotMe,
    Legitimate,
    Compromised,
    /// A verdict this version does not know.
    #[serde(other)]
    Other,
}

impl Verdict {
    const ALL: [Verdict; 3] = [Verdict::NotMe, Verdict::Legitimate, Verdict::Compromised];

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::NotMe => "not_me",
            Verdict::Legitimate => "legitimate",
            Verdict::Compromised => "compromised",
            Verdict::Other => "other",
        }
    }

    pub fn parse(name: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == name)
            .unwrap_or(Verdict::Other)
    }

    /// The verdict in words, as a badge shows it.
    pub fn label(self) -> &'static str {
        match self {
            Verdict::NotMe => "Reported: not me",
            Verdict::Legitimate => "Marked legitimate",
            Verdict::Compromised => "Marked compromised",
            Verdict::Other => "Reviewed",
        }
    }
}

/// One activity event, exactly as the JSON API's `Activity` (../shared/API.md), so the
/// REST handlers and the pages share one type.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    pub id: i64,
    pub user_id: Option<i64>,
    pub username: Option<String>,
    pub event_type: EventType,
    pub ip: String,
    /// "Firefox on Windows".
    pub device: String,
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
    /// A city, or "Local network" for private and reserved addresses.
    pub city: Option<String>,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub accuracy_radius_km: Option<i32>,
    pub asn: Option<i64>,
    pub asn_org: Option<String>,
    pub risk_score: f64,
    pub risk_reasons: Vec<String>,
    pub decision: Decision,
    /// What someone said afterwards.
    pub verdict: Option<Verdict>,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// The client proved the session's device key (a bound session).
    #[serde(default)]
    pub device_proven: bool,
}

impl Activity {
    pub fn place(&self) -> String {
        place_label(self.city.as_deref(), self.country.as_deref())
    }
}

/// "London, GB", "Local network", or "Unknown place".
pub fn place_label(city: Option<&str>, country: Option<&str>) -> String {
    match (city, country) {
        (Some(city), Some(country)) => format!("{city}, {country}"),
        (Some(place), None) | (None, Some(place)) => place.to_owned(),
        (None, None) => "Unknown place".to_owned(),
    }
}

/// A page of events, newest first; `next` is the cursor of the following page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ActivityPage {
    pub items: Vec<Activity>,
    pub next: Option<String>,
}

/// The admin search's filters, as the query string carries them (empty = no filter).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ActivityFilters {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub user: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub event_type: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub min_risk: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub since: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub until: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub before: String,
}

/// An account as the admin console lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdminUser {
    pub id: i64,
    pub username: String,
    pub email: String,
    pub is_active: bool,
    pub is_admin: bool,
    /// RFC 3339, UTC.
    pub created_at: String,
    /// The signed-in administrator's own account (which the console will not let them
    /// deactivate or demote).
    pub you: bool,
}

/// One event under review on the live page: the account, its recent history and sessions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventReview {
    pub event: Activity,
    pub user: Option<AdminUser>,
    /// The user's latest events, newest first.
    pub history: Vec<Activity>,
    pub sessions: Vec<SessionInfo>,
}

/// The one error type of the UI layer. Its messages are safe to show: the server decides
/// which variant a failure becomes and logs the internal cause itself.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "error", content = "message", rename_all = "snake_case")]
pub enum AppError {
    #[error("Invalid username or password")]
    InvalidCredentials,
    #[error("Please sign in")]
    NotSignedIn,
    #[error("The current password is not correct")]
    WrongCurrentPassword,
    #[error("That session no longer exists")]
    NotFound,
    #[error("Too many attempts. Try again in {0} seconds.")]
    TooManyAttempts(i64),
    #[error("Too many sign-ins are in progress from your network right now. Try again in a moment.")]
    Busy,
    #[error(
        "Your authenticator is locked after too many wrong codes. Use a recovery code, or ask an administrator to unlock it."
    )]
    FactorLocked,
    #[error("Enter your current password to continue.")]
    ReauthenticationRequired,
    #[error("Only administrators can see this page")]
    Forbidden,
    #[error("Confirm it is you with your passkey, your authenticator app or a recovery code")]
    StepUpRequired(StepUpChallenge),
    #[error("That code is not valid. Try the current one from your app, or a recovery code.")]
    InvalidCode,
    #[error("That passkey could not be verified. Try again, or use another way.")]
    InvalidPasskey,
    #[error("{0}")]
    BadRequest(String),
    #[error("The service is temporarily unavailable. Please try again in a moment.")]
    Unavailable,
    #[error("Something went wrong on our side. Please try again.")]
    Internal,
    #[error("Could not reach the server. Check your connection and try again.")]
    Network,
}

impl AppError {
    /// The HTTP status a server function answers with when it fails this way.
    pub fn status(&self) -> u16 {
        match self {
            AppError::InvalidCredentials
            | AppError::NotSignedIn
            | AppError::StepUpRequired(_)
            | AppError::InvalidCode
            | AppError::FactorLocked => 401,
            AppError::BadRequest(_) | AppError::WrongCurrentPassword | AppError::InvalidPasskey => 400,
            AppError::NotFound => 404,
            AppError::TooManyAttempts(_) | AppError::Busy => 429,
            AppError::Forbidden | AppError::ReauthenticationRequired => 403,
            AppError::Unavailable => 503,
            AppError::Internal | AppError::Network => 500,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Request(_) | ServerFnErrorErr::Response(_) => AppError::Network,
            ServerFnErrorErr::Args(_) | ServerFnErrorErr::MissingArg(_) => {
                AppError::BadRequest("The form was incomplete or malformed.".into())
            }
            _ => AppError::Internal,
        }
    }
}

/// A risky sign-in's second step: the challenge to answer, and, when the user has passkeys,
/// the WebAuthn request options (`PublicKeyCredentialRequestOptionsJSON`, as JSON text)
/// that answer it with one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StepUpChallenge {
    pub challenge_id: String,
    pub passkey: Option<String>,
}

/// A WebAuthn ceremony the server started: its challenge's id and the options for
/// `navigator.credentials` (creation or request options, WebAuthn Level 3's JSON form, as
/// JSON text).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PasskeyCeremony {
    pub challenge_id: String,
    pub options: String,
}

/// One of the user's passkeys, as the Security page and the JSON API show it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Passkey {
    pub id: String,
    pub name: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub last_used_at: Option<String>,
    /// Synced: the authenticator says the key is backed up (a password manager, a phone
    /// platform's keychain), so it survives the loss of this device.
    pub backed_up: bool,
    /// The key may be synced, though it is not (yet).
    pub backup_eligible: bool,
}

/// An authenticator being enrolled: the secret and its QR code (SVG).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotpSetup {
    pub secret: String,
    pub qr_svg: String,
}

/// Only paths on this site: `/x`, not `//evil.example` or `/\evil.example` (open
/// redirects). The server's resume and the sign-in page's renewal both go only there.
pub fn is_local_path(next: &str) -> bool {
    next.starts_with('/') && !next.starts_with("//") && !next.contains('\\') && !next.chars().any(char::is_control)
}
