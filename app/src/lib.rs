//! The fin_intelli UI, shared by the server (which renders it) and the WASM bundle (which
//! hydrates it), and also built on its own as a client-side-rendered static bundle (`csr`,
//! see [`csr`]): one `App`, the same pages in every build.
//!
//! Everything server-only sits behind the `ssr` feature in [`api`]: the traits the server
//! functions call, implemented by the `server` crate over its services. That is how this
//! crate stays free of database, crypto and runtime crates in the browser build.

pub mod api;
mod components;
#[cfg(feature = "csr")]
pub mod csr;
mod pages;
mod session;
mod webauthn;
pub mod wire;

use leptos::prelude::*;
use leptos_meta::{MetaTags, Stylesheet, Title, provide_meta_context};
use leptos_router::{
    SsrMode, StaticSegment,
    components::{Route, Router, Routes},
};

/// The HTML document the server renders around [`App`].
pub fn shell(options: LeptosOptions) -> impl IntoView {
    view! {
        <!DOCTYPE html>
        <html lang="en">
            <head>
                <meta charset="utf-8" />
                <meta name="viewport" content="width=device-width, initial-scale=1" />
                <link rel="icon" href="/favicon.svg" type="image/svg+xml" />
                <AutoReload options=options.clone() />
                <HydrationScripts options />
                <MetaTags />
            </head>
            <body>
                <App />
            </body>
        </html>
    }
}

#[component]
pub fn App() -> impl IntoView {
    provide_meta_context();
    mark_hydrated();
    // Who is signed in, as the browser last heard: filled by the session keeper, read by
    // the admin links. Nobody on the server render, so both renders agree.
    let signed_in = RwSignal::new(None::<api::Me>);

    // The server's page links the stylesheet cargo-leptos builds; the static bundle's
    // index.html links its own copy (Trunk), so the app adds none there.
    let stylesheet = (!cfg!(feature = "csr")).then(|| view! { <Stylesheet id="leptos" href="/pkg/fin_intelli.css" /> });

    view! {
        {stylesheet}
        <Title formatter=|page: String| format!("{page} · fin_intelli") />
        <Router>
            <session::SessionKeeper signed_in />
            <header class="topbar">
                <a class="brand" href="/">
                    "fin_intelli"
                </a>
                <nav class="nav" aria-label="Main">
                    <a href="/">"Home"</a>
                    <a href="/activity">"Activity"</a>
                    <a href="/devices">"Devices"</a>
                    <a href="/password">"Password"</a>
                    <a href="/security">"Security"</a>
                    <AdminLinks signed_in />
                </nav>
            </header>
            <main>
                <Routes fallback=pages::NotFound>
                    // Pages behind sign-in render fully before the first byte, so the server can
                    // still answer with a redirect when there is no session.
                    <Route path=StaticSegment("") view=pages::HomePage ssr=SsrMode::Async />
                    <Route path=StaticSegment("devices") view=pages::DevicesPage ssr=SsrMode::Async />
                    <Route path=StaticSegment("activity") view=pages::MyActivityPage ssr=SsrMode::Async />
                    <Route
                        path=(StaticSegment("admin"), StaticSegment("activity"))
                        view=pages::AdminActivityPage
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=(StaticSegment("admin"), StaticSegment("live"))
                        view=pages::LivePage
                        ssr=SsrMode::Async
                    />
                    <Route
                        path=(StaticSegment("admin"), StaticSegment("users"))
                        view=pages::UsersPage
                        ssr=SsrMode::Async
                    />
                    <Route path=StaticSegment("password") view=pages::PasswordPage />
                    <Route path=StaticSegment("security") view=pages::SecurityPage ssr=SsrMode::Async />
                    <Route path=StaticSegment("login") view=pages::LoginPage />
                </Routes>
            </main>
            <footer class="footer">
                "fin_intelli: sign-in security you run yourself · "
                // DB-IP Lite's licence (CC BY 4.0) asks for this link wherever its data shows.
                <a href="https://db-ip.com" rel="noopener">
                    "IP Geolocation by DB-IP"
                </a>
            </footer>
        </Router>
    }
}

/// The admin pages' links, shown to administrators only. Hiding them is a courtesy: the
/// server refuses non-admins whatever the page shows.
#[component]
fn AdminLinks(signed_in: RwSignal<Option<api::Me>>) -> impl IntoView {
    // The links follow the session keeper's answer, asked in the browser after each
    // navigation: a resource here could hold the server's render waiting (seen in tests),
    // and links are no security boundary.
    let admin = move || signed_in.with(|me| me.as_ref().is_some_and(|me| me.role == api::Role::Admin));
    move || {
        admin().then(|| {
            view! {
                <span class="nav-admin" data-testid="admin-links">
                    <a href="/admin/live">"Live"</a>
                    <a href="/admin/activity">"Search"</a>
                    <a href="/admin/users">"Users"</a>
                </span>
            }
        })
    }
}

/// Sets `data-hydrated` on `<body>` once the WASM app has taken over (hydrated the server's
/// page, or in the static bundle rendered it), so browser tests (and curious humans) can
/// tell a live page from a merely server-rendered one.
fn mark_hydrated() {
    Effect::new(move |_| {
        if let Some(body) = document().body() {
            let _ = body.set_attribute("data-hydrated", "true");
        }
    });
}
