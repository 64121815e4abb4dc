//! Device proofs: short JWTs a client signs with a key it cannot export (a WebCrypto key
//! kept in IndexedDB, a DPoP client's key), showing on each renewal that it is the device
//! its session was bound to. A copied cookie jar or refresh token without the key is then
//! worth nothing.
//!
//! This module checks one proof against what the request is (RFC 9449 section 4.3: its
//! shape, type, algorithm, key, signature, method, address and age). Whether the key is
//! the session's, whether the nonce is fresh and whether the `jti` was seen before are the
//! service's checks, because they need the session and the store.

mod dbsc;
mod key;
mod nonce;
mod software;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Duration, Utc};
use jsonwebtoken::Algorithm;
use serde::Deserialize;
use sha2::{Digest, Sha256};

pub use dbsc::{DBSC_TYPE, DbscProof, verify_dbsc};
pub use key::DeviceKey;
pub use nonce::{NONCE_LIFETIME, NonceKey};
pub use software::SoftwareKey;

/// The largest proof read. An RS256 proof with a 4096-bit key is about 2.5 KB.
pub const MAX_PROOF_BYTES: usize = 8 * 1024;
/// How far ahead of the server's clock a proof's `iat` may be (client clocks drift).
pub const PROOF_SKEW: Duration = Duration::seconds(60);
/// How old a proof may be. Proofs are made for one request, just before it.
pub const PROOF_MAX_AGE: Duration = Duration::minutes(2);
/// The longest `jti` kept: RFC 9449 asks for 96 random bits, about 16 characters.
pub const MAX_JTI_CHARS: usize = 128;
/// The `typ` of a DPoP proof, which the browser's WebCrypto fallback sends too.
pub const DPOP_TYPE: &str = "dpop+jwt";

/// Why a proof was refused. The messages are safe to show: they never quote the proof.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("the device proof is longer than 8 KB")]
    TooLarge,
    #[error("the device proof is not a well-formed signed JWT with the claims it needs")]
    Malformed,
    #[error("the device proof's typ must be \"dpop+jwt\" (\"dbsc+jwt\" in Secure-Session-Response)")]
    WrongType,
    #[error("the device proof must be signed with ES256 or RS256")]
    UnsupportedAlgorithm,
    #[error("the device proof's key is missing, private, weak or of another type than its algorithm")]
    BadKey,
    #[error("the device proof's signature does not verify")]
    BadSignature,
    #[error("the device proof was made too long ago, or in the future")]
    Stale,
    #[error("the device proof is for another method or address")]
    WrongTarget,
    #[error("the device proof is signed by another key than the session's")]
    WrongKey,
    #[error("the device proof is for another access token")]
    WrongAccessToken,
    #[error("the device proof was used before")]
    Replayed,
    #[error("the device proof must carry a fresh nonce from the DPoP-Nonce header")]
    NonceRequired,
    #[error("this session is bound to a device key: send a DPoP proof signed by it")]
    Missing,
}

/// The request a proof must be for.
#[derive(Debug, Clone, Copy)]
pub struct Target<'a> {
    /// The method, as sent (`POST`).
    pub method: &'a str,
    /// The host and port the client addressed (the `Host` header).
    pub authority: &'a str,
    /// The path, without the query.
    pub path: &'a str,
}

/// A proof as a request carried it (the `DPoP` header), with what that request was for.
/// Checked by [`verify`] when the use case needs it, on the use case's clock.
#[derive(Clone, PartialEq, Eq)]
pub struct Presented {
    /// The header's value; empty when the request carried several (RFC 9449: one only).
    pub proof: String,
    pub method: String,
    pub authority: String,
    pub path: String,
}

impl std::fmt::Debug for Presented {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Presented")
            .field("method", &self.method)
            .field("authority", &self.authority)
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl Presented {
    /// The request the proof must be for.
    pub fn target(&self) -> Target<'_> {
        Target {
            method: &self.method,
            authority: &self.authority,
            path: &self.path,
        }
    }
}

/// What a proof is checked against.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    pub target: Target<'a>,
    pub now: DateTime<Utc>,
    /// The access token the proof goes with, at a protected resource (its `ath` claim).
    pub access_token: Option<&'a str>,
}

/// A proof whose signature, shape and target checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proof {
    pub key: DeviceKey,
    /// The key's RFC 7638 thumbprint.
    pub jkt: String,
    pub jti: String,
    pub nonce: Option<String>,
    pub issued_at: DateTime<Utc>,
}

#[derive(Deserialize)]
struct Header {
    typ: Option<String>,
    alg: String,
    jwk: Option<serde_json::Value>,
    /// Extensions we do not understand must not be ignored (RFC 7515 section 4.1.11).
    crit: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct Claims {
    jti: String,
    htm: String,
    htu: String,
    iat: serde_json::Number,
    ath: Option<String>,
    nonce: Option<String>,
}

/// Checks a DPoP-shaped proof against `expected`.
pub fn verify(proof: &str, expected: &Expected<'_>) -> Result<Proof, ProofError> {
    let (key, claims_b64) = signed(proof, DPOP_TYPE, None)?;
    let claims: Claims = decode_json(claims_b64)?;
    if claims.jti.is_empty() || claims.jti.chars().count() > MAX_JTI_CHARS {
        return Err(ProofError::Malformed);
    }
    let issued_at = claims
        .iat
        .as_i64()
        .and_then(|secs| DateTime::from_timestamp(secs, 0))
        .ok_or(ProofError::Malformed)?;
    if issued_at > expected.now + PROOF_SKEW || issued_at < expected.now - PROOF_MAX_AGE {
        return Err(ProofError::Stale);
    }
    if claims.htm != expected.target.method || !same_address(&claims.htu, &expected.target) {
        return Err(ProofError::WrongTarget);
    }
    if let Some(token) = expected.access_token
        && claims.ath.as_deref() != Some(access_token_hash(token).as_str())
    {
        return Err(ProofError::WrongAccessToken);
    }
    Ok(Proof {
        jkt: key.thumbprint(),
        key,
        jti: claims.jti,
        nonce: claims.nonce,
        issued_at,
    })
}

/// The shape, type, algorithm, key and signature every device proof needs: the key that
/// signed it (its `jwk` header, or `registered` for proofs that name none) and its claims,
/// still encoded.
fn signed<'p>(proof: &'p str, typ: &str, registered: Option<&DeviceKey>) -> Result<(DeviceKey, &'p str), ProofError> {
    if proof.len() > MAX_PROOF_BYTES {
        return Err(ProofError::TooLarge);
    }
    let mut parts = proof.split('.');
    let (Some(header_b64), Some(claims_b64), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ProofError::Malformed);
    };
    let header: Header = decode_json(header_b64)?;
    if header.crit.is_some() {
        return Err(ProofError::Malformed);
    }
    if header.typ.as_deref() != Some(typ) {
        return Err(ProofError::WrongType);
    }
    let algorithm = match header.alg.as_str() {
        "ES256" => Algorithm::ES256,
        "RS256" => Algorithm::RS256,
        _ => return Err(ProofError::UnsupportedAlgorithm),
    };
    let key = match (header.jwk.as_ref(), registered) {
        (Some(jwk), None) => DeviceKey::from_jwk(jwk)?,
        (None, Some(registered)) => registered.clone(),
        // A key named beside the registered one must be that key.
        (Some(jwk), Some(registered)) if DeviceKey::from_jwk(jwk).as_ref() == Ok(registered) => registered.clone(),
        (Some(_), Some(_)) => return Err(ProofError::WrongKey),
        (None, None) => return Err(ProofError::BadKey),
    };
    if key.algorithm() != algorithm {
        return Err(ProofError::BadKey);
    }
    let message = &proof[..header_b64.len() + 1 + claims_b64.len()];
    let signed = jsonwebtoken::crypto::verify(signature, message.as_bytes(), &key.decoding_key()?, algorithm)
        .map_err(|_| ProofError::BadSignature)?;
    if !signed {
        return Err(ProofError::BadSignature);
    }
    Ok((key, claims_b64))
}

/// The `ath` of an access token: base64url SHA-256 of its text.
pub fn access_token_hash(token: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(token.as_bytes()))
}

fn decode_json<T: serde::de::DeserializeOwned>(part: &str) -> Result<T, ProofError> {
    let bytes = URL_SAFE_NO_PAD.decode(part).map_err(|_| ProofError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| ProofError::Malformed)
}

/// Whether `htu` names the target: either scheme (a TLS-terminating proxy may stand in
/// front), the same host and port (case-insensitive), the same path; the query and
/// fragment are ignored, as RFC 9449 says.
fn same_address(htu: &str, target: &Target<'_>) -> bool {
    let Some(rest) = htu.strip_prefix("https://").or_else(|| htu.strip_prefix("http://")) else {
        return false;
    };
    let rest = rest.split(['?', '#']).next().unwrap_or_default();
    let (authority, path) = rest.find('/').map_or((rest, "/"), |slash| rest.split_at(slash));
    authority.eq_ignore_ascii_case(target.authority) && path == target.path
}

#[cfg(test)]
mod tests;
