//! The fin_intelli server as a library: `main.rs` only parses the command line.
//!
//! Layers, outermost first (see ARCHITECTURE.md):
//! - [`http`]: the JSON API and the Leptos routes; thin, translates to and from the services;
//! - [`web`]: the server functions' [`app::backend::Backend`], also thin;
//! - [`service`]: the use cases (sign in, sign out, authenticate), over the domain and storage;
//! - [`domain`] and [`storage`]: passwords, tokens, users, client facts; the storage trait and
//!   its PostgreSQL and SQLite implementations. None of these know about HTTP or Leptos.

pub mod cli;
pub mod clock;
pub mod config;
pub mod domain;
pub mod edge;
pub mod http;
pub mod risk_eval;
pub mod service;
pub mod startup;
pub mod storage;
pub mod web;
