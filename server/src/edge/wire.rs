//! Records as they travel: the wire types of `app::wire` from the services' records, the
//! activity filters from what a person typed, and the cursor format. The JSON API and the
//! server functions both answer through here, so they say the same thing.

use app::wire::{
    Activity, ActivityFilters, ActivityPage, AdminUser, Decision, EventType as WireEventType, Me, Passkey, Role,
    SessionInfo, Verdict, place_label,
};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, SecondsFormat, Utc};

use crate::domain::device::Device;
use crate::domain::user::User;
use crate::storage::{ActivityFilter, ActivityRecord, EventType, PasskeyRecord, SessionRecord};

/// Events a page holds unless the caller asks for another number.
pub const DEFAULT_LIMIT: i64 = 50;
/// The most events one page may hold.
pub const MAX_LIMIT: i64 = 200;

/// What is wrong with a filter, in words for the person who typed it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterError {
    pub kind: FilterErrorKind,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterErrorKind {
    /// A value out of range or in the wrong form.
    Invalid,
    /// A `before` that is not a cursor this server made.
    Cursor,
}

impl FilterError {
    fn invalid(message: impl Into<String>) -> Self {
        Self {
            kind: FilterErrorKind::Invalid,
            message: message.into(),
        }
    }
}

/// A parsed activity query: the filter, and the page size asked for (if any).
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    pub filter: ActivityFilter,
    pub limit: Option<i64>,
}

/// Reads activity filters as typed (blank means "any"). `admin`: whether the admin filters
/// are allowed (the caller's own log takes only `limit` and `before`).
pub fn parse_filters(filters: &ActivityFilters, limit: Option<&str>, admin: bool) -> Result<Parsed, FilterError> {
    let present = |v: &str| Some(v.trim()).filter(|v| !v.is_empty()).map(str::to_owned);
    let admin_only = [
        &filters.user,
        &filters.event_type,
        &filters.min_risk,
        &filters.since,
        &filters.until,
    ];
    if !admin && admin_only.into_iter().any(|v| present(v).is_some()) {
        return Err(FilterError::invalid("Only limit and before apply to your own activity"));
    }
    let limit = match limit.and_then(present) {
        None => None,
        Some(raw) => Some(
            raw.parse::<i64>()
                .ok()
                .filter(|n| (1..=MAX_LIMIT).contains(n))
                .ok_or_else(|| FilterError::invalid(format!("limit must be a whole number from 1 to {MAX_LIMIT}")))?,
        ),
    };
    let before = match present(&filters.before) {
        None => None,
        Some(raw) => Some(parse_cursor(&raw).ok_or_else(|| FilterError {
            kind: FilterErrorKind::Cursor,
            message: "The cursor is not valid".to_owned(),
        })?),
    };
    let event_type = match present(&filters.event_type) {
        None => None,
        Some(raw) => Some(EventType::parse(&raw).ok_or_else(|| {
            let known: Vec<&str> = EventType::ALL.iter().map(|e| e.as_str()).collect();
            FilterError::invalid(format!("event_type must be one of {}", known.join(", ")))
        })?),
    };
    let min_risk = match present(&filters.min_risk) {
        None => None,
        Some(raw) => Some(
            raw.parse::<f64>()
                .ok()
                .filter(|r| (0.0..=1.0).contains(r))
                .ok_or_else(|| FilterError::invalid("min_risk must be a number from 0 to 1"))?,
        ),
    };
    let time = |name: &str, raw: Option<String>| -> Result<Option<DateTime<Utc>>, FilterError> {
        raw.map(|raw| {
            DateTime::parse_from_rfc3339(&raw)
                .map(|t| t.with_timezone(&Utc))
                .map_err(|_| {
                    FilterError::invalid(format!("{name} must be an RFC 3339 time, like 2026-01-31T12:00:00Z"))
                })
        })
        .transpose()
    };
    let since = time("since", present(&filters.since))?;
    let until = time("until", present(&filters.until))?;
    if let (Some(since), Some(until)) = (since, until)
        && since >= until
    {
        return Err(FilterError::invalid("since must be earlier than until"));
    }
    Ok(Parsed {
        filter: ActivityFilter {
            user_id: None,
            username: present(&filters.user).map(|u| u.to_lowercase()),
            event_type,
            min_risk,
            since,
            until,
            before,
        },
        limit,
    })
}

/// A page of events and the cursor of the next one. One extra row says whether another
/// page exists.
pub fn page(mut events: Vec<ActivityRecord>, limit: i64) -> ActivityPage {
    let next = (events.len() as i64 > limit).then(|| {
        events.truncate(limit as usize);
        events.last().map(|e| cursor(e.id))
    });
    ActivityPage {
        items: events.into_iter().map(activity).collect(),
        next: next.flatten(),
    }
}

/// One event as the API and the pages show it.
pub fn activity(event: ActivityRecord) -> Activity {
    Activity {
        risk_reasons: event.reasons(),
        device: device_label(&event),
        id: event.id,
        user_id: event.user_id,
        username: event.username,
        event_type: WireEventType::parse(&event.event_type),
        ip: event.ip_address,
        country: event.geolocation_country,
        city: event.geolocation_city,
        latitude: event.latitude,
        longitude: event.longitude,
        accuracy_radius_km: event.accuracy_radius_km,
        asn: event.asn,
        asn_org: event.asn_org,
        risk_score: event.risk_score,
        decision: Decision::parse(&event.decision),
        verdict: event.verdict.as_deref().map(Verdict::parse),
        created_at: rfc3339(event.created_at),
        device_proven: event.device_proven,
    }
}

/// "Firefox on Windows", from the stored parse when there is one (older rows: parse now).
fn device_label(event: &ActivityRecord) -> String {
    match (&event.device_browser, &event.device_os) {
        (Some(browser), Some(os)) => format!("{browser} on {os}"),
        _ => Device::parse(&event.device_info).label(),
    }
}

/// A session as the Devices page and the review panel show it; `current` names the
/// caller's own.
pub fn session_info(s: SessionRecord, current: Option<&str>) -> SessionInfo {
    SessionInfo {
        current: current == Some(s.id.as_str()),
        device: Device::parse(&s.device_info).label(),
        place: place_label(s.city.as_deref(), s.country.as_deref()),
        ip: s.ip_address,
        created_at: rfc3339(s.created_at),
        last_used_at: rfc3339(s.last_used_at),
        device_bound: s.device_bound,
        id: s.id,
    }
}

/// An account as the console shows it to the administrator `caller_id`.
pub fn admin_user(user: &User, caller_id: i64) -> AdminUser {
    AdminUser {
        id: user.id,
        username: user.username.clone(),
        email: user.email.clone(),
        is_active: user.is_active,
        is_admin: user.is_admin,
        created_at: rfc3339(user.created_at),
        you: user.id == caller_id,
    }
}

/// The signed-in user, with when their access token expires (Unix seconds).
/// A passkey as its owner (or an administrator) sees it: never the credential itself.
pub fn passkey(record: PasskeyRecord) -> Passkey {
    Passkey {
        id: record.id,
        name: record.name,
        created_at: rfc3339(record.created_at),
        last_used_at: record.last_used_at.map(rfc3339),
        backed_up: record.backed_up,
        backup_eligible: record.backup_eligible,
    }
}

pub fn me(user: &User, access_expires_at: i64) -> Me {
    Me {
        access_expires_at,
        id: user.id,
        username: user.username.clone(),
        email: user.email.clone(),
        role: if user.is_admin { Role::Admin } else { Role::User },
        is_active: user.is_active,
    }
}

/// The API's time format: RFC 3339, UTC, whole seconds.
pub fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A page cursor: an id, opaque to clients.
pub fn cursor(id: i64) -> String {
    URL_SAFE_NO_PAD.encode(id.to_string())
}

/// The id inside a cursor, if it is one.
pub fn parse_cursor(raw: &str) -> Option<i64> {
    let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
    std::str::from_utf8(&bytes)
        .ok()?
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
}
