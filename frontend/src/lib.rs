//! The hydrate entry of the WASM bundle. It only wires the browser up; everything the
//! user sees lives in the `app` crate, which the server renders first.

#[wasm_bindgen::prelude::wasm_bindgen]
pub fn hydrate() {
    console_error_panic_hook::set_once();
    leptos::mount::hydrate_body(app::App);
}
