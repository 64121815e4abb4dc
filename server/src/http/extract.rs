//! Extractors: who is calling, and from where.

use axum::extract::FromRequestParts;
use axum::http::header;
use axum::http::request::Parts;

use super::{ApiError, AppState};
use crate::domain::client::ClientInfo;
use crate::service::Principal;

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        Ok(state.client(parts))
    }
}

/// A caller with a valid access token whose session is live: `Authorization: Bearer`, or
/// `Authorization: DPoP` with a proof from the key the token is bound to.
pub struct Authenticated(pub Principal);

impl FromRequestParts<AppState> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let auth = &state.services.auth;
        if let Some(token) = bearer_token(&parts.headers) {
            return Ok(Authenticated(auth.authenticate(token).await?));
        }
        let token = authorization(&parts.headers, "dpop").ok_or_else(ApiError::invalid_token)?;
        Ok(Authenticated(
            auth.authenticate_proven(token, &state.client(parts)).await?,
        ))
    }
}

/// The token of an `Authorization: Bearer …` header, if there is one.
pub fn bearer_token(headers: &axum::http::HeaderMap) -> Option<&str> {
    authorization(headers, "bearer")
}

/// The credentials of an `Authorization` header of the given scheme.
fn authorization<'h>(headers: &'h axum::http::HeaderMap, scheme: &str) -> Option<&'h str> {
    headers
        .get(header::AUTHORIZATION)?
        .to_str()
        .ok()?
        .split_once(' ')
        .filter(|(sent, _)| sent.eq_ignore_ascii_case(scheme))
        .map(|(_, token)| token.trim())
}

/// A JSON body, or a 4xx that says what is wrong with it (axum's own rejection is plain
/// text, and quotes what was sent).
pub fn json_body<T>(body: Result<axum::Json<T>, axum::extract::rejection::JsonRejection>) -> Result<T, ApiError> {
    use axum::extract::rejection::JsonRejection as Rejected;
    body.map(|axum::Json(b)| b).map_err(|rejection| match rejection {
        Rejected::JsonDataError(error) => malformed(&error.body_text()),
        Rejected::JsonSyntaxError(_) => ApiError::bad_request("Malformed body: not valid JSON"),
        Rejected::MissingJsonContentType(_) => ApiError::new(
            axum::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "Send application/json",
        ),
        other => unreadable(other.status()),
    })
}

/// The 4xx for a body that could not be read at all.
pub fn unreadable(status: axum::http::StatusCode) -> ApiError {
    if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(status, "payload_too_large", "The request body is too large")
    } else {
        ApiError::bad_request("The request body could not be read")
    }
}

/// A 400 for a body that decoded but does not fit its type. The decoder's message is only
/// classified, and the answer is built from our own field names: the rest may quote the
/// input, which may be a password.
pub fn malformed(error: &str) -> ApiError {
    // axum: "<prefix>: [<path>: ]<serde message>"; our bodies are flat, so a path names
    // one of our fields. serde_json and serde_urlencoded: the message itself.
    let error = error
        .strip_prefix("Failed to deserialize the JSON body into the target type: ")
        .unwrap_or(error);
    let kinds = ["missing field", "unknown field", "duplicate field", "invalid"];
    let message = if kinds.iter().any(|kind| error.starts_with(kind)) {
        error
    } else {
        error.split_once(": ").map_or(error, |(_, message)| message)
    };
    let named = || message.split('`').nth(1).unwrap_or_default();
    let detail = if message.starts_with("missing field") {
        format!("missing field `{}`", named())
    } else if message.starts_with("duplicate field") {
        format!("field `{}` is given twice", named())
    } else if message.starts_with("unknown field") {
        // "unknown field `<theirs>`, expected <ours>": only the last part is ours.
        match message.rsplit_once(", expected ") {
            Some((_, expected)) => format!(
                "unknown field; expected {}",
                expected.split(" at line").next().unwrap_or_default()
            ),
            None => "unknown field".to_owned(),
        }
    } else {
        "a field has the wrong type or value".to_owned()
    };
    ApiError::bad_request(format!("Malformed body: {detail}"))
}

/// A numeric id from the path; anything else is no such `what` (404, never a 400 that
/// would tell ids from garbage).
pub fn path_id(raw: &str, what: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>().ok().filter(|id| *id > 0).ok_or_else(|| {
        ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "not_found",
            format!("No such {what}"),
        )
    })
}

/// A path parameter as text. axum's own rejection (a segment that is not UTF-8 once
/// percent-decoded) is a plain-text 400; such a segment names nothing that exists, so it is
/// the JSON 404 any other unknown id gets.
pub struct PathSegment(pub String);

impl<S: Send + Sync> FromRequestParts<S> for PathSegment {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        use axum::extract::rejection::PathRejection;
        match axum::extract::Path::<String>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(segment)) => Ok(Self(segment)),
            Err(PathRejection::FailedToDeserializePathParams(_)) => Err(ApiError::new(
                axum::http::StatusCode::NOT_FOUND,
                "not_found",
                "No such resource",
            )),
            Err(other) => {
                tracing::error!(error = %other.body_text(), "route without the path parameter its handler takes");
                Err(ApiError::internal())
            }
        }
    }
}

/// The answer of every action that ends sessions.
#[derive(serde::Serialize)]
pub struct SessionsEnded {
    pub sessions_ended: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        admin: bool,
    }

    fn decode(body: &str) -> ApiError {
        json_body::<Body>(axum::Json::from_bytes(body.as_bytes())).unwrap_err()
    }

    #[test]
    fn json_errors_name_our_fields_and_never_quote_values() {
        assert_eq!(
            decode(r#"{"name":"a"}"#).message,
            "Malformed body: missing field `admin`"
        );
        assert_eq!(
            decode(r#"{"name":"a","admin":true,"hunter2hunter2":1}"#).message,
            "Malformed body: unknown field; expected `name` or `admin`"
        );
        for body in [r#"{"name":12345678,"admin":true}"#, r#"{"name":"a","admin":"hunter2"}"#] {
            let error = decode(body);
            assert_eq!(error.status, axum::http::StatusCode::BAD_REQUEST);
            assert!(
                !error.message.contains("12345678") && !error.message.contains("hunter2"),
                "{error:?}"
            );
        }
        assert_eq!(decode("{").message, "Malformed body: not valid JSON");
    }
}
