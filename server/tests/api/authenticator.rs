//! A software WebAuthn authenticator for the tests: ES256 keys, `none` attestation, and the
//! JSON a browser's `PublicKeyCredential.toJSON()` gives. Knobs let a test be the attacker:
//! another origin, no user verification, a counter that goes back, a stranger's key.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use p256::ecdsa::signature::Signer as _;
use p256::ecdsa::{Signature, SigningKey};
use rand::RngCore as _;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const USER_PRESENT: u8 = 0x01;
const USER_VERIFIED: u8 = 0x04;
const BACKUP_ELIGIBLE: u8 = 0x08;
const BACKED_UP: u8 = 0x10;
const ATTESTED_DATA: u8 = 0x40;

/// A credential the authenticator holds.
pub struct Credential {
    pub id: Vec<u8>,
    key: SigningKey,
    user_handle: Vec<u8>,
    counter: u32,
}

pub struct SoftwareAuthenticator {
    origin: String,
    rp_id: String,
    credentials: Vec<Credential>,
    /// Sets the UV flag (a PIN or a fingerprint was checked).
    pub user_verified: bool,
    /// Signs client data for this origin instead (a phishing site's).
    pub origin_override: Option<String>,
    /// Sets the backup-eligible and backed-up flags (a synced passkey).
    pub synced: bool,
    /// How far each assertion moves the signature counter (0: synced passkeys keep it at 0).
    pub counter_step: u32,
}

impl SoftwareAuthenticator {
    /// An authenticator for pages of `origin` (`http://localhost:8000`).
    pub fn new(origin: &str) -> Self {
        let host = origin.split("://").nth(1).unwrap_or(origin);
        let rp_id = host.split(':').next().unwrap_or(host).to_owned();
        Self {
            origin: origin.to_owned(),
            rp_id,
            credentials: Vec::new(),
            user_verified: true,
            origin_override: None,
            synced: false,
            counter_step: 1,
        }
    }

    /// The last credential made.
    pub fn last(&mut self) -> &mut Credential {
        self.credentials.last_mut().expect("a credential")
    }

    /// Sets the last credential's signature counter (to replay an older one).
    pub fn set_counter(&mut self, value: u32) {
        self.last().counter = value;
    }

    /// Makes a new credential for creation options (`PublicKeyCredentialCreationOptionsJSON`).
    pub fn register(&mut self, options: &Value) -> Value {
        let mut id = vec![0u8; 16];
        rand::thread_rng().fill_bytes(&mut id);
        let credential = Credential {
            id,
            key: SigningKey::random(&mut rand::thread_rng()),
            user_handle: decode(options["user"]["id"].as_str().expect("user.id")),
            counter: 0,
        };
        self.credentials.push(credential);
        self.attest(options)
    }

    /// Registers the last credential again (same id, same key) for new options.
    pub fn register_again(&mut self, options: &Value) -> Value {
        self.attest(options)
    }

    fn attest(&mut self, options: &Value) -> Value {
        let rp_id = options["rp"]["id"].as_str().unwrap_or(&self.rp_id).to_owned();
        let flags = self.flags() | ATTESTED_DATA;
        let client_data = self.client_data("webauthn.create", options);
        let credential = self.credentials.last().expect("a credential");
        let point = credential.key.verifying_key().to_encoded_point(false);
        let cose_key = cbor_map(&[
            (cbor_int(1), cbor_int(2)),
            (cbor_int(3), cbor_int(-7)),
            (cbor_int(-1), cbor_int(1)),
            (cbor_int(-2), cbor_bytes(point.x().expect("x"))),
            (cbor_int(-3), cbor_bytes(point.y().expect("y"))),
        ]);
        let mut auth_data = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth_data.push(flags);
        auth_data.extend_from_slice(&0u32.to_be_bytes());
        auth_data.extend_from_slice(&[0u8; 16]);
        auth_data.extend_from_slice(&(credential.id.len() as u16).to_be_bytes());
        auth_data.extend_from_slice(&credential.id);
        auth_data.extend_from_slice(&cose_key);
        let attestation = cbor_map(&[
            (cbor_text("fmt"), cbor_text("none")),
            (cbor_text("attStmt"), cbor_map(&[])),
            (cbor_text("authData"), cbor_bytes(&auth_data)),
        ]);
        let id = B64.encode(&credential.id);
        json!({
            "id": id,
            "rawId": id,
            "type": "public-key",
            "response": {
                "clientDataJSON": B64.encode(client_data),
                "attestationObject": B64.encode(attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        })
    }

    /// Signs request options (`PublicKeyCredentialRequestOptionsJSON`) with the first
    /// credential they allow, or, when they allow any, the last one made.
    pub fn assert(&mut self, options: &Value) -> Value {
        let allowed: Vec<Vec<u8>> = options["allowCredentials"]
            .as_array()
            .map(|list| list.iter().filter_map(|c| c["id"].as_str()).map(decode).collect())
            .unwrap_or_default();
        let rp_id = options["rpId"].as_str().unwrap_or(&self.rp_id).to_owned();
        let flags = self.flags();
        let step = self.counter_step;
        let client_data = self.client_data("webauthn.get", options);
        let credential = match allowed.is_empty() {
            true => self.credentials.last_mut().expect("a credential"),
            false => self
                .credentials
                .iter_mut()
                .find(|c| allowed.contains(&c.id))
                .expect("none of the allowed credentials is here"),
        };
        credential.counter += step;
        let mut auth_data = Sha256::digest(rp_id.as_bytes()).to_vec();
        auth_data.push(flags);
        auth_data.extend_from_slice(&credential.counter.to_be_bytes());
        let mut signed = auth_data.clone();
        signed.extend_from_slice(&Sha256::digest(&client_data));
        let signature: Signature = credential.key.sign(&signed);
        let id = B64.encode(&credential.id);
        json!({
            "id": id,
            "rawId": id,
            "type": "public-key",
            "response": {
                "clientDataJSON": B64.encode(&client_data),
                "authenticatorData": B64.encode(&auth_data),
                "signature": B64.encode(signature.to_der().as_bytes()),
                "userHandle": B64.encode(&credential.user_handle),
            },
            "clientExtensionResults": {},
            "authenticatorAttachment": "platform",
        })
    }

    /// A stranger's authenticator: its own key under the given user handle (a real user's,
    /// to be nasty), never registered anywhere.
    pub fn stranger(origin: &str, user_handle: &[u8]) -> Self {
        let mut stranger = Self::new(origin);
        let mut id = vec![0u8; 16];
        rand::thread_rng().fill_bytes(&mut id);
        stranger.credentials.push(Credential {
            id,
            key: SigningKey::random(&mut rand::thread_rng()),
            user_handle: user_handle.to_vec(),
            counter: 0,
        });
        stranger
    }

    /// The user handle the last credential was made for.
    pub fn user_handle(&self) -> Vec<u8> {
        self.credentials.last().expect("a credential").user_handle.clone()
    }

    fn flags(&self) -> u8 {
        let mut flags = USER_PRESENT;
        if self.user_verified {
            flags |= USER_VERIFIED;
        }
        if self.synced {
            flags |= BACKUP_ELIGIBLE | BACKED_UP;
        }
        flags
    }

    fn client_data(&self, kind: &str, options: &Value) -> Vec<u8> {
        let origin = self.origin_override.as_deref().unwrap_or(&self.origin);
        serde_json::to_vec(&json!({
            "type": kind,
            "challenge": options["challenge"].as_str().expect("challenge"),
            "origin": origin,
            "crossOrigin": false,
        }))
        .unwrap()
    }
}

fn decode(text: &str) -> Vec<u8> {
    B64.decode(text.trim_end_matches('=')).expect("base64url")
}

/// CBOR (RFC 8949), only what attestation objects need: a head with a major type and a
/// length or value.
fn cbor_head(major: u8, value: u64) -> Vec<u8> {
    let major = major << 5;
    match value {
        0..=23 => vec![major | value as u8],
        24..=0xff => vec![major | 24, value as u8],
        0x100..=0xffff => {
            let mut head = vec![major | 25];
            head.extend_from_slice(&(value as u16).to_be_bytes());
            head
        }
        _ => {
            let mut head = vec![major | 26];
            head.extend_from_slice(&(value as u32).to_be_bytes());
            head
        }
    }
}

fn cbor_int(value: i64) -> Vec<u8> {
    match value {
        0.. => cbor_head(0, value as u64),
        _ => cbor_head(1, (-1 - value) as u64),
    }
}

fn cbor_bytes(bytes: &[u8]) -> Vec<u8> {
    let mut out = cbor_head(2, bytes.len() as u64);
    out.extend_from_slice(bytes);
    out
}

fn cbor_text(text: &str) -> Vec<u8> {
    let mut out = cbor_head(3, text.len() as u64);
    out.extend_from_slice(text.as_bytes());
    out
}

fn cbor_map(entries: &[(Vec<u8>, Vec<u8>)]) -> Vec<u8> {
    let mut out = cbor_head(5, entries.len() as u64);
    for (key, value) in entries {
        out.extend_from_slice(key);
        out.extend_from_slice(value);
    }
    out
}

#[test]
fn cbor_encodes_the_few_shapes_attestation_needs() {
    assert_eq!(cbor_map(&[(cbor_int(1), cbor_int(2))]), [0xa1, 0x01, 0x02]);
    assert_eq!(cbor_int(-7), [0x26]);
    assert_eq!(cbor_int(-1), [0x20]);
    assert_eq!(cbor_bytes(&[0; 32])[..2], [0x58, 0x20]);
    assert_eq!(cbor_text("fmt"), [0x63, b'f', b'm', b't']);
    assert_eq!(cbor_bytes(&[0; 300])[..3], [0x59, 0x01, 0x2c]);
}
