use leptos::prelude::*;
use leptos_meta::Title;

/// Unknown pages: a real 404 status on the server, not a soft one.
#[component]
pub fn NotFound() -> impl IntoView {
    #[cfg(feature = "ssr")]
    if let Some(response) = use_context::<leptos_axum::ResponseOptions>() {
        response.set_status(http::StatusCode::NOT_FOUND);
    }
    view! {
        <Title text="Not found" />
        <section class="card narrow">
            <h1>"Page not found"</h1>
            <p>
                <a href="/">"Back to the start"</a>
            </p>
        </section>
    }
}
