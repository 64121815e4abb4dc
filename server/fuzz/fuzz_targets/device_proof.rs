//! Device proofs as presented in the `DPoP` header: arbitrary strings, and mutations of a
//! real proof. Nothing panics, and whatever verifies names the key that signed the real
//! proof, for the request it was made for.
#![no_main]

#[path = "mutate.rs"]
mod mutate;

use std::sync::LazyLock;

use chrono::{DateTime, TimeZone, Utc};
use libfuzzer_sys::fuzz_target;
use server::domain::proof::{Expected, SoftwareKey, Target, verify};

struct Fixture {
    jkt: String,
    valid: String,
}

const URL: &str = "https://fin.example/api/auth/refresh";

fn now() -> DateTime<Utc> {
    Utc.timestamp_opt(1_800_000_000, 0).unwrap()
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let key = SoftwareKey::generate();
    Fixture {
        jkt: key.thumbprint(),
        valid: key.proof("POST", URL, now(), Some("nonce"), None),
    }
});

fuzz_target!(|data: &[u8]| {
    let fixture = &*FIXTURE;
    let candidate = mutate::candidate(&fixture.valid, data);
    let expected = Expected {
        target: Target {
            method: "POST",
            authority: "fin.example",
            path: "/api/auth/refresh",
        },
        now: now(),
        access_token: None,
    };
    if let Ok(proof) = verify(&candidate, &expected) {
        // Only the real key's signature verifies; a forged key would need its private half.
        assert_eq!(proof.jkt, fixture.jkt);
    }
});
