//! The client-side-rendered build (`csr`): the whole app rendered in the browser, shipped as
//! the static bundle Trunk builds into `dist/` (`frontend/index.html`). It is the same
//! [`App`](crate::App) as the server-rendered build; this module only starts it and lets it
//! reach an API on another origin.
//!
//! Where the API is comes from `<meta name="fin-api-origin" content="…">` in the page, read
//! once at start. Empty (the default, and the recommended setup: bundle and API behind one
//! reverse proxy) means the page's own origin. Another origin must belong to the same site
//! as the page (the session cookies are SameSite=Strict) and be listed in the server's
//! `FIN_CORS_ORIGINS`.

use std::future::Future;

use futures::{Sink, Stream};
use leptos::server_fn::Bytes;
use leptos::server_fn::client::Client;
use leptos::server_fn::client::browser::BrowserClient;
use leptos::server_fn::error::FromServerFnError;
use leptos::server_fn::request::browser::{BrowserRequest, Request};
use leptos::server_fn::response::browser::BrowserResponse;

/// Reads the API's origin from the page, then renders the app into `<body>`.
pub fn start() {
    if let Some(origin) = api_origin() {
        // Once per page load: server functions want a `&'static str`.
        leptos::server_fn::client::set_server_url(Box::leak(origin.into_boxed_str()));
    }
    leptos::mount::mount_to_body(crate::App);
}

/// The configured API origin, when there is one (`https://api.example.com`).
fn api_origin() -> Option<String> {
    let meta = leptos::prelude::document()
        .query_selector(r#"meta[name="fin-api-origin"]"#)
        .ok()??;
    let origin = meta.get_attribute("content")?.trim().trim_end_matches('/').to_owned();
    if origin.is_empty() {
        return None;
    }
    if !(origin.starts_with("https://") || origin.starts_with("http://")) {
        leptos::logging::error!("fin-api-origin must be an http(s) origin; using this page's own");
        return None;
    }
    Some(origin)
}

/// Leptos's browser client, with `credentials: "include"` on every request, so the session
/// cookies go along to an API on another origin of the same site. (On the same origin this
/// changes nothing.) The request Leptos built is copied with that one setting changed.
pub struct CredentialedClient;

impl<E, I, O> Client<E, I, O> for CredentialedClient
where
    E: FromServerFnError,
    I: FromServerFnError,
    O: FromServerFnError,
{
    type Request = BrowserRequest;
    type Response = BrowserResponse;

    fn send(mut request: BrowserRequest) -> impl Future<Output = Result<BrowserResponse, E>> + Send {
        include_credentials(&mut request);
        <BrowserClient as Client<E, I, O>>::send(request)
    }

    fn open_websocket(
        path: &str,
    ) -> impl Future<
        Output = Result<
            (
                impl Stream<Item = Result<Bytes, Bytes>> + Send + 'static,
                impl Sink<Bytes> + Send + 'static,
            ),
            E,
        >,
    > + Send {
        <BrowserClient as Client<E, I, O>>::open_websocket(path)
    }

    fn spawn(future: impl Future<Output = ()> + Send + 'static) {
        <BrowserClient as Client<E, I, O>>::spawn(future)
    }
}

/// Replaces the request with a copy that includes credentials (`new Request(request, init)`
/// keeps everything else, the abort signal included).
fn include_credentials(request: &mut BrowserRequest) {
    let Ok(placeholder) = Request::get("/").build() else {
        return;
    };
    let original: web_sys::Request = std::mem::replace(&mut **request, placeholder).into();
    let init = web_sys::RequestInit::new();
    init.set_credentials(web_sys::RequestCredentials::Include);
    let copy = web_sys::Request::new_with_request_and_init(&original, &init).unwrap_or(original);
    **request = copy.into();
}
