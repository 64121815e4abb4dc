//! Device binding: sessions bound to a key the client cannot export. A proof offered at
//! sign-in binds the new session to its key; every refresh of a bound session must then
//! carry a fresh, unused proof from that key, so a copied refresh token or cookie jar is
//! worth nothing off the device. Sessions never bound keep the bearer rules.

use std::sync::Arc;

use chrono::{DateTime, Utc};

use super::error::ProofCheckError;
use crate::clock::Clock;
use crate::domain::client::ClientInfo;
use crate::domain::proof::{self, Expected, NonceKey, PROOF_MAX_AGE, PROOF_SKEW, Proof, ProofError};
use crate::storage::{BoundKey, ProofStore};

/// Whether a proof must carry a fresh server nonce: on a refresh, where the proof is all
/// that stands for the device, yes; at a resource, the proof's age and single use are
/// enough (RFC 9449 leaves resource nonces to the server), sparing a round trip.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Nonce {
    Required,
    NotRequired,
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
        self.spend(&proof).await?;
        Ok(Some(BoundKey {
            jwk: proof.key.to_stored(),
            jkt: proof.jkt,
        }))
    }

    /// Checks that a request for a session bound to key `jkt` proves that key: a proof
    /// signed by it, for this request (and `access_token`, at a resource), never used
    /// before, with a fresh server nonce where `nonce` asks for one.
    pub(super) async fn prove(
        &self,
        jkt: &str,
        client: &ClientInfo,
        access_token: Option<&str>,
        nonce: Nonce,
        now: DateTime<Utc>,
    ) -> Result<(), ProofCheckError> {
        let presented = client.device_proof.as_ref().ok_or(ProofError::Missing)?;
        let proof = self.verified(presented, now, access_token)?;
        // The key first: a thief with a key of their own learns nothing from the nonce.
        if proof.jkt != jkt {
            return Err(ProofError::WrongKey.into());
        }
        let fresh = proof.nonce.as_deref().is_some_and(|n| self.nonces.is_fresh(n, now));
        if nonce == Nonce::Required && !fresh {
            return Err(ProofError::NonceRequired.into());
        }
        self.spend(&proof).await
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

    /// Uses the proof up. It is kept until no clock would accept it again.
    async fn spend(&self, proof: &Proof) -> Result<(), ProofCheckError> {
        let expires_at = proof.issued_at + PROOF_MAX_AGE + PROOF_SKEW;
        if self.spent.spend_proof(&proof.jkt, &proof.jti, expires_at).await? {
            Ok(())
        } else {
            Err(ProofError::Replayed.into())
        }
    }
}
