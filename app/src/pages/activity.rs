//! "My activity" for every user and the admin activity search: the activity log as pages,
//! with a small map of where sign-ins came from.
//!
//! Both pages keep their state in the URL (`?before=` and the filters), so a page can be
//! bookmarked, reloaded and rendered by the server alone; the router turns the filter form's
//! GET into client-side navigation once the WASM has loaded.

use leptos::prelude::*;
use leptos_meta::Title;
use leptos_router::components::Form;
use leptos_router::hooks::use_query_map;

use crate::api::{
    Activity, ActivityFilters, ActivityPage, EventType, JudgeEvent, ReportNotMe, admin_activity, my_activity,
};
use crate::components::KeyProven;
use crate::components::Protected;
use crate::components::format::short_time;

/// The signed-in user's own sign-ins, refreshes and account changes, newest first.
#[component]
pub fn MyActivityPage() -> impl IntoView {
    let query = use_query_map();
    let before = move || query.read().get("before").filter(|b| !b.is_empty());
    let not_me = ServerAction::<ReportNotMe>::new();
    let page = Resource::new_blocking(
        move || (before(), not_me.version().get()),
        |(before, _)| my_activity(before),
    );

    view! {
        <Title text="My activity" />
        <section class="card wide">
            <h1>"My activity"</h1>
            <p class="muted">
                "Every sign-in to your account, and where it came from. Anything you do not recognise? Change your password and sign out other devices."
            </p>
            <Protected
                resource=page
                next="/activity"
                render={move |page| {
                    view! {
                        <ActivityView
                            page
                            show_user=false
                            base="/activity".to_owned()
                            actions=RowActions::NotMe(not_me)
                        />
                    }
                }}
            />
        </section>
    }
}

/// Every user's activity, filtered; for administrators (the server checks).
#[component]
pub fn AdminActivityPage() -> impl IntoView {
    let query = use_query_map();
    let filters = move || {
        let q = query.read();
        let get = |k: &str| q.get(k).unwrap_or_default();
        ActivityFilters {
            user: get("user"),
            event_type: get("event_type"),
            min_risk: get("min_risk"),
            since: get("since"),
            until: get("until"),
            before: get("before"),
        }
    };
    let judge = ServerAction::<JudgeEvent>::new();
    let page = Resource::new_blocking(
        move || (filters(), judge.version().get()),
        |(filters, _)| admin_activity(filters),
    );
    let value = move |key: &'static str| move || query.read().get(key).unwrap_or_default();

    view! {
        <Title text="Activity search" />
        <section class="card wide">
            <h1>"Activity search"</h1>
            <Form method="GET" action="/admin/activity">
                <div class="filters">
                    <label>"User" <input type="text" name="user" prop:value=value("user") placeholder="any" /></label>
                    <label>
                        "Event" <select name="event_type" prop:value=value("event_type")>
                            <option value="">"any"</option>
                            {EventType::ALL
                                .iter()
                                .map(|e| view! { <option value=e.as_str()>{e.as_str()}</option> })
                                .collect_view()}
                        </select>
                    </label>
                    <label>
                        "Minimum risk"
                        <input
                            type="number"
                            name="min_risk"
                            min="0"
                            max="1"
                            step="0.05"
                            prop:value=value("min_risk")
                            placeholder="0"
                        />
                    </label>
                    <label>
                        "Since"
                        <input type="text" name="since" prop:value=value("since") placeholder="2026-01-01T00:00:00Z" />
                    </label>
                    <label>
                        "Until"
                        <input type="text" name="until" prop:value=value("until") placeholder="2026-12-31T00:00:00Z" />
                    </label>
                    <button type="submit">"Search"</button>
                </div>
            </Form>
            <Protected
                resource=page
                next="/admin/activity"
                render={move |page| {
                    let current = ActivityFilters {
                        before: String::new(),
                        ..filters()
                    };
                    let csv = format!("{}{}", crate::api::url("/admin/activity.csv"), query_string(&current));
                    let base = format!("/admin/activity{}", query_string(&current));
                    view! {
                        <p>
                            <a class="button secondary small" href=csv download="fin-intelli-activity.csv">
                                "Export CSV"
                            </a>
                        </p>
                        <ActivityView page show_user=true base actions=RowActions::Judge(judge) />
                    }
                }}
            />
        </section>
    }
}

/// `?user=alice&min_risk=0.5` (empty filters left out), or "" when there are none.
fn query_string(filters: &ActivityFilters) -> String {
    let pairs: Vec<String> = [
        ("user", &filters.user),
        ("event_type", &filters.event_type),
        ("min_risk", &filters.min_risk),
        ("since", &filters.since),
        ("until", &filters.until),
        ("before", &filters.before),
    ]
    .into_iter()
    .filter(|(_, v)| !v.is_empty())
    .map(|(k, v)| format!("{k}={}", encode(v)))
    .collect();
    if pairs.is_empty() {
        String::new()
    } else {
        format!("?{}", pairs.join("&"))
    }
}

/// Percent-encodes a query value (RFC 3986 unreserved characters pass).
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// What a row offers: the owner's "this wasn't me", or an admin's verdicts.
#[derive(Clone, Copy)]
enum RowActions {
    NotMe(ServerAction<ReportNotMe>),
    Judge(ServerAction<JudgeEvent>),
}

/// The map, the table and the link to older events.
#[component]
fn ActivityView(page: ActivityPage, show_user: bool, base: String, actions: RowActions) -> impl IntoView {
    let older = page.next.map(|next| {
        let sep = if base.contains('?') { '&' } else { '?' };
        format!("{base}{sep}before={}", encode(&next))
    });
    if page.items.is_empty() {
        return view! {
            <p class="muted" data-testid="no-activity">
                "No activity matches."
            </p>
        }
        .into_any();
    }
    view! {
        <WorldMap items=page.items.clone() />
        <ActivityTable items=page.items show_user actions />
        {older
            .map(|href| {
                view! {
                    <p>
                        <a href=href data-testid="older">
                            "Older events →"
                        </a>
                    </p>
                }
            })}
    }
    .into_any()
}

/// Sign-in places as dots on an equirectangular world map (x = lon + 180, y = 90 - lat,
/// the projection `style/world-map.svg` was drawn in).
#[component]
fn WorldMap(items: Vec<Activity>) -> impl IntoView {
    let mut places: Vec<(f64, f64, String)> = Vec::new();
    for item in items.iter().filter(|a| a.event_type == EventType::LoginSucceeded) {
        if let (Some(lat), Some(lon)) = (item.latitude, item.longitude) {
            let (x, y) = (lon + 180.0, (90.0 - lat).min(150.0));
            // One dot per place, however many sign-ins came from it.
            if !places
                .iter()
                .any(|(px, py, _)| (px - x).abs() < 1.0 && (py - y).abs() < 1.0)
            {
                places.push((x, y, item.place()));
            }
        }
    }
    let label = if places.is_empty() {
        "No sign-in on this page has a known place".to_owned()
    } else {
        format!(
            "Sign-ins from {}",
            places.iter().map(|(_, _, p)| p.as_str()).collect::<Vec<_>>().join("; ")
        )
    };
    let dots = places
        .into_iter()
        .map(|(x, y, place)| {
            view! {
                <circle cx=format!("{x:.1}") cy=format!("{y:.1}") r="2.6" class="dot">
                    <title>{place}</title>
                </circle>
            }
        })
        .collect_view();
    view! {
        <figure class="worldmap" role="img" aria-label=label data-testid="world-map">
            <div class="land"></div>
            <svg viewBox="0 0 360 150" preserveAspectRatio="none" aria-hidden="true">
                {dots}
            </svg>
        </figure>
    }
}

/// The verdict already given, or the buttons to give one.
fn row_actions(a: &Activity, actions: RowActions) -> AnyView {
    if let Some(verdict) = a.verdict {
        return view! {
            <span class="badge" data-testid="verdict">
                {verdict.label()}
            </span>
        }
        .into_any();
    }
    let id = a.id;
    match actions {
        RowActions::NotMe(action) if matches!(a.event_type, EventType::LoginSucceeded | EventType::Refresh) => view! {
            <ActionForm action>
                <input type="hidden" name="id" value=id.to_string() />
                <button type="submit" class="secondary small" title="Ends every other session of your account">
                    "This wasn't me"
                </button>
            </ActionForm>
        }
        .into_any(),
        RowActions::Judge(action) if a.user_id.is_some() => view! {
            <div class="row-actions">
                <ActionForm action>
                    <input type="hidden" name="id" value=id.to_string() />
                    <input type="hidden" name="verdict" value="legitimate" />
                    <button type="submit" class="secondary small" title="Teaches the user's profile">
                        "Legitimate"
                    </button>
                </ActionForm>
                <ActionForm action>
                    <input type="hidden" name="id" value=id.to_string() />
                    <input type="hidden" name="verdict" value="compromised" />
                    <button type="submit" class="secondary small danger" title="Ends every session of the user">
                        "Compromised"
                    </button>
                </ActionForm>
            </div>
        }
        .into_any(),
        _ => ().into_any(),
    }
}

#[component]
fn ActivityTable(items: Vec<Activity>, show_user: bool, actions: RowActions) -> impl IntoView {
    let rows = items
        .into_iter()
        .map(|a| {
            let risk = format!("{:.2}", a.risk_score);
            let risky = a.risk_score >= 0.5;
            let reasons = a.risk_reasons.join(", ");
            let proven = a.device_proven;
            let network = a
                .asn
                .map(|asn| format!("AS{asn} {}", a.asn_org.clone().unwrap_or_default()))
                .unwrap_or_default();
            view! {
                <tr data-testid="activity-row" data-event=a.event_type.as_str() class:risky=risky>
                    <td>
                        <time datetime=a.created_at.clone()>{short_time(&a.created_at)}</time>
                    </td>
                    {show_user.then(|| view! { <td>{a.username.clone().unwrap_or_default()}</td> })}
                    <td>{a.event_type.label()}</td>
                    <td data-testid="place">{a.place()}</td>
                    <td>{a.ip.clone()} <div class="muted small">{network}</div></td>
                    <td>{a.device.clone()} <KeyProven proven /></td>
                    <td title=reasons
                        .clone()>
                        {risk} " " <span class="badge">{a.decision.as_str()}</span>
                        <div class="muted small" data-testid="reasons">
                            {reasons.replace('_', " ")}
                        </div>
                    </td>
                    <td>{row_actions(&a, actions)}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <div class="table-scroll">
            <table class="activity">
                <thead>
                    <tr>
                        <th>"When"</th>
                        {show_user.then(|| view! { <th>"User"</th> })}
                        <th>"Event"</th>
                        <th>"Place"</th>
                        <th>"Address"</th>
                        <th>"Device"</th>
                        <th>"Risk"</th>
                        <th>
                            <span class="visually-hidden">"Actions"</span>
                        </th>
                    </tr>
                </thead>
                <tbody>{rows}</tbody>
            </table>
        </div>
    }
}
