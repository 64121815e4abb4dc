//! The live page's table of events, newest first, each with its review button.

use leptos::prelude::*;

use super::{RISKY, ROWS};
use crate::api::Activity;
use crate::components::KeyProven;
use crate::components::format::short_time;

#[component]
pub(super) fn LiveTable(visible: Memo<Vec<Activity>>, selected: RwSignal<Option<i64>>) -> impl IntoView {
    let rows = move || {
        visible.with(|events| {
            events
                .iter()
                .take(ROWS)
                .map(|e| {
                    let id = e.id;
                    let risk = e.risk_score.clamp(0.0, 1.0);
                    let band = if risk >= 0.8 {
                        "high"
                    } else if risk >= RISKY {
                        "medium"
                    } else {
                        "low"
                    };
                    let reasons = e
                        .risk_reasons
                        .iter()
                        .take(3)
                        .map(|r| r.replace('_', " "))
                        .collect::<Vec<_>>()
                        .join(", ");
                    // Flagged: the engine named something unusual, whatever the score came to.
                    // (Account changes carry notes such as who made them, not risk.)
                    let judged = e.event_type.is_judged();
                    let flagged = judged && !e.risk_reasons.is_empty();
                    let proven = e.device_proven;
                    view! {
                        <tr
                            data-testid="live-row"
                            data-event=e.event_type.as_str()
                            data-user=e.username.clone().unwrap_or_default()
                            class:risky={risk >= RISKY}
                            class:flagged=flagged
                            class:selected=move || selected.get() == Some(id)
                            on:click=move |_| selected.set(Some(id))
                        >
                            <td>
                                <time datetime=e.created_at.clone()>{short_time(&e.created_at)}</time>
                            </td>
                            <td>{e.username.clone().unwrap_or_else(|| "—".into())}</td>
                            <td>{e.event_type.label()}</td>
                            <td data-testid="place">{e.place()}</td>
                            <td>{e.device.clone()} <KeyProven proven /></td>
                            <td>
                                <div class="riskbar" title=format!("risk {risk:.2}")>
                                    <span class=band style=format!("width: {:.0}%", risk * 100.0)></span>
                                </div>
                                <span class="small">{format!("{risk:.2}")}</span>
                            </td>
                            <td>
                                <span class="badge">{e.decision.as_str()}</span>
                            </td>
                            <td class="small" data-testid="reasons">
                                {flagged
                                    .then(|| {
                                        view! {
                                            <span class="flag" aria-label="flagged">
                                                "⚑ "
                                            </span>
                                        }
                                    })}
                                {reasons}
                            </td>
                            <td>
                                <button
                                    type="button"
                                    class="secondary small"
                                    aria-label=format!("Details of event {id}")
                                    on:click=move |ev| {
                                        ev.stop_propagation();
                                        selected.set(Some(id));
                                    }
                                >
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
                        <th>"When"</th>
                        <th>"User"</th>
                        <th>"Event"</th>
                        <th>"Place"</th>
                        <th>"Device"</th>
                        <th>"Risk"</th>
                        <th>"Decision"</th>
                        <th>"Why"</th>
                        <th>
                            <span class="visually-hidden">"Actions"</span>
                        </th>
                    </tr>
                </thead>
                <tbody data-testid="live-rows">{rows}</tbody>
            </table>
            <Show when=move || visible.with(Vec::is_empty)>
                <p class="muted" data-testid="no-activity">
                    "Nothing matches yet. New events appear here as they happen."
                </p>
            </Show>
        </div>
    }
}
