//! `GET /api/activity?limit=&before=`: the caller's own events, newest first, a page at a
//! time. The cursor is opaque to clients (an event id, base64url) and pages stay stable
//! while new events arrive.

use axum::Json;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::SecondsFormat;
use serde::{Deserialize, Serialize};

use super::{ApiError, AppState, Authenticated};
use crate::domain::device::Device;
use crate::storage::ActivityRecord;

const DEFAULT_LIMIT: i64 = 50;
const MAX_LIMIT: i64 = 200;

#[derive(Deserialize, Default)]
struct PageQuery {
    limit: Option<String>,
    before: Option<String>,
}

/// One event, as ../shared/API.md's `Activity`.
#[derive(Serialize)]
pub struct ActivityView {
    id: i64,
    user_id: Option<i64>,
    username: Option<String>,
    event_type: String,
    ip: String,
    device: String,
    country: Option<String>,
    city: Option<String>,
    latitude: Option<f64>,
    longitude: Option<f64>,
    asn: Option<i64>,
    risk_score: f64,
    risk_reasons: Vec<String>,
    decision: Option<String>,
    created_at: String,
}

impl From<ActivityRecord> for ActivityView {
    fn from(event: ActivityRecord) -> Self {
        Self {
            id: event.id,
            user_id: event.user_id,
            username: event.username,
            event_type: event.event_type,
            ip: event.ip_address,
            device: Device::parse(&event.device_info).label(),
            country: event.geolocation_country,
            city: event.geolocation_city,
            // Geolocation coordinates, ASN, reasons and decisions arrive with the
            // geolocation and risk-engine work; until then they are honestly empty.
            latitude: None,
            longitude: None,
            asn: None,
            risk_score: event.risk_score,
            risk_reasons: Vec::new(),
            decision: None,
            created_at: event.created_at.to_rfc3339_opts(SecondsFormat::Secs, true),
        }
    }
}

#[derive(Serialize)]
pub struct Page {
    items: Vec<ActivityView>,
    next: Option<String>,
}

pub fn cursor(id: i64) -> String {
    URL_SAFE_NO_PAD.encode(id.to_string())
}

fn parse_cursor(raw: &str) -> Option<i64> {
    let bytes = URL_SAFE_NO_PAD.decode(raw).ok()?;
    std::str::from_utf8(&bytes)
        .ok()?
        .parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
}

/// Reads `limit` and `before`, with 400s that say what is wrong.
fn page_query(raw: Option<&str>) -> Result<(Option<i64>, i64), ApiError> {
    let query: PageQuery = serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|_| ApiError::bad_request("The query string is malformed"))?;
    let limit = match query.limit.as_deref() {
        None | Some("") => DEFAULT_LIMIT,
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|n| (1..=MAX_LIMIT).contains(n))
            .ok_or_else(|| ApiError::bad_request(format!("limit must be a whole number from 1 to {MAX_LIMIT}")))?,
    };
    let before = match query.before.as_deref() {
        None | Some("") => None,
        Some(raw) => Some(
            parse_cursor(raw)
                .ok_or_else(|| ApiError::new(StatusCode::BAD_REQUEST, "invalid_cursor", "The cursor is not valid"))?,
        ),
    };
    Ok((before, limit))
}

pub async fn mine(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    RawQuery(raw): RawQuery,
) -> Result<Json<Page>, ApiError> {
    let (before, limit) = page_query(raw.as_deref())?;
    // One extra row says whether another page exists.
    let mut events = state.auth.my_activity(&caller, before, limit + 1).await?;
    let next = (events.len() as i64 > limit).then(|| {
        events.truncate(limit as usize);
        events.last().map(|e| cursor(e.id))
    });
    Ok(Json(Page {
        items: events.into_iter().map(ActivityView::from).collect(),
        next: next.flatten(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        assert_eq!(parse_cursor(&cursor(12345)), Some(12345));
        for bad in [
            "",
            "!!!",
            "LTE",
            &URL_SAFE_NO_PAD.encode("abc"),
            &URL_SAFE_NO_PAD.encode("0"),
        ] {
            assert_eq!(parse_cursor(bad), None, "{bad}");
        }
    }

    #[test]
    fn query_errors_are_400s() {
        assert_eq!(page_query(None).unwrap(), (None, DEFAULT_LIMIT));
        assert_eq!(page_query(Some("limit=0")).unwrap_err().status, StatusCode::BAD_REQUEST);
        assert_eq!(
            page_query(Some("limit=201")).unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
        assert_eq!(page_query(Some("before=%%%")).unwrap_err().code, "invalid_cursor");
        assert_eq!(page_query(Some("before=zzz")).unwrap_err().code, "invalid_cursor");
    }
}
