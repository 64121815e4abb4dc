//! Access tokens: short-lived JWTs, signed with Ed25519 (EdDSA) by default or with HS256 when
//! a shared secret is configured.
//!
//! Every key has a `kid`. The verifier knows several keys at once (the signing key and keys
//! retired by a rotation) and pins each key to its own algorithm, so a token can never pick
//! how it is checked: `alg: none`, HS256 signed with a public key, and unknown `kid`s all
//! fail. Public keys are published as a JWKS; HMAC secrets never are.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Mutex, RwLock};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use ed25519_dalek::pkcs8::EncodePrivateKey as _;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretSlice, SecretString};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// An access token larger than this is refused before any parsing.
const MAX_ACCESS_TOKEN_BYTES: usize = 4096;

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
    /// "Not before": never issued by us, but a token carrying one is held to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    pub jti: String,
    /// The device key the token is bound to (RFC 9449 section 6.1): it is accepted only
    /// with a proof from that key, never as a bearer token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cnf: Option<Confirmation>,
}

/// RFC 7800 confirmation: the thumbprint of the key a token is bound to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Confirmation {
    pub jkt: String,
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
    /// Signed with a key this instance does not know (yet): another instance may have
    /// rotated keys, so the caller may reload them and try once more.
    #[error("the access token names an unknown key")]
    UnknownKey,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error("an HS256 secret must be at least {} bytes", SigningKey::MIN_SECRET_BYTES)]
    TooShort,
    #[error("an Ed25519 key is a 32-byte seed")]
    BadSeed,
    #[error("unsupported key algorithm {0:?}")]
    Unsupported(String),
}

enum Material {
    Hs256(SecretSlice<u8>),
    Ed25519 { seed: SecretSlice<u8>, public: [u8; 32] },
}

/// A key that signs (and verifies) access tokens.
pub struct SigningKey {
    kid: String,
    material: Material,
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm_name())
            .finish_non_exhaustive()
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
            material: Material::Hs256(SecretSlice::from(secret)),
        })
    }

    pub fn ed25519(kid: impl Into<String>, seed: &[u8]) -> Result<Self, KeyError> {
        let seed: [u8; 32] = seed.try_into().map_err(|_| KeyError::BadSeed)?;
        let public = ed25519_dalek::SigningKey::from_bytes(&seed).verifying_key().to_bytes();
        Ok(Self {
            kid: kid.into(),
            material: Material::Ed25519 {
                seed: SecretSlice::from(seed.to_vec()),
                public,
            },
        })
    }

    /// An Ed25519 key from its 32-byte seed, its `kid` derived from the public key.
    pub fn ed25519_from_seed(seed: &[u8]) -> Result<Self, KeyError> {
        let bytes: [u8; 32] = seed.try_into().map_err(|_| KeyError::BadSeed)?;
        let public = ed25519_dalek::SigningKey::from_bytes(&bytes).verifying_key();
        Self::ed25519(Self::derived_kid("ed", public.as_bytes()), seed)
    }

    /// A new random Ed25519 key.
    pub fn generate_ed25519() -> Self {
        let key = ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng);
        Self::ed25519_from_seed(key.as_bytes()).unwrap_or_else(|_| unreachable!("a dalek key is 32 bytes"))
    }

    /// Rebuilds a key from its stored form (see [`SigningKey::export`]).
    pub fn from_parts(kid: &str, algorithm: &str, material: Vec<u8>) -> Result<Self, KeyError> {
        match algorithm {
            "EdDSA" => Self::ed25519(kid, &material),
            "HS256" => Self::hs256(kid, material),
            other => Err(KeyError::Unsupported(other.to_owned())),
        }
    }

    /// The algorithm name and the secret material to store (seed or HMAC secret).
    pub fn export(&self) -> (&'static str, &[u8]) {
        match &self.material {
            Material::Hs256(secret) => ("HS256", secret.expose_secret()),
            Material::Ed25519 { seed, .. } => ("EdDSA", seed.expose_secret()),
        }
    }

    /// A stable `kid` from key bytes: a prefix plus 12 hex digits of their SHA-256.
    pub fn derived_kid(prefix: &str, bytes: &[u8]) -> String {
        let digest = Sha256::digest(bytes);
        format!(
            "{prefix}-{}",
            digest.iter().take(6).map(|b| format!("{b:02x}")).collect::<String>()
        )
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn algorithm_name(&self) -> &'static str {
        self.export().0
    }

    fn algorithm(&self) -> Algorithm {
        match self.material {
            Material::Hs256(_) => Algorithm::HS256,
            Material::Ed25519 { .. } => Algorithm::EdDSA,
        }
    }

    fn encoding_key(&self) -> EncodingKey {
        match &self.material {
            Material::Hs256(secret) => EncodingKey::from_secret(secret.expose_secret()),
            Material::Ed25519 { seed, .. } => {
                let bytes: [u8; 32] = seed.expose_secret().try_into().unwrap_or([0; 32]);
                let der = ed25519_dalek::SigningKey::from_bytes(&bytes)
                    .to_pkcs8_der()
                    .map(|doc| doc.as_bytes().to_vec())
                    .unwrap_or_default();
                EncodingKey::from_ed_der(&der)
            }
        }
    }

    fn decoding_key(&self) -> DecodingKey {
        match &self.material {
            Material::Hs256(secret) => DecodingKey::from_secret(secret.expose_secret()),
            Material::Ed25519 { public, .. } => DecodingKey::from_ed_der(public),
        }
    }

    /// The public key as a JWK (RFC 8037); `None` for HMAC keys, which are secrets.
    pub fn public_jwk(&self) -> Option<Value> {
        match &self.material {
            Material::Hs256(_) => None,
            Material::Ed25519 { public, .. } => Some(json!({
                "kty": "OKP",
                "crv": "Ed25519",
                "x": URL_SAFE_NO_PAD.encode(public),
                "kid": self.kid,
                "alg": "EdDSA",
                "use": "sig",
            })),
        }
    }
}

struct Verifier {
    key: DecodingKey,
    validation: Validation,
    jwk: Option<Value>,
}

/// Issues access tokens with one key and verifies them with any known key.
pub struct AccessTokens {
    kid: String,
    algorithm: Algorithm,
    encoding: EncodingKey,
    verifiers: RwLock<HashMap<String, Verifier>>,
    /// Tokens whose signature and claims already checked out, by the SHA-256 of their bytes.
    /// An Ed25519 verification costs tens of microseconds, a lookup well under one, and a
    /// page or client presents the same token many times in its fifteen minutes. Only the
    /// signature work is saved: expiry and "not before" are checked on every call.
    verified: Mutex<HashMap<[u8; 32], AccessClaims>>,
    issuer: String,
    audience: String,
    ttl: Duration,
}

/// Beyond this many remembered tokens, expired ones are dropped, then all of them. (Small
/// in unit tests, which fill it.)
const MAX_VERIFIED: usize = if cfg!(test) { 64 } else { 10_000 };

impl fmt::Debug for AccessTokens {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AccessTokens")
            .field("kid", &self.kid)
            .field("algorithm", &self.algorithm)
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
    /// Unix seconds; the `exp` claim.
    pub expires_at: i64,
}

impl AccessTokens {
    /// `signing` signs; it and every key in `others` verify.
    pub fn new(signing: &SigningKey, others: &[SigningKey], issuer: &str, audience: &str, ttl: Duration) -> Self {
        let tokens = Self {
            kid: signing.kid.clone(),
            algorithm: signing.algorithm(),
            encoding: signing.encoding_key(),
            verifiers: RwLock::new(HashMap::new()),
            verified: Mutex::new(HashMap::new()),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            ttl,
        };
        tokens.add_verification_keys(std::iter::once(signing).chain(others));
        tokens
    }

    /// Learns more verification keys (after another instance rotated, say).
    pub fn add_verification_keys<'a>(&self, keys: impl IntoIterator<Item = &'a SigningKey>) {
        let mut verifiers = self.verifiers.write().unwrap_or_else(|p| p.into_inner());
        for key in keys {
            verifiers.insert(key.kid.clone(), self.verifier(key));
        }
        // What a replaced key verified is verified again under the new one.
        self.verified.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    fn verifier(&self, key: &SigningKey) -> Verifier {
        // The algorithm is the key's, never the token's.
        let mut validation = Validation::new(key.algorithm());
        // Expiry is checked against our own clock below, so tests can move time.
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.leeway = 0;
        validation.required_spec_claims = ["exp", "iat", "sub", "iss", "aud"]
            .iter()
            .map(|s| s.to_string())
            .collect::<HashSet<_>>();
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        Verifier {
            key: key.decoding_key(),
            validation,
            jwk: key.public_jwk(),
        }
    }

    pub fn issue(
        &self,
        user_id: i64,
        username: &str,
        role: &str,
        session_id: &str,
        now: DateTime<Utc>,
    ) -> IssuedAccessToken {
        self.issue_bound(user_id, username, role, session_id, None, now)
    }

    /// [`Self::issue`], bound to the device key with thumbprint `jkt` when there is one.
    pub fn issue_bound(
        &self,
        user_id: i64,
        username: &str,
        role: &str,
        session_id: &str,
        jkt: Option<&str>,
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
            nbf: None,
            jti: uuid::Uuid::new_v4().to_string(),
            cnf: jkt.map(|jkt| Confirmation { jkt: jkt.to_owned() }),
        };
        let mut header = Header::new(self.algorithm);
        header.kid = Some(self.kid.clone());
        // Signing our own claims with a key we loaded and checked cannot fail.
        let token = jsonwebtoken::encode(&header, &claims, &self.encoding).unwrap_or_default();
        IssuedAccessToken {
            token: SecretString::from(token),
            expires_in: self.ttl.num_seconds(),
            expires_at: claims.exp,
        }
    }

    pub fn verify(&self, token: &str, now: DateTime<Utc>) -> Result<AccessClaims, TokenError> {
        if token.len() > MAX_ACCESS_TOKEN_BYTES {
            return Err(TokenError::Invalid);
        }
        let digest: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        let remembered = self
            .verified
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&digest)
            .cloned();
        let claims = match remembered {
            Some(claims) => claims,
            None => {
                let claims = self.verify_signature(token)?;
                let mut verified = self.verified.lock().unwrap_or_else(|p| p.into_inner());
                if verified.len() >= MAX_VERIFIED {
                    let now = now.timestamp();
                    verified.retain(|_, c| c.exp > now);
                    if verified.len() >= MAX_VERIFIED {
                        verified.clear();
                    }
                }
                verified.insert(digest, claims.clone());
                claims
            }
        };
        let now = now.timestamp();
        // A token "issued" in the future by more than clock skew did not come from us; one
        // not valid yet is not valid.
        if claims.iat > now + 60 || claims.nbf.is_some_and(|nbf| nbf > now) || claims.user_id().is_none() {
            return Err(TokenError::Invalid);
        }
        if claims.exp <= now {
            return Err(TokenError::Expired);
        }
        Ok(claims)
    }

    /// The signature, algorithm, key and required claims: everything but the clock.
    fn verify_signature(&self, token: &str) -> Result<AccessClaims, TokenError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| TokenError::Invalid)?;
        let kid = header.kid.ok_or(TokenError::Invalid)?;
        let verifiers = self.verifiers.read().unwrap_or_else(|p| p.into_inner());
        let verifier = verifiers.get(&kid).ok_or(TokenError::UnknownKey)?;
        jsonwebtoken::decode::<AccessClaims>(token, &verifier.key, &verifier.validation)
            .map(|data| data.claims)
            .map_err(|_| TokenError::Invalid)
    }

    /// The public verification keys as a JWK Set (RFC 7517).
    pub fn jwks(&self) -> Value {
        let verifiers = self.verifiers.read().unwrap_or_else(|p| p.into_inner());
        let mut keys: Vec<&Value> = verifiers.values().filter_map(|v| v.jwk.as_ref()).collect();
        keys.sort_by_key(|jwk| jwk["kid"].as_str().map(str::to_owned));
        json!({ "keys": keys })
    }
}

#[cfg(test)]
mod tests;
