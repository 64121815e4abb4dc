//! Passkeys: the relying party's half of WebAuthn's two ceremonies, registering a credential
//! and asserting with one, verified by webauthn-rs (kanidm's library, RustCrypto underneath).
//!
//! What this module decides, so that no caller can forget it:
//! - every credential is a discoverable one (`residentKey: required`), made and used with
//!   user verification (`userVerification: required`): a passkey is then two factors by
//!   itself, something held and something known or are;
//! - the relying party is the host of `FIN_PUBLIC_URL`, and only that origin is accepted;
//! - a ceremony's state leaves here as JSON text, to be stored server-side (any instance
//!   finishes it) and used once;
//! - the signature counter must grow unless it is zero (synced passkeys keep it at zero),
//!   and a credential's backup eligibility may not change (webauthn-rs refuses both).
//!
//! Nothing here knows of HTTP or storage: the service fetches and stores, this verifies.

use serde::Deserialize;
use serde_json::Value;
use webauthn_rs::prelude::{
    AuthenticationResult, CreationChallengeResponse, DiscoverableAuthentication, Passkey as Credential,
    PasskeyAuthentication, PasskeyRegistration, PublicKeyCredential, RegisterPublicKeyCredential, Url, Uuid, Webauthn,
    WebauthnBuilder,
};

/// How long the browser may take over a ceremony; the server's challenge lives as long.
pub const CEREMONY_SECS: u64 = 300;

/// Why a passkey ceremony failed.
#[derive(Debug, thiserror::Error)]
pub enum PasskeyError {
    /// Not WebAuthn's JSON for this ceremony at all.
    #[error("the credential is not a WebAuthn response")]
    Malformed,
    /// Well formed, but it does not verify: another origin or relying party, another
    /// challenge, a bad signature, no user verification, a counter that went back, a key
    /// the account does not hold.
    #[error("the passkey did not verify: {0}")]
    Refused(String),
    /// A stored ceremony state or credential that cannot be read back: the server's own
    /// fault (a row written by another version), never the caller's.
    #[error("stored passkey state is unreadable: {0}")]
    Stored(String),
}

/// What a relying party sends the browser to start a ceremony: the options
/// (`PublicKeyCredentialCreationOptionsJSON` or `…RequestOptionsJSON` of WebAuthn Level 3)
/// and the state to keep until the answer comes.
#[derive(Debug, Clone)]
pub struct Ceremony {
    pub options: Value,
    /// JSON text; holds the challenge, so it is kept server-side only.
    pub state: String,
}

/// A credential just registered, ready to store.
#[derive(Debug, Clone)]
pub struct NewCredential {
    /// The credential id, base64url: unique across every account.
    pub credential_id: String,
    /// webauthn-rs's record of the credential (public key, counter, flags), JSON text.
    pub stored: String,
    pub flags: CredentialFlags,
}

/// What the authenticator says of a credential, as last seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CredentialFlags {
    /// The key may be synced to other devices (a password manager, a platform keychain).
    pub backup_eligible: bool,
    /// The key is synced now.
    pub backed_up: bool,
}

/// A stored credential, as the service hands it back for verification.
#[derive(Debug, Clone)]
pub struct StoredCredential {
    pub credential_id: String,
    pub stored: String,
}

/// An assertion that verified: the credential to update, if the authenticator moved its
/// counter or flags.
#[derive(Debug, Clone)]
pub struct Verified {
    pub credential_id: String,
    /// The credential's new record, when it changed.
    pub updated: Option<String>,
    pub flags: CredentialFlags,
}

/// An authenticator's answer to a sign-in, parsed but not yet verified.
#[derive(Debug, Clone)]
pub struct Assertion {
    credential: PublicKeyCredential,
}

impl Assertion {
    /// Parses an `AuthenticationResponseJSON`.
    pub fn parse(json: &Value) -> Result<Self, PasskeyError> {
        let credential: PublicKeyCredential =
            serde_json::from_value(json.clone()).map_err(|_| PasskeyError::Malformed)?;
        if credential.type_ != "public-key" || credential.raw_id.is_empty() {
            return Err(PasskeyError::Malformed);
        }
        Ok(Self { credential })
    }

    /// The credential id the authenticator used, base64url.
    pub fn credential_id(&self) -> String {
        encode(&self.credential.raw_id)
    }

    /// The user handle a discoverable credential returns: whose passkey the authenticator
    /// says it is (to be checked against the credential's owner, never trusted alone).
    pub fn user_handle(&self) -> Option<Uuid> {
        self.credential
            .get_user_unique_id()
            .and_then(|bytes| Uuid::from_slice(bytes).ok())
    }
}

/// An authenticator's answer to a registration, parsed but not yet verified.
#[derive(Debug, Clone)]
pub struct Attestation {
    credential: RegisterPublicKeyCredential,
}

impl Attestation {
    /// Parses a `RegistrationResponseJSON`.
    pub fn parse(json: &Value) -> Result<Self, PasskeyError> {
        let credential: RegisterPublicKeyCredential =
            serde_json::from_value(json.clone()).map_err(|_| PasskeyError::Malformed)?;
        if credential.type_ != "public-key" || credential.raw_id.is_empty() {
            return Err(PasskeyError::Malformed);
        }
        Ok(Self { credential })
    }
}

/// The relying party: this deployment's id and origin, and the ceremonies.
pub struct RelyingParty {
    webauthn: Webauthn,
    id: String,
}

impl std::fmt::Debug for RelyingParty {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelyingParty").field("id", &self.id).finish()
    }
}

impl RelyingParty {
    /// The relying party for `public_url`, an origin such as `https://login.example.com`:
    /// its host is the RP ID, and it is the one origin accepted.
    pub fn new(public_url: &str) -> Result<Self, String> {
        let origin = Url::parse(public_url).map_err(|e| format!("{public_url}: {e}"))?;
        let id = origin
            .host_str()
            .filter(|host| host.parse::<std::net::IpAddr>().is_err() && !host.starts_with('['))
            .ok_or_else(|| format!("{public_url}: a relying party needs a host name, not an address"))?
            .to_owned();
        let webauthn = WebauthnBuilder::new(&id, &origin)
            .and_then(|b| {
                b.rp_name("fin_intelli")
                    .timeout(std::time::Duration::from_secs(CEREMONY_SECS))
                    .build()
            })
            .map_err(|e| format!("{public_url}: {e}"))?;
        Ok(Self { webauthn, id })
    }

    /// The RP ID passkeys are made for.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Creation options for a new passkey of the user with `handle` (their WebAuthn user
    /// id), excluding the credentials they already have.
    pub fn start_registration(
        &self,
        handle: Uuid,
        username: &str,
        existing: &[String],
    ) -> Result<Ceremony, PasskeyError> {
        let exclude = existing.iter().filter_map(|id| decode(id)).collect();
        let (mut options, state) = self
            .webauthn
            .start_passkey_registration(handle, username, username, Some(exclude))
            .map_err(refused)?;
        // webauthn-rs asks for a discoverable credential only as a preference; a passkey
        // that signs in without a username must be one.
        require_resident_key(&mut options);
        Ok(Ceremony {
            options: to_json(&options.public_key)?,
            state: serde_json::to_string(&state).map_err(stored)?,
        })
    }

    /// Verifies a registration against its ceremony's state.
    pub fn finish_registration(&self, answer: &Attestation, state: &str) -> Result<NewCredential, PasskeyError> {
        let state: PasskeyRegistration = serde_json::from_str(state).map_err(stored)?;
        let credential = self
            .webauthn
            .finish_passkey_registration(&answer.credential, &state)
            .map_err(refused)?;
        let stored = serde_json::to_string(&credential).map_err(stored)?;
        Ok(NewCredential {
            credential_id: encode(credential.cred_id()),
            flags: flags_of(&stored)?,
            stored,
        })
    }

    /// Request options for a sign-in with any passkey of this site (no username: the
    /// authenticator offers its own, and returns the user handle).
    pub fn start_sign_in(&self) -> Result<Ceremony, PasskeyError> {
        let (options, state) = self.webauthn.start_discoverable_authentication().map_err(refused)?;
        Ok(Ceremony {
            options: to_json(&options.public_key)?,
            state: serde_json::to_string(&state).map_err(stored)?,
        })
    }

    /// Verifies a sign-in's assertion against its state and the credential it named.
    pub fn finish_sign_in(
        &self,
        answer: &Assertion,
        state: &str,
        credential: &StoredCredential,
    ) -> Result<Verified, PasskeyError> {
        let state: DiscoverableAuthentication = serde_json::from_str(state).map_err(stored)?;
        let mut passkey: Credential = serde_json::from_str(&credential.stored).map_err(stored)?;
        let result = self
            .webauthn
            .finish_discoverable_authentication_v2(&answer.credential, state, &passkey)
            .map_err(refused)?;
        verified(&mut passkey, &result)
    }

    /// Request options for a step-up, listing the user's own credentials.
    pub fn start_step_up(&self, credentials: &[StoredCredential]) -> Result<Ceremony, PasskeyError> {
        let passkeys = credentials
            .iter()
            .map(|c| serde_json::from_str::<Credential>(&c.stored).map_err(stored))
            .collect::<Result<Vec<_>, _>>()?;
        let (options, state) = self.webauthn.start_passkey_authentication(&passkeys).map_err(refused)?;
        Ok(Ceremony {
            options: to_json(&options.public_key)?,
            state: serde_json::to_string(&state).map_err(stored)?,
        })
    }

    /// Verifies a step-up's assertion against its state; `credential` is the one it named,
    /// which must be among those the ceremony allowed.
    pub fn finish_step_up(
        &self,
        answer: &Assertion,
        state: &str,
        credential: &StoredCredential,
    ) -> Result<Verified, PasskeyError> {
        let state: PasskeyAuthentication = serde_json::from_str(state).map_err(stored)?;
        let mut passkey: Credential = serde_json::from_str(&credential.stored).map_err(stored)?;
        let result = self
            .webauthn
            .finish_passkey_authentication(&answer.credential, &state)
            .map_err(refused)?;
        verified(&mut passkey, &result)
    }
}

/// The outcome of an assertion, with the credential's new record when it changed.
fn verified(passkey: &mut Credential, result: &AuthenticationResult) -> Result<Verified, PasskeyError> {
    // The library checks user verification against the ceremony's policy; this states the
    // rule where it matters, in case a ceremony is ever started with a weaker one.
    if !result.user_verified() {
        return Err(PasskeyError::Refused("user verification missing".to_owned()));
    }
    let changed = passkey
        .update_credential(result)
        .ok_or_else(|| PasskeyError::Refused("the assertion is for another credential".to_owned()))?;
    let updated = match changed {
        true => Some(serde_json::to_string(passkey).map_err(stored)?),
        false => None,
    };
    Ok(Verified {
        credential_id: encode(result.cred_id()),
        updated,
        flags: CredentialFlags {
            backup_eligible: result.backup_eligible(),
            backed_up: result.backup_state(),
        },
    })
}

/// Makes the creation options ask for a discoverable credential outright.
fn require_resident_key(options: &mut CreationChallengeResponse) {
    use webauthn_rs_proto::{AuthenticatorSelectionCriteria, ResidentKeyRequirement, UserVerificationPolicy};
    let selection = options
        .public_key
        .authenticator_selection
        .get_or_insert(AuthenticatorSelectionCriteria {
            authenticator_attachment: None,
            resident_key: None,
            require_resident_key: false,
            user_verification: UserVerificationPolicy::Required,
        });
    selection.resident_key = Some(ResidentKeyRequirement::Required);
    selection.require_resident_key = true;
}

/// The flags of a stored credential. webauthn-rs keeps them private (short of its
/// "danger-credential-internals" feature, which would expose the key material too), so
/// they are read from its serialised record, whose shape the tests pin.
pub fn flags_of(stored: &str) -> Result<CredentialFlags, PasskeyError> {
    #[derive(Deserialize)]
    struct Record {
        cred: Flags,
    }
    #[derive(Deserialize)]
    struct Flags {
        backup_eligible: bool,
        backup_state: bool,
    }
    let record: Record = serde_json::from_str(stored).map_err(self::stored)?;
    Ok(CredentialFlags {
        backup_eligible: record.cred.backup_eligible,
        backed_up: record.cred.backup_state,
    })
}

fn to_json<T: serde::Serialize>(options: &T) -> Result<Value, PasskeyError> {
    serde_json::to_value(options).map_err(stored)
}

fn refused(error: webauthn_rs::prelude::WebauthnError) -> PasskeyError {
    PasskeyError::Refused(error.to_string())
}

fn stored(error: serde_json::Error) -> PasskeyError {
    PasskeyError::Stored(error.to_string())
}

fn encode(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn decode(id: &str) -> Option<Vec<u8>> {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(id).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relying_party_is_the_public_hosts_and_never_an_address() {
        let rp = RelyingParty::new("https://login.example.com").unwrap();
        assert_eq!(rp.id(), "login.example.com");
        assert_eq!(RelyingParty::new("http://localhost:8000").unwrap().id(), "localhost");
        assert!(RelyingParty::new("http://127.0.0.1:8000").is_err());
        assert!(RelyingParty::new("http://[::1]:8000").is_err());
    }

    #[test]
    fn registration_asks_for_a_discoverable_user_verified_credential() {
        let rp = RelyingParty::new("https://login.example.com").unwrap();
        let ceremony = rp
            .start_registration(Uuid::new_v4(), "alice", &["AAEC".to_owned()])
            .unwrap();
        let selection = &ceremony.options["authenticatorSelection"];
        assert_eq!(selection["residentKey"], "required", "{}", ceremony.options);
        assert_eq!(selection["requireResidentKey"], true);
        assert_eq!(selection["userVerification"], "required");
        assert_eq!(ceremony.options["rp"]["id"], "login.example.com");
        assert_eq!(ceremony.options["excludeCredentials"][0]["id"], "AAEC");
        assert!(ceremony.options["challenge"].as_str().is_some_and(|c| c.len() >= 43));
    }

    #[test]
    fn sign_in_options_name_no_credential_and_require_verification() {
        let rp = RelyingParty::new("https://login.example.com").unwrap();
        let ceremony = rp.start_sign_in().unwrap();
        assert_eq!(ceremony.options["userVerification"], "required");
        assert_eq!(ceremony.options["rpId"], "login.example.com");
        let allowed = ceremony.options.get("allowCredentials").and_then(Value::as_array);
        assert!(allowed.is_none_or(Vec::is_empty), "{}", ceremony.options);
    }

    #[test]
    fn responses_that_are_not_webauthn_json_are_malformed() {
        for bad in [
            serde_json::json!("x"),
            serde_json::json!({}),
            serde_json::json!({"id": "", "rawId": "", "type": "public-key", "response": {}}),
            serde_json::json!({"id": "AA", "rawId": "AA", "type": "password", "response": {
                "authenticatorData": "", "clientDataJSON": "", "signature": ""}}),
        ] {
            assert!(matches!(Assertion::parse(&bad), Err(PasskeyError::Malformed)), "{bad}");
            assert!(
                matches!(Attestation::parse(&bad), Err(PasskeyError::Malformed)),
                "{bad}"
            );
        }
    }
}
