use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::{EndOtherSessions, EndSession, SessionInfo, my_sessions};
use crate::components::Protected;
use crate::components::format::short_time;

/// Where the user is signed in, with a way to end any other session at once.
#[component]
pub fn DevicesPage() -> impl IntoView {
    let end = ServerAction::<EndSession>::new();
    let end_others = ServerAction::<EndOtherSessions>::new();
    // Refetch whenever either action completes.
    let sessions = Resource::new_blocking(
        move || (end.version().get(), end_others.version().get()),
        |_| my_sessions(),
    );

    view! {
        <Title text="Devices" />
        <section class="card">
            <h1>"Devices"</h1>
            <p class="muted">"Where your account is signed in. Sign out anything you do not recognise."</p>
            <Protected
                resource=sessions
                next="/devices"
                render={move |list| view! { <SessionTable list end end_others /> }}
            />
        </section>
    }
}

#[component]
fn SessionTable(
    list: Vec<SessionInfo>,
    end: ServerAction<EndSession>,
    end_others: ServerAction<EndOtherSessions>,
) -> impl IntoView {
    let others = list.iter().filter(|s| !s.current).count();
    let rows = list
        .into_iter()
        .map(|session| {
            let action = if session.current {
                view! { <span class="badge">"This device"</span> }.into_any()
            } else {
                view! {
                    <ActionForm action=end>
                        <input type="hidden" name="id" value=session.id.clone() />
                        <button type="submit" class="secondary small">
                            "Sign out"
                        </button>
                    </ActionForm>
                }
                .into_any()
            };
            view! {
                <tr data-testid="session-row" data-current=session.current.to_string()>
                    <td>
                        {session.device}
                        {session
                            .device_bound
                            .then(|| {
                                view! {
                                    " "
                                    <span
                                        class="badge"
                                        data-testid="device-bound"
                                        title="Renewed only with a key this device holds: a copy of its cookies is refused"
                                    >
                                        "Key-bound"
                                    </span>
                                }
                            })}
                    </td>
                    <td>{session.place}" "<span class="muted small">{session.ip}</span></td>
                    <td>
                        <time datetime=session.created_at.clone()>{short_time(&session.created_at)}</time>
                    </td>
                    <td>
                        <time datetime=session.last_used_at.clone()>{short_time(&session.last_used_at)}</time>
                    </td>
                    <td>{action}</td>
                </tr>
            }
        })
        .collect_view();
    view! {
        <table class="sessions">
            <thead>
                <tr>
                    <th>"Device"</th>
                    <th>"Where"</th>
                    <th>"Signed in"</th>
                    <th>"Last used"</th>
                    <th>
                        <span class="visually-hidden">"Actions"</span>
                    </th>
                </tr>
            </thead>
            <tbody>{rows}</tbody>
        </table>
        <Show when=move || { others > 0 }>
            <ActionForm action=end_others attr:class="inline-form">
                <button type="submit" class="secondary">
                    "Sign out everywhere else"
                </button>
            </ActionForm>
        </Show>
    }
}
