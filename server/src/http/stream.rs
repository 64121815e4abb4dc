//! `GET /api/admin/stream`: the activity log as it happens, as server-sent events.
//!
//! Each event is `event: activity`, `id: <event id>`, `data: <Activity JSON>` (the shape
//! of `GET /api/admin/activity`). A client that reconnects with `Last-Event-ID` (or, for a
//! fresh `EventSource` that cannot set headers, `?last_event_id=`) first gets every event
//! it missed, from the log, then the live ones; a client too far behind for that
//! (over [`MAX_REPLAY`] events) gets `event: reset` and should reload its history.
//!
//! The caller is checked again every [`RECHECK`], and at once (from the database) when an
//! event about them that can take their access away passes by: a stream ends when its
//! access token expires or its session is revoked, or its user is deactivated or no longer
//! an admin, and the client reconnects with fresh credentials. Those events come through
//! the feed from every instance, so a demotion made anywhere ends the stream as soon as it
//! is delivered, not up to [`RECHECK`] later. Bearer token or the access cookie (the
//! browser's `EventSource` sends cookies, not headers).
//!
//! An instance serves a bounded number of streams, in all and per admin
//! ([`crate::service::feed::StreamLimits`]); beyond either, 429 `too_many_streams`. A stream
//! holds its place until it ends, however it ends.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, watch};
use tokio::time::Instant;

use super::extract::bearer_token;
use super::{ApiError, AppState};
use crate::service::Fault;
use crate::service::feed::{self, Delivered, Published, StreamRefused, StreamSlot};
use crate::storage::{ActivityRecord, Decision, EventType};

/// Comment lines on an idle stream, so proxies and browsers keep it open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// How often a stream's caller is checked again.
const RECHECK: Duration = Duration::from_secs(15);
/// The most events a reconnecting client is sent from the log.
pub const MAX_REPLAY: i64 = 10_000;
/// Ids a subscriber remembers after reading from the log: what the live channel (1,024
/// events) and one page (500) can still repeat.
const REPLAY_MEMORY: usize = 2048;
/// The reconnect delay suggested to `EventSource`.
const RETRY: Duration = Duration::from_secs(2);

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct StreamQuery {
    last_event_id: Option<String>,
}

/// Where the stream is served.
pub const PATH: &str = "/api/admin/stream";

pub async fn admin_stream(
    State(state): State<AppState>,
    parts: Parts,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let token = bearer_token(&parts.headers)
        .or_else(|| state.cookies.read_access(&parts.headers))
        .ok_or_else(ApiError::invalid_token)?
        .to_owned();
    let caller = state.services.auth.authenticate(&token).await?;
    caller.require_admin()?;
    let resume = resume_point(&parts, raw.as_deref())?;
    let slot = state.feed.streams.open(caller.user.id).map_err(too_many_streams)?;

    // Subscribe before reading the log, so nothing falls between the two.
    let rx = state.feed.subscribe();
    let (replay_from, start) = match resume {
        None => (None, Some(Event::default().retry(RETRY).comment("live"))),
        Some(after) if state.feed.newest_id().await.map_err(Fault::from)? - after > MAX_REPLAY => {
            // Too far behind to catch up event by event: the client reloads its history.
            let reset = Event::default()
                .retry(RETRY)
                .event("reset")
                .data(r#"{"reason":"too_far_behind"}"#);
            (None, Some(reset))
        }
        Some(after) => (Some(after), Some(Event::default().retry(RETRY).comment("live"))),
    };
    // A client resuming from an id has everything up to it: an older event the live
    // channel still brings (published after this subscription began) is not sent again.
    let subscription = Subscription {
        rx,
        stopping: state.feed.stopping(),
        replay_from,
        replayed: resume.map(|after| Delivered::after(after, REPLAY_MEMORY)),
        replayed_up_to: resume.unwrap_or(0),
        last_sent: resume.unwrap_or(0),
        queue: VecDeque::new(),
        recheck_at: Instant::now() + RECHECK,
        greeting: start,
        caller: caller.user.id,
        state,
        token,
        _slot: slot,
    };
    let mut response = Sse::new(events(subscription))
        .keep_alive(KeepAlive::new().interval(KEEP_ALIVE))
        .into_response();
    // Reverse proxies (nginx) would otherwise buffer the stream.
    response
        .headers_mut()
        .insert("x-accel-buffering", HeaderValue::from_static("no"));
    Ok(response)
}

/// 429: the caller, or every admin together, has as many streams open as the instance allows.
fn too_many_streams(refused: StreamRefused) -> ApiError {
    let message = match refused {
        StreamRefused::UserAtLimit => "You have as many live streams open as allowed; close one (another tab?) first",
        StreamRefused::InstanceAtLimit => "The server has as many live streams open as it serves; try again later",
    };
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_streams", message)
}

/// Where to resume: the `Last-Event-ID` header (an `EventSource` reconnecting by itself)
/// or `?last_event_id=` (a page starting after the history it rendered).
fn resume_point(parts: &Parts, raw_query: Option<&str>) -> Result<Option<i64>, ApiError> {
    let query: StreamQuery = serde_urlencoded::from_str(raw_query.unwrap_or(""))
        .map_err(|e| ApiError::bad_request(format!("Bad query: {e}")))?;
    let header = match parts.headers.get("last-event-id") {
        Some(value) => Some(
            value
                .to_str()
                .map_err(|_| ApiError::bad_request("Last-Event-ID must be an event id"))?
                .to_owned(),
        ),
        None => None,
    };
    // The header is the newer word: the browser sets it from what it last received.
    match header.or(query.last_event_id).filter(|v| !v.trim().is_empty()) {
        None => Ok(None),
        Some(raw) => raw
            .trim()
            .parse::<i64>()
            .ok()
            .filter(|id| *id >= 0)
            .map(Some)
            .ok_or_else(|| ApiError::bad_request("Last-Event-ID must be an event id")),
    }
}

struct Subscription {
    state: AppState,
    token: String,
    /// The subscriber's user id: events about them trigger a recheck.
    caller: i64,
    rx: broadcast::Receiver<Arc<Published>>,
    stopping: watch::Receiver<bool>,
    /// Read the log after this id before going live.
    replay_from: Option<i64>,
    /// After reading from the log: what was sent since, so an event both read from the
    /// log and still in the live channel goes out once. Dropped once the live events have
    /// moved past everything read, so an up-to-date subscriber holds no such memory.
    replayed: Option<Delivered>,
    /// The newest event read from the log.
    replayed_up_to: i64,
    /// The newest event sent.
    last_sent: i64,
    /// Events ready to go out, at most one page.
    queue: VecDeque<Arc<Published>>,
    recheck_at: Instant,
    /// The first thing sent: the reconnect delay, or a reset.
    greeting: Option<Event>,
    /// This stream's place in the instance's count, given back when the stream is dropped.
    _slot: StreamSlot,
}

enum Next {
    Send(Event),
    End,
}

fn events(subscription: Subscription) -> impl Stream<Item = Result<Event, Infallible>> {
    futures::stream::unfold(subscription, |mut s| async move {
        match s.next().await {
            Next::Send(event) => Some((Ok(event), s)),
            Next::End => None,
        }
    })
}

impl Subscription {
    async fn next(&mut self) -> Next {
        if let Some(greeting) = self.greeting.take() {
            return Next::Send(greeting);
        }
        loop {
            if *self.stopping.borrow() {
                return Next::End;
            }
            if Instant::now() >= self.recheck_at {
                if !self.caller_still_allowed(false).await {
                    return Next::End;
                }
                self.recheck_at = Instant::now() + RECHECK;
            }
            if let Some(published) = self.queue.pop_front() {
                if may_change_standing(&published.record, self.caller) && !self.caller_still_allowed(true).await {
                    return Next::End;
                }
                let id = published.record.id;
                if id > self.replayed_up_to {
                    self.replayed = None;
                } else if let Some(replayed) = self.replayed.as_mut()
                    && !replayed.insert(id)
                {
                    continue;
                }
                self.last_sent = self.last_sent.max(id);
                match published.encoded(encode) {
                    Some(data) => {
                        let event = Event::default()
                            .event("activity")
                            .id(published.record.id.to_string())
                            .data(data);
                        return Next::Send(event);
                    }
                    None => continue,
                }
            }
            if let Some(after) = self.replay_from {
                let rows = match self.state.feed.replay(after, feed::PAGE).await {
                    Ok(rows) => rows,
                    Err(e) => {
                        // The client reconnects and resumes from what it got.
                        tracing::warn!(error = %e, "activity stream could not read the log; closing it");
                        return Next::End;
                    }
                };
                let full = rows.len() as i64 == feed::PAGE;
                self.replay_from = rows.last().map(|r| r.id).filter(|_| full);
                if let Some(newest) = rows.last().map(|r| r.id) {
                    self.replayed_up_to = self.replayed_up_to.max(newest);
                    self.replayed
                        .get_or_insert_with(|| Delivered::after(after, REPLAY_MEMORY));
                }
                self.queue
                    .extend(rows.into_iter().map(|row| Arc::new(Published::new(row))));
                continue;
            }
            tokio::select! {
                received = self.rx.recv() => match received {
                    Ok(published) => self.queue.push_back(published),
                    // Behind by more than the channel holds: read the rest from the log.
                    Err(RecvError::Lagged(_)) => self.replay_from = Some(self.last_sent),
                    Err(RecvError::Closed) => return Next::End,
                },
                _ = self.stopping.changed() => return Next::End,
                () = tokio::time::sleep_until(self.recheck_at) => {}
            }
        }
    }

    /// Whether the caller may still read the stream; `afresh` asks the database rather than
    /// this instance's cache, which may not have heard of a change made elsewhere.
    async fn caller_still_allowed(&self, afresh: bool) -> bool {
        let auth = &self.state.services.auth;
        let checked = if afresh {
            auth.authenticate_afresh(&self.token).await
        } else {
            auth.authenticate(&self.token).await
        };
        match checked {
            Ok(caller) => caller.require_admin().is_ok(),
            Err(_) => false,
        }
    }
}

/// Whether `record` is about `user_id` and of a kind that can take their access away: a
/// change to the account (deactivated, demoted), a password change, ended sessions. Sign-in
/// attempts, which anyone can cause in bulk, are not.
fn may_change_standing(record: &ActivityRecord, user_id: i64) -> bool {
    let kind = record.event_type.as_str();
    record.user_id == Some(user_id)
        && ([
            EventType::UserUpdated,
            EventType::PasswordChanged,
            EventType::SessionRevoked,
            EventType::Logout,
            EventType::RefreshReused,
        ]
        .iter()
        .any(|t| t.as_str() == kind)
            || (kind == EventType::Refresh.as_str() && record.decision == Decision::Block.as_str()))
}

/// An event's `data:`: the `Activity` JSON of `GET /api/admin/activity`.
fn encode(record: &ActivityRecord) -> Option<String> {
    match serde_json::to_string(&crate::edge::wire::activity(record.clone())) {
        Ok(json) => Some(json),
        Err(e) => {
            tracing::warn!(error = %e, id = record.id, "activity event could not be encoded");
            None
        }
    }
}
