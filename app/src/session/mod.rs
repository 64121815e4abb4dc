//! Keeps a signed-in page signed in.
//!
//! The access token lives a few minutes, in an HttpOnly cookie the page cannot read. The
//! server tells the page when it expires (`Me::access_expires_at`); shortly before that, the
//! page calls `POST /api/auth/refresh`, which rotates the refresh cookie and sets a fresh
//! access cookie. Open tabs coordinate through localStorage (a claim on the refresh and the
//! new expiry), so one refresh serves them all; were two tabs to refresh at once anyway, the
//! server's grace window hands both the same successor and nothing breaks.
//!
//! Where the browser has no DBSC, the page binds a fresh session to its own WebCrypto key
//! ([`device_key`]) and signs every refresh with it ([`renewal`]): a copy of the cookies
//! alone can no longer renew the session.

#[cfg(any(feature = "browser", test))]
mod base64url;
#[cfg(feature = "browser")]
mod device_key;
#[cfg(feature = "browser")]
mod key_store;
#[cfg(feature = "browser")]
mod local;
#[cfg(feature = "browser")]
pub mod renewal;

use leptos::prelude::*;

/// Watches who is signed in (once per navigation, in the browser only, never during the
/// server render), tells `signed_in`, and keeps one timer that refreshes the session in time.
#[component]
pub fn SessionKeeper(signed_in: RwSignal<Option<crate::api::Me>>) -> impl IntoView {
    #[cfg(feature = "browser")]
    browser::run(signed_in);
    #[cfg(not(feature = "browser"))]
    let _ = signed_in;
}

#[cfg(feature = "browser")]
mod browser {
    use leptos::prelude::*;
    use leptos::task::spawn_local;
    use std::time::Duration;

    use super::renewal::{self, Renewal};
    use crate::api::{Me, whoami};

    /// localStorage keys: the shared expiry (Unix seconds) and a tab's claim (Unix ms).
    const EXPIRES_AT: &str = "fin.session.expires_at";
    const CLAIMED_AT: &str = "fin.session.refresh_claimed_at";
    /// How long one tab's claim on the refresh keeps the others waiting.
    const CLAIM_MS: f64 = 10_000.0;

    pub fn run(signed_in: RwSignal<Option<Me>>) {
        let location = leptos_router::hooks::use_location();
        let me = LocalResource::new(move || {
            location.pathname.track();
            whoami()
        });
        let timer = StoredValue::new_local(None::<TimeoutHandle>);
        Effect::new(move |_| {
            let Some(answer) = me.get() else { return };
            let me = answer.ok().flatten();
            if let Some(me) = &me {
                schedule(timer, me.access_expires_at);
                // A session just signed in: bind it to this browser's key.
                spawn_local(renewal::bind_if_offered());
            }
            signed_in.set(me);
        });
    }

    fn now_ms() -> f64 {
        js_sys::Date::now()
    }

    fn read(key: &str) -> Option<f64> {
        super::local::get_f64(key)
    }

    fn write(key: &str, value: f64) {
        super::local::set(key, &value.to_string());
    }

    /// Sets the one timer to fire a little before `expires_at` (or the later expiry another
    /// tab already reached).
    fn schedule(timer: StoredValue<Option<TimeoutHandle>, LocalStorage>, expires_at: i64) {
        let expires_at = read(EXPIRES_AT).map_or(expires_at, |shared| (shared as i64).max(expires_at));
        let remaining_ms = (expires_at as f64) * 1000.0 - now_ms();
        // A minute early, or a third of the lifetime for short ones; jitter spreads tabs out.
        let lead_ms = (remaining_ms / 3.0).clamp(0.0, 60_000.0);
        let jitter_ms = js_sys::Math::random() * 2_000.0;
        let delay = Duration::from_millis((remaining_ms - lead_ms + jitter_ms).max(1_000.0) as u64);
        if let Some(previous) = timer.get_value() {
            previous.clear();
        }
        let handle = set_timeout_with_handle(move || fire(timer, expires_at), delay).ok();
        timer.set_value(handle);
    }

    fn fire(timer: StoredValue<Option<TimeoutHandle>, LocalStorage>, expected: i64) {
        if renewal::browser_keeps_session() {
            return;
        }
        // Another tab refreshed already: follow its expiry.
        if read(EXPIRES_AT).is_some_and(|shared| shared as i64 > expected) {
            return schedule(timer, expected);
        }
        // Another tab is refreshing right now: look again shortly.
        if read(CLAIMED_AT).is_some_and(|at| now_ms() - at < CLAIM_MS) {
            let handle = set_timeout_with_handle(move || fire(timer, expected), Duration::from_secs(2)).ok();
            return timer.set_value(handle);
        }
        write(CLAIMED_AT, now_ms());
        spawn_local(async move {
            match renewal::refresh().await {
                Renewal::Renewed { expires_in } => {
                    let expires_at = (now_ms() / 1000.0) as i64 + expires_in;
                    write(EXPIRES_AT, expires_at as f64);
                    write(CLAIMED_AT, 0.0);
                    schedule(timer, expires_at);
                }
                // The browser's DBSC key renews it (or another device's key): not ours to do.
                Renewal::KeyElsewhere => write(CLAIMED_AT, 0.0),
                Renewal::Ended => {
                    write(CLAIMED_AT, 0.0);
                    // Signed out elsewhere, revoked: say so plainly.
                    if let Some(window) = web_sys::window() {
                        let _ = window.location().set_href("/login");
                    }
                }
                Renewal::Unreachable => {
                    // Offline or the server is away: try again soon.
                    write(CLAIMED_AT, 0.0);
                    let handle = set_timeout_with_handle(move || fire(timer, expected), Duration::from_secs(10)).ok();
                    timer.set_value(handle);
                }
            }
        });
    }
}
