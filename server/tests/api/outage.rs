//! A PostgreSQL outage in the middle of a load. The database is a private cluster this test
//! starts itself (initdb on a free port), so it can be stopped hard and started again
//! without touching the shared server. Callers get prompt 503 JSON while it is down, the app
//! comes back by itself once it is up, and afterwards the database shows that nothing
//! answered 200 was lost: every sign-in has its activity row and every spent refresh token
//! has its successor.
//!
//! Runs in the PostgreSQL pass (`FIN_TEST_DB=postgres`); needs PostgreSQL's server binaries
//! (`FIN_TEST_PG_BIN`, else the newest `/usr/lib/postgresql/*/bin`). `make test` sets
//! `FIN_TEST_REQUIRE_PG_CLUSTER`, so there a missing binary fails instead of skipping.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sqlx::Connection as _;

use crate::helpers::{PASSWORD, TestApp, TestDb};

/// A PostgreSQL cluster of the test's own, stopped and removed on drop.
struct Cluster(Control);

/// How to drive the cluster; cheap to clone into a blocking task.
#[derive(Clone)]
struct Control {
    bin: PathBuf,
    dir: PathBuf,
    port: u16,
    /// initdb and postgres refuse to run as root: then they run as the `postgres` user.
    run_as_postgres: bool,
}

impl Cluster {
    fn server_binaries() -> Option<PathBuf> {
        if let Some(bin) = std::env::var_os("FIN_TEST_PG_BIN") {
            return Some(PathBuf::from(bin));
        }
        let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|entry| entry.ok().map(|e| e.path().join("bin")))
            .filter(|bin| bin.join("initdb").is_file())
            .collect();
        versions.sort_by_key(|bin| {
            let version = bin
                .parent()
                .and_then(Path::file_name)
                .and_then(|v| v.to_str())
                .unwrap_or("0");
            version.parse::<u32>().unwrap_or(0)
        });
        versions.pop()
    }

    fn start() -> Option<Self> {
        let Some(bin) = Self::server_binaries() else {
            assert!(
                std::env::var_os("FIN_TEST_REQUIRE_PG_CLUSTER").is_none(),
                "PostgreSQL server binaries not found: set FIN_TEST_PG_BIN"
            );
            eprintln!("SKIPPED: no PostgreSQL server binaries for a private cluster");
            return None;
        };
        let uid = Command::new("id").arg("-u").output().expect("id -u");
        let run_as_postgres = String::from_utf8_lossy(&uid.stdout).trim() == "0";
        let dir = std::env::temp_dir().join(format!("fin-pg-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).unwrap();
        if run_as_postgres {
            assert!(
                Command::new("chown")
                    .arg("postgres:")
                    .arg(&dir)
                    .status()
                    .unwrap()
                    .success()
            );
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let control = Control {
            bin,
            dir,
            port,
            run_as_postgres,
        };
        let data = control.data_dir();
        control.run(
            "initdb",
            &["-D", &data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"],
        );
        control.start_server();
        Some(Self(control))
    }
}

impl Control {
    fn data_dir(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn command(&self, tool: &str, args: &[&str]) -> Command {
        let program = self.bin.join(tool);
        let mut command = if self.run_as_postgres {
            let mut runuser = Command::new("runuser");
            runuser.args(["-u", "postgres", "--"]).arg(program);
            runuser
        } else {
            Command::new(program)
        };
        command.args(args);
        command
    }

    fn run(&self, tool: &str, args: &[&str]) {
        let output = self
            .command(tool, args)
            .output()
            .unwrap_or_else(|e| panic!("{tool}: {e}"));
        assert!(
            output.status.success(),
            "{tool} {args:?} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }

    fn start_server(&self) {
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=50 -c shared_buffers=16MB",
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("server.log").display().to_string();
        self.run(
            "pg_ctl",
            &["-D", &self.data_dir(), "-o", &options, "-l", &log, "-w", "start"],
        );
    }

    /// The hardest stop there is: no shutdown checkpoint, open connections cut.
    fn crash(&self) {
        self.run("pg_ctl", &["-D", &self.data_dir(), "-m", "immediate", "-w", "stop"]);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = self
            .0
            .command("pg_ctl", &["-D", &self.0.data_dir(), "-m", "immediate", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.0.dir);
    }
}

#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Op {
    Login,
    Refresh,
    Me,
}

/// One answered request, as the load saw it.
struct Answer {
    op: Op,
    worker: usize,
    sent: Instant,
    took: Duration,
    status: u16,
    code: Option<String>,
}

struct Tokens {
    access: String,
    refresh: String,
}

async fn tokens_from(response: reqwest::Response) -> Tokens {
    let body: Value = response.json().await.expect("a 200 carries JSON");
    Tokens {
        access: body["access_token"].as_str().expect("access_token").to_owned(),
        refresh: body["refresh_token"].as_str().expect("refresh_token").to_owned(),
    }
}

/// Sends one request and records how it was answered; the JSON of a 200 is handed back.
async fn send(
    log: &Mutex<Vec<Answer>>,
    op: Op,
    worker: usize,
    request: reqwest::RequestBuilder,
) -> Option<reqwest::Response> {
    let sent = Instant::now();
    let response = request.send().await.expect("every request is answered");
    let took = sent.elapsed();
    let status = response.status().as_u16();
    let (code, ok) = if status == 200 {
        (None, Some(response))
    } else {
        let content_type = response.headers().get("content-type").cloned();
        assert_eq!(
            content_type.as_ref().and_then(|v| v.to_str().ok()),
            Some("application/json"),
            "{op:?} answered {status} without JSON"
        );
        let body: Value = response.json().await.expect("JSON error body");
        (body["error"].as_str().map(str::to_owned), None)
    };
    log.lock().unwrap().push(Answer {
        op,
        worker,
        sent,
        took,
        status,
        code,
    });
    ok
}

/// One client: signs in, then refreshes and reads /api/me in turn, holding on to the latest
/// tokens it was given; after a failed rotation it presents the same token again.
async fn worker(app: Arc<TestApp>, worker: usize, until: Instant, log: Arc<Mutex<Vec<Answer>>>) -> Option<Tokens> {
    let username = format!("load{worker}");
    let mut tokens: Option<Tokens> = None;
    let mut turn = 0u64;
    while Instant::now() < until {
        turn += 1;
        match &tokens {
            None => {
                let request = app
                    .client
                    .post(app.url("/api/auth/login"))
                    .json(&json!({"username": username, "password": PASSWORD, "refresh_delivery": "body"}));
                if let Some(response) = send(&log, Op::Login, worker, request).await {
                    tokens = Some(tokens_from(response).await);
                }
            }
            Some(held) if turn.is_multiple_of(2) => {
                let request = app
                    .client
                    .post(app.url("/api/auth/refresh"))
                    .json(&json!({ "refresh_token": held.refresh }));
                if let Some(response) = send(&log, Op::Refresh, worker, request).await {
                    tokens = Some(tokens_from(response).await);
                }
            }
            Some(held) => {
                let request = app.client.get(app.url("/api/me")).bearer_auth(&held.access);
                send(&log, Op::Me, worker, request).await;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokens
}

#[tokio::test]
async fn a_database_outage_under_load_fails_fast_recovers_and_loses_nothing() {
    if std::env::var("FIN_TEST_DB").as_deref() != Ok("postgres") {
        eprintln!("SKIPPED: the outage test runs in the PostgreSQL pass");
        return;
    }
    let Some(cluster) = Cluster::start() else { return };
    let app =
        Arc::new(TestApp::spawn_on(TestDb::external(cluster.0.url()), &[("FIN_REQUEST_TIMEOUT_SECS", "5")]).await);
    const WORKERS: usize = 8;
    let mut user_ids = Vec::new();
    for i in 0..WORKERS {
        user_ids.push(app.create_user(&format!("load{i}"), false).await);
    }

    // Load for 2 s, the database down for 4 s, then load on until the app has been healthy
    // for a while.
    let log = Arc::new(Mutex::new(Vec::new()));
    let start = Instant::now();
    let until = start + Duration::from_secs(14);
    let workers: Vec<_> = (0..WORKERS)
        .map(|i| tokio::spawn(worker(app.clone(), i, until, log.clone())))
        .collect();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let down = Instant::now();
    let control = cluster.0.clone();
    tokio::task::spawn_blocking(move || control.crash()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let restart = Instant::now();
    let control = cluster.0.clone();
    tokio::task::spawn_blocking(move || control.start_server())
        .await
        .unwrap();
    let up = Instant::now();
    let mut last_tokens = Vec::new();
    for handle in workers {
        last_tokens.push(handle.await.unwrap());
    }
    let answers = std::mem::take(&mut *log.lock().unwrap());

    // While the database was down: every answer prompt, and a 503 unless it needed no
    // database at all.
    let during: Vec<&Answer> = answers
        .iter()
        .filter(|a| a.sent >= down + Duration::from_millis(200) && a.sent + a.took <= restart)
        .collect();
    assert!(!during.is_empty(), "requests were made during the outage");
    let mut outage_statuses: HashMap<u16, usize> = HashMap::new();
    for answer in &during {
        *outage_statuses.entry(answer.status).or_default() += 1;
        assert!(
            answer.status == 503 && answer.code.as_deref() == Some("service_unavailable")
                || answer.status == 200 && answer.op == Op::Me,
            "{:?} during the outage: {} {:?}",
            answer.op,
            answer.status,
            answer.code
        );
    }
    let slowest = answers.iter().map(|a| a.took).max().unwrap();
    assert!(slowest < Duration::from_secs(6), "an answer took {slowest:?}");
    assert!(
        during.iter().any(|a| a.op != Op::Me && a.status == 503),
        "writes failed while the database was down: {:?}",
        answers
            .iter()
            .map(|a| (a.op, a.status, a.sent - start, a.took))
            .filter(|(_, _, sent, _)| *sent > down - start - Duration::from_millis(500))
            .collect::<Vec<_>>()
    );

    // After: the first request sent once the database was back and answered 200 that needed
    // it (a sign-in or rotation), within a few seconds.
    let recovered = answers
        .iter()
        .filter(|a| a.sent >= up && a.status == 200 && a.op != Op::Me)
        .map(|a| a.sent + a.took)
        .min()
        .expect("the app recovered");
    let time_to_recover = recovered - up;
    assert!(
        time_to_recover < Duration::from_secs(5),
        "recovered after {time_to_recover:?}"
    );
    let after_recovery: Vec<&Answer> = answers.iter().filter(|a| a.sent >= recovered).collect();
    assert!(
        after_recovery.iter().all(|a| a.status == 200),
        "every request after recovery succeeds: {:?}",
        after_recovery
            .iter()
            .filter(|a| a.status != 200)
            .map(|a| (a.op, a.status, a.code.clone()))
            .collect::<Vec<_>>()
    );

    // Nothing answered 200 was lost.
    let mut conn = sqlx::PgConnection::connect(&cluster.0.url()).await.unwrap();
    let mut rows_checked = 0i64;
    for (i, user_id) in user_ids.iter().enumerate() {
        let answered = |op: Op| {
            answers
                .iter()
                .filter(|a| a.worker == i && a.op == op && a.status == 200)
                .count() as i64
        };
        let logged = |event: &'static str| {
            sqlx::query_scalar::<_, i64>(
                "select count(*) from user_activity_logs where user_id = $1 and event_type = $2",
            )
            .bind(user_id)
            .bind(event)
        };
        let sign_ins = logged("login_succeeded").fetch_one(&mut conn).await.unwrap();
        let refreshes = logged("refresh").fetch_one(&mut conn).await.unwrap();
        assert!(sign_ins >= answered(Op::Login), "load{i}: {sign_ins} sign-in rows");
        assert!(refreshes >= answered(Op::Refresh), "load{i}: {refreshes} refresh rows");
        rows_checked += sign_ins + refreshes;
    }
    let spent: i64 = sqlx::query_scalar("select count(*) from refresh_tokens where spent_at is not null")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    let orphaned: i64 = sqlx::query_scalar(
        "select count(*) from refresh_tokens t where t.spent_at is not null and not exists \
         (select 1 from refresh_tokens s where s.token_hash = t.successor_hash)",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(orphaned, 0, "spent refresh tokens without a successor");
    rows_checked += spent;

    // Every client's latest refresh token still rotates: no chain was broken.
    for tokens in last_tokens.iter().flatten() {
        let response = app
            .client
            .post(app.url("/api/auth/refresh"))
            .json(&json!({ "refresh_token": tokens.refresh }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }

    let mut outage_times: Vec<Duration> = during.iter().map(|a| a.took).collect();
    outage_times.sort();
    eprintln!(
        "outage: {} requests in all, {} during the outage {:?}, answered in {:?} (median); slowest answer {:?}; \
         recovered {:?} after the database was up (starting it took {:?}); {} rows checked ({} spent \
         refresh tokens)",
        answers.len(),
        during.len(),
        outage_statuses,
        outage_times[outage_times.len() / 2],
        slowest,
        time_to_recover,
        up - restart,
        rows_checked,
        spent
    );
    drop(conn);
    match Arc::try_unwrap(app) {
        Ok(app) => app.stop().await,
        Err(_) => panic!("workers still hold the app"),
    }
    drop(cluster);
}
