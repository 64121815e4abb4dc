//! The entry of the static bundle: the same `app` crate, rendered in the browser alone
//! (`csr`). Trunk builds it (`index.html` beside this crate's manifest, `Trunk.toml` at the
//! top); the page then talks to a fin-intelli server's API and server functions.

fn main() {
    console_error_panic_hook::set_once();
    app::csr::start();
}
