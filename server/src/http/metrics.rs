//! `GET /metrics`: Prometheus text exposition (format 0.0.4) of this instance: requests by
//! route group and status class with their latency, the sign-in and refresh outcomes as the
//! API answered them, whether the database is reachable, whether geolocation loaded, and
//! resident memory. Counters live in [`Metrics`], one per app (no global registry), and
//! are bumped by the [`count`] middleware.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{HeaderValue, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;

/// Route groups: few and fixed, so label values stay bounded whatever paths clients send.
const GROUPS: [&str; 8] = [
    "login", "refresh", "step_up", "api", "admin", "page", "static", "health",
];
/// Status classes 1xx..5xx.
const CLASSES: usize = 5;
/// Latency buckets, seconds.
const BUCKETS: [f64; 10] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0];

#[derive(Clone, Default)]
pub struct Metrics {
    inner: Arc<Counters>,
}

#[derive(Default)]
struct Counters {
    /// [group][class]
    requests: [[AtomicU64; CLASSES]; GROUPS.len()],
    /// [group][bucket], cumulative buckets are summed when rendered.
    latency_buckets: [[AtomicU64; BUCKETS.len() + 1]; GROUPS.len()],
    /// [group], microseconds.
    latency_sum_us: [AtomicU64; GROUPS.len()],
}

fn group(path: &str) -> usize {
    match path {
        "/api/auth/login" => 0,
        "/api/auth/refresh" | "/api/auth/resume" => 1,
        "/api/auth/step-up" => 2,
        "/healthz" | "/readyz" | "/metrics" => 7,
        p if p.starts_with("/api/admin") => 4,
        p if p.starts_with("/api/") || p == "/api" => 3,
        p if p.starts_with("/pkg/") || p == "/world-map.svg" || p.starts_with("/.well-known/") => 6,
        _ => 5,
    }
}

/// Counts every request and how long its response head took.
pub async fn count(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let group = group(request.uri().path());
    let started = Instant::now();
    let response = next.run(request).await;
    let elapsed = started.elapsed();
    let counters = &state.metrics.inner;
    let class = (usize::from(response.status().as_u16() / 100)).clamp(1, CLASSES) - 1;
    counters.requests[group][class].fetch_add(1, Ordering::Relaxed);
    let seconds = elapsed.as_secs_f64();
    let bucket = BUCKETS.iter().position(|b| seconds <= *b).unwrap_or(BUCKETS.len());
    counters.latency_buckets[group][bucket].fetch_add(1, Ordering::Relaxed);
    counters.latency_sum_us[group].fetch_add(elapsed.as_micros() as u64, Ordering::Relaxed);
    response
}

pub async fn metrics(State(state): State<AppState>) -> Response {
    let counters = &state.metrics.inner;
    let mut out = String::with_capacity(8 * 1024);
    out.push_str("# HELP fin_http_requests_total Requests answered, by route group and status class.\n");
    out.push_str("# TYPE fin_http_requests_total counter\n");
    for (g, name) in GROUPS.iter().enumerate() {
        for class in 0..CLASSES {
            let _ = writeln!(
                out,
                "fin_http_requests_total{{group=\"{name}\",status=\"{}xx\"}} {}",
                class + 1,
                counters.requests[g][class].load(Ordering::Relaxed)
            );
        }
    }
    out.push_str("# HELP fin_http_request_duration_seconds Time to the response head, by route group.\n");
    out.push_str("# TYPE fin_http_request_duration_seconds histogram\n");
    for (g, name) in GROUPS.iter().enumerate() {
        let mut cumulative = 0;
        for (b, le) in BUCKETS.iter().enumerate() {
            cumulative += counters.latency_buckets[g][b].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "fin_http_request_duration_seconds_bucket{{group=\"{name}\",le=\"{le}\"}} {cumulative}"
            );
        }
        cumulative += counters.latency_buckets[g][BUCKETS.len()].load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "fin_http_request_duration_seconds_bucket{{group=\"{name}\",le=\"+Inf\"}} {cumulative}"
        );
        let sum = counters.latency_sum_us[g].load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "fin_http_request_duration_seconds_sum{{group=\"{name}\"}} {sum}");
        let _ = writeln!(
            out,
            "fin_http_request_duration_seconds_count{{group=\"{name}\"}} {cumulative}"
        );
    }
    let _ = write!(
        out,
        "# HELP fin_database_up Whether the database answered the last request that needed it.\n\
         # TYPE fin_database_up gauge\nfin_database_up {}\n\
         # HELP fin_geolocation_loaded Whether the city geolocation data is loaded.\n\
         # TYPE fin_geolocation_loaded gauge\nfin_geolocation_loaded {}\n",
        u8::from(!state.database.is_down()),
        u8::from(state.geo.has_city_data()),
    );
    if let Some(bytes) = resident_bytes() {
        let _ = write!(
            out,
            "# HELP process_resident_memory_bytes Resident memory size in bytes.\n\
             # TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes {bytes}\n"
        );
    }
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        )],
        out,
    )
        .into_response()
}

fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let kib: u64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()?;
    Some(kib * 1024)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_fall_into_a_fixed_set_of_groups() {
        assert_eq!(GROUPS[group("/api/auth/login")], "login");
        assert_eq!(GROUPS[group("/api/auth/refresh")], "refresh");
        assert_eq!(GROUPS[group("/api/admin/users/7")], "admin");
        assert_eq!(GROUPS[group("/api/me")], "api");
        assert_eq!(GROUPS[group("/pkg/fin_intelli.wasm")], "static");
        assert_eq!(GROUPS[group("/devices")], "page");
        assert_eq!(GROUPS[group("/../../etc/passwd")], "page");
        assert_eq!(GROUPS[group("/metrics")], "health");
    }
}
