//! DBSC proofs (W3C Device Bound Session Credentials, draft of 2025-08-21 and Chrome's
//! shipped behaviour): the `dbsc+jwt` a browser signs with its session key, sent in the
//! `Secure-Session-Response` header. A registration names its public key (`jwk` header); a
//! refresh is verified with the key registered. The one claim is `jti`, a copy of the
//! server's challenge: whether that challenge is fresh and unused is the server's check.

use serde::Deserialize;

use super::{DeviceKey, MAX_JTI_CHARS, ProofError, decode_json, signed};

/// The `typ` of a DBSC proof.
pub const DBSC_TYPE: &str = "dbsc+jwt";

/// A DBSC proof whose signature checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DbscProof {
    pub key: DeviceKey,
    /// The key's RFC 7638 thumbprint.
    pub jkt: String,
    /// The challenge the proof answers (its `jti`).
    pub challenge: String,
}

#[derive(Deserialize)]
struct Claims {
    jti: String,
}

/// Checks a DBSC proof: a registration's (`registered` is `None`: the key comes with it)
/// or a refresh's (verified with the session's registered key).
pub fn verify_dbsc(response: &str, registered: Option<&DeviceKey>) -> Result<DbscProof, ProofError> {
    // The draft defines the header as a structured-field string; Chrome sends it bare.
    let response = response
        .strip_prefix('"')
        .and_then(|r| r.strip_suffix('"'))
        .unwrap_or(response);
    let (key, claims_b64) = signed(response, DBSC_TYPE, registered)?;
    let claims: Claims = decode_json(claims_b64)?;
    if claims.jti.is_empty() || claims.jti.chars().count() > MAX_JTI_CHARS {
        return Err(ProofError::Malformed);
    }
    Ok(DbscProof {
        jkt: key.thumbprint(),
        key,
        challenge: claims.jti,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::proof::SoftwareKey;

    fn registration(key: &SoftwareKey, challenge: &str) -> String {
        key.sign(
            &serde_json::json!({"typ": DBSC_TYPE, "alg": "ES256", "jwk": key.jwk()}),
            &serde_json::json!({"jti": challenge}),
        )
    }

    fn refresh(key: &SoftwareKey, challenge: &str) -> String {
        key.sign(
            &serde_json::json!({"typ": DBSC_TYPE, "alg": "ES256"}),
            &serde_json::json!({"jti": challenge}),
        )
    }

    #[test]
    fn a_registration_names_its_key_and_refreshes_use_it() {
        let key = SoftwareKey::generate();
        let registered = verify_dbsc(&registration(&key, "c-1"), None).unwrap();
        assert_eq!(
            (registered.jkt.as_str(), registered.challenge.as_str()),
            (key.thumbprint().as_str(), "c-1")
        );
        let quoted = format!("\"{}\"", refresh(&key, "c-2"));
        assert_eq!(verify_dbsc(&quoted, Some(&registered.key)).unwrap().challenge, "c-2");
    }

    #[test]
    fn another_key_or_type_or_no_key_is_refused() {
        let key = SoftwareKey::generate();
        let other = SoftwareKey::generate();
        let registered = verify_dbsc(&registration(&key, "c"), None).unwrap().key;
        assert_eq!(
            verify_dbsc(&refresh(&other, "c"), Some(&registered)),
            Err(ProofError::BadSignature)
        );
        assert_eq!(
            verify_dbsc(&registration(&other, "c"), Some(&registered)),
            Err(ProofError::WrongKey)
        );
        assert_eq!(verify_dbsc(&refresh(&key, "c"), None), Err(ProofError::BadKey));
        let dpop = key.proof("POST", "https://a/b", chrono::Utc::now(), None, None);
        assert_eq!(verify_dbsc(&dpop, None), Err(ProofError::WrongType));
        assert_eq!(verify_dbsc(&registration(&key, ""), None), Err(ProofError::Malformed));
    }
}
