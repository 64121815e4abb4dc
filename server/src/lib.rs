//! The fin_intelli server as a library: `main.rs` only parses the command line.
//!
//! Layers, outermost first (see ARCHITECTURE.md):
//! - [`http`]: the JSON API and the Leptos routes; thin, translates to and from the services;
//! - [`web`]: the server functions' [`app::api::Backend`], also thin;
//! - [`edge`]: what those two share (client info, cookies, wire types, error mapping);
//! - [`service`]: one service per use case, over the domain and storage;
//! - [`domain`] and [`storage`]: passwords, tokens, risk, geolocation; the storage roles and
//!   their one implementation for PostgreSQL and SQLite. None of these know about HTTP or
//!   Leptos.

pub mod cli;
pub mod clock;
pub mod config;
pub mod connections;
pub mod domain;
pub mod edge;
pub mod http;
pub mod risk_eval;
pub mod service;
pub mod startup;
pub mod storage;
pub mod web;
