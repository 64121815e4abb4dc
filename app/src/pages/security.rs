use leptos::prelude::*;
use leptos_meta::Title;

use super::passkeys::Passkeys;
use crate::api::{BeginTotp, ConfirmTotp, RegenerateRecoveryCodes, RemoveTotp, second_factor_status};
use crate::components::Protected;

/// Two-step verification: enrol an authenticator app (QR code, then a first code), keep the
/// recovery codes shown once, make new ones, or remove the app. Every change asks for the
/// current password unless the sign-in was moments ago (the server decides).
#[component]
pub fn SecurityPage() -> impl IntoView {
    let begin = ServerAction::<BeginTotp>::new();
    let confirm = ServerAction::<ConfirmTotp>::new();
    let remove = ServerAction::<RemoveTotp>::new();
    let regenerate = ServerAction::<RegenerateRecoveryCodes>::new();
    let status = Resource::new_blocking(
        move || (confirm.version().get(), remove.version().get()),
        |_| second_factor_status(),
    );

    view! {
        <Title text="Security" />
        <section class="card">
            <h1>"Two-step verification"</h1>
            <Protected
                resource=status
                next="/security"
                render={move |enrolled| {
                    if enrolled {
                        view! {
                            <p class="notice" data-testid="totp-on">
                                "On: a sign-in that looks unusual asks for a code from your authenticator app."
                            </p>
                            <RecoveryCodes codes=Signal::derive(move || {
                                regenerate
                                    .value()
                                    .get()
                                    .and_then(Result::ok)
                                    .or_else(|| confirm.value().get().and_then(Result::ok))
                            }) />
                            <Manage remove regenerate />
                        }
                            .into_any()
                    } else {
                        view! { <Enrol begin confirm /> }.into_any()
                    }
                }}
            />
        </section>
        <section class="card">
            <Passkeys />
        </section>
    }
}

#[component]
fn Enrol(begin: ServerAction<BeginTotp>, confirm: ServerAction<ConfirmTotp>) -> impl IntoView {
    let setup = move || begin.value().get().and_then(Result::ok);
    let error = move || match (begin.value().get(), confirm.value().get()) {
        (_, Some(Err(e))) | (Some(Err(e)), _) => Some(e.to_string()),
        _ => None,
    };
    view! {
        <p class="muted">"Off. Turn it on so that a stolen password is not enough to get in."</p>
        <Show when=move || setup().is_none()>
            <ActionForm action=begin attr:class="form">
                <CurrentPassword />
                <button type="submit">"Set up an authenticator app"</button>
            </ActionForm>
        </Show>
        {move || {
            setup()
                .map(|s| {
                    view! {
                        <p>"Scan this with your authenticator app, or type the key in."</p>
                        // The SVG is drawn by our own server from the otpauth URI, never from input.
                        <div class="qr" inner_html=s.qr_svg></div>
                        <p>"Key: " <code data-testid="totp-secret">{s.secret}</code></p>
                        <ActionForm action=confirm attr:class="form">
                            <label>
                                "The 6-digit code the app shows"
                                <input
                                    type="text"
                                    name="code"
                                    autocomplete="one-time-code"
                                    inputmode="numeric"
                                    required
                                    maxlength="6"
                                />
                            </label>
                            <button type="submit">"Turn on"</button>
                        </ActionForm>
                    }
                })
        }}
        <Show when=move || error().is_some()>
            <p class="error" role="alert">
                {error}
            </p>
        </Show>
    }
}

/// The current password, for a change to one's factors; not needed within five minutes of
/// signing in.
#[component]
fn CurrentPassword() -> impl IntoView {
    view! {
        <label>
            "Current password (not needed within five minutes of signing in)"
            <input type="password" name="password" autocomplete="current-password" maxlength="1024" />
        </label>
    }
}

/// New recovery codes, or removing the authenticator.
#[component]
fn Manage(remove: ServerAction<RemoveTotp>, regenerate: ServerAction<RegenerateRecoveryCodes>) -> impl IntoView {
    let error = move || match (remove.value().get(), regenerate.value().get()) {
        (Some(Err(e)), _) | (_, Some(Err(e))) => Some(e.to_string()),
        _ => None,
    };
    view! {
        <h2>"Manage"</h2>
        <ActionForm action=regenerate attr:class="form">
            <CurrentPassword />
            <button type="submit">"Make new recovery codes"</button>
        </ActionForm>
        <ActionForm action=remove attr:class="form">
            <CurrentPassword />
            <button type="submit">"Remove the authenticator app"</button>
        </ActionForm>
        <Show when=move || error().is_some()>
            <p class="error" role="alert">
                {error}
            </p>
        </Show>
    }
}

/// The recovery codes, right after enrolment or regeneration (they are never shown again).
#[component]
fn RecoveryCodes(#[prop(into)] codes: Signal<Option<Vec<String>>>) -> impl IntoView {
    move || {
        codes.get().map(|codes| {            view! {
            <h2>"Recovery codes"</h2>
            <p>
                "Keep these somewhere safe. Each one signs you in once if you lose your phone; they are not shown again."
            </p>
            <ul class="recovery" data-testid="recovery-codes">
                {codes
                    .into_iter()
                    .map(|c| {
                        view! {
                            <li>
                                <code>{c}</code>
                            </li>
                        }
                    })
                    .collect_view()}
            </ul>
        }
        })
    }
}
