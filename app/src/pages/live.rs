//! The live anomaly view (administrators): sign-ins and refreshes as they happen.
//!
//! The server renders the newest events; once the WASM has loaded, the page subscribes to
//! `GET /api/admin/stream` from the newest event it has, so nothing falls between the two,
//! and reconnects by itself (resuming from the last event it got). Filters, pause and the
//! counters work on what the page holds; acting on an event goes through server functions,
//! and the actions come back through the stream as audit events.

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::{Activity, AppError, live_activity};
use crate::pages::ResumeSession;
use crate::pages::activity::{event_label, short_time};
use crate::pages::review::ReviewPanel;

/// Events the page keeps.
const KEEP: usize = 500;
/// Rows the table shows.
const ROWS: usize = 100;
/// The counters' window.
const COUNTER_WINDOW_S: i64 = 5 * 60;
/// The timeline's window.
const TIMELINE_S: i64 = 30 * 60;
/// From this risk up, an event is drawn as risky.
const RISKY: f64 = 0.5;

#[component]
pub fn LivePage() -> impl IntoView {
    let initial = Resource::new_blocking(|| (), |_| live_activity());
    view! {
        <Title text="Live" />
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match initial.await {
                    Ok(events) => view! { <LiveView initial=events /> }.into_any(),
                    Err(AppError::NotSignedIn) => view! { <ResumeSession next="/admin/live" /> }.into_any(),
                    Err(e) => view! { <section class="card"><p class="error" role="alert">{e.to_string()}</p></section> }.into_any(),
                }
            })}
        </Transition>
    }
}

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
    fn label(self) -> &'static str {
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

    fn resume(&self) {
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

#[component]
fn LiveView(initial: Vec<Activity>) -> impl IntoView {
    let feed = Feed {
        now: RwSignal::new(
            initial
                .first()
                .and_then(|e| epoch_seconds(&e.created_at))
                .unwrap_or(0)
                .max(now_seconds()),
        ),
        events: RwSignal::new(initial),
        held: RwSignal::new(Vec::new()),
        paused: RwSignal::new(false),
        connection: RwSignal::new(Connection::Connecting),
    };
    #[cfg(feature = "browser")]
    stream::go_live(feed);

    let min_risk = RwSignal::new(0.0_f64);
    let kind = RwSignal::new(String::new());
    let who = RwSignal::new(String::new());
    let selected = RwSignal::new(None::<i64>);

    let visible = Memo::new(move |_| {
        let (min_risk, kind, who) = (min_risk.get(), kind.get(), who.get().trim().to_lowercase());
        feed.events.with(|events| {
            events
                .iter()
                .filter(|e| e.risk_score >= min_risk)
                .filter(|e| kind.is_empty() || e.event_type == kind)
                .filter(|e| who.is_empty() || e.username.as_deref().is_some_and(|u| u.to_lowercase().contains(&who)))
                .cloned()
                .collect::<Vec<_>>()
        })
    });

    view! {
        <section class="live">
            <header class="live-head">
                <h1>"Live activity"</h1>
                <span
                    class="connection"
                    data-state=move || format!("{:?}", feed.connection.get()).to_lowercase()
                    data-testid="connection"
                    role="status"
                >
                    {move || feed.connection.get().label()}
                </span>
                <button
                    type="button"
                    class="secondary small"
                    data-testid="pause"
                    on:click=move |_| if feed.paused.get_untracked() { feed.resume() } else { feed.paused.set(true) }
                >
                    {move || {
                        let held = feed.held.read().len();
                        match (feed.paused.get(), held) {
                            (false, _) => "Pause".to_owned(),
                            (true, 0) => "Resume".to_owned(),
                            (true, n) => format!("Resume ({n} new)"),
                        }
                    }}
                </button>
            </header>
            <Counters feed />
            <div class="filters live-filters">
                <label>
                    "Minimum risk"
                    <input type="range" min="0" max="1" step="0.05" prop:value=move || min_risk.get().to_string()
                        on:input=move |ev| min_risk.set(event_target_value(&ev).parse().unwrap_or(0.0)) />
                    <span class="muted">{move || format!("{:.2}", min_risk.get())}</span>
                </label>
                <label>
                    "Event"
                    <select on:change=move |ev| kind.set(event_target_value(&ev)) prop:value=move || kind.get()>
                        <option value="">"any"</option>
                        {crate::pages::activity::EVENT_TYPES.iter().map(|e| view! { <option value=*e>{event_label(e)}</option> }).collect_view()}
                    </select>
                </label>
                <label>
                    "User"
                    <input type="search" placeholder="any" prop:value=move || who.get() on:input=move |ev| who.set(event_target_value(&ev)) />
                </label>
            </div>
            <div class="live-grid">
                <Timeline feed visible />
                <LiveMap visible />
            </div>
            <LiveTable visible selected />
            {move || selected.get().map(|id| view! { <ReviewPanel id on_close=move || selected.set(None) /> })}
        </section>
    }
}

#[component]
fn Counters(feed: Feed) -> impl IntoView {
    let counts = Memo::new(move |_| {
        let since = feed.now.get() - COUNTER_WINDOW_S;
        let mut counts = [0usize; 5];
        let mut tally = |events: &Vec<Activity>| {
            for e in events
                .iter()
                .filter(|e| epoch_seconds(&e.created_at).is_some_and(|t| t >= since))
            {
                let slot = match e.event_type.as_str() {
                    "login_succeeded" => 0,
                    "login_failed" => 1,
                    "login_blocked" => 2,
                    "step_up_required" => 3,
                    "refresh_reused" => 4,
                    _ => continue,
                };
                counts[slot] += 1;
            }
        };
        feed.events.with(&mut tally);
        feed.held.with(&mut tally);
        counts
    });
    let tile = move |slot: usize, label: &'static str, testid: &'static str, alarm: bool| {
        view! {
            <div class="counter" class:alarm=move || { alarm && counts.get()[slot] > 0 } data-testid=testid>
                <strong>{move || counts.get()[slot]}</strong>
                <span>{label}</span>
            </div>
        }
    };
    view! {
        <div class="counters" aria-label="The last five minutes">
            {tile(0, "sign-ins", "count-sign-ins", false)}
            {tile(1, "failures", "count-failures", false)}
            {tile(2, "blocked", "count-blocked", true)}
            {tile(3, "step-ups", "count-step-ups", false)}
            {tile(4, "reuse alarms", "count-reuse", true)}
            <span class="muted small">"last 5 minutes"</span>
        </div>
    }
}

/// Risk over the last half hour: one dot per event, risky ones in the alarm colour.
#[component]
fn Timeline(feed: Feed, visible: Memo<Vec<Activity>>) -> impl IntoView {
    const W: f64 = 600.0;
    const H: f64 = 120.0;
    let dots = move || {
        let now = feed.now.get();
        let start = now - TIMELINE_S;
        visible.with(|events| {
            events
                .iter()
                .filter_map(|e| {
                    let t = epoch_seconds(&e.created_at)?;
                    (t >= start).then(|| {
                        let x = (t - start) as f64 / TIMELINE_S as f64 * W;
                        let y = H - 8.0 - e.risk_score.clamp(0.0, 1.0) * (H - 16.0);
                        let title = format!("{} · {} · risk {:.2}", short_time(&e.created_at), event_label(&e.event_type), e.risk_score);
                        view! {
                            <circle cx=format!("{x:.1}") cy=format!("{y:.1}") r="3.5" class:risky={ e.risk_score >= RISKY }>
                                <title>{title}</title>
                            </circle>
                        }
                    })
                })
                .collect_view()
        })
    };
    let threshold = H - 8.0 - RISKY * (H - 16.0);
    view! {
        <figure class="timeline" data-testid="timeline">
            <figcaption>"Risk, last 30 minutes"</figcaption>
            <svg viewBox=format!("0 0 {W} {H}") role="img" aria-label="Risk of each event over the last 30 minutes">
                <line x1="0" x2=W.to_string() y1=format!("{threshold:.1}") y2=format!("{threshold:.1}") class="threshold" />
                {dots}
            </svg>
        </figure>
    }
}

/// Where the latest events came from, on the app's own map (no tiles, no scripts): a dot
/// per place, risky ones highlighted, and a line for each impossible-travel alarm from the
/// user's previous place to the new one.
#[component]
fn LiveMap(visible: Memo<Vec<Activity>>) -> impl IntoView {
    let drawing = move || {
        visible.with(|events| {
            let located: Vec<&Activity> = events.iter().filter(|e| e.latitude.is_some() && e.longitude.is_some()).take(ROWS).collect();
            let dots = located
                .iter()
                .map(|e| {
                    let (x, y) = project(e);
                    let title = format!("{} · {} · {}", e.username.clone().unwrap_or_default(), e.place(), event_label(&e.event_type));
                    view! {
                        <circle cx=format!("{x:.1}") cy=format!("{y:.1}") r="2.4" class="dot" class:risky={ e.risk_score >= RISKY } data-testid="map-dot">
                            <title>{title}</title>
                        </circle>
                    }
                })
                .collect_view();
            let lines = located
                .iter()
                .enumerate()
                .filter(|(_, e)| e.risk_reasons.iter().any(|r| r == "impossible_travel"))
                .filter_map(|(i, e)| {
                    // The user's place before this one: the next older located event of theirs.
                    let from = located[i + 1..].iter().find(|o| o.user_id == e.user_id && o.user_id.is_some())?;
                    let ((x1, y1), (x2, y2)) = (project(from), project(e));
                    let title = format!("{} → {}", from.place(), e.place());
                    let user = e.username.clone().unwrap_or_default();
                    Some(view! {
                        <line x1=format!("{x1:.1}") y1=format!("{y1:.1}") x2=format!("{x2:.1}") y2=format!("{y2:.1}") class="travel" data-testid="travel-line" data-user=user>
                            <title>{title}</title>
                        </line>
                    })
                })
                .collect_view();
            (lines, dots)
        })
    };
    view! {
        <figure class="worldmap live-map" role="img" aria-label="Places of the latest events" data-testid="live-map">
            <div class="land"></div>
            <svg viewBox="0 0 360 150" preserveAspectRatio="none">{drawing}</svg>
        </figure>
    }
}

/// Equirectangular, as `style/world-map.svg` is drawn: x = lon + 180, y = 90 - lat.
fn project(e: &Activity) -> (f64, f64) {
    let (lat, lon) = (e.latitude.unwrap_or(0.0), e.longitude.unwrap_or(0.0));
    (lon + 180.0, (90.0 - lat).clamp(0.0, 150.0))
}

#[component]
fn LiveTable(visible: Memo<Vec<Activity>>, selected: RwSignal<Option<i64>>) -> impl IntoView {
    let rows = move || {
        visible.with(|events| {
            events
                .iter()
                .take(ROWS)
                .map(|e| {
                    let id = e.id;
                    let risk = e.risk_score.clamp(0.0, 1.0);
                    let band = if risk >= 0.8 { "high" } else if risk >= RISKY { "medium" } else { "low" };
                    let reasons = e.risk_reasons.iter().take(3).map(|r| r.replace('_', " ")).collect::<Vec<_>>().join(", ");
                    // Flagged: the engine named something unusual, whatever the score came to.
                    // (Account changes carry notes such as who made them, not risk.)
                    let judged = matches!(
                        e.event_type.as_str(),
                        "login_succeeded" | "login_failed" | "refresh" | "refresh_reused" | "step_up_required" | "login_blocked"
                    );
                    let flagged = judged && !e.risk_reasons.is_empty();
                    view! {
                        <tr
                            data-testid="live-row"
                            data-event=e.event_type.clone()
                            data-user=e.username.clone().unwrap_or_default()
                            class:risky={ risk >= RISKY }
                            class:flagged=flagged
                            class:selected=move || selected.get() == Some(id)
                            on:click=move |_| selected.set(Some(id))
                        >
                            <td><time datetime=e.created_at.clone()>{short_time(&e.created_at)}</time></td>
                            <td>{e.username.clone().unwrap_or_else(|| "—".into())}</td>
                            <td>{event_label(&e.event_type)}</td>
                            <td data-testid="place">{e.place()}</td>
                            <td>{e.device.clone()}</td>
                            <td>
                                <div class="riskbar" title=format!("risk {risk:.2}")>
                                    <span class=band style=format!("width: {:.0}%", risk * 100.0)></span>
                                </div>
                                <span class="small">{format!("{risk:.2}")}</span>
                            </td>
                            <td><span class="badge">{e.decision.clone()}</span></td>
                            <td class="small" data-testid="reasons">
                                {flagged.then(|| view! { <span class="flag" aria-label="flagged">"⚑ "</span> })}
                                {reasons}
                            </td>
                            <td>
                                <button type="button" class="secondary small" aria-label=format!("Details of event {id}")
                                    on:click=move |ev| { ev.stop_propagation(); selected.set(Some(id)); }>
                                    "Details"
                                </button>
                            </td>
                        </tr>
                    }
                })
                .collect_view()
        })
    };
    view! {
        <div class="table-scroll">
            <table class="activity live-table">
                <thead>
                    <tr>
                        <th>"When"</th><th>"User"</th><th>"Event"</th><th>"Place"</th><th>"Device"</th>
                        <th>"Risk"</th><th>"Decision"</th><th>"Why"</th><th></th>
                    </tr>
                </thead>
                <tbody data-testid="live-rows">{rows}</tbody>
            </table>
            <Show when=move || visible.with(Vec::is_empty)>
                <p class="muted" data-testid="no-activity">"Nothing matches yet. New events appear here as they happen."</p>
            </Show>
        </div>
    }
}

/// Seconds since 1970 of an RFC 3339 UTC time ("2026-11-25T12:00:00Z"), without a date
/// library (days from the civil calendar, after Howard Hinnant's algorithm).
pub(crate) fn epoch_seconds(rfc3339: &str) -> Option<i64> {
    let num = |range: std::ops::Range<usize>| rfc3339.get(range)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + hh * 3600 + mm * 60 + ss)
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

#[cfg(feature = "browser")]
mod stream {
    //! The page's end of `GET /api/admin/stream`.

    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    use futures::StreamExt;
    use futures::channel::mpsc;
    use futures::future::{Either, select};
    use leptos::prelude::*;
    use leptos::task::spawn_local;
    use wasm_bindgen::JsCast;
    use wasm_bindgen::closure::Closure;
    use web_sys::MessageEvent;

    use super::{Connection, Feed, now_seconds};
    use crate::api::{Activity, live_activity};

    /// Resolves after `ms` milliseconds.
    async fn sleep(ms: i32) {
        let promise = js_sys::Promise::new(&mut |resolve, _| {
            if let Some(window) = web_sys::window() {
                let _ = window.set_timeout_with_callback_and_timeout_and_arguments_0(&resolve, ms);
            }
        });
        let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
    }

    /// An `EventSource` opened `withCredentials`, so the access cookie goes along when the
    /// API is on another origin of the same site (the static bundle; gloo's cannot ask for
    /// it), delivering its `activity` and `reset` events to a channel.
    struct Source {
        source: web_sys::EventSource,
        listeners: Vec<(&'static str, Listener)>,
    }

    type Listener = Closure<dyn FnMut(MessageEvent)>;

    impl Source {
        fn open(url: &str) -> Option<(Self, mpsc::UnboundedReceiver<(&'static str, MessageEvent)>)> {
            let init = web_sys::EventSourceInit::new();
            init.set_with_credentials(true);
            let source = web_sys::EventSource::new_with_event_source_init_dict(url, &init).ok()?;
            let (tx, rx) = mpsc::unbounded();
            let mut opened = Self {
                source,
                listeners: Vec::new(),
            };
            for kind in ["activity", "reset"] {
                let tx = tx.clone();
                let listener = Listener::new(move |message: MessageEvent| {
                    let _ = tx.unbounded_send((kind, message));
                });
                opened
                    .source
                    .add_event_listener_with_callback(kind, listener.as_ref().unchecked_ref())
                    .ok()?;
                opened.listeners.push((kind, listener));
            }
            Some((opened, rx))
        }

        fn ready_state(&self) -> u16 {
            self.source.ready_state()
        }
    }

    impl Drop for Source {
        fn drop(&mut self) {
            self.source.close();
            for (kind, listener) in &self.listeners {
                let _ = self
                    .source
                    .remove_event_listener_with_callback(kind, listener.as_ref().unchecked_ref());
            }
        }
    }

    /// Subscribes until the page goes away, reconnecting after every loss. The browser's
    /// own `EventSource` retries resume with `Last-Event-ID`; when it gives up (the server
    /// refused, say because the access token expired and the session keeper has since
    /// renewed it), a new one starts from the newest event the page holds.
    pub fn go_live(feed: Feed) {
        let alive = Arc::new(AtomicBool::new(true));
        on_cleanup({
            let alive = alive.clone();
            move || alive.store(false, Ordering::Relaxed)
        });
        spawn_local(async move {
            while alive.load(Ordering::Relaxed) {
                let url = crate::api::url(&format!("/api/admin/stream?last_event_id={}", feed.newest_id()));
                let Some((source, mut messages)) = Source::open(&url) else {
                    sleep(3000).await;
                    continue;
                };
                loop {
                    let tick = Box::pin(sleep(1000));
                    match select(messages.next(), tick).await {
                        Either::Left((Some((kind, message)), _)) => {
                            feed.connection.set(Connection::Live);
                            if kind == "reset" {
                                // Too far behind to replay: start again from the newest events.
                                if let Ok(events) = live_activity().await {
                                    feed.held.set(Vec::new());
                                    feed.events.set(events);
                                }
                            } else if let Some(event) = message
                                .data()
                                .as_string()
                                .and_then(|d| serde_json::from_str::<Activity>(&d).ok())
                            {
                                feed.arrive(event);
                            }
                        }
                        // Closed for good: start a new connection.
                        Either::Left(_) => break,
                        Either::Right(_) => {
                            if !alive.load(Ordering::Relaxed) {
                                break;
                            }
                            feed.now.set(now_seconds());
                            match source.ready_state() {
                                web_sys::EventSource::OPEN => feed.connection.set(Connection::Live),
                                web_sys::EventSource::CONNECTING => feed.connection.set(Connection::Reconnecting),
                                _ => break,
                            }
                        }
                    }
                }
                drop(source);
                if alive.load(Ordering::Relaxed) {
                    feed.connection.set(Connection::Reconnecting);
                    sleep(2000).await;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::epoch_seconds;

    #[test]
    fn rfc3339_to_unix_seconds() {
        assert_eq!(epoch_seconds("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(epoch_seconds("2000-03-01T00:00:00Z"), Some(951_868_800));
        assert_eq!(epoch_seconds("2026-11-25T12:34:56Z"), Some(1_795_610_096));
        assert_eq!(epoch_seconds("not a time"), None);
    }
}
