//! The risk engine: how likely a sign-in or a refresh is to be someone else, with reasons.
//!
//! The model is Freeman et al.'s (NDSS 2016, "Who are you? A statistical approach to
//! measuring user authenticity"), the one Wiefling et al. evaluated on 31 million logins:
//! the likelihood ratio of an attempt's features under an attacker (drawn from the whole
//! population) against under this user (their own smoothed history), over two feature
//! hierarchies, country → AS → network → address and device type → OS → browser → exact
//! user agent. Each level contributes `ln p(x | parent, everyone) - ln p(x | parent, user)`;
//! the user's probability of something new at a level is estimated from how often they
//! showed something new there before (Witten-Bell), so habits differ per user and no
//! history means no evidence either way (a new account is not an attack).
//!
//! Beyond Freeman: a long-lived device cookie (an attacker cannot present one the user's
//! browsers hold), impossible travel, the hour of day, and how many other accounts failed
//! from the address recently (stuffing and spraying). A refresh is judged against its own
//! session: another device cookie or browser, another network or country mid-session, two
//! networks taking turns. The sum of log-ratios becomes a score in [0, 1] by a logistic
//! curve; reasons are the terms that pushed it up.
//!
//! Everything here is pure: the caller loads the profile, the population's counts and the
//! session baseline, and stores them back after [`learn_login`] / [`learn_refresh`].

mod profile;
mod session;

use std::net::IpAddr;

use chrono::{DateTime, Timelike, Utc};
use serde::{Deserialize, Serialize};

pub use profile::{CookieStatus, GlobalStats, LastPlace, UserProfile};
pub use session::{
    CONCURRENT_WINDOW_SECS, DeviceKeyProof, SessionBaseline, follow_session, learn_refresh, refresh_moved,
    score_refresh,
};

use super::device::Device;
use super::geo::Place;
use super::throttle::known_network;

/// The log-likelihood ratio at which the score is 0.5.
const OFFSET: f64 = 6.0;
/// Prior weight of "something new" at a level with no history.
const NOVELTY_PRIOR: f64 = 1.0;
/// Faster than an airliner, further than a regional hop: not the same person.
const MAX_SPEED_KMH: f64 = 1_000.0;
const MIN_TRAVEL_KM: f64 = 500.0;
/// Places vaguer than this cannot tell travel apart.
const MAX_ACCURACY_KM: f64 = 250.0;
/// When the database gives no radius (ip-location-db), city level.
const DEFAULT_ACCURACY_KM: f64 = 25.0;
/// A term must add at least this much (a factor of e) to be named as a reason.
const REASON_MIN: f64 = 1.0;
/// How far familiarity may vouch at each level: the chance that an attacker shows the
/// user's own value there anyway. An attacker chooses a country and a provider at will (a
/// VPN exit, a local ISP) and copies a user agent in one line, so familiar values at those
/// levels prove nothing (floor 1: no evidence for the user); a familiar network is harder
/// to come by (a shared house, an office), the exact address harder still. The device
/// cookie, which cannot be copied without the device, is its own term.
const NETWORK_FLOORS: [f64; 4] = [1.0, 1.0, 0.1, 0.02];
const AGENT_FLOORS: [f64; 4] = [1.0, 1.0, 1.0, 1.0];
/// How likely an attacker is to come from a provider, or a network, that nobody in the
/// population has signed in from: as likely as not. Users' own rates are learned online.
const ATTACKER_UNSEEN_NETWORK: f64 = 0.5;
/// How likely an attacker is to fail against the account from the same address just
/// before getting in (guessing, or typing a stolen password wrong); users' own rate is
/// learned from the population.
const ATTACKER_FAILED_FIRST: f64 = 0.5;

/// How far back other accounts' failures from an address count.
pub const FAILURE_WINDOW: chrono::Duration = chrono::Duration::hours(24);
/// How far back a failure against the same account counts as "just before".
pub const ACCOUNT_FAILURE_WINDOW: chrono::Duration = chrono::Duration::hours(1);

/// What the engine sees of an attempt.
#[derive(Debug, Clone, Copy)]
pub struct Observation<'a> {
    pub at: DateTime<Utc>,
    pub ip: IpAddr,
    pub place: &'a Place,
    pub user_agent: &'a str,
    pub device: &'a Device,
    /// The device cookie's value (already hashed by the caller), if the browser sent one.
    pub device_cookie: Option<&'a str>,
}

/// Signals from outside the user's profile.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Signals {
    /// Other accounts that failed to sign in from this address recently.
    pub address_failures: u32,
    /// Failed sign-ins against this account from this address in the last hour.
    pub account_failures: u32,
}

/// The verdict on one attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Assessment {
    /// In [0, 1]; 0.5 means "as likely an attacker as the user" at the default prior.
    pub score: f64,
    /// The terms that raised the score, largest first.
    pub reasons: Vec<String>,
    /// Every term of the sum (name, log-ratio), for explaining a score in full.
    pub terms: Vec<(&'static str, f64)>,
}

/// One term of the sum, for reasons and tests.
#[derive(Debug, Clone, PartialEq)]
struct Term {
    reason: &'static str,
    value: f64,
}

fn assessment(terms: Vec<Term>) -> Assessment {
    let total: f64 = terms.iter().map(|t| t.value).sum();
    let mut raising: Vec<&Term> = terms
        .iter()
        .filter(|t| t.value >= REASON_MIN && !t.reason.starts_with("familiar"))
        .collect();
    raising.sort_by(|a, b| b.value.total_cmp(&a.value));
    let mut reasons: Vec<String> = Vec::new();
    for term in raising {
        if !reasons.iter().any(|r| r == term.reason) {
            reasons.push(term.reason.to_owned());
        }
    }
    Assessment {
        score: 1.0 / (1.0 + (OFFSET - total).exp()),
        reasons,
        terms: terms.iter().map(|t| (t.reason, t.value)).collect(),
    }
}

/// The network hierarchy: country → AS → network (/24 or /48) → address.
pub fn network_chain(ip: IpAddr, place: &Place) -> Vec<String> {
    let country = if place.local {
        "local"
    } else {
        place.country.as_deref().unwrap_or("?")
    };
    let asn = place.asn.map_or_else(|| "?".to_owned(), |a| a.to_string());
    chain("net", &[country, &asn, &known_network(ip), &ip.to_string()])
}

/// The population keys an attempt from `ip` reads and writes (provider, network).
pub fn population_keys(ip: IpAddr, place: &Place) -> Vec<String> {
    let chain = network_chain(ip, place);
    GlobalStats::keys_for(&chain[2..4])
}

/// The software hierarchy: device type → OS → browser → exact user agent (hashed: user
/// agents are long and only equality matters).
pub fn agent_chain(user_agent: &str, device: &Device) -> Vec<String> {
    chain(
        "ua",
        &[
            device.kind,
            device.os,
            device.browser,
            &format!("{:016x}", fnv1a(user_agent)),
        ],
    )
}

fn chain(root: &str, levels: &[&str]) -> Vec<String> {
    let mut keys = Vec::with_capacity(levels.len() + 1);
    let mut key = root.to_owned();
    keys.push(key.clone());
    for level in levels {
        key.push('|');
        key.push_str(level);
        keys.push(key.clone());
    }
    keys
}

/// FNV-1a, 64 bits: stable across Rust versions, unlike `DefaultHasher`, because the
/// hashes are stored.
pub fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Freeman's ratio over one hierarchy, a term per level. A familiar value's ratio is
/// floored per level (see [`NETWORK_FLOORS`]): `(1 - ρ) × ratio + ρ`, the likelihood under
/// an attacker who is anyone with probability `1 - ρ` and shows the user's value with
/// probability `ρ`.
fn hierarchy(
    profile: &UserProfile,
    keys: &[String],
    reasons: &[&'static str],
    floors: &[f64],
    familiar: &'static str,
) -> Vec<Term> {
    let mut terms = Vec::with_capacity(reasons.len());
    for (i, reason) in reasons.iter().enumerate() {
        let (parent, child) = (&keys[i], &keys[i + 1]);
        let n_parent = profile.count(parent);
        if n_parent == 0.0 {
            // The user never was here: every deeper level is new to them too, and that
            // was already counted where the path left their history.
            break;
        }
        let n_child = profile.count(child);
        let novelty = profile.novelty(parent) + NOVELTY_PRIOR;
        if n_child > 0.0 {
            let user = n_child / (n_parent + novelty);
            let floor = floors[i];
            // An attacker lands on the user's value with the floor's probability (see
            // NETWORK_FLOORS). The population's share would be a poor stand-in at the fine
            // levels: with few people per provider it says "everyone here uses this
            // network".
            terms.push(Term {
                reason: familiar,
                value: (floor / user).ln().min(0.0),
            });
        } else {
            // p(new | user) × p(this | everyone): the population term cancels.
            terms.push(Term {
                reason,
                value: ((n_parent + novelty) / novelty).ln(),
            });
        }
    }
    terms
}

/// Whether anyone at all has signed in from the address's provider and network before.
/// Attackers bring their own infrastructure; users mostly share their providers' networks.
fn population_terms(global: &GlobalStats, chain: &[String]) -> [Term; 2] {
    let term = |reason: &'static str, key: &str, unseen_before: f64| {
        let legit = (unseen_before + 1.0) / (global.placed + 2.0);
        // Attackers come from somewhere new at least as often as users do.
        let attacker = ATTACKER_UNSEEN_NETWORK.max(legit);
        let value = if global.count(key) == 0.0 {
            (attacker / legit).ln()
        } else {
            ((1.0 - attacker) / (1.0 - legit)).ln()
        };
        Term { reason, value }
    };
    [
        term("unseen_provider", &chain[2], global.unseen_provider),
        term("unseen_network", &chain[3], global.unseen_network),
    ]
}

fn account_failures_term(global: &GlobalStats, signals: Signals) -> Term {
    let value = if signals.account_failures > 0 {
        // How often a legitimate sign-in follows its own typo, in the population.
        let typo = (global.after_failure + 1.0) / (global.logins + 2.0);
        (ATTACKER_FAILED_FIRST / typo).ln()
    } else {
        ((1.0 - ATTACKER_FAILED_FIRST) / (1.0 - (global.after_failure + 1.0) / (global.logins + 2.0))).ln()
    };
    Term {
        reason: "failed_just_before",
        value,
    }
}

fn cookie_term(profile: &UserProfile, cookie: Option<&str>) -> Term {
    // An attacker cannot hold a cookie the user's browsers hold; whether they send none or
    // their own is a coin toss.
    const ATTACKER: [f64; 3] = [0.001, 0.5, 0.5];
    let status = profile.cookie_status(cookie);
    let i = status as usize;
    // The user's own mix of situations, pulled towards the attacker's when the history is
    // short, so a first sign-in (necessarily "new") is no evidence.
    let seen: f64 = profile.cookie_status.iter().sum();
    let user = (profile.cookie_status[i] + ATTACKER[i]) / (seen + 1.0);
    Term {
        reason: if status == CookieStatus::Absent {
            "no_device_cookie"
        } else {
            "new_device"
        },
        value: (ATTACKER[i] / user).ln(),
    }
}

fn hour_term(profile: &UserProfile, global: &GlobalStats, at: DateTime<Utc>) -> Term {
    let h = at.hour() as usize;
    // Habits are fuzzy: the neighbouring hours count half.
    let around = |hours: &[f64; 24]| hours[h] + 0.5 * (hours[(h + 23) % 24] + hours[(h + 1) % 24]);
    let everyone = (around(&global.hours) + 1.0) / (2.0 * global.logins + 24.0);
    let mine = (around(&profile.hours) + 4.0 * everyone) / (2.0 * profile.logins + 4.0);
    Term {
        reason: "unusual_hour",
        value: (everyone / mine).ln().clamp(-2.0, 2.0),
    }
}

/// Great-circle distance in km.
pub fn distance_km(a: (f64, f64), b: (f64, f64)) -> f64 {
    let (lat1, lon1, lat2, lon2) = (a.0.to_radians(), a.1.to_radians(), b.0.to_radians(), b.1.to_radians());
    let h = ((lat2 - lat1) / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * ((lon2 - lon1) / 2.0).sin().powi(2);
    2.0 * 6_371.0 * h.sqrt().asin()
}

/// Whether getting from `from` to here by `at` needs a speed no traveller has. Places too
/// vague to judge, and short hops, never count.
pub fn impossible_travel(from: &LastPlace, place: &Place, at: DateTime<Utc>) -> bool {
    let (Some(lat), Some(lon)) = (place.latitude, place.longitude) else {
        return false;
    };
    let here = f64::from(place.accuracy_radius_km.unwrap_or(0));
    let here = if here > 0.0 { here } else { DEFAULT_ACCURACY_KM };
    let there = from.accuracy_km.unwrap_or(DEFAULT_ACCURACY_KM);
    if here > MAX_ACCURACY_KM || there > MAX_ACCURACY_KM {
        return false;
    }
    let km = (distance_km((from.latitude, from.longitude), (lat, lon)) - here - there).max(0.0);
    if km < MIN_TRAVEL_KM {
        return false;
    }
    let hours = ((at - from.at).num_seconds().max(0) as f64 / 3600.0).max(1.0 / 60.0);
    km / hours > MAX_SPEED_KMH
}

fn travel_term(last: Option<&LastPlace>, place: &Place, at: DateTime<Utc>) -> Term {
    let impossible = last.is_some_and(|from| impossible_travel(from, place, at));
    Term {
        reason: "impossible_travel",
        value: if impossible { 50_f64.ln() } else { 0.0 },
    }
}

fn failures_term(signals: Signals) -> Term {
    // Legitimate addresses rarely see other accounts fail; stuffing addresses see many.
    Term {
        reason: "address_failures",
        value: (2.0 * f64::from(signals.address_failures).ln_1p()).min(10.0),
    }
}

fn network_terms(profile: &UserProfile, global: &GlobalStats, obs: &Observation) -> Vec<Term> {
    let chain = network_chain(obs.ip, obs.place);
    let mut terms = hierarchy(profile, &chain, &NETWORK_REASONS, &NETWORK_FLOORS, "familiar_network");
    terms.extend(population_terms(global, &chain));
    terms
}

const NETWORK_REASONS: [&str; 4] = ["new_country", "new_network_provider", "new_network", "new_address"];
const AGENT_REASONS: [&str; 4] = ["new_device_type", "new_os", "new_browser", "new_browser_version"];

/// Scores a sign-in attempt against the user's history.
pub fn score_login(profile: &UserProfile, global: &GlobalStats, obs: &Observation, signals: Signals) -> Assessment {
    let mut terms = network_terms(profile, global, obs);
    terms.extend(hierarchy(
        profile,
        &agent_chain(obs.user_agent, obs.device),
        &AGENT_REASONS,
        &AGENT_FLOORS,
        "familiar_agent",
    ));
    terms.push(account_failures_term(global, signals));
    terms.push(cookie_term(profile, obs.device_cookie));
    terms.push(hour_term(profile, global, obs.at));
    terms.push(travel_term(profile.last_place.as_ref(), obs.place, obs.at));
    terms.push(failures_term(signals));
    assessment(terms)
}

/// Learns an accepted sign-in into the user's profile and the population's counts.
pub fn learn_login(profile: &mut UserProfile, global: &mut GlobalStats, obs: &Observation, signals: Signals) {
    profile.decay_to(obs.at);
    // A first sign-in's cookie is new by necessity: it says nothing about the user's habits.
    if profile.logins > 0.0 {
        let status = profile.cookie_status(obs.device_cookie);
        profile.cookie_status[status as usize] += 1.0;
    }
    if signals.account_failures > 0 {
        global.after_failure += 1.0;
    }
    if let Some(cookie) = obs.device_cookie {
        *profile.cookies.entry(cookie.to_owned()).or_default() += 1.0;
    }
    let hour = obs.at.hour() as usize;
    profile.hours[hour] += 1.0;
    global.hours[hour] += 1.0;
    profile.logins += 1.0;
    global.logins += 1.0;
    let agent = agent_chain(obs.user_agent, obs.device);
    profile.learn_chain(&agent);
    learn_place(profile, global, obs);
}

fn learn_place(profile: &mut UserProfile, global: &mut GlobalStats, obs: &Observation) {
    let network = network_chain(obs.ip, obs.place);
    global.placed += 1.0;
    if global.count(&network[2]) == 0.0 {
        global.unseen_provider += 1.0;
    }
    if global.count(&network[3]) == 0.0 {
        global.unseen_network += 1.0;
    }
    profile.learn_chain(&network);
    // The population keeps only what the scores read: providers and networks.
    global.learn_key(&network[2]);
    global.learn_key(&network[3]);
    if let Some(here) = LastPlace::of(obs.place, obs.at) {
        profile.last_place = Some(here);
    }
}

/// What the score says to do, by configurable thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RiskThresholds {
    /// At or above: ask for a second factor (or apply the no-factor policy).
    pub step_up: f64,
    /// At or above: refuse (a sign-in) or revoke (a refresh's session).
    pub block: f64,
}

impl Default for RiskThresholds {
    fn default() -> Self {
        Self {
            step_up: 0.5,
            block: 0.98,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Response {
    Allow,
    StepUp,
    Block,
}

impl RiskThresholds {
    pub fn respond(&self, score: f64) -> Response {
        if score >= self.block {
            Response::Block
        } else if score >= self.step_up {
            Response::StepUp
        } else {
            Response::Allow
        }
    }
}

#[cfg(test)]
mod tests;
