use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::ChangePassword;

/// Changing the password ends every session, this one included: whoever else holds a
/// session is out the moment the password that let them in stops working.
#[component]
pub fn PasswordPage() -> impl IntoView {
    let change = ServerAction::<ChangePassword>::new();
    let error = move || match change.value().get() {
        Some(Err(e)) => Some(e.to_string()),
        _ => None,
    };
    view! {
        <Title text="Change password" />
        <section class="card narrow">
            <h1>"Change password"</h1>
            <p class="muted">"Every device will be signed out, this one too."</p>
            <ActionForm action=change attr:class="form">
                <label>
                    "Current password"
                    <input type="password" name="current" autocomplete="current-password" required maxlength="1024" />
                </label>
                <label>
                    "New password"
                    <input
                        type="password"
                        name="new"
                        autocomplete="new-password"
                        required
                        minlength="8"
                        maxlength="1024"
                    />
                </label>
                <label>
                    "Repeat the new password"
                    <input
                        type="password"
                        name="confirm"
                        autocomplete="new-password"
                        required
                        minlength="8"
                        maxlength="1024"
                    />
                </label>
                <button type="submit" disabled=move || change.pending().get()>
                    "Change password"
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
