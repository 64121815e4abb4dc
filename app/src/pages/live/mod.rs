//! The live anomaly view (administrators): sign-ins and refreshes as they happen.
//!
//! The server renders the newest events; once the WASM has loaded, the page subscribes to
//! `GET /api/admin/stream` from the newest event it has, so nothing falls between the two,
//! and reconnects by itself (resuming from the last event it got). Filters, pause and the
//! counters work on what the page holds; acting on an event goes through server functions,
//! and the actions come back through the stream as audit events.

mod charts;
mod feed;
#[cfg(feature = "browser")]
mod stream;
mod table;

use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::{Activity, EventType, live_activity};
use crate::components::Protected;
use crate::components::format::epoch_seconds;
use crate::pages::review::ReviewPanel;
use charts::{Counters, LiveMap, Timeline};
use feed::{Connection, Feed, now_seconds};
use table::LiveTable;

/// Rows the table (and the map) shows.
const ROWS: usize = 100;
/// From this risk up, an event is drawn as risky.
const RISKY: f64 = 0.5;

#[component]
pub fn LivePage() -> impl IntoView {
    let initial = Resource::new_blocking(|| (), |_| live_activity());
    view! {
        <Title text="Live" />
        <Protected resource=initial next="/admin/live" render={|events| view! { <LiveView initial=events /> }} />
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
                .filter(|e| kind.is_empty() || e.event_type.as_str() == kind)
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
                    <input
                        type="range"
                        min="0"
                        max="1"
                        step="0.05"
                        prop:value=move || min_risk.get().to_string()
                        on:input=move |ev| min_risk.set(event_target_value(&ev).parse().unwrap_or(0.0))
                    /> <span class="muted">{move || format!("{:.2}", min_risk.get())}</span>
                </label>
                <label>
                    "Event" <select on:change=move |ev| kind.set(event_target_value(&ev)) prop:value=move || kind.get()>
                        <option value="">"any"</option>
                        {EventType::ALL
                            .iter()
                            .map(|e| view! { <option value=e.as_str()>{e.label()}</option> })
                            .collect_view()}
                    </select>
                </label>
                <label>
                    "User"
                    <input
                        type="search"
                        placeholder="any"
                        prop:value=move || who.get()
                        on:input=move |ev| who.set(event_target_value(&ev))
                    />
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
