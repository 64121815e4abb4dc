//! One integration-test binary (faster to link than one per file). Every test runs against
//! the backend `FIN_TEST_DB` names: `sqlite` (the default, no set-up) or `postgres` (with
//! `FIN_TEST_POSTGRES_URL`); `make test` runs the suite once per backend.

mod activity_log;
mod admin_console;
mod admin_users;
mod auth_api;
mod authenticator;
mod cli;
mod cors;
mod dbsc;
mod device_binding;
mod factors;
mod faults;
mod helpers;
mod keys;
mod limits;
mod openapi;
mod outage;
mod pages;
mod passkeys;
mod password_policy;
mod request_ids;
mod risk;
mod risk_corpus;
mod secrets;
mod sessions;
mod storage;
mod stream;
mod throttling;
