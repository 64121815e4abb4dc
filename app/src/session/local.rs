//! The tabs' shared notes in localStorage: strings by key, nothing when storage is refused
//! (a private window may refuse it; the session then simply does without).

fn storage() -> Option<web_sys::Storage> {
    web_sys::window().and_then(|w| w.local_storage().ok().flatten())
}

pub fn get(key: &str) -> Option<String> {
    storage()?.get_item(key).ok().flatten()
}

/// A number stored under `key`, if one parses.
pub fn get_f64(key: &str) -> Option<f64> {
    get(key)?.parse().ok()
}

pub fn set(key: &str, value: &str) {
    if let Some(storage) = storage() {
        let _ = storage.set_item(key, value);
    }
}
