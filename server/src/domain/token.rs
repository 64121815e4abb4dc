//! Refresh tokens: random bytes, sent once, stored only as their SHA-256.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use sha2::{Digest, Sha256};

/// Refresh tokens are this many random bytes (512 bits), sent as unpadded base64url.
pub const REFRESH_TOKEN_BYTES: usize = 64;
/// The length of an encoded refresh token; anything else is refused without a lookup.
pub const REFRESH_TOKEN_CHARS: usize = 86;

/// `len` random bytes from the OS, as unpadded base64url.
pub fn random_urlsafe(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A freshly minted refresh token: the secret for the client and the hash for the database.
pub struct NewRefreshToken {
    pub secret: SecretString,
    pub hash: String,
}

impl fmt::Debug for NewRefreshToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewRefreshToken")
            .field("hash", &self.hash)
            .finish_non_exhaustive()
    }
}

impl NewRefreshToken {
    pub fn generate() -> Self {
        let secret = random_urlsafe(REFRESH_TOKEN_BYTES);
        let hash = hash_refresh_token(&secret);
        Self {
            secret: SecretString::from(secret),
            hash,
        }
    }
}

/// The key that derives a refresh token's successor from the token itself.
///
/// The successor is HMAC-SHA-512(key, presented token): a retry of the same refresh (a
/// second tab, a response lost on the way) recomputes exactly the same successor, so the
/// grace window can answer it without any token ever being stored in plaintext. Without
/// the key, a successor cannot be predicted from its parent.
pub struct SuccessorKey(SecretSlice<u8>);

impl fmt::Debug for SuccessorKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SuccessorKey(<redacted>)")
    }
}

impl SuccessorKey {
    pub fn new(key: Vec<u8>) -> Self {
        Self(SecretSlice::from(key))
    }

    pub fn successor(&self, presented: &str) -> NewRefreshToken {
        use hmac::{Hmac, Mac as _};
        // HMAC accepts keys of any length; this cannot fail.
        let mut mac = Hmac::<sha2::Sha512>::new_from_slice(self.0.expose_secret()).expect("HMAC takes any key length");
        mac.update(b"fin-intelli refresh successor v1\0");
        mac.update(presented.as_bytes());
        let secret = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
        let hash = hash_refresh_token(&secret);
        NewRefreshToken {
            secret: SecretString::from(secret),
            hash,
        }
    }
}

/// The hex SHA-256 of a refresh token. A plain hash is enough (no salt, no slow hash): the
/// token has 512 bits of entropy, so there is nothing to brute-force.
pub fn hash_refresh_token(secret: &str) -> String {
    sha256_hex(secret)
}

/// The hex SHA-256 of a high-entropy secret: how refresh tokens, device cookies and
/// recovery codes are stored, each through its own named function.
pub(crate) fn sha256_hex(secret: &str) -> String {
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether a presented string can be a refresh token at all; lets garbage fail without a
/// database round trip.
pub fn looks_like_refresh_token(presented: &str) -> bool {
    presented.len() == REFRESH_TOKEN_CHARS && is_urlsafe(presented)
}

/// Whether `text` uses only the unpadded base64url alphabet [`random_urlsafe`] writes.
pub fn is_urlsafe(text: &str) -> bool {
    text.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn refresh_tokens_are_long_random_and_hashed() {
        let a = NewRefreshToken::generate();
        let b = NewRefreshToken::generate();
        assert_eq!(a.secret.expose_secret().len(), REFRESH_TOKEN_CHARS);
        assert!(looks_like_refresh_token(a.secret.expose_secret()));
        assert_ne!(a.secret.expose_secret(), b.secret.expose_secret());
        assert_eq!(a.hash, hash_refresh_token(a.secret.expose_secret()));
        assert_eq!(a.hash.len(), 64);
        assert!(!format!("{a:?}").contains(a.secret.expose_secret()));
    }

    #[test]
    fn successors_are_deterministic_keyed_and_well_formed() {
        let key = SuccessorKey::new(vec![1u8; 32]);
        let parent = NewRefreshToken::generate();
        let a = key.successor(parent.secret.expose_secret());
        let b = key.successor(parent.secret.expose_secret());
        assert_eq!(a.secret.expose_secret(), b.secret.expose_secret());
        assert!(looks_like_refresh_token(a.secret.expose_secret()));
        assert_ne!(a.secret.expose_secret(), parent.secret.expose_secret());
        let other_key = SuccessorKey::new(vec![2u8; 32]);
        assert_ne!(other_key.successor(parent.secret.expose_secret()).hash, a.hash);
        assert_ne!(key.successor(a.secret.expose_secret()).hash, a.hash);
    }

    #[test]
    fn sha256_matches_a_known_vector() {
        assert_eq!(
            hash_refresh_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    proptest! {
        #[test]
        fn refresh_token_shape_check_never_panics(s in ".{0,200}") {
            let _ = looks_like_refresh_token(&s);
        }
    }
}
