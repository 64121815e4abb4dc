//! The hydrate entry of the WASM bundle. It only wires the browser up; everything the
//! user sees lives in the `app` crate, which the server renders first. (The static bundle's
//! entry is `main.rs`.)

// Hydrating the whole app instantiates its view types here, nested deeper than rustc's
// default limit of 128 queries allows (the live page's view inside the router).
#![recursion_limit = "256"]

#[cfg(feature = "hydrate")]
#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
