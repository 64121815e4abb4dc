//! Throttling failed sign-ins: per account and address, per address across accounts, and
//! never a lockout of the owner by someone else's failures.

use std::net::IpAddr;

use secrecy::SecretString;
use server::domain::client::ClientInfo;
use server::service::SignInError;

use crate::helpers::{PASSWORD, TestApp, error_code};

const PROXY: (&str, &str) = ("FIN_TRUSTED_PROXIES", "127.0.0.1/32");

#[tokio::test]
async fn forty_parallel_guesses_are_throttled_and_the_owner_still_signs_in() {
    let app = TestApp::spawn_with(&[PROXY]).await;
    app.create_user("alice", false).await;

    let guesses = (0..40).map(|i| {
        let request = app
            .client
            .post(app.url("/api/auth/login"))
            .header("x-forwarded-for", "203.0.113.66")
            .json(&serde_json::json!({"username": "alice", "password": format!("guess {i}")}));
        async move { request.send().await.unwrap() }
    });
    let responses = futures::future::join_all(guesses).await;
    let heard = responses.iter().filter(|r| r.status() == 401).count();
    let throttled: Vec<&reqwest::Response> = responses.iter().filter(|r| r.status() == 429).collect();
    assert_eq!(heard + throttled.len(), 40, "only 401s and 429s");
    // The clock stands still: exactly the free tries of the account-from-address rule are
    // checked, and the rest wait the rule's first delay.
    let rule = server::domain::throttle::ThrottlePolicy::default().account_from_address;
    assert_eq!(heard, rule.free as usize, "guesses checked");
    for response in &throttled {
        let retry_after: i64 = response.headers()["retry-after"].to_str().unwrap().parse().unwrap();
        assert_eq!(retry_after, rule.base.num_seconds(), "Retry-After");
    }
    let response = responses.into_iter().find(|r| r.status() == 429).unwrap();
    assert_eq!(error_code(response, 429).await, "too_many_attempts");
    // Even the right password waits its turn from the attacking address...
    let response = app.login_from("alice", PASSWORD, "203.0.113.66").await;
    assert_eq!(response.status(), 429);
    // ...while the owner, elsewhere, is not locked out.
    assert_eq!(app.login_from("alice", PASSWORD, "81.2.69.142").await.status(), 200);

    // Every attempt is on the record, throttled ones with their decision.
    let events = app.store().activity_page(None, None, 100).await.unwrap();
    let throttled_rows = events.iter().filter(|e| e.decision == "throttle").count();
    assert_eq!(throttled_rows, 40 - heard + 1);
    // Refused by the count, or (beyond what one account may have in flight) at the door.
    assert!(
        events
            .iter()
            .filter(|e| e.decision == "throttle")
            .all(|e| e.reasons() == ["too_many_attempts"] || e.reasons() == ["too_many_in_progress"])
    );
    app.stop().await;
}

#[tokio::test]
async fn one_address_trying_many_accounts_is_throttled_for_all_of_them() {
    let app = TestApp::spawn_with(&[PROXY]).await;
    app.create_user("owner", false).await;
    let mut statuses = Vec::new();
    for i in 0..50 {
        let response = app
            .login_from(&format!("user{i}"), "Winter2026!", "198.51.100.23")
            .await;
        statuses.push(response.status().as_u16());
    }
    let first_throttled = statuses
        .iter()
        .position(|s| *s == 429)
        .expect("throttled at some point");
    // Exactly the address rule's free tries are heard (every name is new, so no other
    // rule is near its limit).
    let free = server::domain::throttle::ThrottlePolicy::default().address.free as usize;
    assert_eq!(
        first_throttled, free,
        "throttled after {first_throttled} accounts: {statuses:?}"
    );
    assert!(statuses[first_throttled..].iter().all(|s| *s == 429), "{statuses:?}");
    // A real account from that address waits too; from elsewhere it does not.
    assert_eq!(app.login_from("owner", PASSWORD, "198.51.100.23").await.status(), 429);
    assert_eq!(app.login_from("owner", PASSWORD, "81.2.69.142").await.status(), 200);
    let events = app.store().activity_page(None, None, 1000).await.unwrap();
    assert!(events.iter().any(|e| e.reasons() == ["credential_stuffing"]));
    app.stop().await;
}

#[tokio::test]
async fn a_success_clears_its_own_count_and_delays_pass() {
    let app = TestApp::spawn_with(&[PROXY]).await;
    app.create_user("alice", false).await;
    let ip = "81.2.69.142";
    for _ in 0..4 {
        assert_eq!(app.login_from("alice", "typo", ip).await.status(), 401);
    }
    assert_eq!(app.login_from("alice", PASSWORD, ip).await.status(), 200);
    // The count started again: four more typos are heard, as before.
    for _ in 0..4 {
        assert_eq!(app.login_from("alice", "typo", ip).await.status(), 401);
    }
    assert_eq!(
        app.login_from("alice", "typo", ip).await.status(),
        401,
        "the fifth is heard, then a delay"
    );
    let response = app.login_from("alice", PASSWORD, ip).await;
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
    app.clock.advance(chrono::Duration::seconds(1));
    assert_eq!(
        app.login_from("alice", PASSWORD, ip).await.status(),
        200,
        "after Retry-After"
    );
    app.stop().await;
}

#[tokio::test]
async fn counters_are_shared_by_every_instance() {
    let app = TestApp::spawn().await;
    app.create_user("alice", false).await;
    let other = app.second_instance(&[]).await;
    let client = ClientInfo::new("203.0.113.5".parse::<IpAddr>().unwrap(), Some("curl/8"));
    for _ in 0..5 {
        let outcome = app
            .state
            .services
            .sign_in
            .sign_in("alice", SecretString::from("wrong".to_owned()), &client)
            .await;
        assert!(matches!(outcome, Err(SignInError::InvalidCredentials)));
    }
    let outcome = other
        .services
        .sign_in
        .sign_in("alice", SecretString::from(PASSWORD.to_owned()), &client)
        .await;
    assert!(
        matches!(outcome, Err(SignInError::Throttled { retry_after_secs: 1 })),
        "the other instance knows about the failures"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_distributed_attack_on_one_account_spares_the_owners_own_address() {
    let app = TestApp::spawn_with(&[PROXY]).await;
    app.create_user("alice", false).await;
    // The owner has signed in from home before.
    assert_eq!(app.login_from("alice", PASSWORD, "81.2.69.142").await.status(), 200);
    // Sixty addresses, one guess each: under every per-address limit, over the account's.
    let mut throttled = 0;
    for i in 0..60 {
        let response = app.login_from("alice", "guess", &format!("100.{i}.7.7")).await;
        if response.status() == 429 {
            throttled += 1;
        }
    }
    assert!(throttled > 0, "the account-wide count slows a botnet down");
    assert_eq!(
        app.login_from("alice", PASSWORD, "100.99.7.7").await.status(),
        429,
        "new networks wait"
    );
    assert_eq!(
        app.login_from("alice", PASSWORD, "81.2.69.142").await.status(),
        200,
        "home (the owner's own address) is not locked out"
    );
    app.stop().await;
}

/// An office behind one NAT address at 9 a.m.: many colleagues, right passwords, all at
/// once. Nobody is refused because of the others' sign-ins still in flight; the same
/// address trying wrong passwords against as many accounts is still slowed down.
#[tokio::test]
async fn an_office_behind_one_address_signs_in_together_and_guessing_from_it_stays_slow() {
    const PEOPLE: usize = 200;
    const OFFICE: &str = "192.0.2.80";
    let app = TestApp::spawn_with(&[PROXY]).await;
    let names: Vec<String> = (0..PEOPLE).map(|i| format!("colleague{i}")).collect();
    futures::future::join_all(names.iter().map(|name| app.create_user(name, false))).await;

    let morning = futures::future::join_all(names.iter().map(|name| app.login_from(name, PASSWORD, OFFICE))).await;
    let statuses: Vec<u16> = morning.iter().map(|r| r.status().as_u16()).collect();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");

    let guesses = futures::future::join_all(names.iter().map(|name| app.login_from(name, "Winter2026!", OFFICE))).await;
    let heard = guesses.iter().filter(|r| r.status() == 401).count();
    let slowed = guesses.iter().filter(|r| r.status() == 429).count();
    assert_eq!(heard + slowed, PEOPLE, "only 401s and 429s");
    let policy = server::domain::throttle::ThrottlePolicy::default();
    assert!(
        heard <= policy.address.free as usize,
        "{heard} guesses from one address were checked; the address allows {}",
        policy.address.free
    );
    app.stop().await;
}

/// The current-password check of a password change is a sign-in in all but name: counted,
/// slowed after three failures, logged, and the fifth wrong password ends the session.
#[tokio::test]
async fn guessing_the_current_password_is_throttled_logged_and_ends_the_session() {
    let app = TestApp::spawn().await;
    app.create_user("tamsin", false).await;
    let (access, _) = app.login_tokens("tamsin").await;
    let change = |current: &'static str| {
        app.client
            .post(app.url("/api/me/password"))
            .bearer_auth(&access)
            .json(&serde_json::json!({"current_password": current, "new_password": "a brand new passphrase"}))
            .send()
    };
    for _ in 0..3 {
        assert_eq!(
            error_code(change("guess").await.unwrap(), 400).await,
            "invalid_current_password"
        );
    }
    let waited = change("guess").await.unwrap();
    assert_eq!(waited.headers()["retry-after"], "2");
    assert_eq!(error_code(waited, 429).await, "too_many_attempts");
    app.clock.advance(chrono::Duration::seconds(2));
    assert_eq!(
        error_code(change("guess").await.unwrap(), 400).await,
        "invalid_current_password"
    );
    assert_eq!(
        app.get_me(&access).await.status(),
        200,
        "four wrong passwords: still signed in"
    );
    app.clock.advance(chrono::Duration::seconds(4));
    assert_eq!(
        error_code(change("guess").await.unwrap(), 400).await,
        "invalid_current_password"
    );
    assert_eq!(app.get_me(&access).await.status(), 401, "the fifth ends the session");

    let events = app.store().activity_page(None, None, 100).await.unwrap();
    let wrong: Vec<_> = events
        .iter()
        .filter(|e| e.reasons().iter().any(|r| r == "wrong_current_password"))
        .collect();
    assert_eq!(wrong.len(), 5, "every wrong password is on the record");
    assert!(
        wrong
            .iter()
            .all(|e| e.decision == "deny" && e.username.as_deref() == Some("tamsin"))
    );
    app.stop().await;
}

/// The owner's exemption is their exact address (IPv6: the /64), not their neighbours': a
/// CGNAT or mobile neighbour in the same /24 or /48 counts against the account like anyone.
#[tokio::test]
async fn only_the_owners_own_address_has_the_higher_account_cap() {
    let app = TestApp::spawn_with(&[PROXY]).await;
    app.create_user("nadia", false).await;
    assert_eq!(
        app.login_from("nadia", PASSWORD, "2001:db8:7:1::10").await.status(),
        200
    );
    let policy = server::domain::throttle::ThrottlePolicy::default();
    // A neighbour in the owner's /48 and IPv4 /24 (fresh /64s and addresses every time).
    for i in 0..policy.account.free {
        let neighbour = if i % 2 == 0 {
            format!("2001:db8:7:{:x}::1", i + 2)
        } else {
            format!("81.2.69.{}", i % 250 + 1)
        };
        let response = app.login_from("nadia", "not her password", &neighbour).await;
        assert_eq!(response.status(), 401, "attempt {i}");
    }
    let next = app.login_from("nadia", "not her password", "2001:db8:7:ff::1").await;
    assert_eq!(
        error_code(next, 429).await,
        "too_many_attempts",
        "the account cap applies"
    );
    // The owner, at her own /64, has her own higher cap: heard, not throttled (what the
    // risk engine then makes of fifty failures is its own business).
    assert_ne!(
        app.login_from("nadia", PASSWORD, "2001:db8:7:1::99").await.status(),
        429
    );
    let events = app.store().activity_page(None, None, 1).await.unwrap();
    assert_ne!(events[0].decision, "throttle");
    app.stop().await;
}
