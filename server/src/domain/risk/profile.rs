//! What the engine remembers: each user's history and the whole population's, as decayed
//! counts over hierarchical feature keys.
//!
//! A key names a value together with its ancestors (`net|GB|20712|81.2.69.0/24`), so the
//! count of a key is the count of its subtree and `count(child) / count(parent)` is a
//! conditional frequency. Next to each parent the profile counts how often a *new* child
//! appeared under it: Witten-Bell's estimate of how likely this user is to show something
//! new there (a phone hopping between carrier addresses shows new IPs all the time; a desk
//! computer never does). Counts decay with a half-life, so old habits age out.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Counts older than this many days weigh half.
pub const HALF_LIFE_DAYS: f64 = 90.0;
/// Entries whose decayed count falls below this are forgotten.
const FORGET_BELOW: f64 = 0.02;

/// The device-cookie situations a sign-in can be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CookieStatus {
    /// A cookie this user's sign-ins have presented before.
    Known = 0,
    /// No cookie at all (private window, script, cleared).
    Absent = 1,
    /// A cookie never seen for this user.
    New = 2,
}

/// Where and when the user last was, for the travel check.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LastPlace {
    pub latitude: f64,
    pub longitude: f64,
    pub accuracy_km: Option<f64>,
    pub at: DateTime<Utc>,
}

impl LastPlace {
    /// Where a place is, if it has coordinates.
    pub fn of(place: &crate::domain::geo::Place, at: DateTime<Utc>) -> Option<Self> {
        Some(LastPlace {
            latitude: place.latitude?,
            longitude: place.longitude?,
            accuracy_km: place.accuracy_radius_km.map(f64::from),
            at,
        })
    }
}

/// One user's behaviour, as the engine learned it. Stored as JSON in the database.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserProfile {
    /// When the counts were last decayed.
    pub updated_at: Option<DateTime<Utc>>,
    /// Accepted sign-ins (decayed).
    pub logins: f64,
    /// Counts of hierarchical keys, and of the roots (`net`, `ua`).
    pub counts: HashMap<String, f64>,
    /// Per parent key: how many times a child new to this user appeared under it.
    pub novel: HashMap<String, f64>,
    /// Device cookies (hashed) this user's sign-ins presented.
    pub cookies: HashMap<String, f64>,
    /// Sign-ins by device-cookie situation: known, absent, new.
    pub cookie_status: [f64; 3],
    /// Sign-ins by UTC hour.
    pub hours: [f64; 24],
    pub last_place: Option<LastPlace>,
}

impl UserProfile {
    /// Brings every count to `now`'s weight and forgets what has faded away.
    pub fn decay_to(&mut self, now: DateTime<Utc>) {
        let Some(then) = self.updated_at else {
            self.updated_at = Some(now);
            return;
        };
        let days = (now - then).num_seconds() as f64 / 86_400.0;
        if days <= 0.0 {
            return;
        }
        let factor = 0.5_f64.powf(days / HALF_LIFE_DAYS);
        self.logins *= factor;
        for map in [&mut self.counts, &mut self.novel, &mut self.cookies] {
            map.values_mut().for_each(|v| *v *= factor);
            map.retain(|_, v| *v >= FORGET_BELOW);
        }
        self.cookie_status.iter_mut().for_each(|v| *v *= factor);
        self.hours.iter_mut().for_each(|v| *v *= factor);
        self.updated_at = Some(now);
    }

    pub fn count(&self, key: &str) -> f64 {
        self.counts.get(key).copied().unwrap_or(0.0)
    }

    pub fn novelty(&self, key: &str) -> f64 {
        self.novel.get(key).copied().unwrap_or(0.0)
    }

    /// Learns one observation of a chain of keys (root first).
    pub fn learn_chain(&mut self, chain: &[String]) {
        for pair in chain.windows(2) {
            let (parent, child) = (&pair[0], &pair[1]);
            if self.count(child) == 0.0 {
                *self.novel.entry(parent.clone()).or_default() += 1.0;
            }
        }
        for key in chain {
            *self.counts.entry(key.clone()).or_default() += 1.0;
        }
    }

    pub fn cookie_status(&self, cookie: Option<&str>) -> CookieStatus {
        match cookie {
            None => CookieStatus::Absent,
            Some(c) if self.cookies.contains_key(c) => CookieStatus::Known,
            Some(_) => CookieStatus::New,
        }
    }
}

/// The population's counts: how often providers and networks were used at all, the
/// hours people sign in at, and a few totals. What an attacker, drawn from everyone else,
/// looks like, and how often users themselves do something the population never saw.
///
/// Persisted as one row per key (see [`GlobalStats::to_counts`]); a caller loads only the
/// keys one attempt needs ([`GlobalStats::keys_for`]) and writes back the increments.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct GlobalStats {
    pub counts: HashMap<String, f64>,
    pub hours: [f64; 24],
    pub logins: f64,
    /// Sign-ins that came right after a failure against the same account from the same
    /// address (typos, mostly).
    pub after_failure: f64,
    /// Accepted events from a provider (AS), or a network, nobody had used before.
    pub unseen_provider: f64,
    pub unseen_network: f64,
    /// Accepted events whose network was learned (the denominator of the two above).
    pub placed: f64,
}

const TOTALS: [&str; 5] = [
    "#logins",
    "#after_failure",
    "#unseen_provider",
    "#unseen_network",
    "#placed",
];

impl GlobalStats {
    pub fn count(&self, key: &str) -> f64 {
        self.counts.get(key).copied().unwrap_or(0.0)
    }

    pub fn learn_key(&mut self, key: &str) {
        *self.counts.entry(key.to_owned()).or_default() += 1.0;
    }

    fn totals(&self) -> [f64; 5] {
        [
            self.logins,
            self.after_failure,
            self.unseen_provider,
            self.unseen_network,
            self.placed,
        ]
    }

    /// Every stored key an attempt from `network_keys` (a provider's and a network's key)
    /// reads or writes.
    pub fn keys_for(network_keys: &[String]) -> Vec<String> {
        let mut keys: Vec<String> = TOTALS.iter().map(|k| (*k).to_owned()).collect();
        keys.extend((0..24).map(|h| format!("#hour{h}")));
        keys.extend(network_keys.iter().cloned());
        keys
    }

    /// The stats from stored rows.
    pub fn from_counts(rows: &HashMap<String, f64>) -> Self {
        let get = |k: &str| rows.get(k).copied().unwrap_or(0.0);
        let mut stats = GlobalStats {
            logins: get(TOTALS[0]),
            after_failure: get(TOTALS[1]),
            unseen_provider: get(TOTALS[2]),
            unseen_network: get(TOTALS[3]),
            placed: get(TOTALS[4]),
            ..GlobalStats::default()
        };
        for (h, slot) in stats.hours.iter_mut().enumerate() {
            *slot = get(&format!("#hour{h}"));
        }
        stats.counts = rows
            .iter()
            .filter(|(k, _)| !k.starts_with('#'))
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        stats
    }

    /// The rows, as [`GlobalStats::from_counts`] reads them.
    pub fn to_counts(&self) -> HashMap<String, f64> {
        let mut rows = self.counts.clone();
        for (key, value) in TOTALS.iter().zip(self.totals()) {
            rows.insert((*key).to_owned(), value);
        }
        for (h, value) in self.hours.iter().enumerate() {
            rows.insert(format!("#hour{h}"), *value);
        }
        rows
    }

    /// What learning added since `before`, as increments to stored rows.
    pub fn increments_since(&self, before: &GlobalStats) -> Vec<(String, f64)> {
        let old = before.to_counts();
        let mut changes: Vec<(String, f64)> = self
            .to_counts()
            .into_iter()
            .map(|(k, v)| {
                let delta = v - old.get(&k).copied().unwrap_or(0.0);
                (k, delta)
            })
            .filter(|(_, delta)| *delta != 0.0)
            .collect();
        changes.sort_by(|a, b| a.0.cmp(&b.0));
        changes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Duration;

    fn chain(parts: &[&str]) -> Vec<String> {
        (1..=parts.len()).map(|n| parts[..n].join("|")).collect()
    }

    #[test]
    fn novelty_counts_new_children_only() {
        let mut p = UserProfile::default();
        p.learn_chain(&chain(&["net", "GB", "20712"]));
        p.learn_chain(&chain(&["net", "GB", "20712"]));
        p.learn_chain(&chain(&["net", "GB", "5089"]));
        assert_eq!(p.count("net|GB"), 3.0);
        assert_eq!(p.novelty("net|GB"), 2.0);
        assert_eq!(p.novelty("net"), 1.0);
    }

    #[test]
    fn population_rows_round_trip_and_diff() {
        let mut stats = GlobalStats::default();
        stats.learn_key("net|GB|20712");
        stats.logins = 3.0;
        stats.hours[7] = 2.0;
        let before = GlobalStats::from_counts(&stats.to_counts());
        assert_eq!(before, stats);
        let mut after = before.clone();
        after.learn_key("net|GB|20712");
        after.logins += 1.0;
        assert_eq!(
            after.increments_since(&before),
            [("#logins".to_owned(), 1.0), ("net|GB|20712".to_owned(), 1.0)]
        );
    }

    #[test]
    fn history_ages_out() {
        let t0 = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
        let mut p = UserProfile::default();
        p.decay_to(t0);
        p.learn_chain(&chain(&["net", "GB"]));
        p.decay_to(t0 + Duration::days(90));
        assert!((p.count("net|GB") - 0.5).abs() < 1e-9);
        p.decay_to(t0 + Duration::days(900));
        assert_eq!(p.count("net|GB"), 0.0, "forgotten");
    }
}
