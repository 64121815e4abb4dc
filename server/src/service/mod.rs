//! The use cases. Both the JSON API and the server functions call these, so the two paths
//! behave the same.

mod auth;
mod keys;
mod liveness;

pub use auth::{AuthError, AuthService, Principal, SessionPolicy, SignedIn};
pub use keys::{KeyLoadError, LoadedKeys, load_keys, load_successor_key, rotate_signing_key, verification_keys};
