//! The services' errors: one small enum per use case, naming only the failures that use case
//! can have, and [`Fault`], what goes wrong on the server's side, which every one of them
//! carries. The edge turns each into the JSON API's `ApiError` and the UI's `AppError` by
//! variant (`http::error`, `edge::failure`).

use crate::domain::access::TokenError;
use crate::domain::password::{PasswordError, WeakPassword};
use crate::domain::proof::ProofError;
use crate::domain::user::InvalidIdentity;
use crate::storage::StoreError;

/// Not the caller's doing: the database, the password hasher or the key store failed.
/// Logged where it is converted, never sent.
#[derive(Debug, thiserror::Error)]
pub enum Fault {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Password(#[from] PasswordError),
    #[error("cannot load keys: {0}")]
    Keys(String),
    /// A stored passkey or ceremony state webauthn-rs cannot read back.
    #[error("passkey state: {0}")]
    Passkey(String),
}

impl Fault {
    /// The database cannot be reached (503, worth retrying), rather than a bug (500).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Fault::Store(e) if e.is_unavailable())
    }
}

/// The caller is signed in but not an administrator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("forbidden")]
pub struct Forbidden;

/// Signing in, and answering a step-up challenge.
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// Unknown user, wrong password, inactive account, or a sign-in the risk policy refused:
    /// deliberately indistinguishable.
    #[error("invalid username or password")]
    InvalidCredentials,
    /// Too many recent attempts from this address or against this account.
    #[error("too many attempts; retry in {retry_after_secs} s")]
    Throttled { retry_after_secs: i64 },
    /// Too many sign-ins from this address, or against this account, are already in
    /// progress (see `gate`): nothing failed.
    #[error("too many sign-ins in progress")]
    Busy,
    /// The risk policy asks for a second factor: answer the challenge at
    /// `POST /api/auth/step-up`.
    #[error("a second factor is required")]
    StepUpRequired {
        challenge_id: String,
        /// WebAuthn request options for the user's passkeys, when they have any.
        passkey: Option<serde_json::Value>,
    },
    /// A passkey answer that is not WebAuthn's JSON at all (a bad request, not a refusal).
    #[error("the credential is not a WebAuthn response")]
    MalformedCredential,
    /// A wrong, spent or expired second-factor code, or an unknown challenge.
    #[error("the code is not valid")]
    InvalidCode,
    /// The authenticator is locked after too many wrong codes.
    #[error("the second factor is locked")]
    FactorLocked,
    /// The device proof offered to bind the new session does not hold.
    #[error(transparent)]
    InvalidDeviceProof(ProofError),
    #[error(transparent)]
    Fault(#[from] Fault),
}

/// Refreshing, listing and ending sessions.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Unknown, malformed, revoked or expired refresh token.
    #[error("the refresh token is invalid")]
    InvalidRefreshToken,
    /// A spent refresh token came back outside the grace window: the session is revoked.
    #[error("the refresh token was already used")]
    RefreshReused,
    /// A refresh looked like someone else holding the token: the session is ended.
    #[error("session ended by the risk policy")]
    RefreshBlocked,
    /// The session is already bound to a device key, or was signed in too long ago to be
    /// bound now.
    #[error("the session cannot be bound to a device key")]
    BindingClosed,
    /// The session is bound to a device key and the refresh did not prove it (or, with
    /// [`ProofError::NonceRequired`], must prove it again with a fresh nonce).
    #[error(transparent)]
    DeviceProof(ProofError),
    /// No such session of the caller's.
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Fault(#[from] Fault),
}

/// Recognising the caller behind an access token.
#[derive(Debug, thiserror::Error)]
pub enum AuthenticateError {
    /// Malformed, forged, expired, or its session or account is gone.
    #[error(transparent)]
    Token(#[from] TokenError),
    /// A token bound to a device key without a valid proof from that key (presented as a
    /// bearer token, or with a proof that does not hold).
    #[error(transparent)]
    DeviceProof(ProofError),
    #[error(transparent)]
    Fault(#[from] Fault),
}

/// Accounts: creating them, passwords, and the console's operations on them.
#[derive(Debug, thiserror::Error)]
pub enum AccountError {
    /// The current password given with a change is wrong.
    #[error("invalid password")]
    InvalidCredentials,
    #[error(transparent)]
    InvalidIdentity(#[from] InvalidIdentity),
    #[error("{0}")]
    WeakPassword(String),
    #[error("{0} is already taken")]
    Conflict(&'static str),
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    #[error("not found")]
    NotFound,
    /// An admin tried to deactivate or demote themselves.
    #[error("an administrator cannot deactivate or demote themselves")]
    SelfLockout,
    /// Too many recent current-password checks for this account.
    #[error("too many attempts; retry in {retry_after_secs} s")]
    Throttled { retry_after_secs: i64 },
    /// Too many password checks for this account or address are already in progress.
    #[error("too many password checks in progress")]
    Busy,
    #[error(transparent)]
    Fault(Fault),
}

/// Enrolling an authenticator.
#[derive(Debug, thiserror::Error)]
pub enum FactorError {
    /// The first code does not match the pending authenticator, or there is none.
    #[error("the code is not valid")]
    InvalidCode,
    /// A confirmed authenticator exists and must stay.
    #[error("{0} is already taken")]
    Conflict(&'static str),
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    /// A sensitive change needs the current password (no sign-in in the last minutes).
    #[error("re-authentication required")]
    ReauthenticationRequired,
    /// The current password given with a sensitive change is wrong.
    #[error("wrong current password")]
    WrongPassword,
    #[error("too many attempts; retry in {retry_after_secs} s")]
    Throttled { retry_after_secs: i64 },
    #[error("too many password checks in progress")]
    Busy,
    /// There is no confirmed authenticator (or no such passkey) to act on.
    #[error("not found")]
    NotFound,
    /// A new passkey that did not verify: not WebAuthn's JSON, another origin, another
    /// (or a spent) ceremony.
    #[error("the passkey could not be verified")]
    InvalidPasskey,
    /// A passkey's name out of bounds.
    #[error("{0}")]
    InvalidName(String),
    #[error(transparent)]
    Fault(Fault),
}

/// Why a re-authentication did not pass.
#[derive(Debug, thiserror::Error)]
pub enum ReauthError {
    /// Neither a password nor a recent enough sign-in.
    #[error("re-authentication required")]
    Required,
    #[error("wrong current password")]
    WrongPassword,
    #[error("too many attempts; retry in {retry_after_secs} s")]
    Throttled { retry_after_secs: i64 },
    #[error("too many password checks in progress")]
    Busy,
    #[error(transparent)]
    Fault(#[from] Fault),
}

impl From<StoreError> for ReauthError {
    fn from(error: StoreError) -> Self {
        Fault::Store(error).into()
    }
}

/// Reading and judging the activity log.
#[derive(Debug, thiserror::Error)]
pub enum ActivityError {
    #[error(transparent)]
    Forbidden(#[from] Forbidden),
    /// No such event (or, for "this wasn't me", none of the caller's).
    #[error("not found")]
    NotFound,
    #[error(transparent)]
    Fault(#[from] Fault),
}

/// Each error takes storage failures as faults, but for the conflicts that are the
/// caller's answer (a taken name, an authenticator already there).
macro_rules! from_store {
    ($($error:ident),*) => {$(
        impl From<StoreError> for $error {
            fn from(error: StoreError) -> Self {
                Fault::Store(error).into()
            }
        }
    )*};
}

from_store!(
    SignInError,
    SessionError,
    AuthenticateError,
    ActivityError,
    ProofCheckError
);

/// A device proof that did not hold, or the store failing while it was checked.
#[derive(Debug, thiserror::Error)]
pub enum ProofCheckError {
    #[error(transparent)]
    Refused(#[from] ProofError),
    #[error(transparent)]
    Fault(#[from] Fault),
}

/// Each use case's own variant for a refused proof; the store's failures stay faults.
macro_rules! from_proof_check {
    ($($error:ident::$variant:ident),*) => {$(
        impl From<ProofCheckError> for $error {
            fn from(error: ProofCheckError) -> Self {
                match error {
                    ProofCheckError::Refused(refused) => $error::$variant(refused),
                    ProofCheckError::Fault(fault) => fault.into(),
                }
            }
        }
    )*};
}

from_proof_check!(
    AuthenticateError::DeviceProof,
    SignInError::InvalidDeviceProof,
    SessionError::DeviceProof
);

impl From<PasswordError> for SignInError {
    fn from(error: PasswordError) -> Self {
        Fault::Password(error).into()
    }
}

impl From<ReauthError> for AccountError {
    fn from(error: ReauthError) -> Self {
        match error {
            // The password change always carries the current password.
            ReauthError::Required | ReauthError::WrongPassword => AccountError::InvalidCredentials,
            ReauthError::Throttled { retry_after_secs } => AccountError::Throttled { retry_after_secs },
            ReauthError::Busy => AccountError::Busy,
            ReauthError::Fault(fault) => AccountError::Fault(fault),
        }
    }
}

impl From<ReauthError> for FactorError {
    fn from(error: ReauthError) -> Self {
        match error {
            ReauthError::Required => FactorError::ReauthenticationRequired,
            ReauthError::WrongPassword => FactorError::WrongPassword,
            ReauthError::Throttled { retry_after_secs } => FactorError::Throttled { retry_after_secs },
            ReauthError::Busy => FactorError::Busy,
            ReauthError::Fault(fault) => FactorError::Fault(fault),
        }
    }
}

impl From<StoreError> for AccountError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(field) => AccountError::Conflict(field),
            other => AccountError::Fault(Fault::Store(other)),
        }
    }
}

impl From<PasswordError> for AccountError {
    fn from(error: PasswordError) -> Self {
        AccountError::Fault(Fault::Password(error))
    }
}

/// Every refusal of the password policy is the caller's to fix, and its message tells how.
impl From<WeakPassword> for AccountError {
    fn from(refusal: WeakPassword) -> Self {
        AccountError::WeakPassword(refusal.to_string())
    }
}

impl From<Fault> for AccountError {
    fn from(fault: Fault) -> Self {
        AccountError::Fault(fault)
    }
}

impl From<StoreError> for FactorError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Conflict(field) => FactorError::Conflict(field),
            other => FactorError::Fault(Fault::Store(other)),
        }
    }
}

impl From<Fault> for FactorError {
    fn from(fault: Fault) -> Self {
        FactorError::Fault(fault)
    }
}
