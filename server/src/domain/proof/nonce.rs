//! Server nonces for device proofs (RFC 9449 section 8): a proof must carry one the server
//! gave out recently, so a proof cannot be made ahead of time and kept for later.
//!
//! A nonce is its issue time, random bytes, and a MAC over both, so any instance can check
//! any other's without storing them. The random part makes each nonce unique, so one can
//! serve as a DBSC challenge that is answered once. Single use itself is the spent-proof
//! store's job.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac as _};
use rand::RngCore as _;
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretSlice};
use sha2::Sha256;

/// How long a nonce is accepted after it was issued.
pub const NONCE_LIFETIME: Duration = Duration::minutes(10);
/// The MAC's length in bytes: 128 bits cannot be guessed.
const TAG_BYTES: usize = 16;
/// Random bytes per nonce: no two are alike, even within one second.
const SALT_BYTES: usize = 12;

pub struct NonceKey(SecretSlice<u8>);

impl fmt::Debug for NonceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("NonceKey(<redacted>)")
    }
}

impl NonceKey {
    pub fn new(key: Vec<u8>) -> Self {
        Self(SecretSlice::from(key))
    }

    fn mac(&self, issued_and_salt: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(self.0.expose_secret()).expect("HMAC takes any key length");
        mac.update(b"fin-intelli device-proof nonce v2\0");
        mac.update(issued_and_salt);
        mac
    }

    /// A new nonce, issued at `now`.
    pub fn issue(&self, now: DateTime<Utc>) -> String {
        let mut bytes = now.timestamp().to_be_bytes().to_vec();
        let mut salt = [0u8; SALT_BYTES];
        OsRng.fill_bytes(&mut salt);
        bytes.extend_from_slice(&salt);
        let tag = self.mac(&bytes).finalize().into_bytes();
        bytes.extend_from_slice(&tag[..TAG_BYTES]);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// Whether `nonce` is one of ours, issued within [`NONCE_LIFETIME`] before `now` (and
    /// not after it). The MAC is compared in constant time.
    pub fn is_fresh(&self, nonce: &str, now: DateTime<Utc>) -> bool {
        let Ok(bytes) = URL_SAFE_NO_PAD.decode(nonce) else {
            return false;
        };
        if bytes.len() != 8 + SALT_BYTES + TAG_BYTES {
            return false;
        }
        let (signed, tag) = bytes.split_at(8 + SALT_BYTES);
        if self.mac(signed).verify_truncated_left(tag).is_err() {
            return false;
        }
        let Some(issued) = signed.first_chunk::<8>().map(|b| i64::from_be_bytes(*b)) else {
            return false;
        };
        let age = now.timestamp() - issued;
        (0..=NONCE_LIFETIME.num_seconds()).contains(&age)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nonces_are_ours_and_fresh_only() {
        let key = NonceKey::new(vec![1; 32]);
        let now = Utc::now();
        let nonce = key.issue(now);
        assert!(key.is_fresh(&nonce, now));
        assert_ne!(nonce, key.issue(now), "each nonce is new, even within the same second");
        assert!(key.is_fresh(&nonce, now + NONCE_LIFETIME));
        assert!(
            !key.is_fresh(&nonce, now + NONCE_LIFETIME + Duration::seconds(1)),
            "expired"
        );
        assert!(
            !key.is_fresh(&nonce, now - Duration::seconds(5)),
            "issued in the future"
        );
        assert!(!NonceKey::new(vec![2; 32]).is_fresh(&nonce, now), "another server's");
        let mut forged = URL_SAFE_NO_PAD.decode(&nonce).unwrap();
        forged[7] ^= 1;
        assert!(!key.is_fresh(&URL_SAFE_NO_PAD.encode(forged), now), "a changed time");
        for garbage in ["", "!!", "AAAA", &nonce[..nonce.len() - 2]] {
            assert!(!key.is_fresh(garbage, now), "{garbage}");
        }
    }
}
