//! Where the access-token signing key comes from.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore as _;
use rand::rngs::OsRng;
use secrecy::ExposeSecret;

use crate::clock::Clock;
use crate::config::Config;
use crate::domain::token::{SigningKey, SuccessorKey};
use crate::storage::{Store, StoreError, StoredSigningKey};

#[derive(Debug, thiserror::Error)]
pub enum KeyLoadError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the stored signing key is unusable: {0}")]
    Corrupt(String),
}

/// The configured `FIN_JWT_SECRET` if set; otherwise the key kept in the database, generated
/// on first start. Never regenerated on restart: that would sign everyone out.
pub async fn load_signing_key(
    config: &Config,
    store: &dyn Store,
    clock: &dyn Clock,
) -> Result<SigningKey, KeyLoadError> {
    if let Some(secret) = &config.jwt_secret {
        let bytes = secret.expose_secret().as_bytes().to_vec();
        let kid = SigningKey::derived_kid(&bytes);
        return SigningKey::hs256(kid, bytes).map_err(|e| KeyLoadError::Corrupt(e.to_string()));
    }
    let stored = match store.current_signing_key().await? {
        Some(key) => key,
        None => {
            let mut secret = vec![0u8; 32];
            OsRng.fill_bytes(&mut secret);
            let candidate = StoredSigningKey {
                kid: SigningKey::derived_kid(&secret),
                algorithm: "HS256".into(),
                secret: STANDARD.encode(&secret),
                created_at: clock.now(),
            };
            let key = store.ensure_signing_key(&candidate).await?;
            if key.kid == candidate.kid {
                tracing::info!(kid = %key.kid, "generated a new access-token signing key");
            }
            key
        }
    };
    if stored.algorithm != "HS256" {
        return Err(KeyLoadError::Corrupt(format!(
            "unsupported algorithm {}",
            stored.algorithm
        )));
    }
    let bytes = STANDARD
        .decode(&stored.secret)
        .map_err(|e| KeyLoadError::Corrupt(e.to_string()))?;
    SigningKey::hs256(stored.kid, bytes).map_err(|e| KeyLoadError::Corrupt(e.to_string()))
}

/// The key that derives refresh-token successors: generated on first start, kept in the
/// database so every instance derives the same successor for the same token.
pub async fn load_successor_key(store: &dyn Store, clock: &dyn Clock) -> Result<SuccessorKey, KeyLoadError> {
    let mut candidate = vec![0u8; 32];
    OsRng.fill_bytes(&mut candidate);
    let stored = store
        .ensure_secret("refresh_successor", &STANDARD.encode(&candidate), clock.now())
        .await?;
    let key = STANDARD
        .decode(&stored)
        .map_err(|e| KeyLoadError::Corrupt(e.to_string()))?;
    Ok(SuccessorKey::new(key))
}
