use leptos::prelude::*;
use leptos_meta::Title;

use crate::api::{AppError, Me, SignOut, whoami};
use crate::components::Protected;

/// The signed-in landing page: who you are and your role. Without a live access token the
/// visitor goes through [`ResumeSession`]: back here signed in, or on to the sign-in page.
#[component]
pub fn HomePage() -> impl IntoView {
    // Nobody signed in is the resume flow's case, like any page behind sign-in.
    let me = Resource::new_blocking(|| (), |_| async { whoami().await?.ok_or(AppError::NotSignedIn) });

    view! {
        <Title text="Home" />
        <Protected resource=me next="/" render={|user| view! { <SignedIn user /> }} />
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
                <span class="badge" data-testid="role">
                    {user.role.as_str()}
                </span> "."
            </p>
            <p>
                <a href="/activity">"See your recent sign-ins"</a>
                {(user.role == crate::api::Role::Admin)
                    .then(|| {
                        view! {
                            " · "
                            <a href="/admin/activity">"Search everyone's activity"</a>
                        }
                    })}
            </p>
            <ActionForm action=sign_out attr:id="sign-out-form">
                <button type="submit" class="secondary">
                    "Sign out"
                </button>
            </ActionForm>
        </section>
    }
}
