//! The Security page's passkeys: the list (when each was added and last used, whether it
//! is synced), adding one and removing one. Both changes ask for the current password
//! unless the sign-in was moments ago (the server decides).

use leptos::prelude::*;

use crate::api::{RemovePasskey, add_passkey, begin_passkey, passkeys};
use crate::components::Protected;
use crate::components::format::short_time;
use crate::webauthn::{self, WebAuthnError};
use crate::wire::Passkey;

/// Adds a passkey: creation options from the server, a new credential from the browser's
/// authenticator, the server's check. `Err(None)` when the person cancelled.
async fn add_one(password: String, name: String) -> Result<(), Option<String>> {
    let ceremony = begin_passkey(Some(password)).await.map_err(|e| Some(e.to_string()))?;
    let credential = webauthn::create(&ceremony.options).await.map_err(|e| match e {
        WebAuthnError::Cancelled => None,
        other => Some(other.to_string()),
    })?;
    add_passkey(ceremony.challenge_id, credential, name)
        .await
        .map_err(|e| Some(e.to_string()))?;
    Ok(())
}

#[component]
pub fn Passkeys() -> impl IntoView {
    let added = RwSignal::new(0u32);
    let remove = ServerAction::<RemovePasskey>::new();
    let list = Resource::new(move || (added.get(), remove.version().get()), |_| passkeys());
    let password = RwSignal::new(String::new());
    let name = RwSignal::new("Passkey".to_owned());
    let busy = RwSignal::new(false);
    let problem = RwSignal::new(None::<String>);
    // Known once the page runs in a browser (effects never run in the server render).
    let can_add = RwSignal::new(false);
    Effect::new(move |_| can_add.set(webauthn::supported()));
    let add = move |ev: leptos::ev::SubmitEvent| {
        ev.prevent_default();
        busy.set(true);
        problem.set(None);
        let (typed, chosen) = (password.get_untracked(), name.get_untracked());
        leptos::task::spawn_local(async move {
            let outcome = add_one(typed, chosen).await;
            busy.set(false);
            match outcome {
                Ok(()) => {
                    password.set(String::new());
                    added.update(|n| *n += 1);
                }
                Err(said) => problem.set(said),
            }
        });
    };
    let error = move || match remove.value().get() {
        Some(Err(e)) => Some(e.to_string()),
        _ => problem.get(),
    };
    let row = move |passkey: Passkey| {
        let id = passkey.id.clone();
        let label = format!("Remove {}", passkey.name);
        let synced = match (passkey.backed_up, passkey.backup_eligible) {
            (true, _) => "Synced",
            (false, true) => "May sync",
            (false, false) => "This device only",
        };
        view! {
            <li data-testid="passkey">
                <strong>{passkey.name}</strong>
                " "
                <span class="badge">{synced}</span>
                <div class="muted small">
                    {format!("Added {}", short_time(&passkey.created_at))} " · "
                    {passkey
                        .last_used_at
                        .map_or_else(|| "Never used".to_owned(), |at| format!("Last used {}", short_time(&at)))}
                </div>
                <button
                    type="button"
                    class="secondary small danger"
                    aria-label=label
                    on:click=move |_| {
                        remove
                            .dispatch(RemovePasskey {
                                id: id.clone(),
                                password: Some(password.get_untracked()),
                            });
                    }
                >
                    "Remove"
                </button>
            </li>
        }
    };
    view! {
        <h2>"Passkeys"</h2>
        <p class="muted">
            "A passkey signs you in with your device's screen lock, with no password to type or to be phished."
        </p>
        <Protected
            resource=list
            next="/security"
            render={move |found: Vec<Passkey>| {
                if found.is_empty() {
                    view! {
                        <p class="muted" data-testid="passkey-list">
                            "No passkeys yet."
                        </p>
                    }
                        .into_any()
                } else {
                    view! {
                        <ul class="passkeys" data-testid="passkey-list">
                            {found.into_iter().map(row).collect_view()}
                        </ul>
                    }
                        .into_any()
                }
            }}
        />
        <Show
            when=move || can_add.get()
            fallback=|| view! { <p class="muted">"This browser cannot make passkeys."</p> }
        >
            <form class="form" on:submit=add>
                <label>
                    "Current password for passkey changes (not needed within five minutes of signing in)"
                    <input
                        type="password"
                        autocomplete="current-password"
                        maxlength="1024"
                        prop:value=password
                        on:input=move |ev| password.set(event_target_value(&ev))
                    />
                </label>
                <label>
                    "Passkey name"
                    <input
                        type="text"
                        maxlength="64"
                        required
                        prop:value=name
                        on:input=move |ev| name.set(event_target_value(&ev))
                    />
                </label>
                <button type="submit" disabled=move || busy.get()>
                    "Add a passkey"
                </button>
            </form>
        </Show>
        <Show when=move || error().is_some()>
            <p class="error" role="alert">
                {error}
            </p>
        </Show>
    }
}
