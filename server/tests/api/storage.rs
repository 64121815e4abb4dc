//! The storage contract: one story through the whole [`Store`] trait, run against whichever
//! backend the test run targets, so PostgreSQL and SQLite are held to the same behaviour.

use chrono::{Duration, Utc};
use server::domain::device::Device;
use server::domain::geo::Place;
use server::domain::user::{Email, NewUser, Username};
use server::storage::{
    self, BoundKey, Decision, EventType, NewActivity, NewSession, RotateOutcome, Rotation, StoreError, StoredSigningKey,
};

use crate::helpers::TestDb;

fn new_user(name: &str, email: &str, admin: bool) -> NewUser {
    NewUser {
        username: Username::parse(name).unwrap(),
        email: Email::parse(email).unwrap(),
        hashed_password: "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaA".into(),
        is_admin: admin,
    }
}

pub fn event(kind: EventType, user_id: Option<i64>, at: chrono::DateTime<Utc>) -> NewActivity {
    NewActivity {
        user_id,
        username: Some("who".into()),
        event_type: kind,
        ip_address: "203.0.113.7".into(),
        device_info: "Mozilla/5.0".into(),
        device: Device::parse("Mozilla/5.0"),
        place: Place {
            country: Some("GB".into()),
            city: Some("London".into()),
            latitude: Some(51.5142),
            longitude: Some(-0.0931),
            accuracy_radius_km: Some(10),
            asn: Some(20712),
            asn_org: Some("Andrews & Arnold Ltd".into()),
            local: false,
        },
        risk_score: 0.25,
        risk_reasons: vec!["new_country".into()],
        decision: Decision::Allow,
        created_at: at,
        device_proven: false,
    }
}

#[tokio::test]
async fn the_store_keeps_its_contract() {
    let db = TestDb::new().await;
    let store = storage::connect(&db.url, 4).await.unwrap();
    store.migrate().await.unwrap();
    store.migrate().await.expect("migrating twice is a no-op");
    store.ping().await.unwrap();
    let now = Utc::now();

    // Users: unique names and addresses, found by either.
    assert_eq!(store.count_users().await.unwrap(), 0);
    let alice = store
        .insert_user(&new_user("alice", "alice@example.com", true), now)
        .await
        .unwrap();
    assert_eq!(
        (alice.username.as_str(), alice.is_admin, alice.is_active),
        ("alice", true, true)
    );
    let bob = store
        .insert_user(&new_user("bob", "bob@example.com", false), now)
        .await
        .unwrap();
    assert_ne!(alice.id, bob.id);
    assert!(matches!(
        store
            .insert_user(&new_user("alice", "other@example.com", false), now)
            .await,
        Err(StoreError::Conflict("username"))
    ));
    assert!(matches!(
        store
            .insert_user(&new_user("other", "bob@example.com", false), now)
            .await,
        Err(StoreError::Conflict("email"))
    ));
    assert_eq!(store.count_users().await.unwrap(), 2);
    assert_eq!(store.find_user_by_login("alice").await.unwrap().unwrap().id, alice.id);
    assert_eq!(
        store.find_user_by_login("bob@example.com").await.unwrap().unwrap().id,
        bob.id
    );
    assert!(store.find_user_by_login("carol").await.unwrap().is_none());
    let found = store.find_user(alice.id).await.unwrap().unwrap();
    assert_eq!(found.hashed_password, alice.hashed_password);
    assert_eq!(
        found.created_at.timestamp_micros(),
        now.timestamp_micros(),
        "times round-trip"
    );
    assert!(store.set_user_active(bob.id, false, now).await.unwrap());
    assert!(!store.find_user(bob.id).await.unwrap().unwrap().is_active);
    assert!(!store.set_user_active(999_999, false, now).await.unwrap());

    // Sessions: opened with their log row, live until revoked or expired.
    let session = NewSession {
        user_id: alice.id,
        session_id: "s-1".into(),
        token_hash: "a".repeat(64),
        device_info: "Mozilla/5.0".into(),
        device_hash: None,
        ip_address: "203.0.113.7".into(),
        created_at: now,
        expires_at: now + Duration::days(30),
        token_expires_at: now + Duration::days(7),
        country: Some("GB".into()),
        city: Some("London".into()),
        known_network: "203.0.113.0/24".into(),
        throttle_clear: Vec::new(),
        throttle_refund: Vec::new(),
        device_key: None,
    };
    store
        .open_session(&session, &event(EventType::LoginSucceeded, Some(alice.id), now))
        .await
        .unwrap();
    assert!(store.session_is_live("s-1", alice.id, now).await.unwrap());
    assert!(
        !store
            .session_is_live("s-1", alice.id, now + Duration::days(30))
            .await
            .unwrap(),
        "expired"
    );
    assert!(!store.session_is_live("s-unknown", alice.id, now).await.unwrap());
    assert!(
        !store.session_is_live("s-1", bob.id, now).await.unwrap(),
        "a session is live only for its own user"
    );
    let duplicate = NewSession {
        session_id: "s-2".into(),
        ..session.clone()
    };
    assert!(
        store
            .open_session(&duplicate, &event(EventType::LoginSucceeded, Some(alice.id), now))
            .await
            .is_err()
    );
    assert_eq!(
        store.activity_page(None, None, 10).await.unwrap().len(),
        1,
        "a failed session write leaves no log row"
    );

    let logout = NewActivity {
        user_id: None,
        ..event(EventType::Logout, None, now)
    };
    assert_eq!(
        store
            .revoke_session_by_token(&"a".repeat(64), now, &logout)
            .await
            .unwrap(),
        Some(alice.id)
    );
    assert!(!store.session_is_live("s-1", alice.id, now).await.unwrap());
    assert_eq!(
        store
            .revoke_session_by_token(&"a".repeat(64), now, &logout)
            .await
            .unwrap(),
        None,
        "already revoked"
    );
    assert_eq!(
        store
            .revoke_session_by_token(&"b".repeat(64), now, &logout)
            .await
            .unwrap(),
        None,
        "unknown"
    );

    // Activity: every field round-trips; newest first; filtered by user.
    store
        .record_activity(&event(EventType::LoginFailed, None, now))
        .await
        .unwrap();
    let all = store.activity_page(None, None, 10).await.unwrap();
    let kinds: Vec<&str> = all.iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(kinds, ["login_failed", "logout", "login_succeeded"]);
    assert_eq!(
        all[1].user_id,
        Some(alice.id),
        "the logout is attributed to the session's user"
    );
    let first = &all[2];
    assert_eq!(
        (first.ip_address.as_str(), first.device_info.as_str(), first.risk_score),
        ("203.0.113.7", "Mozilla/5.0", 0.25)
    );
    assert_eq!(
        (first.geolocation_country.as_deref(), first.geolocation_city.as_deref()),
        (Some("GB"), Some("London"))
    );
    assert_eq!(
        (first.latitude, first.longitude, first.accuracy_radius_km),
        (Some(51.5142), Some(-0.0931), Some(10))
    );
    assert_eq!(
        (first.asn, first.asn_org.as_deref()),
        (Some(20712), Some("Andrews & Arnold Ltd"))
    );
    assert_eq!(first.reasons(), ["new_country"]);
    assert_eq!(first.decision, "allow");
    assert_eq!(first.device_browser.as_deref(), Some("Unknown browser"));
    let alices = store.activity_page(Some(alice.id), None, 10).await.unwrap();
    assert_eq!(alices.len(), 2);
    assert_eq!(store.activity_page(None, None, 1).await.unwrap().len(), 1);

    // Rotation: one conditional spend; a second attempt learns what became of the token.
    let second = NewSession {
        session_id: "s-3".into(),
        token_hash: "c".repeat(64),
        ..session.clone()
    };
    store
        .open_session(&second, &event(EventType::LoginSucceeded, Some(alice.id), now))
        .await
        .unwrap();
    let rotation = |from: char, to: char| Rotation {
        presented_hash: from.to_string().repeat(64),
        successor_hash: to.to_string().repeat(64),
        now,
        idle_timeout: Duration::days(7),
        device_info: "Mozilla/5.0 (second tab)".into(),
        device_hash: Some("f".repeat(64)),
        ip_address: "198.51.100.1".into(),
        country: None,
        city: None,
        risk_baseline: None,
    };
    let refresh = event(EventType::Refresh, None, now);
    assert_eq!(
        store.rotate_refresh_token(&rotation('c', 'd'), &refresh).await.unwrap(),
        RotateOutcome::Rotated {
            user_id: alice.id,
            session_id: "s-3".into()
        }
    );
    let RotateOutcome::NotRotated(Some(spent)) =
        store.rotate_refresh_token(&rotation('c', 'd'), &refresh).await.unwrap()
    else {
        panic!("a spent token reports itself");
    };
    assert_eq!(
        (spent.session_id.as_str(), spent.successor_hash.as_deref()),
        ("s-3", Some("d".repeat(64).as_str()))
    );
    assert!(spent.spent_at.is_some() && spent.successor_live);
    assert_eq!(spent.successor_device.as_deref(), Some("Mozilla/5.0 (second tab)"));
    assert_eq!(spent.successor_ip.as_deref(), Some("198.51.100.1"));
    assert_eq!(
        spent.successor_device_hash,
        Some("f".repeat(64)),
        "the browser it went to"
    );
    assert_eq!(
        store.rotate_refresh_token(&rotation('z', 'y'), &refresh).await.unwrap(),
        RotateOutcome::NotRotated(None)
    );
    store.rotate_refresh_token(&rotation('d', 'e'), &refresh).await.unwrap();
    let RotateOutcome::NotRotated(Some(ancestor)) =
        store.rotate_refresh_token(&rotation('c', 'd'), &refresh).await.unwrap()
    else {
        panic!("an ancestor reports itself");
    };
    assert!(!ancestor.successor_live, "its successor is spent");

    // Sessions: listed while live, revoked one at a time or all at once.
    let live = store.live_sessions(alice.id, now).await.unwrap();
    assert_eq!(live.iter().map(|s| s.id.as_str()).collect::<Vec<_>>(), ["s-3"]);
    assert_eq!(live[0].ip_address, "198.51.100.1", "the latest address");
    assert!(
        store
            .revoke_session(
                "s-3",
                now,
                "test",
                &event(EventType::SessionRevoked, Some(alice.id), now)
            )
            .await
            .unwrap()
    );
    assert!(
        !store
            .revoke_session(
                "s-3",
                now,
                "test",
                &event(EventType::SessionRevoked, Some(alice.id), now)
            )
            .await
            .unwrap()
    );
    assert!(store.live_sessions(alice.id, now).await.unwrap().is_empty());
    let third = NewSession {
        session_id: "s-4".into(),
        token_hash: "f".repeat(64),
        ..session.clone()
    };
    store
        .open_session(&third, &event(EventType::LoginSucceeded, Some(alice.id), now))
        .await
        .unwrap();
    let logout_all = event(EventType::Logout, Some(alice.id), now);
    assert_eq!(
        store
            .revoke_user_sessions(alice.id, None, now, &logout_all)
            .await
            .unwrap(),
        1
    );
    assert!(!store.session_is_live("s-4", alice.id, now).await.unwrap());
    let bobs = NewSession {
        user_id: bob.id,
        session_id: "s-5".into(),
        token_hash: "9".repeat(64),
        ..session.clone()
    };
    store.set_user_active(bob.id, true, now).await.unwrap();
    store
        .open_session(&bobs, &event(EventType::LoginSucceeded, Some(bob.id), now))
        .await
        .unwrap();
    store.set_user_active(bob.id, false, now).await.unwrap();
    assert!(
        !store.session_is_live("s-5", bob.id, now).await.unwrap(),
        "deactivation ends sessions"
    );

    // Device binding: a bound session's key comes back with its refresh context, and the
    // device list says it is bound; a proof is accepted once, and forgotten once expired.
    let bound = NewSession {
        session_id: "s-bound".into(),
        token_hash: "b0".repeat(32),
        device_key: Some(BoundKey {
            jwk: r#"{"kty":"EC","crv":"P-256","x":"x","y":"y"}"#.into(),
            jkt: "thumbprint".into(),
        }),
        ..session.clone()
    };
    store
        .open_session(&bound, &event(EventType::LoginSucceeded, Some(alice.id), now))
        .await
        .unwrap();
    let context = store.refresh_context(&"b0".repeat(32)).await.unwrap().unwrap();
    assert_eq!(context.device_jkt.as_deref(), Some("thumbprint"));
    let listed = store.live_sessions(alice.id, now).await.unwrap();
    assert!(listed.iter().any(|s| s.id == "s-bound" && s.device_bound));
    assert!(listed.iter().filter(|s| s.id != "s-bound").all(|s| !s.device_bound));
    let expiry = now + Duration::minutes(3);
    assert!(store.spend_proof("thumbprint", "jti-1", expiry).await.unwrap());
    assert!(
        !store.spend_proof("thumbprint", "jti-1", expiry).await.unwrap(),
        "used once"
    );
    assert!(
        store.spend_proof("another-key", "jti-1", expiry).await.unwrap(),
        "per key"
    );
    assert_eq!(store.prune_spent_proofs(now).await.unwrap(), 0);
    assert_eq!(
        store.prune_spent_proofs(expiry + Duration::seconds(1)).await.unwrap(),
        2
    );

    // Server secrets: the first stored value wins.
    assert_eq!(store.ensure_secret("k", "first", now).await.unwrap(), "first");
    assert_eq!(store.ensure_secret("k", "second", now).await.unwrap(), "first");

    // Signing keys: the first stored key wins, later candidates are ignored.
    assert!(store.current_signing_key().await.unwrap().is_none());
    let key = |kid: &str| StoredSigningKey {
        kid: kid.into(),
        algorithm: "HS256".into(),
        secret: "c2VjcmV0".into(),
        created_at: now,
    };
    assert_eq!(store.ensure_signing_key(&key("k1")).await.unwrap().kid, "k1");
    assert_eq!(store.ensure_signing_key(&key("k2")).await.unwrap().kid, "k1");
    assert_eq!(store.current_signing_key().await.unwrap().unwrap().kid, "k1");

    db.cleanup().await;
}

#[tokio::test]
async fn a_bad_database_url_is_a_clear_error() {
    let error = storage::connect("mysql://localhost/db", 1).await.unwrap_err();
    assert!(error.to_string().contains("postgres:// or sqlite:"), "{error}");
}

#[tokio::test]
async fn activity_search_retention_and_throttling_keep_their_contract() {
    use server::domain::throttle::{Scope, ThrottlePolicy, Verdict};
    use server::storage::ActivityFilter;

    let db = TestDb::new().await;
    let store = storage::connect(&db.url, 4).await.unwrap();
    store.migrate().await.unwrap();
    // Whole seconds: PostgreSQL keeps microseconds, so nanoseconds would not round-trip.
    let now = chrono::SubsecRound::trunc_subsecs(Utc::now(), 0);
    let alice = store
        .insert_user(&new_user("alice", "alice@example.com", false), now)
        .await
        .unwrap();

    // Ten days of events, one a day, alternating kinds and risks.
    for day in 0..10 {
        let kind = if day % 2 == 0 {
            EventType::LoginFailed
        } else {
            EventType::LoginSucceeded
        };
        let mut e = event(kind, (day % 2 == 1).then_some(alice.id), now - Duration::days(9 - day));
        e.username = Some(if day < 5 { "alice" } else { "mallory" }.into());
        e.risk_score = day as f64 / 10.0;
        store.record_activity(&e).await.unwrap();
    }
    let search = |filter: ActivityFilter| {
        let store = store.clone();
        async move {
            store
                .search_activity(&filter, 100)
                .await
                .unwrap()
                .iter()
                .map(|e| e.risk_score)
                .collect::<Vec<f64>>()
        }
    };
    assert_eq!(search(ActivityFilter::default()).await.len(), 10);
    assert_eq!(
        search(ActivityFilter {
            username: Some("alice".into()),
            ..ActivityFilter::default()
        })
        .await,
        [0.4, 0.3, 0.2, 0.1, 0.0]
    );
    assert_eq!(
        search(ActivityFilter {
            event_type: Some(EventType::LoginFailed),
            min_risk: Some(0.4),
            ..ActivityFilter::default()
        })
        .await,
        [0.8, 0.6, 0.4]
    );
    assert_eq!(
        search(ActivityFilter {
            since: Some(now - Duration::days(3)),
            until: Some(now - Duration::days(1)),
            ..ActivityFilter::default()
        })
        .await,
        [0.7, 0.6],
        "since is inclusive, until exclusive"
    );
    let page = store.search_activity(&ActivityFilter::default(), 3).await.unwrap();
    let rest = search(ActivityFilter {
        before: Some(page[2].id),
        ..ActivityFilter::default()
    })
    .await;
    assert_eq!(rest.len(), 7, "the cursor continues after the last row");

    // Retention: a bounded batch at a time, oldest first.
    assert_eq!(store.prune_activity(now - Duration::hours(97), 3).await.unwrap(), 3);
    assert_eq!(store.prune_activity(now - Duration::hours(97), 3).await.unwrap(), 2);
    assert_eq!(store.prune_activity(now - Duration::hours(97), 3).await.unwrap(), 0);
    assert_eq!(search(ActivityFilter::default()).await.len(), 5);

    // Throttling: five free attempts, then refused until the delay has passed.
    let policy = ThrottlePolicy::default();
    let keys = policy.keys("u:1", "203.0.113.9".parse().unwrap(), true);
    for counted in 1..=5 {
        assert_eq!(
            store.throttle_attempt(&keys, now).await.unwrap(),
            Verdict::Allowed { counted }
        );
    }
    assert_eq!(
        store.throttle_attempt(&keys, now).await.unwrap(),
        Verdict::Throttled {
            retry_at: now + Duration::seconds(1),
            scope: Scope::AccountFromAddress
        }
    );
    let later = now + Duration::seconds(1);
    assert_eq!(
        store.throttle_attempt(&keys, later).await.unwrap(),
        Verdict::Allowed { counted: 6 }
    );
    assert!(matches!(
        store.throttle_attempt(&keys, later).await.unwrap(),
        Verdict::Throttled { .. }
    ));
    assert_eq!(store.prune_throttle(now).await.unwrap(), 0, "recent counters stay");
    assert_eq!(store.prune_throttle(now + Duration::days(1)).await.unwrap(), 3);
    assert_eq!(
        store.throttle_attempt(&keys, later).await.unwrap(),
        Verdict::Allowed { counted: 1 }
    );
    // Clearing starts the named keys afresh, and only those.
    let check = [policy.password_check_key(1)];
    store.throttle_attempt(&check, later).await.unwrap();
    store.clear_throttle(&[check[0].key.clone()]).await.unwrap();
    assert_eq!(
        store.throttle_attempt(&check, later).await.unwrap(),
        Verdict::Allowed { counted: 1 }
    );
    assert_eq!(
        store.throttle_attempt(&keys, later).await.unwrap(),
        Verdict::Allowed { counted: 2 }
    );

    // Known networks: remembered by a sign-in, forgotten after the window.
    assert!(
        !store
            .is_known_network(alice.id, "203.0.113.0/24", now - Duration::days(90))
            .await
            .unwrap()
    );
    let session = NewSession {
        user_id: alice.id,
        session_id: "s-k".into(),
        token_hash: "k".repeat(64),
        device_info: "Mozilla/5.0".into(),
        device_hash: None,
        ip_address: "203.0.113.7".into(),
        created_at: now,
        expires_at: now + Duration::days(30),
        token_expires_at: now + Duration::days(7),
        country: None,
        city: None,
        known_network: "203.0.113.0/24".into(),
        throttle_clear: vec![keys[0].key.clone()],
        throttle_refund: vec![keys[1].key.clone()],
        device_key: None,
    };
    store
        .open_session(&session, &event(EventType::LoginSucceeded, Some(alice.id), now))
        .await
        .unwrap();
    assert!(
        store
            .is_known_network(alice.id, "203.0.113.0/24", now - Duration::days(90))
            .await
            .unwrap()
    );
    assert!(
        !store
            .is_known_network(alice.id, "203.0.113.0/24", now + Duration::days(1))
            .await
            .unwrap()
    );
    db.cleanup().await;
}
