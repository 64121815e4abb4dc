//! Device binding: sessions bound to a key the client cannot export. A proof offered at
//! sign-in binds the new session to its key; every refresh of a bound session must then
//! carry a fresh, unused proof from that key, so a copied refresh token or cookie jar is
//! worth nothing off the device. Sessions never bound keep the bearer rules.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::error::ProofCheckError;
use crate::clock::Clock;
use crate::domain::client::ClientInfo;
use crate::domain::proof::{
    self, DbscProof, DeviceKey, Expected, NONCE_LIFETIME, NonceKey, PROOF_MAX_AGE, PROOF_SKEW, Proof, ProofError,
};
use crate::storage::{BoundKey, ProofStore};

/// Whether a proof must carry a fresh server nonce: on a refresh, where the proof is all
/// that stands for the device, yes; at a resource, the proof's age and single use are
/// enough (RFC 9449 leaves resource nonces to the server), sparing a round trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Nonce {
    Required,
    NotRequired,
}

/// The key a session is bound to: its thumbprint, and the key itself where it is known
/// (a session's; an access token carries only the thumbprint).
#[derive(Debug, Clone, Copy)]
pub(super) struct Bound<'a> {
    pub jkt: &'a str,
    pub key: Option<&'a str>,
}

#[derive(Debug)]
pub struct DeviceProofs {
    pub(super) spent: Arc<dyn ProofStore>,
    pub(super) nonces: NonceKey,
    pub(super) clock: Arc<dyn Clock>,
}

impl DeviceProofs {
    /// A nonce for the client's next proof (the `DPoP-Nonce` header).
    pub fn nonce(&self) -> String {
        self.nonces.issue(self.clock.now())
    }

    /// The key a sign-in's proof offers to bind the new session to: `None` without a
    /// proof. A proof offered must hold (signature, address, age) and is used up.
    pub(super) async fn key_to_bind(
        &self,
        client: &ClientInfo,
        now: DateTime<Utc>,
    ) -> Result<Option<BoundKey>, ProofCheckError> {
        let Some(presented) = &client.device_proof else {
            return Ok(None);
        };
        let proof = self.verified(presented, now, None)?;
        self.spend_proof(&proof).await?;
        Ok(Some(BoundKey {
            jwk: proof.key.to_stored(),
            jkt: proof.jkt,
        }))
    }

    /// The key a registration after sign-in offers: a DBSC registration
    /// (`Secure-Session-Response`, answering a fresh challenge of ours), or else a DPoP
    /// proof (a page's WebCrypto key), used up either way.
    pub(super) async fn key_to_register(
        &self,
        client: &ClientInfo,
        now: DateTime<Utc>,
    ) -> Result<BoundKey, ProofCheckError> {
        let Some(response) = &client.session_response else {
            return self.key_to_bind(client, now).await?.ok_or(ProofError::Missing.into());
        };
        let proof = proof::verify_dbsc(response, None)?;
        self.answer_challenge(&proof, now).await?;
        Ok(BoundKey {
            jwk: proof.key.to_stored(),
            jkt: proof.jkt,
        })
    }

    /// Checks that a request for a session bound to key `jkt` (stored as `stored_key`)
    /// proves that key, with either kind of proof:
    /// - a DPoP proof (API clients, the browser's WebCrypto key): signed by that key, for
    ///   this request (and `access_token`, at a resource), never used before, with a fresh
    ///   server nonce where `nonce` asks for one;
    /// - a DBSC proof (`Secure-Session-Response`): signed by that key, answering a fresh
    ///   challenge of ours, used once.
    pub(super) async fn prove(
        &self,
        bound: Bound<'_>,
        client: &ClientInfo,
        access_token: Option<&str>,
        nonce: Nonce,
        now: DateTime<Utc>,
    ) -> Result<(), ProofCheckError> {
        if let (None, Some(response), Some(stored)) = (&client.device_proof, &client.session_response, bound.key) {
            let registered = DeviceKey::from_stored(stored).ok_or(ProofError::BadKey)?;
            let proof = proof::verify_dbsc(response, Some(&registered))?;
            return self.answer_challenge(&proof, now).await;
        }
        let presented = client.device_proof.as_ref().ok_or(ProofError::Missing)?;
        let proof = self.verified(presented, now, access_token)?;
        // The key first: a thief with a key of their own learns nothing from the nonce.
        if proof.jkt != bound.jkt {
            return Err(ProofError::WrongKey.into());
        }
        let fresh = proof.nonce.as_deref().is_some_and(|n| self.nonces.is_fresh(n, now));
        if nonce == Nonce::Required && !fresh {
            return Err(ProofError::NonceRequired.into());
        }
        self.spend_proof(&proof).await
    }

    /// A DBSC proof's challenge must be one of our nonces, fresh, and answered once. An
    /// answer to a spent challenge is asked again rather than refused: it is signed by the
    /// session's key, so it is the browser retrying (Chrome resends a proof whose answer it
    /// lost), or a recorded proof that gains nothing from a new challenge.
    async fn answer_challenge(&self, proof: &DbscProof, now: DateTime<Utc>) -> Result<(), ProofCheckError> {
        if !self.nonces.is_fresh(&proof.challenge, now) {
            return Err(ProofError::NonceRequired.into());
        }
        match self.spend(&proof.jkt, &proof.challenge, now + NONCE_LIFETIME).await {
            Err(ProofCheckError::Refused(ProofError::Replayed)) => Err(ProofError::NonceRequired.into()),
            other => other,
        }
    }

    fn verified(
        &self,
        presented: &proof::Presented,
        now: DateTime<Utc>,
        access_token: Option<&str>,
    ) -> Result<Proof, ProofError> {
        proof::verify(
            &presented.proof,
            &Expected {
                target: presented.target(),
                now,
                access_token,
            },
        )
    }

    /// Uses a DPoP proof up, until no clock would accept it again.
    async fn spend_proof(&self, proof: &Proof) -> Result<(), ProofCheckError> {
        self.spend(&proof.jkt, &proof.jti, proof.issued_at + PROOF_MAX_AGE + PROOF_SKEW)
            .await
    }

    /// Uses a proof (`jti` of key `jkt`) up, remembering it until `expires_at`, when no
    /// clock would accept it again.
    async fn spend(&self, jkt: &str, jti: &str, expires_at: DateTime<Utc>) -> Result<(), ProofCheckError> {
        if self.spent.spend_proof(jkt, jti, expires_at).await? {
            Ok(())
        } else {
            Err(ProofError::Replayed.into())
        }
    }
}
