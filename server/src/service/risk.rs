//! The risk engine on the request path: load what it remembers, score, decide, and store
//! what an accepted event taught it. The model itself is pure ([`crate::domain::risk`]).

use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::domain::client::ClientInfo;
use crate::domain::device::Device;
use crate::domain::geo::Place;
use crate::domain::risk::{
    self, ACCOUNT_FAILURE_WINDOW, Assessment, DeviceKeyProof, FAILURE_WINDOW, GlobalStats, Observation, Response,
    RiskThresholds, SessionBaseline, Signals, UserProfile,
};
use crate::storage::{ActivityRecord, RiskLearning, RiskStore, StoreError, StoredBaseline};

/// What to do when a sign-in calls for a second factor and the user has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoFactorPolicy {
    /// Let the sign-in through, recorded with its score and reasons.
    Allow,
    /// Refuse it like a block.
    Block,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RiskPolicy {
    pub thresholds: RiskThresholds,
    pub no_factor: NoFactorPolicy,
}

impl Default for RiskPolicy {
    fn default() -> Self {
        Self {
            thresholds: RiskThresholds::default(),
            no_factor: NoFactorPolicy::Allow,
        }
    }
}

/// The engine's memory of one user, as loaded for one attempt.
pub struct Memory {
    pub profile: UserProfile,
    pub global: GlobalStats,
}

/// A scored attempt and what the thresholds say to do.
pub struct Judgement {
    pub assessment: Assessment,
    pub response: Response,
}

#[derive(Debug, Clone)]
pub struct RiskGate {
    store: Arc<dyn RiskStore>,
    policy: RiskPolicy,
}

impl RiskGate {
    pub fn new(store: Arc<dyn RiskStore>, policy: RiskPolicy) -> Self {
        Self { store, policy }
    }

    pub async fn memory(&self, user_id: i64, client: &ClientInfo, place: &Place) -> Result<Memory, StoreError> {
        let profile = match self.store.risk_profile(user_id).await? {
            // A profile that no longer parses (written by another version) starts afresh
            // rather than failing the sign-in.
            Some(json) => serde_json::from_str(&json).unwrap_or_default(),
            None => UserProfile::default(),
        };
        let rows = self.store.population(&risk::population_keys(client.ip, place)).await?;
        Ok(Memory {
            profile,
            global: GlobalStats::from_counts(&rows),
        })
    }

    pub async fn signals(
        &self,
        client: &ClientInfo,
        username: &str,
        now: DateTime<Utc>,
    ) -> Result<Signals, StoreError> {
        let failures = self
            .store
            .failure_signals(
                &client.ip.to_string(),
                username,
                now - FAILURE_WINDOW,
                now - ACCOUNT_FAILURE_WINDOW,
            )
            .await?;
        Ok(Signals {
            address_failures: failures.other_names.clamp(0, i64::from(u32::MAX)) as u32,
            account_failures: failures.account_failures.clamp(0, i64::from(u32::MAX)) as u32,
        })
    }

    fn judge(&self, assessment: Assessment) -> Judgement {
        let response = self.policy.thresholds.respond(assessment.score);
        Judgement { assessment, response }
    }

    /// Whether a step-up-level sign-in by a user without a second factor is refused.
    pub fn no_factor_blocks(&self) -> bool {
        self.policy.no_factor == NoFactorPolicy::Block
    }

    pub fn judge_login(&self, memory: &Memory, obs: &Observation<'_>, signals: Signals) -> Judgement {
        self.judge(risk::score_login(&memory.profile, &memory.global, obs, signals))
    }

    /// Judges a refresh against its session. The user's history is loaded, and returned
    /// for [`Self::learn_refresh`], only when the refresh moved to another address: most
    /// refreshes do not, and cost no reads beyond the session's.
    pub async fn judge_refresh(
        &self,
        user_id: i64,
        client: &ClientInfo,
        session: &SessionBaseline,
        obs: &Observation<'_>,
        key: DeviceKeyProof,
    ) -> Result<(Judgement, Option<Memory>), StoreError> {
        if !risk::refresh_moved(session, obs) {
            // The scorer reads no history for a refresh that stayed put.
            let unread = (UserProfile::default(), GlobalStats::default());
            let judgement = self.judge(risk::score_refresh(&unread.0, &unread.1, session, obs, key));
            return Ok((judgement, None));
        }
        let memory = self.memory(user_id, client, obs.place).await?;
        let judgement = self.judge(risk::score_refresh(&memory.profile, &memory.global, session, obs, key));
        Ok((judgement, Some(memory)))
    }

    /// The baseline a refresh that did not move leaves its session with, as stored (JSON):
    /// written with the rotation itself, so such a refresh costs no learning transaction.
    pub fn followed_baseline(&self, session: &SessionBaseline, obs: &Observation<'_>) -> Option<String> {
        let mut session = session.clone();
        risk::follow_session(&mut session, obs);
        serde_json::to_string(&session)
            .inspect_err(|error| tracing::error!(%error, "cannot serialise a session baseline"))
            .ok()
    }

    /// Learns an accepted sign-in and stores the session's first baseline. A device
    /// cookie issued with this sign-in (`issued`, hashed) becomes the user's and the
    /// session's, so the browser is recognised from its next request on. Learning is best
    /// effort: the sign-in is already recorded, so a failure here is logged, not returned.
    pub async fn learn_login(
        &self,
        user_id: i64,
        session_id: &str,
        mut memory: Memory,
        obs: &Observation<'_>,
        issued: Option<&str>,
        signals: Signals,
    ) {
        let before = memory.global.clone();
        let learned = Observation {
            device_cookie: obs.device_cookie.or(issued),
            ..*obs
        };
        risk::learn_login(&mut memory.profile, &mut memory.global, &learned, signals);
        let baseline = SessionBaseline::open(&learned);
        self.save(user_id, Some((session_id, &baseline)), &memory, &before, obs.at)
            .await;
    }

    /// Learns an accepted refresh into the profile and the session's baseline.
    pub async fn learn_refresh(
        &self,
        user_id: i64,
        session_id: &str,
        mut memory: Memory,
        mut baseline: SessionBaseline,
        obs: &Observation<'_>,
    ) {
        let before = memory.global.clone();
        risk::learn_refresh(&mut memory.profile, &mut memory.global, &mut baseline, obs);
        self.save(user_id, Some((session_id, &baseline)), &memory, &before, obs.at)
            .await;
    }

    /// Teaches the user's profile an event an administrator vouched for, rebuilt from its
    /// log row (place, address, user agent; the device cookie is not in the log).
    pub async fn learn_verified(&self, user_id: i64, record: &ActivityRecord) {
        let Ok(ip) = record.ip_address.parse::<std::net::IpAddr>() else {
            return;
        };
        let place = Place {
            country: record.geolocation_country.clone(),
            city: record.geolocation_city.clone(),
            latitude: record.latitude,
            longitude: record.longitude,
            accuracy_radius_km: record.accuracy_radius_km.and_then(|r| u16::try_from(r).ok()),
            asn: record.asn.and_then(|a| u32::try_from(a).ok()),
            asn_org: record.asn_org.clone(),
            local: crate::domain::geo::is_local(ip),
        };
        let client = ClientInfo::new(ip, Some(&record.device_info));
        let memory = match self.memory(user_id, &client, &place).await {
            Ok(memory) => memory,
            Err(error) => {
                tracing::warn!(%error, user_id, "cannot load the risk profile to learn a verdict");
                return;
            }
        };
        let device = Device::parse(&record.device_info);
        let obs = observation(&client, &place, &device, record.created_at);
        let mut memory = memory;
        let before = memory.global.clone();
        risk::learn_login(&mut memory.profile, &mut memory.global, &obs, Signals::default());
        self.save(user_id, None, &memory, &before, obs.at).await;
    }

    async fn save(
        &self,
        user_id: i64,
        session: Option<(&str, &SessionBaseline)>,
        memory: &Memory,
        before: &GlobalStats,
        now: DateTime<Utc>,
    ) {
        let learned = match (
            serde_json::to_string(&memory.profile),
            session
                .map(|(id, b)| {
                    serde_json::to_string(b).map(|baseline| StoredBaseline {
                        session_id: id.to_owned(),
                        baseline,
                    })
                })
                .transpose(),
        ) {
            (Ok(profile), Ok(session)) => RiskLearning {
                user_id,
                profile,
                population: memory.global.increments_since(before),
                session,
                now,
            },
            (Err(error), _) | (_, Err(error)) => {
                tracing::error!(%error, "cannot serialise the risk profile");
                return;
            }
        };
        if let Err(error) = self.store.save_risk(&learned).await {
            tracing::warn!(%error, user_id, "risk learning not saved");
        }
    }
}

/// The engine's view of a client at a place.
pub fn observation<'a>(
    client: &'a ClientInfo,
    place: &'a Place,
    device: &'a Device,
    at: DateTime<Utc>,
) -> Observation<'a> {
    Observation {
        at,
        ip: client.ip,
        place,
        user_agent: &client.device,
        device,
        device_cookie: client.device_cookie.as_deref(),
    }
}

/// Sessions opened before the engine existed have no baseline; their refreshes are judged
/// from the next one on.
pub fn parse_baseline(json: Option<&str>) -> Option<SessionBaseline> {
    json.and_then(|j| serde_json::from_str(j).ok())
}
