//! Signing in: the password, the throttle, the risk engine's decision, and the step-up a
//! risky sign-in must pass. A passkey sign-in ([`passkey`]) ends in the same session.

mod passkey;

use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use secrecy::{ExposeSecret, SecretString};

use super::error::SignInError;
use super::factors::{Answer, SecondFactorService};
use super::gate::CheckGate;
use super::passkeys::PasskeyService;
use super::proofs::DeviceProofs;
use super::risk::{Memory, RiskGate, observation};
use super::shared::{Issuer, Recorder, SignedIn};
use crate::domain::client::{ClientInfo, hash_device_cookie};
use crate::domain::passkey::Assertion;
use crate::domain::password::Passwords;
use crate::domain::risk::{Observation, Response, Signals};
use crate::domain::throttle::{Scope, ThrottleKey, ThrottlePolicy, Verdict, address_key, retry_after_secs};
use crate::domain::token::{self, NewRefreshToken};
use crate::domain::user::{User, normalise_login};
use crate::storage::{
    ActivityStore, BoundKey, Challenge, Decision, EventType, FactorStore, NewActivity, NewSession, SessionStore,
    ThrottleStore, UserStore,
};

/// How long an address the owner signed in from keeps its own, higher account-wide
/// throttle cap.
const OWNER_ADDRESS_MEMORY: Duration = Duration::days(90);
/// How long a step-up challenge can be answered, and how many answers it takes.
const CHALLENGE_LIFETIME: Duration = Duration::minutes(5);
const CHALLENGE_ATTEMPTS: i64 = 5;

#[derive(Debug)]
pub struct SignInService {
    pub(super) users: Arc<dyn UserStore>,
    pub(super) counters: Arc<dyn ThrottleStore>,
    pub(super) challenges: Arc<dyn FactorStore>,
    pub(super) sessions: Arc<dyn SessionStore>,
    pub(super) activity: Arc<dyn ActivityStore>,
    pub(super) passwords: Passwords,
    pub(super) issuer: Issuer,
    pub(super) recorder: Recorder,
    pub(super) throttle: ThrottlePolicy,
    pub(super) risk: RiskGate,
    pub(super) factors: Arc<SecondFactorService>,
    pub(super) gate: Arc<CheckGate>,
    pub(super) proofs: Arc<DeviceProofs>,
    pub(super) passkeys: Arc<PasskeyService>,
}

/// How a step-up challenge is answered.
#[derive(Debug, Clone, Copy)]
pub enum StepUpAnswer<'a> {
    /// An authenticator-app code or a recovery code.
    Code(&'a str),
    /// A passkey's assertion (`AuthenticationResponseJSON`).
    Passkey(&'a serde_json::Value),
}

/// A sign-in the password and the risk engine (or a second factor) accepted, on its way to
/// a session.
struct Accepted {
    user: User,
    event: NewActivity,
    memory: Memory,
    signals: Signals,
    /// The throttle keys the attempt was counted under.
    keys: Vec<ThrottleKey>,
    /// The owner's address ([`address_key`]) the sign-in came from.
    network: String,
    /// The device key the client proved, to bind the session to.
    device_key: Option<BoundKey>,
}

/// The device's identity for the risk engine when the client proved a key: its RFC 7638
/// thumbprint, which cannot be copied off the device as a cookie can.
fn key_identity(key: Option<&BoundKey>) -> Option<String> {
    key.map(|k| format!("key:{}", k.jkt))
}

/// The observation with the proven key, where there is one, standing for the device
/// cookie: an API client's only device identity, and a stronger one than a browser's
/// cookie (which malware copies with the session).
fn identified<'a>(obs: Observation<'a>, key: Option<&'a str>) -> Observation<'a> {
    Observation {
        device_cookie: key.or(obs.device_cookie),
        ..obs
    }
}

impl SignInService {
    /// Signs in with a username or e-mail address and a password.
    ///
    /// The attempt is counted by the throttle first (see [`crate::domain::throttle`]); a
    /// throttled attempt is logged and refused without checking the password. Otherwise
    /// every path verifies one Argon2 hash (a dummy one for unknown users) and writes one
    /// activity row, so the answer's timing says nothing about which check failed.
    #[tracing::instrument(name = "sign_in::sign_in", skip_all)]
    pub async fn sign_in(
        &self,
        login: &str,
        password: SecretString,
        client: &ClientInfo,
    ) -> Result<SignedIn, SignInError> {
        let login = normalise_login(login);
        // A device proof offered must hold whatever the password: checked (and used up)
        // first, it says nothing about the account.
        let device_key = self.proofs.key_to_bind(client, self.recorder.now()).await?;
        let user = match &login {
            Some(login) => self.users.find_user_by_login(login).await?,
            None => None,
        };
        let now = self.recorder.now();
        let tried = user.as_ref().map(|u| u.username.clone()).or_else(|| login.clone());
        let account = match &user {
            Some(user) => format!("u:{}", user.id),
            None => format!("n:{}", login.as_deref().unwrap_or("")),
        };
        let network = address_key(client.ip);
        // At most a few checks per address and account run at once; the rest wait here
        // (see `gate`), so attempts in flight never crowd out the address's allowance.
        let user_id = user.as_ref().map(|u| u.id);
        let Ok(_pass) = self.gate.enter(&network, &account).await else {
            self.refused_unheard(user_id, tried, client, now, "too_many_in_progress")
                .await?;
            return Err(SignInError::Busy);
        };
        // The same lookup for unknown names (user 0 owns nothing), so the answer's timing
        // does not tell which names exist.
        let known = self
            .counters
            .is_known_network(user.as_ref().map_or(0, |u| u.id), &network, now - OWNER_ADDRESS_MEMORY)
            .await?;
        let keys = self.throttle.keys(&account, client.ip, known);
        if let Verdict::Throttled { retry_at, scope } = self.counters.throttle_attempt(&keys, now).await? {
            self.refused_unheard(user_id, tried, client, now, scope.reason())
                .await?;
            return Err(SignInError::Throttled {
                retry_after_secs: retry_after_secs(retry_at, now),
            });
        }

        let stored_hash = user.as_ref().map(|u| u.hashed_password.clone());
        let password_ok = self.passwords.verify(password.clone(), stored_hash).await?;
        let now = self.recorder.now();

        // The risk engine judges every attempt against the account's own history, failed
        // ones too: a refusal for risk then costs the same reads as a wrong password, and
        // the log shows how unusual each failure was.
        let mut event = self.recorder.event(EventType::LoginFailed, user_id, tried, client, now);
        let memory = self.risk.memory(user_id.unwrap_or(0), client, &event.place).await?;
        let signals = self
            .risk
            .signals(client, event.username.as_deref().unwrap_or(""), now)
            .await?;
        let identity = key_identity(device_key.as_ref());
        let judgement = {
            let obs = identified(
                observation(client, &event.place, &event.device, now),
                identity.as_deref(),
            );
            self.risk.judge_login(&memory, &obs, signals)
        };
        event.risk_score = judgement.assessment.score;
        event.risk_reasons = judgement.assessment.reasons.clone();
        let user = match user {
            Some(user) if password_ok && user.is_active => user,
            _ => {
                event.decision = Decision::Deny;
                self.activity.record_activity(&event).await?;
                return Err(SignInError::InvalidCredentials);
            }
        };
        event.event_type = EventType::LoginSucceeded;
        self.upgrade_hash(&user, password).await?;
        let block = match judgement.response {
            Response::Allow => false,
            Response::Block => true,
            Response::StepUp if self.can_step_up(user.id).await? => {
                return Err(self.challenge(&user, event).await?);
            }
            Response::StepUp => self.risk.no_factor_blocks(),
        };
        if block {
            event.event_type = EventType::LoginBlocked;
            event.decision = Decision::Block;
            self.activity.record_activity(&event).await?;
            tracing::warn!(user_id = user.id, ip = %client.ip, score = event.risk_score, reasons = ?event.risk_reasons, "sign-in blocked by the risk policy");
            // The same answer as a wrong password: a refusal for risk must not tell a
            // credential-stuffing bot that the password was right. The owner and the admins
            // see the block in the log and the live view.
            return Err(SignInError::InvalidCredentials);
        }
        let accepted = Accepted {
            user,
            event,
            memory,
            signals,
            keys,
            network,
            device_key,
        };
        self.open_session(accepted, client, now).await
    }

    /// Logs an attempt refused before its password was checked (throttled, or too many in
    /// progress), with why.
    async fn refused_unheard(
        &self,
        user_id: Option<i64>,
        tried: Option<String>,
        client: &ClientInfo,
        now: DateTime<Utc>,
        reason: &str,
    ) -> Result<(), SignInError> {
        let mut event = self.recorder.event(EventType::LoginFailed, user_id, tried, client, now);
        event.decision = Decision::Throttle;
        event.risk_reasons = vec![reason.to_owned()];
        self.activity.record_activity(&event).await?;
        Ok(())
    }

    /// Rehashes a right password whose stored hash was made under older Argon2 settings, so
    /// the account costs (and times) the same as every other, and as unknown names do.
    async fn upgrade_hash(&self, user: &User, password: SecretString) -> Result<(), SignInError> {
        if !self.passwords.needs_rehash(&user.hashed_password) {
            return Ok(());
        }
        let upgraded = self.passwords.hash(password).await?;
        self.users
            .upgrade_password_hash(user.id, &user.hashed_password, &upgraded)
            .await?;
        Ok(())
    }

    /// Whether the user has a second factor to be asked for: an authenticator app or a
    /// passkey.
    async fn can_step_up(&self, user_id: i64) -> Result<bool, SignInError> {
        Ok(self.factors.is_enrolled(user_id).await? || self.passkeys.has_passkey(user_id).await?)
    }

    /// Parks a sign-in behind a second factor: a challenge to answer within five minutes
    /// (with the user's passkeys offered first, where they have any), and a
    /// `step_up_required` event.
    async fn challenge(&self, user: &User, mut event: NewActivity) -> Result<SignInError, SignInError> {
        let now = event.created_at;
        let challenge = Challenge {
            id: token::random_urlsafe(24),
            user_id: user.id,
            expires_at: now + CHALLENGE_LIFETIME,
            attempts: 0,
            risk_score: event.risk_score,
            risk_reasons: serde_json::to_string(&event.risk_reasons).unwrap_or_else(|_| "[]".to_owned()),
        };
        self.challenges.create_challenge(&challenge, now).await?;
        let passkey = self
            .passkeys
            .start_step_up(&challenge.id, user.id, challenge.expires_at)
            .await?;
        event.event_type = EventType::StepUpRequired;
        event.decision = Decision::Challenge;
        self.activity.record_activity(&event).await?;
        Ok(SignInError::StepUpRequired {
            challenge_id: challenge.id,
            passkey,
        })
    }

    /// Answers a step-up challenge with a passkey, a TOTP code or a recovery code; on
    /// success the sign-in completes as if the risk had been low, logged with its score and
    /// reasons.
    #[tracing::instrument(name = "sign_in::step_up", skip_all)]
    pub async fn step_up(
        &self,
        challenge_id: &str,
        answer: StepUpAnswer<'_>,
        client: &ClientInfo,
    ) -> Result<SignedIn, SignInError> {
        // Parsed before anything is counted: a malformed passkey answer is a bad request.
        let assertion = match answer {
            StepUpAnswer::Passkey(credential) => {
                Some(Assertion::parse(credential).map_err(|_| SignInError::MalformedCredential)?)
            }
            StepUpAnswer::Code(_) => None,
        };
        if !super::passkeys::well_formed_id(challenge_id) {
            return Err(SignInError::InvalidCode);
        }
        let now = self.recorder.now();
        let device_key = self.proofs.key_to_bind(client, now).await?;
        let challenge = self
            .challenges
            .attempt_challenge(challenge_id, now, CHALLENGE_ATTEMPTS)
            .await?
            .ok_or(SignInError::InvalidCode)?;
        let user = match self.users.find_user(challenge.user_id).await? {
            Some(user) if user.is_active => user,
            _ => return Err(SignInError::InvalidCode),
        };
        // Second-factor answers count on the account-wide throttle key too, so guessing
        // across many challenges from many addresses slows down like any other guessing.
        let account_keys: Vec<ThrottleKey> = self
            .throttle
            .keys(&format!("u:{}", user.id), client.ip, false)
            .into_iter()
            .filter(|k| k.scope == Scope::Account)
            .collect();
        if let Verdict::Throttled { retry_at, .. } = self.counters.throttle_attempt(&account_keys, now).await? {
            return Err(SignInError::Throttled {
                retry_after_secs: retry_after_secs(retry_at, now),
            });
        }
        let answer = match (answer, &assertion) {
            (_, Some(assertion)) => self.check_passkey(challenge_id, user.id, assertion, now).await?,
            (StepUpAnswer::Code(code), None) => self.factors.check(user.id, code, client, now).await?,
            (StepUpAnswer::Passkey(_), None) => Answer::Wrong,
        };
        let passed = match answer {
            Answer::NoFactor => return Err(SignInError::InvalidCode),
            Answer::Passed => true,
            Answer::Wrong | Answer::Locked => false,
        };
        let username = Some(user.username.clone());
        let mut event = self
            .recorder
            .event(EventType::LoginSucceeded, Some(user.id), username, client, now);
        event.risk_score = challenge.risk_score;
        event.risk_reasons = serde_json::from_str(&challenge.risk_reasons).unwrap_or_default();
        if !passed || !self.challenges.consume_challenge(challenge_id, now).await? {
            event.event_type = EventType::LoginFailed;
            event.decision = Decision::Deny;
            event.risk_reasons.push("invalid_second_factor".to_owned());
            self.activity.record_activity(&event).await?;
            if answer == Answer::Locked {
                return Err(SignInError::FactorLocked);
            }
            return Err(SignInError::InvalidCode);
        }
        event.decision = Decision::Challenge;
        event.risk_reasons.push("second_factor_passed".to_owned());
        if assertion.is_some() {
            event.risk_reasons.push("passkey".to_owned());
        }
        let memory = self.risk.memory(user.id, client, &event.place).await?;
        let signals = self.risk.signals(client, &user.username, now).await?;
        // The password stage's account-wide count stays; its other counts are cleared or
        // given back as for any sign-in.
        let mut keys = self.throttle.keys(&format!("u:{}", user.id), client.ip, true);
        keys.retain(|k| k.scope != Scope::Account);
        let accepted = Accepted {
            keys,
            network: address_key(client.ip),
            user,
            event,
            memory,
            signals,
            device_key,
        };
        self.open_session(accepted, client, now).await
    }

    /// The end of every successful sign-in: the session and its log row, the throttle
    /// counts cleared, the device cookie, and what the risk engine learns.
    async fn open_session(
        &self,
        accepted: Accepted,
        client: &ClientInfo,
        now: DateTime<Utc>,
    ) -> Result<SignedIn, SignInError> {
        let Accepted {
            user,
            mut event,
            memory,
            signals,
            keys,
            network,
            device_key,
        } = accepted;
        event.device_proven = device_key.is_some();
        let policy = self.issuer.policy;
        let refresh = NewRefreshToken::generate();
        // A browser without a device cookie gets one now, and the engine learns it as this
        // user's, so the next sign-in from this browser is recognised.
        let new_cookie = (client.device_cookie.is_none() && client.takes_cookies)
            .then(|| SecretString::from(token::random_urlsafe(32)));
        let issued = new_cookie.as_ref().map(|c| hash_device_cookie(c.expose_secret()));
        let session_id = uuid::Uuid::new_v4().to_string();
        let bound_to = device_key.as_ref().map(|k| k.jkt.clone());
        let (throttle_clear, throttle_refund) = keys
            .into_iter()
            .partition::<Vec<_>, _>(|k| k.scope == Scope::AccountFromAddress);
        let session = NewSession {
            user_id: user.id,
            session_id: session_id.clone(),
            token_hash: refresh.hash,
            device_info: client.device.clone(),
            device_hash: issued.clone().or_else(|| client.device_cookie.clone()),
            ip_address: client.ip.to_string(),
            created_at: now,
            expires_at: now + policy.lifetime,
            token_expires_at: now + policy.idle_timeout.min(policy.lifetime),
            country: event.place.country.clone(),
            city: event.place.city.clone(),
            known_network: network,
            throttle_clear: throttle_clear.into_iter().map(|k| k.key).collect(),
            throttle_refund: throttle_refund.into_iter().map(|k| k.key).collect(),
            device_key,
        };
        self.sessions.open_session(&session, &event).await?;
        let identity = key_identity(session.device_key.as_ref());
        let obs = identified(
            observation(client, &event.place, &event.device, now),
            identity.as_deref(),
        );
        self.risk
            .learn_login(user.id, &session_id, memory, &obs, issued.as_deref(), signals)
            .await;

        let mut signed_in = self
            .issuer
            .signed_in(user, session_id, refresh.secret, bound_to.as_deref(), client, now);
        signed_in.device_cookie = new_cookie;
        Ok(signed_in)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;

    use super::*;
    use crate::clock::ManualClock;
    use crate::domain::access::{AccessTokens, SigningKey};
    use crate::domain::geo::Geolocator;
    use crate::domain::password::{Argon2Settings, PasswordPolicy};
    use crate::domain::proof::NonceKey;
    use crate::domain::token::SuccessorKey;
    use crate::domain::totp::RecoveryKey;
    use crate::service::{NewAccount, RiskPolicy, ServiceParts, Services, SessionPolicy};
    use crate::storage::{Schema as _, SqlStore, StoreError};

    /// A throttle store that notes what each sign-in asks of it: whose known addresses it
    /// looked up, and under which scopes it counted the attempt.
    #[derive(Debug)]
    struct Watched {
        inner: Arc<SqlStore>,
        lookups: Mutex<Vec<i64>>,
        counted: Mutex<Vec<Vec<Scope>>>,
    }

    #[async_trait]
    impl ThrottleStore for Watched {
        async fn throttle_attempt(&self, keys: &[ThrottleKey], now: DateTime<Utc>) -> Result<Verdict, StoreError> {
            self.counted
                .lock()
                .unwrap()
                .push(keys.iter().map(|k| k.scope).collect());
            self.inner.throttle_attempt(keys, now).await
        }
        async fn prune_throttle(&self, before: DateTime<Utc>) -> Result<u64, StoreError> {
            self.inner.prune_throttle(before).await
        }
        async fn clear_throttle(&self, keys: &[String]) -> Result<(), StoreError> {
            self.inner.clear_throttle(keys).await
        }
        async fn is_known_network(
            &self,
            user_id: i64,
            network: &str,
            since: DateTime<Utc>,
        ) -> Result<bool, StoreError> {
            self.lookups.lock().unwrap().push(user_id);
            self.inner.is_known_network(user_id, network, since).await
        }
    }

    /// The sign-in service over a fresh SQLite database, its throttle store watched.
    async fn watched_sign_in() -> (SignInService, Services, Arc<Watched>) {
        let dir = std::env::temp_dir().join(format!("fin-sign-in-{}", uuid::Uuid::new_v4().simple()));
        let url = format!("sqlite:{}", dir.join("sign-in.db").display());
        let store = Arc::new(SqlStore::connect(&url, 2).await.unwrap());
        store.migrate().await.unwrap();
        let cheap = Argon2Settings {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        };
        let services = Services::new(ServiceParts {
            store: store.clone(),
            passwords: Passwords::new(cheap).unwrap(),
            password_policy: PasswordPolicy::bundled().unwrap(),
            tokens: AccessTokens::new(
                &SigningKey::generate_ed25519(),
                &[],
                "fin-intelli",
                "fin-intelli",
                Duration::minutes(15),
            ),
            successors: SuccessorKey::new(vec![7; 32]),
            recovery_key: RecoveryKey::new(vec![9; 32]),
            nonce_key: NonceKey::new(vec![5; 32]),
            clock: Arc::new(ManualClock::new(Utc::now())),
            policy: SessionPolicy {
                lifetime: Duration::days(30),
                idle_timeout: Duration::days(7),
                grace: Duration::seconds(30),
            },
            geo: Arc::new(Geolocator::empty()),
            throttle: ThrottlePolicy::default(),
            risk: RiskPolicy::default(),
            relying_party: crate::domain::passkey::RelyingParty::new("http://localhost:8000").unwrap(),
        });
        let watched = Arc::new(Watched {
            inner: store,
            lookups: Mutex::default(),
            counted: Mutex::default(),
        });
        let real = &services.sign_in;
        let sign_in = SignInService {
            users: real.users.clone(),
            counters: watched.clone(),
            challenges: real.challenges.clone(),
            sessions: real.sessions.clone(),
            activity: real.activity.clone(),
            passwords: real.passwords.clone(),
            issuer: real.issuer.clone(),
            recorder: real.recorder.clone(),
            throttle: real.throttle,
            risk: real.risk.clone(),
            factors: real.factors.clone(),
            gate: real.gate.clone(),
            proofs: real.proofs.clone(),
            passkeys: real.passkeys.clone(),
        };
        (sign_in, services, watched)
    }

    /// Enumeration through the throttle: a name nobody has costs the same store work as a
    /// real account's (one known-address lookup, the same scopes counted), so neither the
    /// timing nor the counters tell a prober which names exist.
    #[tokio::test]
    async fn unknown_names_are_looked_up_and_counted_like_real_accounts() {
        let (sign_in, services, watched) = watched_sign_in().await;
        services
            .accounts
            .create_user(NewAccount {
                username: "alice".to_owned(),
                email: "alice@example.com".to_owned(),
                password: SecretString::from("a quiet harbour at dawn".to_owned()),
                is_admin: false,
            })
            .await
            .unwrap();
        let client = ClientInfo::new("203.0.113.9".parse().unwrap(), Some("probe/1.0"));
        let wrong = || SecretString::from("not the password".to_owned());

        let real = sign_in.sign_in("alice", wrong(), &client).await;
        let unknown = sign_in.sign_in("nobody-by-this-name", wrong(), &client).await;

        assert!(matches!(real, Err(SignInError::InvalidCredentials)), "{:?}", real.err());
        assert!(
            matches!(unknown, Err(SignInError::InvalidCredentials)),
            "{:?}",
            unknown.err()
        );
        let lookups = watched.lookups.lock().unwrap().clone();
        assert_eq!(
            lookups.len(),
            2,
            "one known-address lookup per attempt, named or not: {lookups:?}"
        );
        assert_eq!(
            lookups[1], 0,
            "an unknown name is looked up as user 0, who owns nothing"
        );
        let counted = watched.counted.lock().unwrap().clone();
        assert_eq!(counted.len(), 2);
        assert_eq!(counted[0], counted[1], "the same throttle scopes count both attempts");
    }
}
