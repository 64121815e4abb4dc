use leptos::prelude::*;

/// Sends a page without a live access token to `/api/auth/resume`, which exchanges the
/// refresh cookie (scoped to `/api/auth`, so pages never see it) for fresh cookies and comes
/// back to `next`, or goes on to the sign-in page. A full navigation, not a router one: the
/// resume endpoint is not a page of this app.
#[component]
pub fn ResumeSession(#[prop(into)] next: String) -> impl IntoView {
    let target = format!(
        "{}?next={}",
        crate::api::url("/api/auth/resume"),
        encode_path(&return_to(next))
    );
    #[cfg(feature = "ssr")]
    leptos_axum::redirect(&target);
    #[cfg(not(feature = "ssr"))]
    let _ = window().location().set_href(&target);
    view! { <p class="muted">"Restoring your session…"</p> }
}

/// Where the resume endpoint sends the browser back: a path on the server's own site, or,
/// for a static bundle on another origin than the API, the page's full address there (the
/// server accepts only origins in its `FIN_CORS_ORIGINS`).
fn return_to(next: String) -> String {
    #[cfg(feature = "csr")]
    if !leptos::server_fn::client::get_server_url().is_empty()
        && let Ok(origin) = window().location().origin()
    {
        return format!("{origin}{next}");
    }
    next
}

/// Percent-encodes a path for a query value (no dependency needed for this little).
fn encode_path(path: &str) -> String {
    path.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
