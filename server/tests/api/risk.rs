//! The risk engine on the request path: scores and reasons in the log, blocks, the device
//! cookie, and a refresh from someone else's network ending the session.

use crate::helpers::{PASSWORD, TestApp, error_code, geoip_available};

const FIREFOX: &str = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0";
const IPHONE: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";

/// A browser: keeps its cookies (the device cookie among them), has one user agent.
fn browser(ua: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .user_agent(ua)
        .build()
        .unwrap()
}

/// Signs in as a browser does (cookie delivery: the refresh and device cookies are set).
async fn login(app: &TestApp, client: &reqwest::Client, ip: &str) -> reqwest::Response {
    client
        .post(app.url("/api/auth/login"))
        .header("x-forwarded-for", ip)
        .json(&serde_json::json!({"username": "alice", "password": PASSWORD}))
        .send()
        .await
        .unwrap()
}

/// The refresh token a response set in its cookie.
fn refresh_cookie(response: &reqwest::Response) -> String {
    crate::helpers::cookie_value(response.headers(), "fin_refresh").expect("a refresh cookie")
}

async fn events(app: &TestApp) -> Vec<server::storage::ActivityRecord> {
    app.store().activity_page(None, None, 100).await.unwrap()
}

#[tokio::test]
async fn a_stranger_is_blocked_while_the_owners_browser_sails_through() {
    if !geoip_available() {
        return;
    }
    // Plain-HTTP cookie names, so the test client's cookie store keeps them; blocks at
    // step-up level (no second factor yet).
    let app = TestApp::spawn_with(&[
        ("FIN_TRUSTED_PROXIES", "127.0.0.1/32"),
        ("FIN_INSECURE_DEV_COOKIES", "true"),
        ("FIN_RISK_NO_FACTOR", "block"),
    ])
    .await;
    app.create_user("alice", false).await;
    let home = browser(FIREFOX);
    for day in 0..8 {
        let response = login(&app, &home, "81.2.69.142").await;
        assert_eq!(response.status(), 200, "day {day}");
        if day == 0 {
            let device = response
                .headers()
                .get_all("set-cookie")
                .iter()
                .filter_map(|v| v.to_str().ok())
                .find(|c| c.starts_with("fin_device="))
                .expect("a device cookie for a browser that had none")
                .to_owned();
            assert!(
                device.contains("HttpOnly") && device.contains("Max-Age=34560000"),
                "{device}"
            );
        }
        app.clock.advance(chrono::Duration::hours(20));
    }
    let usual = &events(&app).await[0];
    assert!(usual.risk_score < 0.05, "the usual browser and network: {usual:?}");

    // The stranger with the right password hears exactly what a wrong password hears: a
    // 401 `invalid_credentials` says nothing a credential-stuffing bot could use.
    let stranger = browser(IPHONE);
    let wrong = stranger
        .post(app.url("/api/auth/login"))
        .header("x-forwarded-for", "1.1.1.1")
        .json(&serde_json::json!({"username": "alice", "password": "not the password"}))
        .send()
        .await
        .unwrap();
    let wrong = (wrong.status(), wrong.text().await.unwrap());
    let response = login(&app, &stranger, "1.1.1.1").await;
    let right = (response.status(), response.text().await.unwrap());
    assert_eq!(right.0, 401);
    assert!(right.1.contains("\"invalid_credentials\""), "{}", right.1);
    assert_eq!(right, wrong, "a blocked right password answers like a wrong one");
    let blocked = &events(&app).await[0];
    assert_eq!(
        (blocked.event_type.as_str(), blocked.decision.as_str()),
        ("login_blocked", "block")
    );
    assert!(blocked.risk_score >= 0.5, "{blocked:?}");
    for reason in ["new_country", "no_device_cookie"] {
        assert!(blocked.reasons().iter().any(|r| r == reason), "{reason}: {blocked:?}");
    }
    // The owner is unaffected.
    assert_eq!(login(&app, &home, "81.2.69.142").await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn a_refresh_from_another_device_and_network_ends_the_session() {
    if !geoip_available() {
        return;
    }
    let app = TestApp::spawn_with(&[
        ("FIN_TRUSTED_PROXIES", "127.0.0.1/32"),
        ("FIN_INSECURE_DEV_COOKIES", "true"),
    ])
    .await;
    app.create_user("alice", false).await;
    let home = browser(FIREFOX);
    login(&app, &home, "81.2.69.142").await; // the browser gets its device cookie
    assert_eq!(login(&app, &home, "81.2.69.142").await.status(), 200);

    // The owner's own refresh (cookies from the browser's jar) is unremarkable.
    let response = home
        .post(app.url("/api/auth/refresh"))
        .header("x-forwarded-for", "81.2.69.142")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let token = refresh_cookie(&response);
    let owner = &events(&app).await[0];
    assert!(owner.risk_score < 0.05, "{owner:?}");

    let refresh = |client: &reqwest::Client, ip: &str, token: &str| {
        client
            .post(app.url("/api/auth/refresh"))
            .header("x-forwarded-for", ip)
            .json(&serde_json::json!({"refresh_token": token}))
            .send()
    };

    // The stolen token, from another continent, another browser and no device cookie.
    let thief = browser(IPHONE);
    let response = refresh(&thief, "1.1.1.1", &token).await.unwrap();
    assert_eq!(error_code(response, 401).await, "session_blocked");
    let alarm = &events(&app).await[0];
    assert_eq!(
        (alarm.event_type.as_str(), alarm.decision.as_str()),
        ("refresh", "block")
    );
    assert!(
        alarm.reasons().iter().any(|r| r == "session_device_changed"),
        "{alarm:?}"
    );
    assert_eq!(alarm.username.as_deref(), Some("alice"));
    // The session is over for everyone holding it.
    let response = refresh(&home, "81.2.69.142", &token).await.unwrap();
    assert_eq!(response.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn this_wasnt_me_ends_the_other_sessions_and_admins_give_verdicts() {
    let app = TestApp::spawn().await;
    let alice = app.create_user("alice", false).await;
    app.create_user("root", true).await;
    let (elsewhere, _) = app.login_tokens("alice").await;
    let (here, _) = app.login_tokens("alice").await;
    let first_login = app
        .store()
        .activity_page(Some(alice), None, 10)
        .await
        .unwrap()
        .last()
        .unwrap()
        .id;

    // Not one's own event: no such event.
    let (admin, _) = app.login_tokens("root").await;
    let response = app
        .client
        .post(app.url(&format!("/api/activity/{first_login}/not-me")))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(error_code(response, 404).await, "not_found");

    let response = app
        .client
        .post(app.url(&format!("/api/activity/{first_login}/not-me")))
        .bearer_auth(&here)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["sessions_ended"], 1);
    assert_eq!(app.get_me(&elsewhere).await.status(), 401, "the other session is over");
    assert_eq!(
        app.get_me(&here).await.status(),
        200,
        "the reporter's own session stays"
    );
    let event = app.store().activity_event(first_login).await.unwrap().unwrap();
    assert_eq!(event.verdict.as_deref(), Some("not_me"));

    // An admin marks the event compromised: every session of the user ends.
    let verdict = |id: i64, body: serde_json::Value, token: &str| {
        app.client
            .post(app.url(&format!("/api/admin/activity/{id}/verdict")))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let response = verdict(first_login, serde_json::json!({"verdict": "compromised"}), &admin)
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(app.get_me(&here).await.status(), 401);
    for (body, status) in [
        (serde_json::json!({"verdict": "maybe"}), 400),
        (serde_json::json!({"verdict": 1}), 400),
        (serde_json::json!({}), 400),
    ] {
        assert_eq!(verdict(first_login, body, &admin).await.unwrap().status(), status);
    }
    assert_eq!(
        verdict(999_999, serde_json::json!({"verdict": "legitimate"}), &admin)
            .await
            .unwrap()
            .status(),
        404
    );
    // Legitimate teaches the profile; users cannot give verdicts.
    let response = verdict(first_login, serde_json::json!({"verdict": "legitimate"}), &admin)
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert!(app.store().risk_profile(alice).await.unwrap().is_some());
    let (user, _) = app.login_tokens("alice").await;
    let response = verdict(first_login, serde_json::json!({"verdict": "legitimate"}), &user)
        .await
        .unwrap();
    assert_eq!(error_code(response, 403).await, "forbidden");
    app.stop().await;
}

#[tokio::test]
async fn a_risky_sign_in_steps_up_with_an_authenticator_code_or_a_recovery_code() {
    use server::clock::Clock as _;
    use server::domain::totp;

    // Every sign-in of a user with an authenticator is "risky" here.
    let app = TestApp::spawn_with(&[("FIN_RISK_STEP_UP", "0"), ("FIN_RISK_BLOCK", "1")]).await;
    app.create_user("alice", false).await;
    let (access, _) = app.login_tokens("alice").await; // no factor yet: let through
    let enrolment: serde_json::Value = app
        .client
        .post(app.url("/api/me/totp"))
        .bearer_auth(&access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = enrolment["secret"].as_str().unwrap().to_owned();
    assert!(
        enrolment["otpauth_uri"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/fin_intelli:alice?")
    );
    assert!(enrolment["qr_svg"].as_str().unwrap().contains("<svg"));
    let code_at = |offset: i64| {
        let raw = totp::base32_decode(&secret).unwrap();
        format!("{:06}", totp::code(&raw, totp::step(app.clock.now()) + offset))
    };
    let confirm = |code: String| {
        app.client
            .post(app.url("/api/me/totp/confirm"))
            .bearer_auth(&access)
            .json(&serde_json::json!({"code": code}))
            .send()
    };
    assert_eq!(
        error_code(confirm("000000".into()).await.unwrap(), 401).await,
        "invalid_code"
    );
    let codes: serde_json::Value = confirm(code_at(0)).await.unwrap().json().await.unwrap();
    let recovery: Vec<String> = serde_json::from_value(codes["recovery_codes"].clone()).unwrap();
    assert_eq!(recovery.len(), 10);

    // Now the sign-in asks for the code.
    let sign_in =
        || app.login_json(serde_json::json!({"username": "alice", "password": PASSWORD, "refresh_delivery": "body"}));
    let response = sign_in().await;
    assert_eq!(response.status(), 401);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "step_up_required");
    let challenge = body["challenge_id"].as_str().unwrap().to_owned();
    let step_up = |challenge: &str, code: String| {
        app.client
            .post(app.url("/api/auth/step-up"))
            .json(&serde_json::json!({"challenge_id": challenge, "code": code, "refresh_delivery": "body"}))
            .send()
    };
    assert_eq!(
        error_code(step_up(&challenge, "123456".into()).await.unwrap(), 401).await,
        "invalid_code"
    );
    // The enrolment's code was spent; the next step's works, once.
    app.clock.advance(chrono::Duration::seconds(30));
    let response = step_up(&challenge, code_at(0)).await.unwrap();
    assert_eq!(response.status(), 200);
    let tokens: serde_json::Value = response.json().await.unwrap();
    assert!(tokens["access_token"].is_string() && tokens["refresh_token"].is_string());
    assert_eq!(
        error_code(step_up(&challenge, code_at(0)).await.unwrap(), 401).await,
        "invalid_code",
        "a challenge answers once"
    );
    let events = events(&app).await;
    assert_eq!(
        (events[0].event_type.as_str(), events[0].decision.as_str()),
        ("login_succeeded", "challenge")
    );
    assert!(events.iter().any(|e| e.event_type == "step_up_required"));

    // A recovery code works instead, once.
    let body: serde_json::Value = sign_in().await.json().await.unwrap();
    let challenge = body["challenge_id"].as_str().unwrap().to_owned();
    assert_eq!(
        step_up(&challenge, recovery[0].to_uppercase()).await.unwrap().status(),
        200
    );
    let body: serde_json::Value = sign_in().await.json().await.unwrap();
    let challenge = body["challenge_id"].as_str().unwrap().to_owned();
    assert_eq!(
        error_code(step_up(&challenge, recovery[0].clone()).await.unwrap(), 401).await,
        "invalid_code"
    );
    // Five wrong answers and the challenge is gone.
    for _ in 0..5 {
        step_up(&challenge, "000000".into()).await.unwrap();
    }
    assert_eq!(
        error_code(step_up(&challenge, recovery[1].clone()).await.unwrap(), 401).await,
        "invalid_code"
    );
    app.stop().await;
}

/// alice, with a confirmed authenticator, on an app where every sign-in of hers asks for
/// it; what answers a challenge.
struct SteppingUp {
    app: TestApp,
    secret: Vec<u8>,
    recovery: Vec<String>,
}

impl SteppingUp {
    async fn start() -> Self {
        let app = TestApp::spawn_with(&[("FIN_RISK_STEP_UP", "0"), ("FIN_RISK_BLOCK", "1")]).await;
        app.create_user("alice", false).await;
        let (access, _) = app.login_tokens("alice").await;
        let enrolment: serde_json::Value = app
            .client
            .post(app.url("/api/me/totp"))
            .bearer_auth(&access)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let secret = server::domain::totp::base32_decode(enrolment["secret"].as_str().unwrap()).unwrap();
        let mut this = Self {
            app,
            secret,
            recovery: Vec::new(),
        };
        let response = this
            .app
            .client
            .post(this.app.url("/api/me/totp/confirm"))
            .bearer_auth(&access)
            .json(&serde_json::json!({"code": this.code()}))
            .send()
            .await
            .unwrap();
        let body: serde_json::Value = response.json().await.unwrap();
        this.recovery = serde_json::from_value(body["recovery_codes"].clone()).unwrap();
        // Past the step the confirmation spent.
        this.app.clock.advance(chrono::Duration::seconds(30));
        this
    }

    /// The authenticator's code now.
    fn code(&self) -> String {
        use server::clock::Clock as _;
        use server::domain::totp;
        format!("{:06}", totp::code(&self.secret, totp::step(self.app.clock.now())))
    }

    /// A correct password: a challenge.
    async fn challenge(&self) -> String {
        let response = self
            .app
            .login_json(serde_json::json!({"username": "alice", "password": PASSWORD, "refresh_delivery": "body"}))
            .await;
        assert_eq!(response.status(), 401);
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["error"], "step_up_required");
        body["challenge_id"].as_str().unwrap().to_owned()
    }

    /// The status of answering `challenge` with `code`.
    async fn answer(&self, challenge: &str, code: &str) -> u16 {
        let response = self
            .app
            .client
            .post(self.app.url("/api/auth/step-up"))
            .json(&serde_json::json!({"challenge_id": challenge, "code": code, "refresh_delivery": "body"}))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        if status != 200 {
            assert_eq!(error_code(response, 401).await, "invalid_code");
        }
        status
    }
}

#[tokio::test]
async fn a_challenge_is_answered_once_even_with_a_fresh_valid_code() {
    let s = SteppingUp::start().await;
    let answered = s.challenge().await;
    assert_eq!(s.answer(&answered, &s.code()).await, 200);

    // Again, with a recovery code nobody has used: refused. That code was good: another
    // challenge takes it.
    assert_eq!(s.answer(&answered, &s.recovery[0]).await, 401);
    assert_eq!(s.answer(&s.challenge().await, &s.recovery[0]).await, 200);
    // Again, with the next step's authenticator code: refused; the code was good.
    s.app.clock.advance(chrono::Duration::seconds(30));
    assert_eq!(s.answer(&answered, &s.code()).await, 401);
    assert_eq!(s.answer(&s.challenge().await, &s.code()).await, 200);

    // Two good answers at once: one wins.
    s.app.clock.advance(chrono::Duration::seconds(30));
    let raced = s.challenge().await;
    let code = s.code();
    let (a, b) = tokio::join!(s.answer(&raced, &code), s.answer(&raced, &s.recovery[1]));
    let mut statuses = [a, b];
    statuses.sort_unstable();
    assert_eq!(statuses, [200, 401]);
    let sessions = s.app.count_events("login_succeeded").await;
    assert_eq!(sessions, 1 + 4, "the first sign-in and four answered challenges");
    s.app.stop().await;
}

#[tokio::test]
async fn a_challenge_expires_after_five_minutes() {
    let s = SteppingUp::start().await;
    let early = s.challenge().await;
    let late = s.challenge().await;
    s.app
        .clock
        .advance(chrono::Duration::minutes(5) - chrono::Duration::seconds(1));
    assert_eq!(s.answer(&early, &s.recovery[0]).await, 200, "alive until the end");

    s.app.clock.advance(chrono::Duration::seconds(1));
    assert_eq!(s.answer(&late, &s.code()).await, 401, "expired at five minutes");
    // The code itself was good: a new challenge takes it.
    assert_eq!(s.answer(&s.challenge().await, &s.code()).await, 200);
    s.app.stop().await;
}

/// Signs `username` in as a browser does, from `ip`.
async fn login_as(app: &TestApp, client: &reqwest::Client, username: &str, ip: &str) -> reqwest::Response {
    client
        .post(app.url("/api/auth/login"))
        .header("x-forwarded-for", ip)
        .json(&serde_json::json!({"username": username, "password": PASSWORD}))
        .send()
        .await
        .unwrap()
}

/// Signs `username` in as a browser does, from `ip`, with `password`.
async fn attempt(
    app: &TestApp,
    client: &reqwest::Client,
    username: &str,
    ip: &str,
    password: &str,
) -> reqwest::Response {
    client
        .post(app.url("/api/auth/login"))
        .header("x-forwarded-for", ip)
        .json(&serde_json::json!({"username": username, "password": password}))
        .send()
        .await
        .unwrap()
}

/// SECURITY.md, with the default configuration (no `FIN_RISK_*`): a sign-in scoring 0.98 or
/// more is refused; from 0.5, a user with an authenticator is asked for a code and one
/// without is let through (`FIN_RISK_NO_FACTOR=allow`), the score and reasons logged.
#[tokio::test]
async fn default_thresholds_challenge_or_refuse_a_far_away_stranger_on_a_new_device() {
    if !geoip_available() {
        return;
    }
    let app = TestApp::spawn_with(&[
        ("FIN_TRUSTED_PROXIES", "127.0.0.1/32"),
        ("FIN_INSECURE_DEV_COOKIES", "true"),
    ])
    .await;
    // A week of sign-ins from home in London, each user in their own browser.
    let users = ["alice", "bob"];
    for name in users {
        app.create_user(name, false).await;
    }
    let homes = [browser(FIREFOX), browser(FIREFOX)];
    for _ in 0..8 {
        for (name, home) in users.iter().zip(&homes) {
            assert_eq!(login_as(&app, home, name, HOME).await.status(), 200);
        }
        app.clock.advance(chrono::Duration::hours(20));
    }
    // alice has an authenticator, bob none.
    let body: serde_json::Value = login_as(&app, &homes[0], "alice", HOME).await.json().await.unwrap();
    enrol_authenticator(&app, body["access_token"].as_str().unwrap()).await;
    // A day later: far away, but not impossibly far for the time.
    app.clock.advance(chrono::Duration::hours(24));

    // A stranger with the right password who got it wrong once first, from across the
    // world on a new device: refused, authenticator or not.
    for (name, ip) in [("alice", "8.8.8.8"), ("bob", "9.9.9.9")] {
        let stranger = browser(IPHONE);
        assert_eq!(attempt(&app, &stranger, name, ip, "Winter2026!").await.status(), 401);
        let response = attempt(&app, &stranger, name, ip, PASSWORD).await;
        let status = response.status();
        let body: serde_json::Value = response.json().await.unwrap();
        assert!(
            status.is_client_error() && body.get("access_token").is_none(),
            "{name}: {status} {body}"
        );
        let refused = &events(&app).await[0];
        assert_eq!(
            (
                refused.event_type.as_str(),
                refused.decision.as_str(),
                refused.username.as_deref()
            ),
            ("login_blocked", "block", Some(name)),
            "{refused:?}"
        );
        assert!(refused.risk_score >= 0.98, "{refused:?}");
    }

    // The same far-away stranger on a new device without the failure: step-up level.
    let stranger = browser(IPHONE);
    let response = login_as(&app, &stranger, "alice", SYDNEY).await;
    let challenged = &events(&app).await[0];
    assert_eq!(response.status(), 401, "{challenged:?}");
    assert_eq!(error_code(response, 401).await, "step_up_required");
    assert_eq!(
        (challenged.event_type.as_str(), challenged.decision.as_str()),
        ("step_up_required", "challenge")
    );
    assert!((0.5..0.98).contains(&challenged.risk_score), "{challenged:?}");
    for reason in ["new_country", "no_device_cookie"] {
        assert!(
            challenged.reasons().iter().any(|r| r == reason),
            "{reason}: {challenged:?}"
        );
    }
    // Without an authenticator the same sign-in is let through, on the record.
    let response = login_as(&app, &browser(IPHONE), "bob", SYDNEY).await;
    assert_eq!(response.status(), 200);
    let let_through = &events(&app).await[0];
    assert_eq!(
        (let_through.event_type.as_str(), let_through.username.as_deref()),
        ("login_succeeded", Some("bob"))
    );
    assert!((0.5..0.98).contains(&let_through.risk_score), "{let_through:?}");
    assert!(
        let_through.reasons().iter().any(|r| r == "new_country"),
        "{let_through:?}"
    );
    app.stop().await;
}

/// London, where the owners sign in; Sydney, half a world away.
const HOME: &str = "81.2.69.142";
const SYDNEY: &str = "1.1.1.1";

/// Enrols and confirms an authenticator for the holder of `access`.
async fn enrol_authenticator(app: &TestApp, access: &str) {
    use server::clock::Clock as _;
    use server::domain::totp;
    let enrolment: serde_json::Value = app
        .client
        .post(app.url("/api/me/totp"))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let secret = totp::base32_decode(enrolment["secret"].as_str().unwrap()).unwrap();
    let code = format!("{:06}", totp::code(&secret, totp::step(app.clock.now())));
    let response = app
        .client
        .post(app.url("/api/me/totp/confirm"))
        .bearer_auth(access)
        .json(&serde_json::json!({"code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}
