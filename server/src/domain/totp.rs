//! Time-based one-time passwords (RFC 6238, HMAC-SHA-1, 6 digits, 30-second steps: what
//! every authenticator app speaks) and recovery codes.

use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rand::RngCore;
use rand::rngs::OsRng;
use sha1::Sha1;
use subtle::ConstantTimeEq;

const STEP_SECS: i64 = 30;
const DIGITS: u32 = 6;
/// Codes from one step either side are accepted: phone clocks drift.
const WINDOW: i64 = 1;
const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// A new random secret (160 bits, as RFC 4226 recommends), base32 without padding.
pub fn new_secret() -> String {
    let mut bytes = [0u8; 20];
    OsRng.fill_bytes(&mut bytes);
    base32(&bytes)
}

/// RFC 4648 base32, no padding.
pub fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(5) * 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &byte in bytes {
        buffer = (buffer << 8) | u32::from(byte);
        bits += 8;
        while bits >= 5 {
            out.push(ALPHABET[((buffer >> (bits - 5)) & 31) as usize] as char);
            bits -= 5;
        }
    }
    if bits > 0 {
        out.push(ALPHABET[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

pub fn base32_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 5 / 8);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter(|c| *c != b'=' && *c != b' ') {
        let value = ALPHABET.iter().position(|a| *a == c.to_ascii_uppercase())? as u32;
        buffer = (buffer << 5) | value;
        bits += 5;
        if bits >= 8 {
            out.push((buffer >> (bits - 8)) as u8);
            bits -= 8;
        }
    }
    Some(out)
}

/// The step a time falls in.
pub fn step(at: DateTime<Utc>) -> i64 {
    at.timestamp().div_euclid(STEP_SECS)
}

/// The code for one step (RFC 4226 dynamic truncation).
pub fn code(secret: &[u8], step: i64) -> u32 {
    let Ok(mut mac) = Hmac::<Sha1>::new_from_slice(secret) else {
        return 0;
    };
    mac.update(&step.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    let offset = (digest[19] & 0x0f) as usize;
    let value = u32::from_be_bytes([
        digest[offset] & 0x7f,
        digest[offset + 1],
        digest[offset + 2],
        digest[offset + 3],
    ]);
    value % 10u32.pow(DIGITS)
}

/// Checks `input` against the secret at `now`, refusing any step at or before
/// `last_used` (a code works once). Returns the step it matched.
pub fn verify(secret_b32: &str, input: &str, now: DateTime<Utc>, last_used: Option<i64>) -> Option<i64> {
    let secret = base32_decode(secret_b32)?;
    let digits: String = input.chars().filter(|c| !c.is_whitespace()).collect();
    if digits.len() != DIGITS as usize || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let current = step(now);
    // Every candidate is compared, in constant time, so timing says nothing.
    let mut matched = None;
    for candidate in current - WINDOW..=current + WINDOW {
        let expected = format!("{:06}", code(&secret, candidate));
        if bool::from(expected.as_bytes().ct_eq(digits.as_bytes())) && last_used.is_none_or(|l| candidate > l) {
            matched = Some(candidate);
        }
    }
    matched
}

/// The `otpauth://` URI authenticator apps read from a QR code.
pub fn otpauth_uri(issuer: &str, account: &str, secret_b32: &str) -> String {
    let enc = |s: &str| -> String {
        s.bytes()
            .map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
                other => format!("%{other:02X}"),
            })
            .collect()
    };
    format!(
        "otpauth://totp/{}:{}?secret={secret_b32}&issuer={}&algorithm=SHA1&digits={DIGITS}&period={STEP_SECS}",
        enc(issuer),
        enc(account),
        enc(issuer)
    )
}

/// The QR code of `text` as an SVG document (what a phone scans to enrol).
pub fn qr_svg(text: &str) -> String {
    match qrcode::QrCode::new(text.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build(),
        Err(_) => String::new(),
    }
}

/// Ten single-use recovery codes, `xxxxx-xxxxx` (50 bits each).
pub fn recovery_codes() -> Vec<String> {
    (0..10)
        .map(|_| {
            let mut bytes = [0u8; 7];
            OsRng.fill_bytes(&mut bytes);
            let text = base32(&bytes).to_lowercase();
            format!("{}-{}", &text[..5], &text[5..10])
        })
        .collect()
}

/// A recovery code as typed: case, spaces and the dash do not matter.
pub fn normalise_recovery_code(input: &str) -> String {
    input
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_lowercase()
}

/// How codes made before keyed hashing were stored: the plain SHA-256 of the normalised
/// form. Only looked up among the codes stored that way, until their owner makes new ones.
pub fn legacy_hash_recovery_code(input: &str) -> String {
    crate::domain::token::sha256_hex(&normalise_recovery_code(input))
}

/// The server key recovery codes are hashed with. A code has 50 random bits: a plain hash of
/// one falls to a brute force in hours for whoever reads the database; an HMAC under a key
/// kept apart from the rows (in the server secrets) does not.
pub struct RecoveryKey(secrecy::SecretSlice<u8>);

impl std::fmt::Debug for RecoveryKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RecoveryKey(<redacted>)")
    }
}

impl RecoveryKey {
    pub fn new(key: Vec<u8>) -> Self {
        Self(secrecy::SecretSlice::from(key))
    }

    /// How a recovery code is stored and compared: the hex HMAC-SHA256 of its normalised
    /// form under this key.
    pub fn hash(&self, input: &str) -> String {
        use secrecy::ExposeSecret as _;
        let mut mac = Hmac::<sha2::Sha256>::new_from_slice(self.0.expose_secret()).expect("HMAC takes any key length");
        mac.update(b"fin-intelli recovery code v1\0");
        mac.update(normalise_recovery_code(input).as_bytes());
        mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_6238_test_vectors() {
        // RFC 6238 appendix B, SHA-1, the 8-digit values truncated to 6.
        let secret = b"12345678901234567890";
        for (time, expected) in [
            (59, 287_082),
            (1_111_111_109, 81_804),
            (1_234_567_890, 5_924),
            (2_000_000_000, 279_037),
        ] {
            let at = DateTime::from_timestamp(time, 0).unwrap();
            assert_eq!(code(secret, step(at)), expected, "{time}");
        }
    }

    #[test]
    fn base32_round_trips() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        assert_eq!(base32_decode("MZXW6YTBOI").unwrap(), b"foobar");
        let secret = new_secret();
        assert_eq!(secret.len(), 32);
        assert_eq!(base32_decode(&secret).unwrap().len(), 20);
    }

    #[test]
    fn codes_verify_once_within_the_window() {
        let secret = new_secret();
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let raw = base32_decode(&secret).unwrap();
        let current = format!("{:06}", code(&raw, step(now)));
        let used = verify(&secret, &current, now, None).expect("the current code");
        assert_eq!(verify(&secret, &current, now, Some(used)), None, "not twice");
        let previous = format!("{:06}", code(&raw, step(now) - 1));
        assert!(verify(&secret, &previous, now, None).is_some(), "a step of drift");
        let old = format!("{:06}", code(&raw, step(now) - 3));
        assert_eq!(verify(&secret, &old, now, None), None);
        assert_eq!(verify(&secret, "12345", now, None), None);
        assert_eq!(verify(&secret, "abcdef", now, None), None);
    }

    #[test]
    fn recovery_codes_are_distinct_and_forgiving() {
        let codes = recovery_codes();
        assert_eq!(codes.len(), 10);
        assert_eq!(codes.iter().collect::<std::collections::HashSet<_>>().len(), 10);
        assert_eq!(normalise_recovery_code(" ABCDE-fghij "), "abcdefghij");
        assert!(otpauth_uri("fin_intelli", "alice", "ABC").starts_with("otpauth://totp/fin_intelli:alice?secret=ABC"));
    }
}

#[cfg(test)]
mod recovery_key_tests {
    use super::*;

    #[test]
    fn recovery_codes_are_hashed_under_the_key_not_plainly() {
        let key = RecoveryKey::new(vec![7; 32]);
        let code = "abcde-fghij";
        assert_eq!(key.hash(code), key.hash(" ABCDE FGHIJ "), "as typed");
        assert_ne!(key.hash(code), legacy_hash_recovery_code(code));
        assert_ne!(key.hash(code), RecoveryKey::new(vec![8; 32]).hash(code), "keyed");
        assert_eq!(key.hash(code).len(), 64);
    }
}
