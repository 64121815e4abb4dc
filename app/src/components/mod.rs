//! What several pages share: loading a page behind sign-in ([`Protected`]), and showing
//! words and times ([`format`]).

pub mod format;

use leptos::prelude::*;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::api::AppError;
use crate::pages::ResumeSession;

/// The one way a page behind sign-in loads: "Loading…" until `resource` answers, then
/// `render` with what it loaded. Without a live session the visitor goes through
/// [`ResumeSession`] and comes back to `next`; any other failure is shown in its words.
#[component]
pub fn Protected<T, V, F>(
    resource: Resource<Result<T, AppError>>,
    #[prop(into)] next: String,
    render: F,
) -> impl IntoView
where
    T: Clone + Send + Sync + Serialize + DeserializeOwned + 'static,
    V: IntoView + 'static,
    F: Fn(T) -> V + Clone + Send + Sync + 'static,
{
    view! {
        <Transition fallback=|| {
            view! { <p class="muted">"Loading…"</p> }
        }>
            {move || {
                let (render, next) = (render.clone(), next.clone());
                Suspend::new(async move {
                    match resource.await {
                        Ok(value) => render(value).into_any(),
                        Err(AppError::NotSignedIn) => view! { <ResumeSession next /> }.into_any(),
                        Err(e) => {
                            view! {
                                <p class="error" role="alert">
                                    {e.to_string()}
                                </p>
                            }
                                .into_any()
                        }
                    }
                })
            }}
        </Transition>
    }
}

/// A badge on an event whose client proved the session's device key.
#[component]
pub fn KeyProven(proven: bool) -> impl IntoView {
    proven.then(|| {
        view! {
            " "
            <span class="badge" data-testid="key-proven" title="The device proved the session's key">
                "key-proven"
            </span>
        }
    })
}
