//! Device proofs as presented in the `DPoP` header: arbitrary strings, and mutations of a
//! real proof. Nothing panics, and whatever verifies names the key that signed the real
//! proof, for the request it was made for.
#![no_main]

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
    let candidate = match data.split_first() {
        // The real proof with bytes overwritten, inserted or cut.
        Some((&mode, rest)) if mode % 2 == 0 && !rest.is_empty() => {
            let mut bytes = fixture.valid.clone().into_bytes();
            let at = rest[0] as usize * bytes.len() / 256;
            match mode % 6 {
                0 => bytes.truncate(at),
                2 => bytes.splice(at..at, rest[1..].iter().copied()).for_each(drop),
                _ => {
                    for (i, b) in rest[1..].iter().enumerate() {
                        if let Some(slot) = bytes.get_mut(at + i) {
                            *slot = *b;
                        }
                    }
                }
            }
            String::from_utf8_lossy(&bytes).into_owned()
        }
        _ => String::from_utf8_lossy(data).into_owned(),
    };
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
