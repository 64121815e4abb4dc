//! What the live page holds: the events, those held back while paused, the connection's
//! state, and the clock the counters and the timeline read.

use leptos::prelude::*;

use crate::api::Activity;

/// Events the page keeps.
const KEEP: usize = 500;

/// The state of the connection to the stream, as the badge shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
// Only the browser connects; the server renders "Connecting…".
#[cfg_attr(not(feature = "browser"), allow(dead_code))]
pub(crate) enum Connection {
    Connecting,
    Live,
    Reconnecting,
}

impl Connection {
    pub(super) fn label(self) -> &'static str {
        match self {
            Connection::Connecting => "Connecting…",
            Connection::Live => "Live",
            Connection::Reconnecting => "Reconnecting…",
        }
    }
}

/// What the page holds and shows.
#[derive(Clone, Copy)]
pub(crate) struct Feed {
    /// Newest first.
    pub events: RwSignal<Vec<Activity>>,
    /// Arrived while paused, newest first.
    pub held: RwSignal<Vec<Activity>>,
    pub paused: RwSignal<bool>,
    pub connection: RwSignal<Connection>,
    /// Unix seconds, ticking, for the counters and the timeline.
    pub now: RwSignal<i64>,
}

// The stream's half runs in the browser only.
#[cfg_attr(not(feature = "browser"), allow(dead_code))]
impl Feed {
    /// A new event from the stream.
    pub fn arrive(&self, event: Activity) {
        let target = if self.paused.get_untracked() {
            self.held
        } else {
            self.events
        };
        target.update(|events| {
            if !events.iter().any(|e| e.id == event.id) {
                events.insert(0, event);
                events.truncate(KEEP);
            }
        });
    }

    /// The newest event id the page has (the stream resumes after it).
    pub fn newest_id(&self) -> i64 {
        let newest = |events: &Vec<Activity>| events.iter().map(|e| e.id).max().unwrap_or(0);
        newest(&self.events.read_untracked()).max(newest(&self.held.read_untracked()))
    }

    pub(super) fn resume(&self) {
        let held = self.held.get_untracked();
        self.held.set(Vec::new());
        self.events.update(|events| {
            let mut merged = held;
            merged.append(events);
            merged.truncate(KEEP);
            *events = merged;
        });
        self.paused.set(false);
    }
}

/// Now, in Unix seconds: the browser's clock, or the server's while rendering.
pub(crate) fn now_seconds() -> i64 {
    #[cfg(feature = "browser")]
    {
        (js_sys::Date::now() / 1000.0) as i64
    }
    #[cfg(not(feature = "browser"))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64)
    }
}
