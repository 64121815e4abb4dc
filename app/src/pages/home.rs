use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::{Me, SignOut, whoami};
use crate::pages::ResumeSession;

/// The signed-in landing page: who you are and your role. Without a live access token the
/// visitor goes through [`ResumeSession`]: back here signed in, or on to the sign-in page.
#[component]
pub fn HomePage() -> impl IntoView {
    let me = Resource::new_blocking(|| (), |_| whoami());

    view! {
        <Title text="Home" />
        <Transition fallback=|| view! { <p class="muted">"Loading…"</p> }>
            {move || Suspend::new(async move {
                match me.await {
                    Ok(Some(user)) => view! { <SignedIn user /> }.into_any(),
                    Ok(None) => view! { <ResumeSession next="/" /> }.into_any(),
                    Err(e) => view! { <p class="error" role="alert">{e.to_string()}</p> }.into_any(),
                }
            })}
        </Transition>
    }
}

#[component]
fn SignedIn(user: Me) -> impl IntoView {
    let sign_out = ServerAction::<SignOut>::new();
    view! {
        <section class="card">
            <h1>"Welcome, " <span data-testid="username">{user.username.clone()}</span></h1>
            <p>
                "Signed in as " <strong>{user.email.clone()}</strong> " with role "
                <span class="badge" data-testid="role">{user.role.as_str()}</span> "."
            </p>
            <p>
                <a href="/activity">"See your recent sign-ins"</a>
                {(user.role == crate::api::Role::Admin)
                    .then(|| view! { " · " <a href="/admin/activity">"Search everyone's activity"</a> })}
            </p>
            <ActionForm action=sign_out attr:id="sign-out-form">
                <button type="submit" class="secondary">"Sign out"</button>
            </ActionForm>
        </section>
    }
}
