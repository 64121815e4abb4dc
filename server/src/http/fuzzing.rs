//! The request-body and query decoders, reachable from the fuzz targets (`server/fuzz`).
//! Compiled only in fuzz builds (`cargo fuzz` sets `--cfg fuzzing`).

use axum::Json;
use axum::body::Bytes;
use axum::http::{HeaderMap, HeaderValue, header};

use super::ApiError;
use super::activity::parse_query;
use super::admin::{NewUserBody, UpdateUserBody};
use super::auth::{LoginRequest, StepUpRequest, TokenBody, optional_body, parse_body};
use super::extract::json_body;
use super::me::{ConfirmTotp, PasswordChange};
use super::passkeys::{FinishRegistration, FinishSignIn};

/// Every body and query shape the API accepts.
pub const SHAPES: usize = 12;
/// The shapes that are query strings (the rest are bodies).
pub const QUERIES: [usize; 2] = [8, 9];

/// Decodes `input` as shape `shape % SHAPES` sent with `content_type`, the way its handler
/// does. `Err` holds the status, error code and message the caller would get.
pub fn decode(shape: usize, content_type: &str, input: &[u8]) -> Result<(), (u16, &'static str, String)> {
    let mut headers = HeaderMap::new();
    if let Ok(value) = HeaderValue::from_str(content_type) {
        headers.insert(header::CONTENT_TYPE, value);
    }
    let bytes = || Ok(Bytes::copy_from_slice(input));
    let outcome: Result<(), ApiError> = match shape % SHAPES {
        0 => parse_body::<LoginRequest>(&headers, bytes()).map(|login| {
            // The password never reaches a debug print.
            let printed = format!("{login:?}");
            let password = login.password.as_str();
            assert!(password.len() < 4 || login.username.contains(password) || !printed.contains(password));
        }),
        1 => parse_body::<StepUpRequest>(&headers, bytes()).map(drop),
        2 => optional_body::<TokenBody>(&headers, bytes()).map(drop),
        3 => parse_body::<PasswordChange>(&headers, bytes()).map(drop),
        4 => json_body::<NewUserBody>(Json::from_bytes(input)).map(drop),
        5 => json_body::<UpdateUserBody>(Json::from_bytes(input)).map(drop),
        6 => json_body::<ConfirmTotp>(Json::from_bytes(input)).map(drop),
        7 => json_body::<super::activity::VerdictBody>(Json::from_bytes(input)).map(drop),
        8 => parse_query(std::str::from_utf8(input).ok(), true).map(drop),
        9 => parse_query(std::str::from_utf8(input).ok(), false).map(drop),
        10 => parse_body::<FinishSignIn>(&headers, bytes()).map(drop),
        _ => parse_body::<FinishRegistration>(&headers, bytes()).map(drop),
    };
    outcome.map_err(|error| (error.status.as_u16(), error.code, error.message))
}
