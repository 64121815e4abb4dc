//! Access tokens (JWT) and refresh tokens (random bytes stored only as their SHA-256).

use std::collections::HashSet;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use rand::RngCore as _;
use rand::rngs::OsRng;
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Refresh tokens are this many random bytes (512 bits), sent as unpadded base64url.
pub const REFRESH_TOKEN_BYTES: usize = 64;
/// The length of an encoded refresh token; anything else is refused without a lookup.
pub const REFRESH_TOKEN_CHARS: usize = 86;
/// An access token larger than this is refused before any parsing.
const MAX_ACCESS_TOKEN_BYTES: usize = 4096;

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
    let digest = Sha256::digest(secret.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether a presented string can be a refresh token at all; lets garbage fail without a
/// database round trip.
pub fn looks_like_refresh_token(presented: &str) -> bool {
    presented.len() == REFRESH_TOKEN_CHARS
        && presented
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// The claims of an access token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The user id, as a string (RFC 7519).
    pub sub: String,
    pub name: String,
    pub role: String,
    /// The session (refresh-token family) this token was issued for.
    pub sid: String,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

impl AccessClaims {
    pub fn user_id(&self) -> Option<i64> {
        self.sub.parse().ok()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the access token is invalid")]
    Invalid,
    #[error("the access token has expired")]
    Expired,
}

/// The key that signs access tokens. HS256 for now; the key id (`kid`) names it so a future
/// key can be verified side by side.
pub struct SigningKey {
    kid: String,
    secret: SecretSlice<u8>,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl SigningKey {
    /// HMAC keys shorter than the hash output weaken HS256 (RFC 7518 section 3.2).
    pub const MIN_SECRET_BYTES: usize = 32;

    pub fn hs256(kid: impl Into<String>, secret: Vec<u8>) -> Result<Self, KeyError> {
        if secret.len() < Self::MIN_SECRET_BYTES {
            return Err(KeyError::TooShort);
        }
        Ok(Self {
            kid: kid.into(),
            secret: SecretSlice::from(secret),
        })
    }

    /// A key id derived from the secret: stable across restarts, reveals nothing usable.
    pub fn derived_kid(secret: &[u8]) -> String {
        let digest = Sha256::digest(secret);
        format!(
            "hs-{}",
            digest.iter().take(6).map(|b| format!("{b:02x}")).collect::<String>()
        )
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("the signing secret must be at least {} bytes", SigningKey::MIN_SECRET_BYTES)]
    TooShort,
}

/// Issues and verifies access tokens.
pub struct AccessTokens {
    kid: String,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    audience: String,
    ttl: Duration,
}

impl fmt::Debug for AccessTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessTokens")
            .field("kid", &self.kid)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .field("ttl", &self.ttl)
            .finish_non_exhaustive()
    }
}

/// A signed access token and how long it lives.
pub struct IssuedAccessToken {
    pub token: SecretString,
    pub expires_in: i64,
}

impl AccessTokens {
    pub fn new(key: &SigningKey, issuer: &str, audience: &str, ttl: Duration) -> Self {
        let secret = key.secret.expose_secret();
        // The algorithm is pinned: a token naming any other (`none`, RS256, ...) is refused.
        let mut validation = Validation::new(Algorithm::HS256);
        // Expiry is checked against our own clock below, so tests can move time.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        validation.required_spec_claims = ["exp", "iat", "sub", "iss", "aud"]
            .iter()
            .map(|s| s.to_string())
            .collect::<HashSet<_>>();
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        Self {
            kid: key.kid.clone(),
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            ttl,
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn issue(
        &self,
        user_id: i64,
        username: &str,
        role: &str,
        session_id: &str,
        now: DateTime<Utc>,
    ) -> IssuedAccessToken {
        let claims = AccessClaims {
            sub: user_id.to_string(),
            name: username.to_owned(),
            role: role.to_owned(),
            sid: session_id.to_owned(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            iat: now.timestamp(),
            exp: (now + self.ttl).timestamp(),
            jti: uuid::Uuid::new_v4().to_string(),
        };
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(self.kid.clone());
        // Encoding our own claims with an in-memory HMAC key cannot fail.
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding).unwrap_or_default();
        IssuedAccessToken {
            token: SecretString::from(token),
            expires_in: self.ttl.num_seconds(),
        }
    }

    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<AccessClaims, TokenError> {
        if token.len() > MAX_ACCESS_TOKEN_BYTES {
            return Err(TokenError::Invalid);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        if header.kid.as_deref() != Some(self.kid.as_str()) {
            return Err(TokenError::Invalid);
        }
        let data = jsonwebtoken::decode::<AccessClaims>(token, &self.decoding, &self.validation)
            .map_err(|_| TokenError::Invalid)?;
        let claims = data.claims;
        let now = now.timestamp();
        // A token "issued" in the future by more than clock skew did not come from us.
        if claims.iat > now + 60 || claims.user_id().is_none() {
            return Err(TokenError::Invalid);
        }
        if claims.exp <= now {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn tokens() -> AccessTokens {
        let key = SigningKey::hs256("k1", vec![7u8; 32]).unwrap();
        AccessTokens::new(&key, "fin-intelli", "fin-intelli", Duration::minutes(15))
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap()
    }

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
        let grandchild = key.successor(a.secret.expose_secret());
        assert_ne!(grandchild.hash, a.hash);
    }

    #[test]
    fn sha256_matches_a_known_vector() {
        assert_eq!(
            hash_refresh_token("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn an_issued_token_verifies_until_it_expires() {
        let tokens = tokens();
        let issued = tokens.issue(42, "alice", "admin", "s1", now());
        assert_eq!(issued.expires_in, 900);
        let claims = tokens.verify(issued.token.expose_secret(), now()).unwrap();
        assert_eq!(
            (claims.user_id(), claims.role.as_str(), claims.sid.as_str()),
            (Some(42), "admin", "s1")
        );
        assert_eq!(claims.exp - claims.iat, 900);
        let later = now() + Duration::seconds(899);
        assert!(tokens.verify(issued.token.expose_secret(), later).is_ok());
        let expired = now() + Duration::seconds(900);
        assert_eq!(
            tokens.verify(issued.token.expose_secret(), expired),
            Err(TokenError::Expired)
        );
    }

    #[test]
    fn tokens_from_another_key_issuer_or_audience_are_refused() {
        let issued = tokens().issue(1, "a", "user", "s", now());
        let token = issued.token.expose_secret();
        let other_key = SigningKey::hs256("k1", vec![8u8; 32]).unwrap();
        let wrong = [
            AccessTokens::new(&other_key, "fin-intelli", "fin-intelli", Duration::minutes(15)),
            AccessTokens::new(
                &SigningKey::hs256("k1", vec![7u8; 32]).unwrap(),
                "other",
                "fin-intelli",
                Duration::minutes(15),
            ),
            AccessTokens::new(
                &SigningKey::hs256("k1", vec![7u8; 32]).unwrap(),
                "fin-intelli",
                "other",
                Duration::minutes(15),
            ),
            AccessTokens::new(
                &SigningKey::hs256("k2", vec![7u8; 32]).unwrap(),
                "fin-intelli",
                "fin-intelli",
                Duration::minutes(15),
            ),
        ];
        for verifier in wrong {
            assert_eq!(verifier.verify(token, now()), Err(TokenError::Invalid), "{verifier:?}");
        }
    }

    #[test]
    fn alg_none_and_tampered_payloads_are_refused() {
        let tokens = tokens();
        let issued = tokens.issue(1, "a", "user", "s", now());
        let token = issued.token.expose_secret();
        let parts: Vec<&str> = token.split('.').collect();
        let none_header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT","kid":"k1"}"#);
        assert!(tokens.verify(&format!("{none_header}.{}.", parts[1]), now()).is_err());
        let admin_payload = URL_SAFE_NO_PAD.encode(
            String::from_utf8(URL_SAFE_NO_PAD.decode(parts[1]).unwrap())
                .unwrap()
                .replace("\"user\"", "\"admin\""),
        );
        assert!(
            tokens
                .verify(&format!("{}.{admin_payload}.{}", parts[0], parts[2]), now())
                .is_err()
        );
        assert!(tokens.verify(&format!("{}.{}", parts[0], parts[1]), now()).is_err());
        assert!(tokens.verify(&"a".repeat(5000), now()).is_err());
    }

    #[test]
    fn short_secrets_are_refused() {
        assert_eq!(SigningKey::hs256("k", vec![1u8; 31]).unwrap_err(), KeyError::TooShort);
        assert!(!format!("{:?}", SigningKey::hs256("k", vec![b'z'; 32]).unwrap()).contains("zzzz"));
    }

    proptest! {
        #[test]
        fn arbitrary_strings_never_verify_or_panic(s in ".{0,600}") {
            prop_assert!(tokens().verify(&s, now()).is_err());
        }

        #[test]
        fn refresh_token_shape_check_never_panics(s in ".{0,200}") {
            let _ = looks_like_refresh_token(&s);
        }
    }
}
