//! A device key held in memory: what a DPoP client (and the test suites, the bench and the
//! fuzz seeds) signs proofs with. Browsers hold theirs in WebCrypto, where it cannot be
//! exported; this one is for programs.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use rand::rngs::OsRng;

use super::{DPOP_TYPE, DeviceKey, access_token_hash};

pub struct SoftwareKey {
    signing: SigningKey,
}

impl std::fmt::Debug for SoftwareKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SoftwareKey")
            .field("jkt", &self.thumbprint())
            .finish_non_exhaustive()
    }
}

impl SoftwareKey {
    /// A new random P-256 key.
    pub fn generate() -> Self {
        Self {
            signing: SigningKey::random(&mut OsRng),
        }
    }

    /// The public key as a JWK.
    pub fn jwk(&self) -> serde_json::Value {
        let point = self.signing.verifying_key().to_encoded_point(false);
        let coordinate = |c: Option<&p256::FieldBytes>| URL_SAFE_NO_PAD.encode(c.map(|c| &c[..]).unwrap_or_default());
        serde_json::json!({
            "kty": "EC",
            "crv": "P-256",
            "x": coordinate(point.x()),
            "y": coordinate(point.y()),
        })
    }

    /// The public key's RFC 7638 thumbprint.
    pub fn thumbprint(&self) -> String {
        DeviceKey::from_jwk(&self.jwk())
            .map(|k| k.thumbprint())
            .unwrap_or_default()
    }

    /// Signs any header and claims as an ES256 JWS (raw `r || s`, as JOSE wants).
    pub fn sign(&self, header: &serde_json::Value, claims: &serde_json::Value) -> String {
        let message = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let signature: Signature = self.signing.sign(message.as_bytes());
        format!("{message}.{}", URL_SAFE_NO_PAD.encode(signature.to_bytes()))
    }

    /// A DPoP proof for `method url` made at `now`, with the server's nonce and, at a
    /// protected resource, the access token's hash.
    pub fn proof(
        &self,
        method: &str,
        url: &str,
        now: DateTime<Utc>,
        nonce: Option<&str>,
        access_token: Option<&str>,
    ) -> String {
        let header = serde_json::json!({"typ": DPOP_TYPE, "alg": "ES256", "jwk": self.jwk()});
        let mut claims = serde_json::json!({
            "jti": crate::domain::token::random_urlsafe(16),
            "htm": method,
            "htu": url,
            "iat": now.timestamp(),
        });
        if let Some(nonce) = nonce {
            claims["nonce"] = nonce.into();
        }
        if let Some(token) = access_token {
            claims["ath"] = access_token_hash(token).into();
        }
        self.sign(&header, &claims)
    }
}
