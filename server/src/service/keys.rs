//! Where the keys come from: the access-token signing keys and the refresh-successor key.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::RngCore as _;
use rand::rngs::OsRng;
use secrecy::ExposeSecret;

use crate::clock::Clock;
use crate::config::Config;
use crate::domain::access::SigningKey;
use crate::domain::proof::NonceKey;
use crate::domain::token::SuccessorKey;
use crate::domain::totp::RecoveryKey;
use crate::storage::{KeyStore, StoreError, StoredSigningKey};

#[derive(Debug, thiserror::Error)]
pub enum KeyLoadError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a stored key is unusable: {0}")]
    Corrupt(String),
}

/// The key that signs, and the others that still verify.
#[derive(Debug)]
pub struct LoadedKeys {
    pub signing: SigningKey,
    pub others: Vec<SigningKey>,
}

/// With `FIN_JWT_SECRET` set: HS256 with that secret (the original design's shared
/// `SECRET_KEY`); with `FIN_JWT_ED25519_KEY`: that Ed25519 key. Otherwise the active Ed25519 key kept in the database, generated on first
/// start: never regenerated on restart, which would sign everyone out. Every stored key
/// verifies, so tokens signed before a rotation or a switch keep working until they expire.
pub async fn load_keys(config: &Config, store: &dyn KeyStore, clock: &dyn Clock) -> Result<LoadedKeys, KeyLoadError> {
    let configured = match (&config.jwt_secret, &config.jwt_ed25519_seed) {
        (Some(secret), _) => {
            let bytes = secret.expose_secret().as_bytes().to_vec();
            Some(SigningKey::hs256(SigningKey::derived_kid("hs", &bytes), bytes))
        }
        (None, Some(seed)) => Some(SigningKey::ed25519_from_seed(seed.expose_secret())),
        (None, None) => None,
    };
    let signing = match configured {
        Some(key) => key.map_err(|e| KeyLoadError::Corrupt(e.to_string()))?,
        None => {
            let active = match store.current_signing_key().await? {
                Some(key) => key,
                None => {
                    let candidate = stored(&SigningKey::generate_ed25519(), clock);
                    let key = store.ensure_signing_key(&candidate).await?;
                    if key.kid == candidate.kid {
                        tracing::info!(kid = %key.kid, "generated a new Ed25519 access-token signing key");
                    }
                    key
                }
            };
            decode(&active)?
        }
    };
    let others = verification_keys(store)
        .await?
        .into_iter()
        .filter(|k| k.kid() != signing.kid())
        .collect();
    Ok(LoadedKeys { signing, others })
}

/// Every stored key (active and retired), for verification.
pub async fn verification_keys(store: &dyn KeyStore) -> Result<Vec<SigningKey>, KeyLoadError> {
    store.signing_keys().await?.iter().map(decode).collect()
}

/// Makes a new Ed25519 key the signing key and retires the old one, which keeps verifying.
/// Instances learn the new key from the database the first time they see a token it signed.
pub async fn rotate_signing_key(store: &dyn KeyStore, clock: &dyn Clock) -> Result<String, KeyLoadError> {
    let key = SigningKey::generate_ed25519();
    store.rotate_signing_key(&stored(&key, clock)).await?;
    Ok(key.kid().to_owned())
}

fn stored(key: &SigningKey, clock: &dyn Clock) -> StoredSigningKey {
    let (algorithm, material) = key.export();
    StoredSigningKey {
        kid: key.kid().to_owned(),
        algorithm: algorithm.to_owned(),
        secret: STANDARD.encode(material),
        created_at: clock.now(),
    }
}

fn decode(key: &StoredSigningKey) -> Result<SigningKey, KeyLoadError> {
    let material = STANDARD
        .decode(&key.secret)
        .map_err(|e| KeyLoadError::Corrupt(format!("{}: {e}", key.kid)))?;
    SigningKey::from_parts(&key.kid, &key.algorithm, material)
        .map_err(|e| KeyLoadError::Corrupt(format!("{}: {e}", key.kid)))
}

/// The key recovery codes are hashed with: generated on first start, kept in the database
/// (apart from the codes' rows, though in the same database: see SECURITY.md) so every
/// instance hashes alike.
pub async fn load_recovery_key(store: &dyn KeyStore, clock: &dyn Clock) -> Result<RecoveryKey, KeyLoadError> {
    Ok(RecoveryKey::new(shared_secret(store, clock, "recovery_codes").await?))
}

/// The key that derives refresh-token successors: generated on first start, kept in the
/// database so every instance derives the same successor for the same token.
pub async fn load_successor_key(store: &dyn KeyStore, clock: &dyn Clock) -> Result<SuccessorKey, KeyLoadError> {
    Ok(SuccessorKey::new(
        shared_secret(store, clock, "refresh_successor").await?,
    ))
}

/// The key device-proof nonces are signed with, shared so any instance accepts any
/// instance's nonce.
pub async fn load_nonce_key(store: &dyn KeyStore, clock: &dyn Clock) -> Result<NonceKey, KeyLoadError> {
    Ok(NonceKey::new(shared_secret(store, clock, "device_proof_nonces").await?))
}

/// The 256-bit secret `name`: this instance's random candidate, unless another instance
/// stored one first.
async fn shared_secret(store: &dyn KeyStore, clock: &dyn Clock, name: &str) -> Result<Vec<u8>, KeyLoadError> {
    let mut candidate = vec![0u8; 32];
    OsRng.fill_bytes(&mut candidate);
    let stored = store
        .ensure_secret(name, &STANDARD.encode(&candidate), clock.now())
        .await?;
    STANDARD
        .decode(&stored)
        .map_err(|e| KeyLoadError::Corrupt(e.to_string()))
}
