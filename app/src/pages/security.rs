use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::{BeginTotp, ConfirmTotp, second_factor_status};
use crate::components::Protected;

/// Two-step verification: enrol an authenticator app (QR code, then a first code), and
/// keep the recovery codes shown once.
#[component]
pub fn SecurityPage() -> impl IntoView {
    let begin = ServerAction::<BeginTotp>::new();
    let confirm = ServerAction::<ConfirmTotp>::new();
    let status = Resource::new_blocking(move || confirm.version().get(), |_| second_factor_status());

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
                            <RecoveryCodes confirm />
                        }
                            .into_any()
                    } else {
                        view! { <Enrol begin confirm /> }.into_any()
                    }
                }}
            />
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
            <ActionForm action=begin>
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

/// The recovery codes, right after enrolment (they are never shown again).
#[component]
fn RecoveryCodes(confirm: ServerAction<ConfirmTotp>) -> impl IntoView {
    move || {
        confirm.value().get().and_then(Result::ok).map(|codes| {
            view! {
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
