//! Passkey answers as a browser would post them: `RegistrationResponseJSON` and
//! `AuthenticationResponseJSON`, arbitrary or mutated from a well-shaped one. Parsing never
//! panics, and a registration never verifies against a ceremony whose challenge it does not
//! carry (the attestation object's CBOR, the authenticator data and the COSE key are all
//! read on the way).
#![no_main]

#[path = "mutate.rs"]
mod mutate;

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use server::domain::passkey::{Assertion, Attestation, RelyingParty};

struct Fixture {
    rp: RelyingParty,
    registration: String,
}

static FIXTURE: LazyLock<Fixture> = LazyLock::new(|| {
    let rp = RelyingParty::new("https://login.example.test").unwrap();
    let handle = "6f1c2a0e-8d1b-4f55-9a59-0d7f0d5e2b11".parse().unwrap();
    let registration = rp.start_registration(handle, "fuzz", &[]).unwrap().state;
    Fixture { rp, registration }
});

/// A registration answer of the right shape: `{"type":"webauthn.create","challenge":"AAAA",
/// "origin":"https://login.example.test"}` as client data, and a `none` attestation whose
/// authenticator data the mutations then rewrite.
const TEMPLATE: &str = r#"{"id":"AQID","rawId":"AQID","type":"public-key","response":{"clientDataJSON":"eyJ0eXBlIjoid2ViYXV0aG4uY3JlYXRlIiwiY2hhbGxlbmdlIjoiQUFBQSIsIm9yaWdpbiI6Imh0dHBzOi8vbG9naW4uZXhhbXBsZS50ZXN0In0","attestationObject":"o2NmbXRkbm9uZWdhdHRTdG10oGhhdXRoRGF0YVhKSZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2NFAAAAAAAAAAAAAAAAAAAAAAAAAAAAEAECAwQFBgcICQoLDA0ODxClAQIDJiABIVggAA","authenticatorData":"SZYN5YgOjGh0NBcPZHZgW4_krrmihjLHmVzzuoMdl2MFAAAAAQ","signature":"MEUCIQ","userHandle":"bxwqDo0bT1WaWQ1_DV4rEQ","transports":["internal"]},"clientExtensionResults":{}}"#;

fuzz_target!(|data: &[u8]| {
    let fixture = &*FIXTURE;
    let text = mutate::candidate(TEMPLATE, data);
    let Ok(json) = serde_json::from_str::<serde_json::Value>(&text) else {
        return;
    };
    if let Ok(answer) = Assertion::parse(&json) {
        let _ = answer.credential_id();
        let _ = answer.user_handle();
    }
    if let Ok(answer) = Attestation::parse(&json) {
        assert!(
            fixture.rp.finish_registration(&answer, &fixture.registration).is_err(),
            "a registration verified without the ceremony's challenge"
        );
    }
});
