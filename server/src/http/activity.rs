//! The activity log over HTTP: `GET /api/activity` (the caller's own events),
//! `GET /api/admin/activity` (every user's, filtered) and its CSV export
//! `GET /api/admin/activity.csv`, also served at `/admin/activity.csv` for the signed-in
//! browser (access cookie instead of bearer).
//!
//! Pages are newest first. The cursor is opaque to clients (an event id, base64url) and
//! pages stay stable while new events arrive. The CSV export walks the same query a page
//! at a time and streams it, so its size is not bounded by memory.

use app::wire::{ActivityFilters, ActivityPage};
use axum::Json;
use axum::body::Body;
use axum::extract::{RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::domain::client::ClientInfo;
use crate::service::EventVerdict;

use super::extract::{PathSegment, SessionsEnded, json_body, path_id};
use super::{ApiError, AppState, Authenticated};
use crate::edge::wire::{self, DEFAULT_LIMIT, Parsed, page, parse_filters};
use crate::service::Principal;
use crate::storage::{ActivityFilter, ActivityRecord};

/// Rows fetched per round trip while streaming a CSV export.
const CSV_PAGE: i64 = 1000;

/// The query of every activity endpoint. Unknown parameters are refused, so a misspelt
/// filter is a 400 instead of a silently wider result.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ActivityQuery {
    limit: Option<String>,
    before: Option<String>,
    user: Option<String>,
    event_type: Option<String>,
    min_risk: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

/// Reads the query string, with 400s that say what is wrong. `admin`: whether the admin
/// filters are allowed (the caller's own log takes only `limit` and `before`).
pub(crate) fn parse_query(raw: Option<&str>, admin: bool) -> Result<Parsed, ApiError> {
    let query: ActivityQuery = serde_urlencoded::from_str(raw.unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("The query string is not valid: {e}")))?;
    let filters = ActivityFilters {
        user: query.user.unwrap_or_default(),
        event_type: query.event_type.unwrap_or_default(),
        min_risk: query.min_risk.unwrap_or_default(),
        since: query.since.unwrap_or_default(),
        until: query.until.unwrap_or_default(),
        before: query.before.unwrap_or_default(),
    };
    Ok(parse_filters(&filters, query.limit.as_deref(), admin)?)
}

pub async fn mine(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    RawQuery(raw): RawQuery,
) -> Result<Json<ActivityPage>, ApiError> {
    let query = parse_query(raw.as_deref(), false)?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    let events = state
        .services
        .activity
        .mine(&caller, query.filter.before, limit + 1)
        .await?;
    Ok(Json(page(events, limit)))
}

pub async fn admin_search(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    RawQuery(raw): RawQuery,
) -> Result<Json<ActivityPage>, ApiError> {
    let query = parse_query(raw.as_deref(), true)?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    let events = state
        .services
        .activity
        .search(&caller, &query.filter, limit + 1)
        .await?;
    Ok(Json(page(events, limit)))
}

pub async fn admin_csv(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    csv_export(state, caller, raw.as_deref()).await
}

/// The same export for the browser, which holds its access token in a cookie. A GET that
/// changes nothing, behind a `SameSite=Strict` cookie: another site cannot read it.
pub async fn admin_csv_from_browser(
    State(state): State<AppState>,
    parts: Parts,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let token = state
        .cookies
        .read_access(&parts.headers)
        .ok_or_else(ApiError::invalid_token)?;
    let caller = state.services.auth.authenticate(token).await?;
    csv_export(state, caller, raw.as_deref()).await
}

/// `POST /api/activity/{id}/not-me`: one of the caller's own events was someone else.
pub async fn not_me(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    client: ClientInfo,
    PathSegment(id): PathSegment,
) -> Result<Json<SessionsEnded>, ApiError> {
    let sessions_ended = state
        .services
        .activity
        .report_not_me(&caller, path_id(&id, "event")?, &client)
        .await?;
    Ok(Json(SessionsEnded { sessions_ended }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerdictBody {
    verdict: String,
}

/// `POST /api/admin/activity/{id}/verdict` `{"verdict": "legitimate" | "compromised"}`.
pub async fn verdict(
    State(state): State<AppState>,
    Authenticated(caller): Authenticated,
    client: ClientInfo,
    PathSegment(id): PathSegment,
    body: Result<Json<VerdictBody>, axum::extract::rejection::JsonRejection>,
) -> Result<Json<SessionsEnded>, ApiError> {
    let body = json_body(body)?;
    let verdict = EventVerdict::parse(&body.verdict)
        .ok_or_else(|| ApiError::bad_request("verdict must be legitimate or compromised"))?;
    let sessions_ended = state
        .services
        .activity
        .judge(&caller, path_id(&id, "event")?, verdict, &client)
        .await?;
    Ok(Json(SessionsEnded { sessions_ended }))
}

async fn csv_export(state: AppState, caller: Principal, raw: Option<&str>) -> Result<Response, ApiError> {
    let query = parse_query(raw, true)?;
    // The first page is fetched before answering, so a refusal (403) or a database
    // failure is a proper error status rather than a broken download.
    let first = state
        .services
        .activity
        .search(&caller, &query.filter, CSV_PAGE.min(query.limit.unwrap_or(CSV_PAGE)))
        .await?;
    let budget = query.limit.unwrap_or(i64::MAX);
    let header_row = bytes::Bytes::from_static(CSV_HEADER.as_bytes());
    let rows = futures::stream::unfold(
        CsvWalk {
            state,
            caller,
            filter: query.filter,
            pending: Some(first),
            left: budget,
        },
        next_chunk,
    );
    // Fused: the compressor asks once more after the end, which `unfold` takes for a bug.
    let body = futures::StreamExt::fuse(futures::StreamExt::chain(
        futures::stream::once(async move { Ok(header_row) }),
        rows,
    ));
    let mut response = Body::from_stream(body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/csv; charset=utf-8"),
    );
    headers.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_static("attachment; filename=\"fin-intelli-activity.csv\""),
    );
    Ok(response)
}

struct CsvWalk {
    state: AppState,
    caller: Principal,
    filter: ActivityFilter,
    /// A page already fetched and not yet written.
    pending: Option<Vec<ActivityRecord>>,
    /// Rows still allowed by `limit`.
    left: i64,
}

async fn next_chunk(mut walk: CsvWalk) -> Option<(Result<bytes::Bytes, std::io::Error>, CsvWalk)> {
    if walk.left <= 0 {
        return None;
    }
    let page = match walk.pending.take() {
        Some(page) => page,
        None => {
            let size = CSV_PAGE.min(walk.left);
            match walk
                .state
                .services
                .activity
                .search(&walk.caller, &walk.filter, size)
                .await
            {
                Ok(page) => page,
                Err(error) => {
                    tracing::error!(%error, "activity export failed midway");
                    walk.left = 0;
                    return Some((Err(std::io::Error::other("export failed")), walk));
                }
            }
        }
    };
    let last = page.last()?.id;
    walk.filter.before = Some(last);
    walk.left -= page.len() as i64;
    let mut chunk = String::with_capacity(page.len() * 160);
    for event in page {
        csv_row(&mut chunk, wire::activity(event));
    }
    Some((Ok(bytes::Bytes::from(chunk)), walk))
}

const CSV_HEADER: &str = "id,created_at,user_id,username,event_type,decision,risk_score,risk_reasons,ip,device,\
country,city,latitude,longitude,accuracy_radius_km,asn,asn_org,verdict\r\n";

fn csv_row(out: &mut String, e: app::wire::Activity) {
    let opt = |v: Option<String>| v.unwrap_or_default();
    let fields = [
        e.id.to_string(),
        e.created_at,
        opt(e.user_id.map(|v| v.to_string())),
        opt(e.username),
        e.event_type.as_str().to_owned(),
        e.decision.as_str().to_owned(),
        e.risk_score.to_string(),
        e.risk_reasons.join(";"),
        e.ip,
        e.device,
        opt(e.country),
        opt(e.city),
        opt(e.latitude.map(|v| v.to_string())),
        opt(e.longitude.map(|v| v.to_string())),
        opt(e.accuracy_radius_km.map(|v| v.to_string())),
        opt(e.asn.map(|v| v.to_string())),
        opt(e.asn_org),
        opt(e.verdict.map(|v| v.as_str().to_owned())),
    ];
    for (i, field) in fields.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        csv_field(out, field);
    }
    out.push_str("\r\n");
}

/// RFC 4180 quoting, plus a guard against formula injection: a cell an attacker chose
/// (a username tried, a user agent) that starts like a formula is prefixed with `'`, so
/// a spreadsheet shows it instead of running it (OWASP "CSV Injection").
fn csv_field(out: &mut String, field: &str) {
    let formula = field.starts_with(['=', '+', '-', '@', '\t', '\r']) && field.parse::<f64>().is_err();
    let quote = formula || field.contains([',', '"', '\n', '\r']);
    if quote {
        out.push('"');
    }
    if formula {
        out.push('\'');
    }
    for c in field.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    if quote {
        out.push('"');
    }
}

#[cfg(test)]
mod tests {
    use axum::http::StatusCode;
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;
    use crate::edge::wire::{cursor, parse_cursor, rfc3339};
    use crate::storage::EventType;

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
        let parsed = parse_query(None, false).unwrap();
        assert_eq!((parsed.filter, parsed.limit), (ActivityFilter::default(), None));
        for (bad, admin) in [
            ("limit=0", false),
            ("limit=201", false),
            ("user=alice", false),
            ("colour=red", true),
            ("event_type=login", true),
            ("min_risk=1.5", true),
            ("min_risk=NaN", true),
            ("since=yesterday", true),
            ("since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", true),
        ] {
            assert_eq!(
                parse_query(Some(bad), admin).err().map(|e| e.status),
                Some(StatusCode::BAD_REQUEST),
                "{bad}"
            );
        }
        assert_eq!(
            parse_query(Some("before=%%%"), false).err().unwrap().code,
            "invalid_cursor"
        );
        assert_eq!(
            parse_query(Some("before=zzz"), false).err().unwrap().code,
            "invalid_cursor"
        );
        let parsed = parse_query(
            Some("user=Alice&event_type=login_failed&min_risk=0.5&since=2026-01-01T00:00:00%2B01:00"),
            true,
        )
        .unwrap();
        assert_eq!(parsed.filter.username.as_deref(), Some("alice"));
        assert_eq!(parsed.filter.event_type, Some(EventType::LoginFailed));
        assert_eq!(parsed.filter.min_risk, Some(0.5));
        assert_eq!(
            parsed.filter.since.map(rfc3339).as_deref(),
            Some("2025-12-31T23:00:00Z")
        );
    }

    #[test]
    fn csv_fields_are_quoted_and_formulas_defused() {
        let cell = |s: &str| {
            let mut out = String::new();
            csv_field(&mut out, s);
            out
        };
        assert_eq!(cell("plain"), "plain");
        assert_eq!(cell("a,b"), "\"a,b\"");
        assert_eq!(cell("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(cell("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(cell("@SUM(A1)"), "\"'@SUM(A1)\"");
        assert_eq!(cell("-0.5"), "-0.5");
    }
}
