//! Refresh tokens as presented in a body or cookie: shape check, hashing and the successor
//! derivation never panic, and the hash is always a fixed-size hex digest.
#![no_main]

use libfuzzer_sys::fuzz_target;
use secrecy::ExposeSecret;
use server::domain::token::{SuccessorKey, hash_refresh_token, looks_like_refresh_token};

fuzz_target!(|data: &[u8]| {
    let presented = String::from_utf8_lossy(data);
    let hash = hash_refresh_token(&presented);
    assert_eq!(hash.len(), 64);
    assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()));
    if looks_like_refresh_token(&presented) {
        let successor = SuccessorKey::new(vec![3u8; 32]).successor(&presented);
        assert!(looks_like_refresh_token(successor.secret.expose_secret()));
        assert_ne!(successor.secret.expose_secret(), &*presented);
    }
});
