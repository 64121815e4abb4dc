//! Load check of `GET /api/admin/stream`: many subscribers on one instance, and how long a
//! sign-in takes to reach the last of them. Run by `make stream-load`, which starts a
//! release server on a fresh SQLite database and creates the two accounts used here.
//!
//! ```text
//! stream_load <base URL> <server pid> [subscribers] [sign-ins]
//! ```
//!
//! Prints, for the sign-ins made while every subscriber listens: the delay from the start
//! of each sign-in request to its event reaching the last subscriber (p50, p99, max), the
//! sign-in's own latency, and the server's resident memory before, during and after.

// A report for a person at a terminal: printing is the point.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::HashMap;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

const ADMIN: (&str, &str) = ("loadadmin", "load check admin passphrase");
const WALKER: (&str, &str) = ("walker", "load check member passphrase");

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let base = args
        .get(1)
        .ok_or("usage: stream_load <base URL> <server pid> [subscribers] [sign-ins]")?
        .clone();
    let pid: u32 = args
        .get(2)
        .ok_or("the server's pid is needed to read its memory")?
        .parse()?;
    let subscribers: usize = args.get(3).map_or(Ok(1000), |s| s.parse())?;
    let sign_ins: usize = args.get(4).map_or(Ok(30), |s| s.parse())?;

    let client = reqwest::Client::builder().pool_max_idle_per_host(0).build()?;
    let token = sign_in(&client, &base, ADMIN).await?.1;
    let idle_rss = rss_kib(pid)?;

    // Subscribe everyone; each reports (event id, arrival) and its first byte.
    let (arrivals, mut arrived) = mpsc::unbounded_channel::<(usize, i64, Instant)>();
    let (ready_tx, mut ready) = mpsc::unbounded_channel::<()>();
    let started = Instant::now();
    for n in 0..subscribers {
        let (client, base, token, arrivals, ready_tx) = (
            client.clone(),
            base.clone(),
            token.clone(),
            arrivals.clone(),
            ready_tx.clone(),
        );
        tokio::spawn(async move {
            if let Err(e) = subscribe(n, &client, &base, &token, arrivals, ready_tx).await {
                eprintln!("subscriber {n}: {e}");
            }
        });
    }
    drop((arrivals, ready_tx));
    for _ in 0..subscribers {
        tokio::time::timeout(Duration::from_secs(60), ready.recv())
            .await
            .map_err(|_| "subscribers did not all connect within 60 s")?;
    }
    let connect_time = started.elapsed();
    let subscribed_rss = rss_kib(pid)?;

    // Sign-ins, one every 200 ms, each timed.
    let mut starts = Vec::with_capacity(sign_ins);
    let mut ends = Vec::with_capacity(sign_ins);
    let mut latencies = Vec::with_capacity(sign_ins);
    for _ in 0..sign_ins {
        let start = Instant::now();
        sign_in(&client, &base, WALKER).await?;
        latencies.push(start.elapsed());
        starts.push(start);
        ends.push(Instant::now());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let peak_rss = rss_kib(pid)?;

    // Collect until every subscriber has every sign-in, or 10 s of silence.
    let mut by_event: HashMap<i64, Vec<Instant>> = HashMap::new();
    while let Ok(Some((_, id, at))) = tokio::time::timeout(Duration::from_secs(10), arrived.recv()).await {
        let seen = by_event.entry(id).or_default();
        seen.push(at);
        if by_event.len() == sign_ins && by_event.values().all(|v| v.len() == subscribers) {
            break;
        }
    }
    let mut ids: Vec<i64> = by_event.keys().copied().collect();
    ids.sort_unstable();
    if ids.len() != sign_ins {
        return Err(format!("{} events arrived for {sign_ins} sign-ins", ids.len()).into());
    }
    let mut to_last = Vec::new();
    let mut committed_to_last = Vec::new();
    let mut every = Vec::new();
    let mut missing = 0;
    for ((id, start), end) in ids.iter().zip(&starts).zip(&ends) {
        let times = &by_event[id];
        missing += subscribers - times.len();
        every.extend(times.iter().map(|t| t.duration_since(*start)));
        let last = times.iter().max().copied().unwrap_or(*start);
        to_last.push(last.duration_since(*start));
        // The event is committed before the response leaves: from the response on, the
        // delay is the stream's own. A delivery that beat the response to this client is
        // a negative delay, kept as such (not counted as zero).
        let signed_ms = if last >= *end {
            last.duration_since(*end).as_secs_f64() * 1000.0
        } else {
            -(end.duration_since(last).as_secs_f64() * 1000.0)
        };
        committed_to_last.push(signed_ms);
    }

    println!(
        "subscribers: {subscribers} (all connected in {:.2} s)",
        connect_time.as_secs_f64()
    );
    println!("sign-ins: {sign_ins}, deliveries missing: {missing}");
    println!(
        "sign-in request latency: p50 {} p99 {}",
        ms(&mut latencies, 0.50),
        ms(&mut latencies, 0.99)
    );
    println!(
        "sign-in start -> last subscriber: p50 {} p99 {} max {}",
        ms(&mut to_last, 0.50),
        ms(&mut to_last, 0.99),
        ms(&mut to_last, 1.0)
    );
    println!(
        "sign-in response -> last subscriber: p50 {} p99 {} max {}",
        signed_ms(&mut committed_to_last, 0.50),
        signed_ms(&mut committed_to_last, 0.99),
        signed_ms(&mut committed_to_last, 1.0)
    );
    println!(
        "sign-in start -> any subscriber: p50 {} p99 {}",
        ms(&mut every, 0.50),
        ms(&mut every, 0.99)
    );
    println!(
        "server memory (RSS): idle {} MiB, {subscribers} subscribers {} MiB, after the sign-ins {} MiB",
        idle_rss / 1024,
        subscribed_rss / 1024,
        peak_rss / 1024
    );
    Ok(())
}

async fn sign_in(
    client: &reqwest::Client,
    base: &str,
    (username, password): (&str, &str),
) -> Result<(u16, String), Box<dyn std::error::Error>> {
    let response = client
        .post(format!("{base}/api/auth/login"))
        .json(&serde_json::json!({"username": username, "password": password, "refresh_delivery": "body"}))
        .send()
        .await?;
    let status = response.status().as_u16();
    let body: serde_json::Value = response.json().await?;
    let token = body["access_token"]
        .as_str()
        .ok_or_else(|| format!("sign-in failed ({status}): {body}"))?;
    Ok((status, token.to_owned()))
}

async fn subscribe(
    n: usize,
    client: &reqwest::Client,
    base: &str,
    token: &str,
    arrivals: mpsc::UnboundedSender<(usize, i64, Instant)>,
    ready: mpsc::UnboundedSender<()>,
) -> Result<(), Box<dyn std::error::Error + Send + Sync>> {
    let mut response = client
        .get(format!("{base}/api/admin/stream"))
        .bearer_auth(token)
        .send()
        .await?;
    if response.status() != 200 {
        return Err(format!("status {}", response.status()).into());
    }
    let mut buffer = String::new();
    let mut greeted = false;
    while let Some(chunk) = response.chunk().await? {
        let at = Instant::now();
        if !greeted {
            greeted = true;
            let _ = ready.send(());
        }
        buffer.push_str(std::str::from_utf8(&chunk)?);
        while let Some(end) = buffer.find("\n\n") {
            let frame: String = buffer.drain(..end + 2).collect();
            if frame.contains("event: activity")
                && let Some(id) = frame
                    .lines()
                    .find_map(|l| l.strip_prefix("id: "))
                    .and_then(|v| v.trim().parse().ok())
            {
                let _ = arrivals.send((n, id, at));
            }
        }
    }
    Ok(())
}

/// The server's resident memory, from /proc.
fn rss_kib(pid: u32) -> Result<u64, Box<dyn std::error::Error>> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| "no VmRSS".into())
}

/// A quantile of signed delays in milliseconds.
fn signed_ms(samples: &mut [f64], quantile: f64) -> String {
    if samples.is_empty() {
        return "n/a".into();
    }
    samples.sort_unstable_by(f64::total_cmp);
    let i = ((samples.len() - 1) as f64 * quantile).round() as usize;
    format!("{:.1} ms", samples[i])
}

fn ms(samples: &mut [Duration], quantile: f64) -> String {
    if samples.is_empty() {
        return "n/a".into();
    }
    samples.sort_unstable();
    let i = ((samples.len() - 1) as f64 * quantile).round() as usize;
    format!("{:.1} ms", samples[i].as_secs_f64() * 1000.0)
}
