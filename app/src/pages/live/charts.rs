//! The live page's pictures of the feed: the counters, the timeline and the map.

use leptos::prelude::*;

use super::feed::Feed;
use super::{RISKY, ROWS};
use crate::api::{Activity, EventType};
use crate::components::format::epoch_seconds;
use crate::components::format::short_time;

/// The counters' window.
const COUNTER_WINDOW_S: i64 = 5 * 60;
/// The timeline's window.
const TIMELINE_S: i64 = 30 * 60;

#[component]
pub(super) fn Counters(feed: Feed) -> impl IntoView {
    let counts = Memo::new(move |_| {
        let since = feed.now.get() - COUNTER_WINDOW_S;
        let mut counts = [0usize; 5];
        let mut tally = |events: &Vec<Activity>| {
            for e in events
                .iter()
                .filter(|e| epoch_seconds(&e.created_at).is_some_and(|t| t >= since))
            {
                let slot = match e.event_type {
                    EventType::LoginSucceeded => 0,
                    EventType::LoginFailed => 1,
                    EventType::LoginBlocked => 2,
                    EventType::StepUpRequired => 3,
                    EventType::RefreshReused | EventType::RefreshUnbound => 4,
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
            {tile(4, "stolen-token alarms", "count-reuse", true)}
            <span class="muted small">"last 5 minutes"</span>
        </div>
    }
}

/// Risk over the last half hour: one dot per event, risky ones in the alarm colour.
#[component]
pub(super) fn Timeline(feed: Feed, visible: Memo<Vec<Activity>>) -> impl IntoView {
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
                        let title = format!(
                            "{} · {} · risk {:.2}",
                            short_time(&e.created_at),
                            e.event_type.label(),
                            e.risk_score
                        );
                        view! {
                            <circle
                                cx=format!("{x:.1}")
                                cy=format!("{y:.1}")
                                r="3.5"
                                class:risky={e.risk_score >= RISKY}
                            >
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
                <line
                    x1="0"
                    x2=W.to_string()
                    y1=format!("{threshold:.1}")
                    y2=format!("{threshold:.1}")
                    class="threshold"
                />
                {dots}
            </svg>
        </figure>
    }
}

/// Where the latest events came from, on the app's own map (no tiles, no scripts): a dot
/// per place, risky ones highlighted, and a line for each impossible-travel alarm from the
/// user's previous place to the new one.
#[component]
pub(super) fn LiveMap(visible: Memo<Vec<Activity>>) -> impl IntoView {
    let drawing = move || {
        visible.with(|events| {
            let located: Vec<&Activity> = events
                .iter()
                .filter(|e| e.latitude.is_some() && e.longitude.is_some())
                .take(ROWS)
                .collect();
            let dots = located
                .iter()
                .map(|e| {
                    let (x, y) = project(e);
                    let title = format!(
                        "{} · {} · {}",
                        e.username.clone().unwrap_or_default(),
                        e.place(),
                        e.event_type.label()
                    );
                    view! {
                        <circle
                            cx=format!("{x:.1}")
                            cy=format!("{y:.1}")
                            r="2.4"
                            class="dot"
                            class:risky={e.risk_score >= RISKY}
                            data-testid="map-dot"
                        >
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
                    let from = located[i + 1..]
                        .iter()
                        .find(|o| o.user_id == e.user_id && o.user_id.is_some())?;
                    let ((x1, y1), (x2, y2)) = (project(from), project(e));
                    let title = format!("{} → {}", from.place(), e.place());
                    let user = e.username.clone().unwrap_or_default();
                    Some(view! {
                        <line
                            x1=format!("{x1:.1}")
                            y1=format!("{y1:.1}")
                            x2=format!("{x2:.1}")
                            y2=format!("{y2:.1}")
                            class="travel"
                            data-testid="travel-line"
                            data-user=user
                        >
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
            <svg viewBox="0 0 360 150" preserveAspectRatio="none">
                {drawing}
            </svg>
        </figure>
    }
}

/// Equirectangular, as `style/world-map.svg` is drawn: x = lon + 180, y = 90 - lat.
fn project(e: &Activity) -> (f64, f64) {
    let (lat, lon) = (e.latitude.unwrap_or(0.0), e.longitude.unwrap_or(0.0));
    (lon + 180.0, (90.0 - lat).clamp(0.0, 150.0))
}
