//! Words and times as every page shows them.

/// Every event type the log holds, in the order the filters offer them.
pub const EVENT_TYPES: [&str; 10] = [
    "login_succeeded",
    "login_failed",
    "refresh",
    "refresh_reused",
    "logout",
    "session_revoked",
    "step_up_required",
    "login_blocked",
    "password_changed",
    "user_updated",
];

/// An event type in words.
pub fn event_label(event_type: &str) -> &'static str {
    match event_type {
        "login_succeeded" => "Signed in",
        "login_failed" => "Failed sign-in",
        "refresh" => "Session refreshed",
        "refresh_reused" => "Stolen token caught",
        "logout" => "Signed out",
        "session_revoked" => "Session ended",
        "step_up_required" => "Second factor asked",
        "login_blocked" => "Sign-in blocked",
        "password_changed" => "Password changed",
        "user_updated" => "Account changed",
        _ => "Other",
    }
}

/// "2026-11-25 07:12 UTC" from an RFC 3339 UTC string.
pub fn short_time(rfc3339: &str) -> String {
    match (rfc3339.get(..10), rfc3339.get(11..16)) {
        (Some(date), Some(time)) => format!("{date} {time} UTC"),
        _ => rfc3339.to_owned(),
    }
}
