//! A refresh judged against its own session: the baseline the session opened with and
//! followed since, what changed mid-session (device, browser, network, country, two
//! networks taking turns), and the session's device key where it proved one.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

use super::{
    Assessment, GlobalStats, LastPlace, OFFSET, Observation, Term, UserProfile, assessment, fnv1a, learn_place,
    network_terms, travel_term,
};

/// How a refresh stands with the session's device key.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum DeviceKeyProof {
    /// The session is not bound to a key: the device cookie and user agent are all there is.
    #[default]
    Unbound,
    /// The refresh proved the session's key: it comes from the device that signed in, so a
    /// changed cookie or user agent (cleared storage, a browser update) says nothing.
    Proven,
    /// It proved the key, but another live session proved the same key from another
    /// country within [`CONCURRENT_WINDOW_SECS`]: a key in two places at once was copied
    /// (a software key lifted off the disk).
    ProvenElsewhereToo,
}

/// What a session looked like when it was opened, and lately: the yardstick for its
/// refreshes. Stored with the session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionBaseline {
    pub user_agent_hash: u64,
    pub browser: String,
    pub os: String,
    pub device_cookie: Option<String>,
    pub country: Option<String>,
    pub asn: Option<u32>,
    pub last_ip: IpAddr,
    pub last_asn: Option<u32>,
    pub last_at: DateTime<Utc>,
    pub last_place: Option<LastPlace>,
    /// The network the session was used from before the current one, and until when:
    /// two networks taking turns is one token in two hands.
    pub previous_asn: Option<(Option<u32>, DateTime<Utc>)>,
}

impl SessionBaseline {
    pub fn open(obs: &Observation) -> Self {
        Self {
            user_agent_hash: fnv1a(obs.user_agent),
            browser: obs.device.browser.to_owned(),
            os: obs.device.os.to_owned(),
            device_cookie: obs.device_cookie.map(str::to_owned),
            country: obs.place.country.clone(),
            asn: obs.place.asn,
            last_ip: obs.ip,
            last_asn: obs.place.asn,
            last_at: obs.at,
            last_place: LastPlace::of(obs.place, obs.at),
            previous_asn: None,
        }
    }
}

/// How long two networks using one session (or one device key) count as "at once".
pub const CONCURRENT_WINDOW_SECS: i64 = 15 * 60;

/// Whether a refresh comes from another address than its session's last. Only such a
/// refresh is scored against, or teaches, the user's history and the population; any
/// other is judged and learned from the session's baseline alone, so the service need
/// not load or store the history for it (most refreshes: a session stays on one network).
pub fn refresh_moved(session: &SessionBaseline, obs: &Observation) -> bool {
    obs.ip != session.last_ip
}

/// Scores a refresh against its session, and its network against the user's history
/// (read only when [`refresh_moved`]).
pub fn score_refresh(
    profile: &UserProfile,
    global: &GlobalStats,
    session: &SessionBaseline,
    obs: &Observation,
    key: DeviceKeyProof,
) -> Assessment {
    let mut terms = Vec::new();
    let proven = key != DeviceKeyProof::Unbound;
    // The device cookie is the browser's identity, unless a key proves it better: a
    // session moving to another cookie (or to none) has moved to another browser.
    let cookie = match (&session.device_cookie, obs.device_cookie) {
        _ if proven => 0.0,
        (Some(had), Some(now)) if had == now => 0.0,
        (Some(_), Some(_)) => 200_f64.ln(),
        (Some(_), None) => 100_f64.ln(),
        // A browser that signed in without a cookie got one with the sign-in.
        (None, _) => 0.0,
    };
    terms.push(Term {
        reason: "session_device_changed",
        value: cookie,
    });
    let agent = if proven || fnv1a(obs.user_agent) == session.user_agent_hash {
        0.0
    } else if obs.device.browser == session.browser && obs.device.os == session.os {
        // A browser updating itself mid-session happens.
        3_f64.ln()
    } else {
        60_f64.ln()
    };
    terms.push(Term {
        reason: "session_browser_changed",
        value: agent,
    });
    if refresh_moved(session, obs) {
        // How unusual the new network is for this user at all...
        terms.extend(network_terms(profile, global, obs));
        // ...and that it changed under a live session.
        let moved = if obs.place.country != session.country {
            ("session_country_changed", 3_f64.ln())
        } else if obs.place.asn != session.last_asn {
            ("session_network_changed", 2_f64.ln())
        } else {
            ("session_network_changed", 0.0)
        };
        terms.push(Term {
            reason: moved.0,
            value: moved.1,
        });
        let turns = session.previous_asn.is_some_and(|(asn, until)| {
            asn == obs.place.asn
                && obs.place.asn != session.last_asn
                && (obs.at - until).num_seconds() <= CONCURRENT_WINDOW_SECS
        });
        terms.push(Term {
            reason: "concurrent_networks",
            value: if turns { 10_f64.ln() } else { 0.0 },
        });
    }
    terms.push(travel_term(session.last_place.as_ref(), obs.place, obs.at));
    terms.push(Term {
        reason: "device_key_copied",
        // Decisive whatever the rest says (familiarity included): the key is no longer the
        // device's alone, so no session of it can be told from the thief's.
        value: if key == DeviceKeyProof::ProvenElsewhereToo {
            OFFSET + 1e6_f64.ln()
        } else {
            0.0
        },
    });
    assessment(terms)
}

/// Learns an accepted refresh: the network into the user's profile (only when
/// [`refresh_moved`]: the profile is left alone otherwise, which its decay allows, as
/// decaying twice equals decaying once over the sum), the session's latest place into its
/// baseline.
pub fn learn_refresh(
    profile: &mut UserProfile,
    global: &mut GlobalStats,
    session: &mut SessionBaseline,
    obs: &Observation,
) {
    if refresh_moved(session, obs) {
        profile.decay_to(obs.at);
        learn_place(profile, global, obs);
        if obs.place.asn != session.last_asn {
            session.previous_asn = Some((session.last_asn, obs.at));
        }
    }
    follow_session(session, obs);
}

/// Moves the session's baseline to the refresh just accepted: its part of [`learn_refresh`].
pub fn follow_session(session: &mut SessionBaseline, obs: &Observation) {
    if session.device_cookie.is_none() {
        session.device_cookie = obs.device_cookie.map(str::to_owned);
    }
    session.last_ip = obs.ip;
    session.last_asn = obs.place.asn;
    session.last_at = obs.at;
    if let Some(here) = LastPlace::of(obs.place, obs.at) {
        session.last_place = Some(here);
    }
}
