//! The use cases, one service each. Both the JSON API and the server functions call these,
//! so the two paths behave the same. [`Services::new`] is the one place they are built (their
//! fields are visible to this module for that); each holds only the storage roles it uses.

mod accounts;
mod activity;
mod admin;
mod alarms;
mod authenticate;
mod availability;
mod error;
mod factors;
pub mod feed;
mod gate;
mod keys;
mod liveness;
mod maintenance;
mod passkeys;
mod proofs;
mod reauth;
pub(crate) mod risk;
mod sessions;
mod shared;
mod sign_in;

use std::sync::Arc;

pub use accounts::{AccountService, NewAccount};
pub use activity::{ActivityService, EventReview, EventVerdict};
pub use admin::{AdminService, UserUpdate};
pub use authenticate::Authenticator;
pub use availability::DatabaseGate;
pub use error::{
    AccountError, ActivityError, AuthenticateError, FactorError, Fault, Forbidden, ProofCheckError, SessionError,
    SignInError,
};
pub use factors::{SecondFactorService, TotpEnrolment};
pub use feed::ActivityFeed;
pub use gate::GateLimits;
pub use keys::{
    KeyLoadError, LoadedKeys, load_keys, load_nonce_key, load_recovery_key, load_successor_key, rotate_signing_key,
    verification_keys,
};
pub use maintenance::Maintenance;
pub use passkeys::{PasskeyOptions, PasskeyService};
pub use proofs::DeviceProofs;
pub use risk::{NoFactorPolicy, RiskPolicy};
pub use sessions::{REGISTRATION_WINDOW, SessionService};
pub use shared::{Principal, SessionPolicy, SignedIn};
pub use sign_in::{SignInService, StepUpAnswer};

use crate::clock::Clock;
use crate::domain::access::AccessTokens;
use crate::domain::geo::Geolocator;
use crate::domain::passkey::RelyingParty;
use crate::domain::password::{PasswordPolicy, Passwords};
use crate::domain::proof::NonceKey;
use crate::domain::throttle::ThrottlePolicy;
use crate::domain::token::SuccessorKey;
use crate::domain::totp::RecoveryKey;
use crate::storage::Store;

/// What the services are built from.
pub struct ServiceParts {
    pub store: Arc<dyn Store>,
    pub passwords: Passwords,
    /// Which new passwords to accept, with its common-password list.
    pub password_policy: PasswordPolicy,
    pub tokens: AccessTokens,
    pub successors: SuccessorKey,
    pub recovery_key: RecoveryKey,
    /// Signs the nonces device proofs must carry.
    pub nonce_key: NonceKey,
    pub clock: Arc<dyn Clock>,
    pub policy: SessionPolicy,
    pub geo: Arc<Geolocator>,
    pub throttle: ThrottlePolicy,
    pub risk: RiskPolicy,
    /// Passkeys: this deployment's WebAuthn relying party.
    pub relying_party: RelyingParty,
}

/// Every use case, ready to share between the JSON API and the server functions.
#[derive(Debug, Clone)]
pub struct Services {
    /// Recognises the caller behind an access token.
    pub auth: Arc<Authenticator>,
    pub sign_in: Arc<SignInService>,
    pub sessions: Arc<SessionService>,
    pub accounts: Arc<AccountService>,
    pub factors: Arc<SecondFactorService>,
    pub passkeys: Arc<PasskeyService>,
    pub activity: Arc<ActivityService>,
    pub admin: Arc<AdminService>,
    /// Device binding: the proofs bound sessions must carry, and their nonces.
    pub proofs: Arc<DeviceProofs>,
}

impl Services {
    pub fn new(parts: ServiceParts) -> Self {
        let ServiceParts {
            store,
            passwords,
            password_policy,
            tokens,
            successors,
            recovery_key,
            nonce_key,
            clock,
            policy,
            geo,
            throttle,
            risk,
            relying_party,
        } = parts;
        let recorder = shared::Recorder::new(geo, clock.clone());
        let issuer = shared::Issuer {
            tokens: Arc::new(tokens),
            policy,
        };
        let risk = risk::RiskGate::new(store.clone(), risk);
        // One cache of live sessions: whichever service ends a session evicts it here.
        let live = Arc::new(liveness::LivenessCache::default());
        // One gate for every password check, so sign-ins and re-authentications share the
        // bounds per address and account.
        let gate = gate::CheckGate::new(gate::GateLimits::default());
        let proofs = Arc::new(DeviceProofs {
            spent: store.clone(),
            nonces: nonce_key,
            clock: clock.clone(),
        });
        let reauth = Arc::new(reauth::Reauthenticator {
            sessions: store.clone(),
            activity: store.clone(),
            counters: store.clone(),
            throttle,
            gate: gate.clone(),
            passwords: passwords.clone(),
            recorder: recorder.clone(),
            live: live.clone(),
        });
        let factors = Arc::new(SecondFactorService {
            factors: store.clone(),
            activity: store.clone(),
            recorder: recorder.clone(),
            reauth: reauth.clone(),
            recovery_key,
        });
        let passkeys = Arc::new(PasskeyService {
            passkeys: store.clone(),
            reauth: reauth.clone(),
            recorder: recorder.clone(),
            rp: Arc::new(relying_party),
        });
        let accounts = Arc::new(AccountService {
            users: store.clone(),
            reauth,
            passwords: passwords.clone(),
            policy: password_policy,
            recorder: recorder.clone(),
            live: live.clone(),
        });
        Self {
            auth: Arc::new(Authenticator::new(authenticate::AuthenticatorParts {
                tokens: issuer.tokens.clone(),
                sessions: store.clone(),
                users: store.clone(),
                keys: store.clone(),
                clock,
                live: live.clone(),
                proofs: proofs.clone(),
            })),
            sign_in: Arc::new(SignInService {
                users: store.clone(),
                counters: store.clone(),
                challenges: store.clone(),
                sessions: store.clone(),
                activity: store.clone(),
                passwords,
                issuer: issuer.clone(),
                recorder: recorder.clone(),
                throttle,
                risk: risk.clone(),
                factors: factors.clone(),
                gate,
                proofs: proofs.clone(),
                passkeys: passkeys.clone(),
            }),
            sessions: Arc::new(SessionService {
                sessions: store.clone(),
                users: store.clone(),
                activity: store.clone(),
                issuer,
                successors,
                recorder: recorder.clone(),
                risk: risk.clone(),
                live: live.clone(),
                proofs: proofs.clone(),
                alarms: alarms::AlarmLimiter::default(),
            }),
            activity: Arc::new(ActivityService {
                activity: store.clone(),
                users: store.clone(),
                sessions: store.clone(),
                recorder: recorder.clone(),
                risk,
                live: live.clone(),
            }),
            admin: Arc::new(AdminService {
                users: store.clone(),
                sessions: store.clone(),
                activity: store,
                accounts: accounts.clone(),
                recorder,
                live,
            }),
            factors,
            passkeys,
            accounts,
            proofs,
        }
    }
}
