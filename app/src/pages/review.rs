//! The live page's details panel: one event, why it scored what it did, the user's recent
//! history and sessions, and what an admin can do about it. Every action asks for a
//! confirmation first; the server checks the caller and logs the action, which then
//! arrives on the live page like any other event.

use leptos::prelude::*;

use crate::api::{
    AdminEndSession, AdminEndSessions, AdminUpdateUser, EventReview, JudgeEvent, SessionInfo, review_event,
};
use crate::components::format::short_time;

/// An action waiting for its confirmation.
#[derive(Debug, Clone, PartialEq)]
enum Pending {
    Legitimate,
    Compromised,
    EndAll,
    Deactivate,
    Activate,
    EndSession(String),
}

impl Pending {
    fn question(&self) -> &'static str {
        match self {
            Pending::Legitimate => "Mark this event legitimate? The user's profile learns it.",
            Pending::Compromised => "Mark this event compromised? Every session of the user ends.",
            Pending::EndAll => "Revoke every session of this user?",
            Pending::Deactivate => "Deactivate this user? Their sessions end and they cannot sign in.",
            Pending::Activate => "Activate this user again?",
            Pending::EndSession(_) => "Revoke this session?",
        }
    }
}

#[component]
pub fn ReviewPanel(id: i64, on_close: impl Fn() + Send + Sync + Copy + 'static) -> impl IntoView {
    let judge = ServerAction::<JudgeEvent>::new();
    let end_all = ServerAction::<AdminEndSessions>::new();
    let end_one = ServerAction::<AdminEndSession>::new();
    let update = ServerAction::<AdminUpdateUser>::new();
    let version =
        move || judge.version().get() + end_all.version().get() + end_one.version().get() + update.version().get();
    let review = Resource::new(move || (id, version()), |(id, _)| review_event(id));
    let pending = RwSignal::new(None::<Pending>);
    // The panel opens below the table: bring it into view.
    let panel = NodeRef::<leptos::html::Aside>::new();
    Effect::new(move |_| {
        if let Some(panel) = panel.get() {
            panel.scroll_into_view();
        }
    });

    // What the last action did, or why it failed.
    let outcome = move || {
        let said = |r: Option<Result<String, crate::api::AppError>>| r.map(|r| r.unwrap_or_else(|e| e.to_string()));
        said(
            judge
                .value()
                .get()
                .map(|r| r.map(|n| format!("Verdict recorded; {n} session(s) ended."))),
        )
        .or_else(|| {
            said(
                end_all
                    .value()
                    .get()
                    .map(|r| r.map(|n| format!("{n} session(s) ended."))),
            )
        })
        .or_else(|| said(end_one.value().get().map(|r| r.map(|()| "Session revoked.".to_owned()))))
        .or_else(|| {
            said(update.value().get().map(|r| {
                r.map(|u| {
                    format!(
                        "{} is now {}.",
                        u.username,
                        if u.is_active { "active" } else { "deactivated" }
                    )
                })
            }))
        })
    };

    let confirm = move |user_id: Option<i64>| {
        let Some(action) = pending.get_untracked() else { return };
        pending.set(None);
        match (action, user_id) {
            (Pending::Legitimate, _) => {
                judge.dispatch(JudgeEvent {
                    id,
                    verdict: "legitimate".into(),
                });
            }
            (Pending::Compromised, _) => {
                judge.dispatch(JudgeEvent {
                    id,
                    verdict: "compromised".into(),
                });
            }
            (Pending::EndAll, Some(user_id)) => {
                end_all.dispatch(AdminEndSessions { user_id });
            }
            (Pending::Deactivate, Some(user_id)) => {
                update.dispatch(AdminUpdateUser {
                    user_id,
                    is_active: Some(false),
                    is_admin: None,
                });
            }
            (Pending::Activate, Some(user_id)) => {
                update.dispatch(AdminUpdateUser {
                    user_id,
                    is_active: Some(true),
                    is_admin: None,
                });
            }
            (Pending::EndSession(session_id), Some(user_id)) => {
                end_one.dispatch(AdminEndSession { user_id, session_id });
            }
            _ => {}
        }
    };

    view! {
        <aside class="review card" data-testid="details" aria-label="Event details" node_ref=panel>
            <header class="review-head">
                <h2>"Event " {id}</h2>
                <button
                    type="button"
                    class="secondary small"
                    on:click=move |_| on_close()
                    aria-label="Close the details"
                >
                    "Close"
                </button>
            </header>
            <Transition fallback=|| {
                view! { <p class="muted">"Loading…"</p> }
            }>
                {move || Suspend::new(async move {
                    match review.await {
                        Ok(review) => view! { <ReviewBody review pending confirm /> }.into_any(),
                        Err(e) => {
                            view! {
                                <p class="error" role="alert">
                                    {e.to_string()}
                                </p>
                            }
                                .into_any()
                        }
                    }
                })}
            </Transition>
            {move || {
                outcome()
                    .map(|text| {
                        view! {
                            <p class="notice" role="status" data-testid="outcome">
                                {text}
                            </p>
                        }
                    })
            }}
        </aside>
    }
}

#[component]
fn ReviewBody(
    review: EventReview,
    pending: RwSignal<Option<Pending>>,
    confirm: impl Fn(Option<i64>) + Send + Sync + Copy + 'static,
) -> impl IntoView {
    let e = review.event;
    let user_id = review.user.as_ref().map(|u| u.id);
    let is_active = review.user.as_ref().is_some_and(|u| u.is_active);
    // One's own account is not offered for deactivation (the server refuses it anyway).
    let is_you = review.user.as_ref().is_some_and(|u| u.you);
    let network = e
        .asn
        .map(|asn| format!("AS{asn} {}", e.asn_org.clone().unwrap_or_default()));
    let accuracy = e
        .accuracy_radius_km
        .map(|km| format!(" (within {km} km)"))
        .unwrap_or_default();
    let reasons = if e.risk_reasons.is_empty() {
        view! { <li class="muted">"Nothing unusual: the attempt matched the user's history."</li> }.into_any()
    } else {
        e.risk_reasons
            .iter()
            .map(|r| {
                view! {
                    <li>
                        <strong>{r.replace('_', " ")}</strong>
                        " — "
                        {explain(r)}
                    </li>
                }
            })
            .collect_view()
            .into_any()
    };
    let ask = move |what: Pending| move |_| pending.set(Some(what.clone()));
    let sessions = review.sessions;
    let history = review.history;
    let user_line = match &review.user {
        Some(u) => format!(
            "{} <{}>{}{}",
            u.username,
            u.email,
            if u.is_admin { " · admin" } else { "" },
            if u.is_active { "" } else { " · deactivated" }
        ),
        None => e
            .username
            .clone()
            .map_or_else(|| "No account".to_owned(), |name| format!("{name} (no such account)")),
    };

    view! {
        <p class="review-summary">
            <strong>{e.event_type.label()}</strong>
            " · "
            {short_time(&e.created_at)}
            " · risk "
            <strong data-testid="review-risk">{format!("{:.2}", e.risk_score)}</strong>
            " · "
            <span class="badge">{e.decision.as_str()}</span>
            {e
                .verdict
                .map(|v| {
                    view! {
                        " · "
                        <span class="badge" data-testid="verdict">
                            {v.as_str().replace('_', " ")}
                        </span>
                    }
                })}
        </p>
        <p data-testid="review-user">{user_line}</p>
        <h3>"Why this score"</h3>
        <ul class="reasons" data-testid="review-reasons">
            {reasons}
        </ul>
        <h3>"What was seen"</h3>
        <dl class="features">
            <dt>"Address"</dt>
            <dd>{e.ip.clone()}</dd>
            <dt>"Network"</dt>
            <dd>{network.unwrap_or_else(|| "unknown".into())}</dd>
            <dt>"Place"</dt>
            <dd>{format!("{}{accuracy}", e.place())}</dd>
            <dt>"Device"</dt>
            <dd>{e.device.clone()}</dd>
            <dt>"Device key"</dt>
            <dd>{if e.device_proven { "proven: the device signed with the session's key" } else { "not proven" }}</dd>
        </dl>
        {user_id
            .map(|_| {
                view! {
                    <div class="actions" role="group" aria-label="Actions">
                        <button
                            type="button"
                            class="secondary small"
                            data-testid="mark-legitimate"
                            on:click=ask(Pending::Legitimate)
                        >
                            "Mark legitimate"
                        </button>
                        <button
                            type="button"
                            class="secondary small danger"
                            data-testid="mark-compromised"
                            on:click=ask(Pending::Compromised)
                        >
                            "Mark compromised"
                        </button>
                        <button
                            type="button"
                            class="secondary small danger"
                            data-testid="revoke-all"
                            on:click=ask(Pending::EndAll)
                        >
                            "Revoke all sessions"
                        </button>
                        {if is_you {
                            ().into_any()
                        } else if is_active {
                            view! {
                                <button
                                    type="button"
                                    class="secondary small danger"
                                    data-testid="deactivate"
                                    on:click=ask(Pending::Deactivate)
                                >
                                    "Deactivate user"
                                </button>
                            }
                                .into_any()
                        } else {
                            view! {
                                <button
                                    type="button"
                                    class="secondary small"
                                    data-testid="activate"
                                    on:click=ask(Pending::Activate)
                                >
                                    "Activate user"
                                </button>
                            }
                                .into_any()
                        }}
                    </div>
                }
            })}
        {move || {
            pending
                .get()
                .map(|what| {
                    view! {
                        <div class="confirm" role="alertdialog" aria-label="Confirm">
                            <span>{what.question()}</span>
                            <button
                                type="button"
                                class="small danger"
                                data-testid="confirm"
                                on:click=move |_| confirm(user_id)
                            >
                                "Confirm"
                            </button>
                            <button type="button" class="secondary small" on:click=move |_| pending.set(None)>
                                "Cancel"
                            </button>
                        </div>
                    }
                })
        }}
        <h3>"Live sessions"</h3>
        <SessionList sessions pending />
        <h3>"Recent history"</h3>
        <ul class="history" data-testid="review-history">
            {history
                .into_iter()
                .map(|h| {
                    view! {
                        <li class:risky={h.risk_score
                            >= 0.5}>
                            {short_time(&h.created_at)} " · " {h.event_type.label()} " · " {h.place()} " · "
                            {format!("{:.2}", h.risk_score)}
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
}

#[component]
fn SessionList(sessions: Vec<SessionInfo>, pending: RwSignal<Option<Pending>>) -> impl IntoView {
    if sessions.is_empty() {
        return view! {
            <p class="muted" data-testid="no-sessions">
                "No live sessions."
            </p>
        }
        .into_any();
    }
    view! {
        <ul class="sessions" data-testid="review-sessions">
            {sessions
                .into_iter()
                .map(|s| {
                    let id = s.id.clone();
                    view! {
                        <li>
                            {s.device} {s.device_bound.then_some(" (key-bound)")} " · " {s.place} " · " {s.ip}
                            " · since " {short_time(&s.created_at)}
                            <button
                                type="button"
                                class="secondary small danger"
                                on:click=move |_| pending.set(Some(Pending::EndSession(id.clone())))
                            >
                                "Revoke"
                            </button>
                        </li>
                    }
                })
                .collect_view()}
        </ul>
    }
    .into_any()
}

/// A reason code in words.
fn explain(reason: &str) -> &'static str {
    match reason {
        "new_country" => "first time from this country",
        "new_network_provider" | "unseen_provider" => "a network provider (AS) this user never used",
        "new_network" | "unseen_network" => "a network this user never used",
        "new_address" => "an address this user never used",
        "new_device_type" => "a kind of device this user never used",
        "new_os" => "an operating system this user never used",
        "new_browser" => "a browser this user never used",
        "new_browser_version" => "a browser version this user never used",
        "new_device" => "a device this user never used",
        "no_device_cookie" => "the browser did not carry this user's device cookie",
        "impossible_travel" => "too far from the previous place for the time between them",
        "unusual_hour" => "an hour of the day this user is rarely active",
        "failed_just_before" => "failed attempts on this account just before",
        "address_failures" => "this address failed against many accounts (credential stuffing)",
        "session_device_changed" | "session_browser_changed" => "the session's device changed mid-session",
        "session_country_changed" | "session_network_changed" => "the session moved to another place or network",
        "concurrent_networks" => "the session is used from two networks at once",
        "refresh_reused" | "refresh_token_reused" => "a spent refresh token came back: likely stolen",
        "device_proof_missing" => {
            "the session is bound to a device key and the refresh did not prove it: a copied token"
        }
        "device_key_copied" => "the session's device key was proven from another country at the same time: copied",
        "risk_blocked" => "the risk policy blocked the attempt",
        "second_factor_passed" => "the user passed the second-factor challenge",
        "invalid_second_factor" => "a wrong second-factor code",
        "reported_not_me" | "not_me" => "the user said this was not them",
        "admin_compromised" => "an administrator marked an event compromised",
        _ => "recorded by the server",
    }
}
