use chrono::Duration;
use proptest::prelude::*;

use super::*;

const FIREFOX: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0";
const SAFARI_IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";

fn t0() -> DateTime<Utc> {
    DateTime::from_timestamp(1_790_000_000, 0).unwrap()
}

fn london() -> Place {
    Place {
        country: Some("GB".into()),
        city: Some("London".into()),
        latitude: Some(51.51),
        longitude: Some(-0.09),
        asn: Some(20712),
        ..Place::default()
    }
}

fn new_york() -> Place {
    Place {
        country: Some("US".into()),
        city: Some("New York".into()),
        latitude: Some(40.71),
        longitude: Some(-74.0),
        asn: Some(7922),
        ..Place::default()
    }
}

struct World {
    profile: UserProfile,
    global: GlobalStats,
}

impl World {
    /// A population of other users, so "everyone" has a shape.
    fn new() -> Self {
        let mut world = World {
            profile: UserProfile::default(),
            global: GlobalStats::default(),
        };
        // 300 people on 30 providers in 3 countries, a few networks each.
        let countries = ["US", "DE", "GB"];
        for i in 0..300 {
            let place = Place {
                country: Some(countries[i % 3].into()),
                asn: Some(64_500 + (i % 30) as u32),
                ..Place::default()
            };
            let ip = format!("11.{}.{}.{}", i % 30, i % 4, i % 250);
            let mut scratch = UserProfile::default();
            let device = Device::parse(FIREFOX);
            let obs = Observation {
                at: t0() + Duration::minutes(i as i64 * 37),
                ip: ip.parse().unwrap(),
                place: &place,
                user_agent: FIREFOX,
                device: &device,
                device_cookie: None,
            };
            learn_login(&mut scratch, &mut world.global, &obs, Signals::default());
        }
        world
    }

    fn login(&mut self, at: DateTime<Utc>, ip: &str, place: &Place, ua: &str, cookie: Option<&str>) -> Assessment {
        let device = Device::parse(ua);
        let obs = Observation {
            at,
            ip: ip.parse().unwrap(),
            place,
            user_agent: ua,
            device: &device,
            device_cookie: cookie,
        };
        let assessment = score_login(&self.profile, &self.global, &obs, Signals::default());
        learn_login(&mut self.profile, &mut self.global, &obs, Signals::default());
        assessment
    }

    fn score(&self, at: DateTime<Utc>, ip: &str, place: &Place, ua: &str, cookie: Option<&str>) -> Assessment {
        let device = Device::parse(ua);
        let obs = Observation {
            at,
            ip: ip.parse().unwrap(),
            place,
            user_agent: ua,
            device: &device,
            device_cookie: cookie,
        };
        score_login(&self.profile, &self.global, &obs, Signals::default())
    }
}

#[test]
fn a_first_sign_in_is_not_an_attack() {
    let mut world = World::new();
    let first = world.login(t0(), "81.2.69.142", &london(), FIREFOX, Some("c1"));
    assert!(first.score < RiskThresholds::default().step_up, "{first:?}");
}

#[test]
fn the_usual_device_and_network_score_low_after_learning_and_a_stranger_high() {
    let mut world = World::new();
    for day in 0..20 {
        world.login(
            t0() + Duration::days(day),
            "81.2.69.142",
            &london(),
            FIREFOX,
            Some("c1"),
        );
    }
    let usual = world.score(t0() + Duration::days(21), "81.2.69.142", &london(), FIREFOX, Some("c1"));
    assert!(usual.score < 0.01, "{usual:?}");
    assert!(usual.reasons.is_empty(), "{usual:?}");

    let stranger = world.score(t0() + Duration::days(21), "24.9.9.9", &new_york(), SAFARI_IPHONE, None);
    assert!(stranger.score > RiskThresholds::default().step_up, "{stranger:?}");
    for reason in ["new_country", "new_device_type", "no_device_cookie"] {
        assert!(stranger.reasons.iter().any(|r| r == reason), "{reason}: {stranger:?}");
    }
    // The same stranger holding the user's device cookie is far less suspicious.
    let with_cookie = world.score(
        t0() + Duration::days(21),
        "24.9.9.9",
        &new_york(),
        SAFARI_IPHONE,
        Some("c1"),
    );
    assert!(with_cookie.score < stranger.score);
}

#[test]
fn impossible_travel_is_flagged_and_a_plausible_flight_is_not() {
    let from = LastPlace {
        latitude: 51.51,
        longitude: -0.09,
        accuracy_km: Some(10.0),
        at: t0(),
    };
    // London → New York (5,570 km) in one hour: no.
    assert!(impossible_travel(&from, &new_york(), t0() + Duration::hours(1)));
    // ...in nine hours: a flight.
    assert!(!impossible_travel(&from, &new_york(), t0() + Duration::hours(9)));
    // London → Cambridge in ten minutes: too close to judge.
    let cambridge = Place {
        latitude: Some(52.2),
        longitude: Some(0.12),
        ..Place::default()
    };
    assert!(!impossible_travel(&from, &cambridge, t0() + Duration::minutes(10)));
    // A place known only to within 1,000 km says nothing.
    let vague = Place {
        accuracy_radius_km: Some(1000),
        ..new_york()
    };
    assert!(!impossible_travel(&from, &vague, t0() + Duration::hours(1)));
    assert!((distance_km((51.51, -0.09), (40.71, -74.0)) - 5_570.0).abs() < 30.0);

    let mut world = World::new();
    for day in 0..5 {
        world.login(
            t0() + Duration::days(day),
            "81.2.69.142",
            &london(),
            FIREFOX,
            Some("c1"),
        );
    }
    let jump = world.score(
        t0() + Duration::days(4) + Duration::hours(1),
        "24.9.9.9",
        &new_york(),
        FIREFOX,
        Some("c1"),
    );
    assert!(jump.reasons.iter().any(|r| r == "impossible_travel"), "{jump:?}");
}

#[test]
fn a_refresh_from_another_browser_or_country_stands_out() {
    let mut world = World::new();
    for day in 0..10 {
        world.login(
            t0() + Duration::days(day),
            "81.2.69.142",
            &london(),
            FIREFOX,
            Some("c1"),
        );
    }
    let device = Device::parse(FIREFOX);
    let open = Observation {
        at: t0() + Duration::days(10),
        ip: "81.2.69.142".parse().unwrap(),
        place: &london(),
        user_agent: FIREFOX,
        device: &device,
        device_cookie: Some("c1"),
    };
    let session = SessionBaseline::open(&open);
    let same = Observation {
        at: open.at + Duration::minutes(15),
        ..open
    };
    let fine = score_refresh(&world.profile, &world.global, &session, &same, DeviceKeyProof::Unbound);
    assert!(fine.score < 0.01, "{fine:?}");

    let place = new_york();
    let thief_device = Device::parse(SAFARI_IPHONE);
    let thief = Observation {
        at: open.at + Duration::minutes(20),
        ip: "24.9.9.9".parse().unwrap(),
        place: &place,
        user_agent: SAFARI_IPHONE,
        device: &thief_device,
        device_cookie: None,
    };
    let stolen = score_refresh(&world.profile, &world.global, &session, &thief, DeviceKeyProof::Unbound);
    assert!(stolen.score > RiskThresholds::default().block, "{stolen:?}");
    assert!(stolen.reasons.iter().any(|r| r == "session_device_changed"));
}

#[test]
fn a_proven_device_key_outweighs_a_changed_cookie_and_browser_but_not_a_copy() {
    let world = World::new();
    let device = Device::parse(FIREFOX);
    let open = Observation {
        at: t0(),
        ip: "81.2.69.142".parse().unwrap(),
        place: &london(),
        user_agent: FIREFOX,
        device: &device,
        device_cookie: Some("c1"),
    };
    let session = SessionBaseline::open(&open);
    // The same device after clearing its cookies and updating to another browser build.
    let updated = Device::parse(SAFARI_IPHONE);
    let later = Observation {
        at: open.at + Duration::minutes(15),
        user_agent: SAFARI_IPHONE,
        device: &updated,
        device_cookie: Some("c2"),
        ..open
    };
    let score = |key| score_refresh(&world.profile, &world.global, &session, &later, key);
    let cookie_only = score(DeviceKeyProof::Unbound);
    assert!(cookie_only.score > RiskThresholds::default().step_up, "{cookie_only:?}");
    let proven = score(DeviceKeyProof::Proven);
    assert!(proven.score < 0.01, "{proven:?}");
    assert!(proven.reasons.is_empty(), "{proven:?}");
    // The same key proven from another country at the same time: copied, whatever else.
    let copied = score(DeviceKeyProof::ProvenElsewhereToo);
    assert!(copied.score > RiskThresholds::default().block, "{copied:?}");
    assert_eq!(copied.reasons, ["device_key_copied"]);
    let unmoved = score_refresh(
        &world.profile,
        &world.global,
        &session,
        &open,
        DeviceKeyProof::ProvenElsewhereToo,
    );
    assert!(unmoved.score > RiskThresholds::default().block, "{unmoved:?}");
}

proptest! {
    /// More failed sign-ins from an address never lower the risk of a sign-in from it.
    #[test]
    fn more_failures_never_lower_risk(failures in 0_u32..10_000, more in 1_u32..1_000) {
        let world = World::new();
        let device = Device::parse(FIREFOX);
        let place = london();
        let obs = Observation {
            at: t0(),
            ip: "81.2.69.142".parse().unwrap(),
            place: &place,
            user_agent: FIREFOX,
            device: &device,
            device_cookie: None,
        };
        let fewer = score_login(&world.profile, &world.global, &obs, Signals { address_failures: failures, account_failures: 0 });
        let worse = score_login(&world.profile, &world.global, &obs, Signals { address_failures: failures.saturating_add(more), account_failures: 0 });
        prop_assert!(worse.score >= fewer.score);
    }
}
