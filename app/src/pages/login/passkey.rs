//! Signing in with a passkey on the sign-in page: the button, the username field's
//! autofill, and the step-up's "Use your passkey". Each asks the server for options, hands
//! them to the browser's authenticator, and sends back what it signed; a sign-in that
//! passes loads the home page in full, as the form's post does.

use leptos::prelude::*;

use crate::api::{passkey_options, passkey_sign_in, step_up_passkey};
use crate::webauthn::{self, Autofill, WebAuthnError};
use crate::wire::{AppError, PasskeyCeremony};

/// Why a passkey sign-in did not happen, in words for the page; `None` when there is
/// nothing to say (the person cancelled, or the browser offers no autofill).
fn said(error: WebAuthnError) -> Option<String> {
    match error {
        WebAuthnError::Cancelled | WebAuthnError::Unsupported => None,
        WebAuthnError::Failed(why) => Some(format!("The passkey could not be used: {why}")),
    }
}

/// A full load of `/`: the server renders it with the new session's cookies.
fn go_home() {
    #[cfg(feature = "browser")]
    if let Some(window) = web_sys::window() {
        let _ = window.location().set_href("/");
    }
}

/// The session about to open binds the page's device key (see `session`).
fn binding_next_session() {
    #[cfg(feature = "browser")]
    crate::session::renewal::signing_in();
}

/// Finishes a sign-in with a signed answer; the error to show, if any.
async fn finish(ceremony: PasskeyCeremony, answer: Result<String, WebAuthnError>) -> Option<String> {
    let credential = match answer {
        Ok(credential) => credential,
        Err(error) => return said(error),
    };
    binding_next_session();
    match passkey_sign_in(ceremony.challenge_id, credential).await {
        Ok(_) => {
            go_home();
            None
        }
        // No username was typed: the password's wording would puzzle.
        Err(AppError::InvalidCredentials) => Some("That passkey did not sign you in.".to_owned()),
        Err(error) => Some(error.to_string()),
    }
}

/// "Sign in with a passkey", and the same passkeys offered in the username field's
/// autofill. Shown once the page runs in a browser that can use passkeys; without one
/// (or before the WASM loads) the password form is the way in.
#[component]
pub fn PasskeySignIn(error: RwSignal<Option<String>>) -> impl IntoView {
    let available = RwSignal::new(false);
    let busy = RwSignal::new(false);
    let autofill = StoredValue::new_local(None::<Autofill>);
    // Effects run in the browser only: there the page asks for options, shows the button
    // when passkeys of that relying party can work here, and offers them in the username
    // field's autofill until one is picked, the button is pressed, or the page goes away.
    Effect::new(move |_| {
        if !webauthn::supported() {
            return;
        }
        // Made (and kept for the clean-up) before the first await, so a page left while the
        // options are on their way still calls the offer off.
        let Some(offer) = Autofill::new() else { return };
        autofill.set_value(Some(offer.clone()));
        leptos::task::spawn_local(async move {
            let Ok(ceremony) = passkey_options().await else { return };
            if !webauthn::usable_for(&ceremony.options) {
                return;
            }
            available.set(true);
            // Only a passkey picked from the autofill has anything to say; an offer that
            // ended without one (cancelled, unavailable) is silent.
            let Ok(credential) = offer.offer(&ceremony.options).await else {
                return;
            };
            if let Some(problem) = finish(ceremony, Ok(credential)).await {
                error.set(Some(problem));
            }
        });
    });
    on_cleanup(move || {
        autofill.try_with_value(|o| o.as_ref().map(Autofill::abort));
    });
    let sign_in = move |_| {
        autofill.with_value(|o| o.as_ref().map(Autofill::abort));
        busy.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            let problem = match passkey_options().await {
                Ok(ceremony) => {
                    let answer = webauthn::sign_in(&ceremony.options).await;
                    finish(ceremony, answer).await
                }
                Err(e) => Some(e.to_string()),
            };
            busy.set(false);
            error.set(problem);
        });
    };
    view! {
        <Show when=move || available.get()>
            <button
                type="button"
                class="secondary"
                data-testid="passkey-sign-in"
                on:click=sign_in
                disabled=move || busy.get()
            >
                "Sign in with a passkey"
            </button>
        </Show>
    }
}

/// The step-up's first choice for a user with passkeys: answer the challenge with one.
#[component]
pub fn StepUpPasskey(challenge_id: String, options: String, error: RwSignal<Option<String>>) -> impl IntoView {
    let busy = RwSignal::new(false);
    let use_passkey = move |_| {
        let (challenge_id, options) = (challenge_id.clone(), options.clone());
        busy.set(true);
        error.set(None);
        leptos::task::spawn_local(async move {
            let problem = match webauthn::sign_in(&options).await {
                Ok(credential) => {
                    binding_next_session();
                    match step_up_passkey(challenge_id, credential).await {
                        Ok(_) => {
                            go_home();
                            None
                        }
                        Err(AppError::InvalidCode) => Some("That passkey did not answer the challenge.".to_owned()),
                        Err(e) => Some(e.to_string()),
                    }
                }
                Err(e) => said(e),
            };
            busy.set(false);
            error.set(problem);
        });
    };
    view! {
        <button type="button" data-testid="step-up-passkey" on:click=use_passkey disabled=move || busy.get()>
            "Use your passkey"
        </button>
    }
}
