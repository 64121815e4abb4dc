//! The use cases. Both the JSON API and the server functions call these, so the two paths
//! behave the same.

mod auth;
mod availability;
pub mod feed;
mod keys;
mod liveness;
mod maintenance;
pub(crate) mod risk;

pub use auth::{AuthError, AuthParts, AuthService, EventReview, EventVerdict, Principal, SessionPolicy, SignedIn};
pub use availability::DatabaseGate;
pub use feed::ActivityFeed;
pub use keys::{KeyLoadError, LoadedKeys, load_keys, load_successor_key, rotate_signing_key, verification_keys};
pub use maintenance::Maintenance;
pub use risk::{NoFactorPolicy, RiskPolicy};
