//! The public half of a device key, as a proof's `jwk` header carries it (RFC 7517), and its
//! RFC 7638 thumbprint: the device's identity once a session is bound to it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::ProofError;

/// The RSA moduli accepted, in bits: below 2048 is weak, above 4096 only costs us time.
const RSA_BITS: std::ops::RangeInclusive<usize> = 2048..=4096;

/// A public key a device signs its proofs with: ECDSA P-256 (WebCrypto, TPMs, DPoP
/// clients) or RSA (older TPMs, DBSC's RS256).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeviceKey {
    /// P-256 coordinates, 32 bytes each, base64url.
    Ec { x: String, y: String },
    /// Modulus and public exponent, base64url.
    Rsa { n: String, e: String },
}

/// A JWK exactly as sent. Unknown members are ignored, as RFC 7517 says, except the
/// private ones, which are refused: a client that sends its private key has no device key.
#[derive(Deserialize)]
struct Jwk {
    kty: String,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
    n: Option<String>,
    e: Option<String>,
    d: Option<serde_json::Value>,
    p: Option<serde_json::Value>,
}

/// How a bound key is stored with its session: the members its thumbprint covers.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kty")]
enum Stored {
    #[serde(rename = "EC")]
    Ec { crv: String, x: String, y: String },
    #[serde(rename = "RSA")]
    Rsa { n: String, e: String },
}

impl DeviceKey {
    /// Reads the `jwk` member of a proof's header.
    pub fn from_jwk(value: &serde_json::Value) -> Result<Self, ProofError> {
        let jwk: Jwk = serde_json::from_value(value.clone()).map_err(|_| ProofError::BadKey)?;
        if jwk.d.is_some() || jwk.p.is_some() {
            return Err(ProofError::BadKey);
        }
        match (jwk.kty.as_str(), jwk.crv.as_deref()) {
            ("EC", Some("P-256")) => {
                let (x, y) = (jwk.x.ok_or(ProofError::BadKey)?, jwk.y.ok_or(ProofError::BadKey)?);
                if decoded_len(&x) != Some(32) || decoded_len(&y) != Some(32) {
                    return Err(ProofError::BadKey);
                }
                Ok(Self::Ec { x, y })
            }
            ("RSA", _) => {
                let (n, e) = (jwk.n.ok_or(ProofError::BadKey)?, jwk.e.ok_or(ProofError::BadKey)?);
                let bits = decoded(&n).map(|n| significant_bits(&n)).unwrap_or(0);
                let exponent_ok = decoded(&e).is_some_and(|e| !e.is_empty() && e.len() <= 8);
                if !RSA_BITS.contains(&bits) || !exponent_ok {
                    return Err(ProofError::BadKey);
                }
                Ok(Self::Rsa { n, e })
            }
            _ => Err(ProofError::BadKey),
        }
    }

    /// The signature algorithm this key signs with.
    pub fn algorithm(&self) -> Algorithm {
        match self {
            Self::Ec { .. } => Algorithm::ES256,
            Self::Rsa { .. } => Algorithm::RS256,
        }
    }

    pub(super) fn decoding_key(&self) -> Result<DecodingKey, ProofError> {
        match self {
            Self::Ec { x, y } => DecodingKey::from_ec_components(x, y),
            Self::Rsa { n, e } => DecodingKey::from_rsa_components(n, e),
        }
        .map_err(|_| ProofError::BadKey)
    }

    /// The RFC 7638 thumbprint: base64url SHA-256 of the required members, in
    /// lexicographic order, with no whitespace. Access tokens carry it as `cnf.jkt`.
    pub fn thumbprint(&self) -> String {
        // The members are base64url text, which needs no JSON escaping.
        let canonical = match self {
            Self::Ec { x, y } => format!(r#"{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}"#),
            Self::Rsa { n, e } => format!(r#"{{"e":"{e}","kty":"RSA","n":"{n}"}}"#),
        };
        URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
    }

    /// The key as stored with its session.
    pub fn to_stored(&self) -> String {
        let stored = match self.clone() {
            Self::Ec { x, y } => Stored::Ec {
                crv: "P-256".to_owned(),
                x,
                y,
            },
            Self::Rsa { n, e } => Stored::Rsa { n, e },
        };
        serde_json::to_string(&stored).unwrap_or_default()
    }

    /// A stored key back; `None` for text this version did not write.
    pub fn from_stored(text: &str) -> Option<Self> {
        match serde_json::from_str(text).ok()? {
            Stored::Ec { crv, x, y } if crv == "P-256" => Some(Self::Ec { x, y }),
            Stored::Ec { .. } => None,
            Stored::Rsa { n, e } => Some(Self::Rsa { n, e }),
        }
    }
}

fn decoded(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

fn decoded_len(text: &str) -> Option<usize> {
    decoded(text).map(|bytes| bytes.len())
}

/// The bit length of a big-endian unsigned integer.
fn significant_bits(bytes: &[u8]) -> usize {
    match bytes.iter().position(|b| *b != 0) {
        Some(first) => (bytes.len() - first - 1) * 8 + (8 - bytes[first].leading_zeros() as usize),
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7638 section 3.1's example key and its thumbprint.
    #[test]
    fn the_rfc_7638_example_thumbprint() {
        let jwk = serde_json::json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
            "alg": "RS256",
            "kid": "2011-04-29"
        });
        let key = DeviceKey::from_jwk(&jwk).unwrap();
        assert_eq!(key.thumbprint(), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
        assert_eq!(DeviceKey::from_stored(&key.to_stored()), Some(key));
    }

    #[test]
    fn private_weak_and_foreign_keys_are_refused() {
        let x = URL_SAFE_NO_PAD.encode([1u8; 32]);
        let ok = serde_json::json!({"kty": "EC", "crv": "P-256", "x": x, "y": x});
        assert!(DeviceKey::from_jwk(&ok).is_ok());
        let refused = [
            serde_json::json!({"kty": "EC", "crv": "P-256", "x": x, "y": x, "d": x}),
            serde_json::json!({"kty": "EC", "crv": "P-384", "x": x, "y": x}),
            serde_json::json!({"kty": "EC", "crv": "P-256", "x": "AAAA", "y": x}),
            serde_json::json!({"kty": "oct", "k": x}),
            serde_json::json!({"kty": "OKP", "crv": "Ed25519", "x": x}),
            serde_json::json!({"kty": "RSA", "n": URL_SAFE_NO_PAD.encode([0xffu8; 128]), "e": "AQAB"}),
            serde_json::json!("not an object"),
        ];
        for jwk in refused {
            assert!(matches!(DeviceKey::from_jwk(&jwk), Err(ProofError::BadKey)), "{jwk}");
        }
    }
}
