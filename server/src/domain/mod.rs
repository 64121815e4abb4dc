//! The domain: pure rules about users, passwords, tokens and clients. No HTTP, no Leptos, no
//! SQL; everything here is tested with plain unit tests.

pub mod access;
pub mod client;
pub mod device;
pub mod geo;
pub mod passkey;
pub mod password;
pub mod proof;
pub mod risk;
pub mod throttle;
pub mod token;
pub mod totp;
pub mod user;
