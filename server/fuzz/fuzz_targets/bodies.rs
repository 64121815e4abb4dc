//! Request bodies and query strings: every JSON and form shape the API accepts, under every
//! content type. Decoding never panics, a refusal is always a 4xx, and its message never
//! quotes a value that was sent (a value may be a password).
#![no_main]

use libfuzzer_sys::fuzz_target;
use server::http::fuzzing::{QUERIES, SHAPES, decode};

const CONTENT_TYPES: [&str; 6] = [
    "application/json",
    "application/x-www-form-urlencoded",
    "application/json; charset=utf-8",
    "APPLICATION/X-WWW-FORM-URLENCODED",
    "text/plain",
    "",
];

/// The field names of every body shape: the only input-independent words a message may
/// name.
const OURS: [&str; 15] = [
    "username",
    "password",
    "email",
    "is_admin",
    "is_active",
    "code",
    "challenge_id",
    "refresh_token",
    "refresh_delivery",
    "grant_type",
    "current_password",
    "new_password",
    "verdict",
    "credential",
    "name",
];

/// Whether a body error message is one of ours: a fixed text, or a template filled only
/// with our own field names. Anything else could be quoting the input (a password, say).
fn is_ours(message: &str) -> bool {
    const FIXED: [&str; 7] = [
        "Malformed body: not valid JSON",
        "Malformed body: a field has the wrong type or value",
        "Malformed body: unknown field",
        "Send application/json or application/x-www-form-urlencoded",
        "Send application/json",
        "The request body could not be read",
        "refresh_delivery must be \"cookie\" or \"body\"",
    ];
    const TEMPLATES: [&str; 3] = [
        "Malformed body: missing field `",
        "Malformed body: field `",
        "Malformed body: unknown field; expected ",
    ];
    if FIXED.contains(&message) {
        return true;
    }
    TEMPLATES.iter().any(|t| message.starts_with(t)) && {
        // Every backticked name is ours, and nothing but names, separators and the
        // template's own words surrounds them.
        let parts: Vec<&str> = message.split('`').collect();
        let names_ours = parts.iter().skip(1).step_by(2).all(|name| OURS.contains(name));
        let glue_ours = parts
            .iter()
            .skip(2)
            .step_by(2)
            .all(|glue| matches!(*glue, "" | ", " | " or " | ", or " | " is given twice"));
        names_ours && glue_ours && parts.len() % 2 == 1
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let shape = usize::from(selector) % SHAPES;
    let content_type = CONTENT_TYPES[usize::from(selector / 16) % CONTENT_TYPES.len()];
    if let Err((status, code, message)) = decode(shape, content_type, input) {
        assert!((400..500).contains(&status), "{status} {code}");
        assert!(!code.is_empty() && !message.is_empty());
        // Body errors (not query strings, which carry no secrets) are our own words.
        if !QUERIES.contains(&shape) {
            assert!(is_ours(&message), "{message:?} is not one of our messages");
        }
    }
});
