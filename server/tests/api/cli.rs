//! The binary itself: first-start admin, `migrate`, `create-user`.

use std::io::{BufRead as _, BufReader, Write as _};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::helpers::TestDb;

pub(crate) fn fin_intelli(db: &TestDb) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_fin-intelli"));
    command
        .env_clear()
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", "warn")
        .env("LEPTOS_OUTPUT_NAME", "fin_intelli");
    command
}

/// Runs `create-user --password-stdin` with `args`, writing `password` to its stdin.
pub(crate) fn create_user(db: &TestDb, args: &[&str], password: &str) -> std::process::Output {
    let mut child = fin_intelli(db)
        .arg("create-user")
        .args(args)
        .arg("--password-stdin")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn create_user_reads_the_password_from_stdin_only() {
    let db = TestDb::new().await;
    let status = fin_intelli(&db).arg("migrate").status().unwrap();
    assert!(status.success());

    let refused = fin_intelli(&db)
        .args(["create-user", "--username", "olga", "--email", "olga@example.com"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!refused.status.success(), "no password on the command line, ever");

    let output = create_user(
        &db,
        &["--username", "olga", "--email", "olga@example.com", "--admin"],
        "a long enough passphrase",
    );
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let logs = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        !logs.contains("a long enough passphrase"),
        "the password is never echoed"
    );

    let store = server::storage::connect(&db.url, 1).await.unwrap();
    let olga = store.find_user_by_login("olga").await.unwrap().expect("created");
    assert!(olga.is_admin);
    assert!(olga.hashed_password.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));

    let duplicate = create_user(
        &db,
        &["--username", "olga", "--email", "o2@example.com"],
        "another passphrase",
    );
    assert!(!duplicate.status.success());
    db.cleanup().await;
}

#[tokio::test]
async fn the_first_start_prints_the_admin_password_once_to_stdout() {
    let db = TestDb::new().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let start = || {
        fin_intelli(&db)
            .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };

    let mut first = start();
    let stdout = BufReader::new(first.stdout.take().unwrap());
    let password = stdout
        .lines()
        .map_while(Result::ok)
        .find_map(|line| line.trim().strip_prefix("password: ").map(str::to_owned))
        .expect("the password is printed");
    assert!(password.len() >= 20);
    wait_until_listening(port);
    first.kill().unwrap();
    let output = first.wait_with_output().unwrap();
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains(&password),
        "not in the logs"
    );

    let mut second = start();
    wait_until_listening(port);
    second.kill().unwrap();
    let output = second.wait_with_output().unwrap();
    assert!(
        !String::from_utf8_lossy(&output.stdout).contains("password:"),
        "shown only once"
    );
    db.cleanup().await;
}

pub(crate) fn wait_until_listening(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "the server did not start listening");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[tokio::test]
async fn sigterm_lets_in_flight_requests_finish_then_exits_cleanly() {
    let db = TestDb::new().await;
    let output = create_user(
        &db,
        &["--username", "tess", "--email", "tess@example.com"],
        "a long enough passphrase",
    );
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = fin_intelli(&db)
        .env("LEPTOS_SITE_ADDR", format!("127.0.0.1:{port}"))
        .env("FIN_BOOTSTRAP_ADMIN", "false")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until_listening(port);

    // A sign-in held up by the database is in flight when the signal arrives.
    let lock = db.hold_write_lock().await;
    let in_flight = tokio::spawn(async move {
        reqwest::Client::new()
            .post(format!("http://127.0.0.1:{port}/api/auth/login"))
            .json(&serde_json::json!({"username": "tess", "password": "a long enough passphrase"}))
            .send()
            .await
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!in_flight.is_finished(), "the sign-in waits for the lock");
    let signalled = Command::new("kill")
        .args(["-TERM", &server.id().to_string()])
        .status()
        .unwrap();
    assert!(signalled.success());
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        server.try_wait().unwrap().is_none(),
        "the server waits for the request it is answering"
    );
    lock.release().await;

    let answered = in_flight.await.unwrap().expect("answered, not dropped");
    assert_eq!(answered.status(), 200);
    let exited = tokio::task::spawn_blocking(move || server.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(exited.status.success(), "{:?}", exited.status);
    assert!(
        String::from_utf8_lossy(&exited.stderr).contains("finishing in-flight requests"),
        "{}",
        String::from_utf8_lossy(&exited.stderr)
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "no longer listening"
    );
    db.cleanup().await;
}
