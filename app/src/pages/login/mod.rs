//! The sign-in page: the password form, passkeys ([`passkey`]), the step-up a risky
//! sign-in asks for, and the renewal of a device-bound session.

mod passkey;

use leptos::prelude::*;
use leptos_meta::Title;

use leptos_router::hooks::use_query_map;

use crate::api::{AppError, SignIn, StepUp};
use passkey::{PasskeySignIn, StepUpPasskey};

/// The sign-in form. It works as a plain form post before the WASM loads; once hydrated it
/// submits in the background and shows failures without a reload.
#[component]
pub fn LoginPage() -> impl IntoView {
    let sign_in = ServerAction::<SignIn>::new();
    let step_up = ServerAction::<StepUp>::new();
    // A risky sign-in comes back asking for the second factor: the page switches to the
    // step-up for that challenge (the user's passkey first, where they have one).
    let step_up_challenge = move || match sign_in.value().get() {
        Some(Err(AppError::StepUpRequired(challenge))) => Some(challenge),
        _ => None,
    };
    let challenge = move || step_up_challenge().map(|c| c.challenge_id);
    let passkey_step_up = move || step_up_challenge().and_then(|c| c.passkey.map(|options| (c.challenge_id, options)));
    // What a passkey attempt had to say; the forms' own failures come from their actions.
    let passkey_error = RwSignal::new(None::<String>);
    let error = move || match (sign_in.value().get(), step_up.value().get()) {
        (_, Some(Err(e))) => Some(e.to_string()),
        (Some(Err(AppError::StepUpRequired(_))), _) => passkey_error.get(),
        (Some(Err(e)), _) => Some(e.to_string()),
        _ => passkey_error.get(),
    };

    let changed = move || use_query_map().read().get("changed").is_some();
    // Sent here by a page load whose session is bound to this browser's key: the page
    // renews it with the key and goes on; the form stays for when it cannot.
    let renewing = RwSignal::new(use_query_map().read_untracked().get("renew").is_some());
    #[cfg(feature = "browser")]
    if renewing.get_untracked() {
        let next = use_query_map()
            .read_untracked()
            .get("next")
            .filter(|next| crate::wire::is_local_path(next))
            .unwrap_or_else(|| "/".to_owned());
        leptos::task::spawn_local(async move {
            match crate::session::renewal::refresh().await {
                // A full load: the page renders with the new cookies.
                crate::session::renewal::Renewal::Renewed { .. } => {
                    if let Some(window) = web_sys::window() {
                        let _ = window.location().set_href(&next);
                    }
                }
                _ => renewing.set(false),
            }
        });
    }
    // The page binds the session it is about to sign in to its own key (see `session`).
    let signing_in = move |_| {
        passkey_error.set(None);
        #[cfg(feature = "browser")]
        crate::session::renewal::signing_in();
    };

    view! {
        <Title text="Sign in" />
        <section class="card narrow">
            <h1>"Sign in"</h1>
            <Show when=move || renewing.get()>
                <p class="notice" role="status" data-testid="renewing">
                    "Resuming your session with this device's key…"
                </p>
            </Show>
            <Show when=changed>
                <p class="notice" role="status">
                    "Password changed. Sign in with your new password."
                </p>
            </Show>
            <Show when=move || {
                challenge().is_some()
            }>
                {move || match passkey_step_up() {
                    Some((challenge_id, options)) => {
                        view! {
                            <p class="notice" role="status">
                                "This sign-in looks different from your usual ones. Confirm it is you with your passkey."
                            </p>
                            <StepUpPasskey challenge_id options error=passkey_error />
                            <p class="muted">
                                "Or, if you set one up, enter the code from your authenticator app, or a recovery code."
                            </p>
                        }
                            .into_any()
                    }
                    None => {
                        view! {
                            <p class="notice" role="status">
                                "This sign-in looks different from your usual ones. Enter the code from your authenticator app, or a recovery code."
                            </p>
                        }
                            .into_any()
                    }
                }} <ActionForm action=step_up attr:class="form" attr:id="step-up-form">
                    <input type="hidden" name="challenge_id" value=move || challenge().unwrap_or_default() />
                    <label>
                        "Authentication code"
                        <input
                            type="text"
                            name="code"
                            autocomplete="one-time-code"
                            inputmode="numeric"
                            required
                            maxlength="32"
                            autofocus
                        />
                    </label>
                    <button type="submit" on:click=signing_in disabled=move || step_up.pending().get()>
                        "Verify"
                    </button>
                </ActionForm>
            </Show>
            <ActionForm action=sign_in attr:class="form" attr:id="login-form" attr:hidden=move || challenge().is_some()>
                <label>
                    "Username or e-mail"
                    <input
                        type="text"
                        name="username"
                        autocomplete="username webauthn"
                        required
                        maxlength="254"
                        autofocus
                    />
                </label>
                <label>
                    "Password"
                    <input type="password" name="password" autocomplete="current-password" required maxlength="1024" />
                </label>
                <button type="submit" on:click=signing_in disabled=move || sign_in.pending().get()>
                    {move || if sign_in.pending().get() { "Signing in…" } else { "Sign in" }}
                </button>
            </ActionForm>
            <Show when=move || challenge().is_none()>
                <PasskeySignIn error=passkey_error />
            </Show>
            <Show when=move || error().is_some()>
                <p class="error" role="alert">
                    {error}
                </p>
            </Show>
        </section>
    }
}
