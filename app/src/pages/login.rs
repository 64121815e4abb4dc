use leptos::prelude::*;
use leptos_meta::Title;

use leptos_router::hooks::use_query_map;

use crate::api::SignIn;

/// The sign-in form. It works as a plain form post before the WASM loads; once hydrated it
/// submits in the background and shows failures without a reload.
#[component]
pub fn LoginPage() -> impl IntoView {
    let sign_in = ServerAction::<SignIn>::new();
    let error = move || match sign_in.value().get() {
        Some(Err(e)) => Some(e.to_string()),
        _ => None,
    };

    let changed = move || use_query_map().read().get("changed").is_some();

    view! {
        <Title text="Sign in" />
        <section class="card narrow">
            <h1>"Sign in"</h1>
            <Show when=changed>
                <p class="notice" role="status">"Password changed. Sign in with your new password."</p>
            </Show>
            <ActionForm action=sign_in attr:class="form" attr:id="login-form">
                <label>
                    "Username or e-mail"
                    <input
                        type="text"
                        name="username"
                        autocomplete="username"
                        required
                        maxlength="254"
                        autofocus
                    />
                </label>
                <label>
                    "Password"
                    <input
                        type="password"
                        name="password"
                        autocomplete="current-password"
                        required
                        maxlength="1024"
                    />
                </label>
                <button type="submit" disabled=move || sign_in.pending().get()>
                    {move || if sign_in.pending().get() { "Signing in…" } else { "Sign in" }}
                </button>
            </ActionForm>
            <Show when=move || error().is_some()>
                <p class="error" role="alert">
                    {error}
                </p>
            </Show>
        </section>
    }
}
