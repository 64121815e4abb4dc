//! Access tokens as presented in `Authorization: Bearer` or the access cookie: arbitrary
//! strings, and mutations of a real token. Nothing panics, and whatever verifies carries
//! exactly the claims the server issued.
#![no_main]

#[path = "mutate.rs"]
mod mutate;

use std::sync::LazyLock;

use chrono::{Duration, TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use secrecy::ExposeSecret;
use server::domain::access::{AccessTokens, SigningKey};

struct Fixture {
    tokens: AccessTokens,
    valid: String,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let signing = SigningKey::ed25519("ed-1", &[7u8; 32]).unwrap();
    let hmac = SigningKey::hs256("hs-1", vec![9u8; 32]).unwrap();
    let tokens = AccessTokens::new(&signing, &[hmac], "fin_intelli", "fin_intelli", Duration::minutes(15));
    let issued_at = Utc.timestamp_opt(1_800_000_000, 0).unwrap();
    let valid = tokens
        .issue(42, "fuzz", "user", "sid-1", issued_at)
        .token
        .expose_secret()
        .to_owned();
    Fixture { tokens, valid }
});

fuzz_target!(|data: &[u8]| {
    let fixture = &*FIXTURE;
    let now = Utc.timestamp_opt(1_800_000_060, 0).unwrap();
    let candidate = mutate::candidate(&fixture.valid, data);
    if let Ok(claims) = fixture.tokens.verify(&candidate, now) {
        assert_eq!(claims.sub, "42");
        assert_eq!(claims.sid, "sid-1");
        assert_eq!(claims.role, "user");
    }
});
