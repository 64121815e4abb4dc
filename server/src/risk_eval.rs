//! `fin-intelli risk-eval`: replays a labeled corpus (../shared/risk/README.md) through the
//! real risk engine and the real geolocation, in order, with the corpus's timestamps as the
//! clock, and scores the result per attack type.
//!
//! The store is a throwaway in memory: profiles, population counts, session baselines and
//! the per-address failure window, exactly what the server keeps in its database. Labels
//! are read only to score; the replay decides what to learn the way the server does (an
//! accepted event is learned unless the engine would have blocked it).

use std::collections::{HashMap, HashSet, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::IpAddr;
use std::path::Path;
use std::time::Instant;

use chrono::{DateTime, Utc};

use crate::domain::device::Device;
use crate::domain::geo::Geolocator;
use crate::domain::risk::{
    self, ACCOUNT_FAILURE_WINDOW, FAILURE_WINDOW, GlobalStats, Observation, Response, RiskThresholds, SessionBaseline,
    Signals, UserProfile,
};

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("cannot read the corpus: {0}")]
    Io(#[from] std::io::Error),
    #[error("corpus line {line}: {problem}")]
    Format { line: usize, problem: String },
}

/// One corpus row.
#[derive(Debug, Clone)]
pub struct Row {
    pub at: DateTime<Utc>,
    pub refresh: bool,
    pub user: String,
    pub session: String,
    pub ip: IpAddr,
    pub user_agent: String,
    pub device_id: Option<String>,
    pub success: bool,
    pub label: Option<Label>,
}

/// The label columns, when the corpus has them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Label {
    pub attack_ip: bool,
    pub takeover: bool,
    pub attack_type: String,
}

/// Reads a corpus (`.csv` or `.csv.gz`).
pub fn read_corpus(path: &Path) -> Result<Vec<Row>, EvalError> {
    let file = std::fs::File::open(path)?;
    let reader: Box<dyn Read> = if path.extension().is_some_and(|e| e == "gz") {
        Box::new(flate2::read::GzDecoder::new(file))
    } else {
        Box::new(file)
    };
    parse_corpus(BufReader::new(reader))
}

pub fn parse_corpus(reader: impl BufRead) -> Result<Vec<Row>, EvalError> {
    let mut lines = reader.lines();
    let header = lines.next().transpose()?.unwrap_or_default();
    let columns = split_csv(&header);
    let index = |name: &str| columns.iter().position(|c| c == name);
    let bad = |line: usize, problem: String| EvalError::Format { line, problem };
    let need = |name: &str| index(name).ok_or_else(|| bad(1, format!("no `{name}` column")));
    let (ts, event, user, session, ip, ua, device, success) = (
        need("ts")?,
        need("event")?,
        need("user")?,
        need("session")?,
        need("ip")?,
        need("user_agent")?,
        need("device_id")?,
        need("success")?,
    );
    let labels = (
        index("is_attack_ip"),
        index("is_account_takeover"),
        index("attack_type"),
    );
    let mut rows = Vec::new();
    for (i, line) in lines.enumerate() {
        let line = line?;
        let number = i + 2;
        if line.trim().is_empty() {
            continue;
        }
        let fields = split_csv(&line);
        let field = |at: usize| fields.get(at).map(String::as_str).unwrap_or("");
        let at = DateTime::parse_from_rfc3339(field(ts))
            .map_err(|_| bad(number, format!("bad time {:?}", field(ts))))?
            .with_timezone(&Utc);
        let refresh = match field(event) {
            "login" => false,
            "refresh" => true,
            other => return Err(bad(number, format!("unknown event {other:?}"))),
        };
        let label = match labels {
            (Some(a), Some(t), Some(k)) => Some(Label {
                attack_ip: field(a) == "1",
                takeover: field(t) == "1",
                attack_type: field(k).to_owned(),
            }),
            _ => None,
        };
        rows.push(Row {
            at,
            refresh,
            user: field(user).to_owned(),
            session: field(session).to_owned(),
            ip: field(ip)
                .parse()
                .map_err(|_| bad(number, format!("bad address {:?}", field(ip))))?,
            user_agent: field(ua).to_owned(),
            device_id: Some(field(device).to_owned()).filter(|d| !d.is_empty()),
            success: field(success) == "1",
            label,
        });
    }
    Ok(rows)
}

/// RFC 4180 fields of one line.
fn split_csv(line: &str) -> Vec<String> {
    let mut fields = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => fields.push(std::mem::take(&mut field)),
            (c, _) => field.push(c),
        }
    }
    fields.push(field);
    fields
}

/// The replay's in-memory store.
#[derive(Default)]
struct Memory {
    profiles: HashMap<String, UserProfile>,
    global: GlobalStats,
    sessions: HashMap<String, SessionBaseline>,
    failures: HashMap<IpAddr, VecDeque<(DateTime<Utc>, String)>>,
}

impl Memory {
    /// Other accounts that failed from `ip` within the window, and this account's own
    /// recent failures from it.
    fn signals(&mut self, ip: IpAddr, user: &str, now: DateTime<Utc>) -> Signals {
        let Some(window) = self.failures.get_mut(&ip) else {
            return Signals::default();
        };
        while window.front().is_some_and(|(at, _)| now - *at > FAILURE_WINDOW) {
            window.pop_front();
        }
        let others: HashSet<&str> = window.iter().map(|(_, u)| u.as_str()).filter(|u| *u != user).collect();
        let own = window
            .iter()
            .filter(|(at, u)| u == user && now - *at <= ACCOUNT_FAILURE_WINDOW)
            .count();
        Signals {
            address_failures: others.len() as u32,
            account_failures: own as u32,
        }
    }
}

/// Replays every row in order; returns each row's score.
pub fn replay(rows: &[Row], geo: &Geolocator, thresholds: RiskThresholds) -> Vec<f64> {
    replay_explaining(rows, geo, thresholds, &[], &mut std::io::sink())
}

/// [`replay`], printing the full term breakdown of the rows in `explain`.
pub fn replay_explaining(
    rows: &[Row],
    geo: &Geolocator,
    thresholds: RiskThresholds,
    explain: &[usize],
    out: &mut impl Write,
) -> Vec<f64> {
    let mut memory = Memory::default();
    let mut scores = Vec::with_capacity(rows.len());
    for (index, row) in rows.iter().enumerate() {
        let place = geo.locate(row.ip);
        let device = Device::parse(&row.user_agent);
        let obs = Observation {
            at: row.at,
            ip: row.ip,
            place: &place,
            user_agent: &row.user_agent,
            device: &device,
            device_cookie: row.device_id.as_deref(),
        };
        let score = if row.refresh {
            let profile = memory.profiles.entry(row.user.clone()).or_default();
            match memory.sessions.get_mut(&row.session) {
                Some(session) => {
                    let assessment =
                        risk::score_refresh(profile, &memory.global, session, &obs, risk::DeviceKeyProof::Unbound);
                    if explain.contains(&index) {
                        let _ = writeln!(out, "row {index}: {row:?}\n  {place:?}\n  {assessment:?}");
                    }
                    if row.success && thresholds.respond(assessment.score) != Response::Block {
                        risk::learn_refresh(profile, &mut memory.global, session, &obs);
                    }
                    assessment.score
                }
                // A refresh of a session the replay never saw open: nothing to compare with.
                None => 0.0,
            }
        } else {
            let signals = memory.signals(row.ip, &row.user, row.at);
            let profile = memory.profiles.entry(row.user.clone()).or_default();
            let assessment = risk::score_login(profile, &memory.global, &obs, signals);
            if explain.contains(&index) {
                let _ = writeln!(
                    out,
                    "row {index}: {row:?}\n  {place:?}\n  {signals:?}\n  logins before: {:.1}\n  {assessment:?}",
                    profile.logins
                );
            }
            if row.success {
                if thresholds.respond(assessment.score) != Response::Block {
                    risk::learn_login(profile, &mut memory.global, &obs, signals);
                    memory.sessions.insert(row.session.clone(), SessionBaseline::open(&obs));
                }
            } else {
                memory
                    .failures
                    .entry(row.ip)
                    .or_default()
                    .push_back((row.at, row.user.clone()));
            }
            assessment.score
        };
        scores.push(score);
    }
    scores
}

/// One attack type's figures.
#[derive(Debug, Clone, PartialEq)]
pub struct AttackReport {
    pub attack_type: String,
    pub takeovers: usize,
    pub auc: f64,
    pub tpr_at_1pct_fpr: f64,
    /// Logins only: the median user's share of legitimate logins challenged when the
    /// threshold catches 99% of this type's takeovers.
    pub challenge_rate: Option<f64>,
}

/// Scores a replay per attack type, as ../shared/risk/README.md defines it.
pub fn evaluate(rows: &[Row], scores: &[f64]) -> Vec<AttackReport> {
    let legit = |refresh: bool| -> Vec<(usize, f64)> {
        rows.iter()
            .zip(scores)
            .enumerate()
            .filter(|(_, (r, _))| r.refresh == refresh && r.success && r.label.as_ref().is_some_and(|l| !l.attack_ip))
            .map(|(i, (_, s))| (i, *s))
            .collect()
    };
    let (legit_logins, legit_refreshes) = (legit(false), legit(true));
    let mut types: Vec<String> = rows
        .iter()
        .filter_map(|r| r.label.as_ref())
        .filter(|l| l.takeover && !l.attack_type.is_empty())
        .map(|l| l.attack_type.clone())
        .collect::<HashSet<_>>()
        .into_iter()
        .collect();
    types.sort();
    let mut reports = Vec::new();
    for attack_type in types {
        // Refreshes count as attacks of their own only for stolen refresh tokens.
        let refresh = attack_type == "stolen_refresh";
        let positives: Vec<f64> = rows
            .iter()
            .zip(scores)
            .filter(|(r, _)| {
                r.refresh == refresh
                    && r.label
                        .as_ref()
                        .is_some_and(|l| l.takeover && l.attack_type == attack_type)
            })
            .map(|(_, s)| *s)
            .collect();
        let negatives: Vec<f64> = if refresh { &legit_refreshes } else { &legit_logins }
            .iter()
            .map(|(_, s)| *s)
            .collect();
        if positives.is_empty() || negatives.is_empty() {
            continue;
        }
        let challenge_rate = (!refresh).then(|| challenge_rate(rows, &legit_logins, &positives));
        reports.push(AttackReport {
            takeovers: positives.len(),
            auc: auc(&positives, &negatives),
            tpr_at_1pct_fpr: tpr_at_fpr(&positives, &negatives, 0.01),
            challenge_rate,
            attack_type,
        });
    }
    reports
}

/// The probability that a random positive outscores a random negative (ties count half).
pub fn auc(positives: &[f64], negatives: &[f64]) -> f64 {
    let mut negatives = negatives.to_vec();
    negatives.sort_by(f64::total_cmp);
    let mut wins = 0.0;
    for p in positives {
        let below = negatives.partition_point(|n| n < p);
        let not_above = negatives.partition_point(|n| n <= p);
        wins += below as f64 + 0.5 * (not_above - below) as f64;
    }
    wins / (positives.len() as f64 * negatives.len() as f64)
}

/// The share of positives scored strictly above the (1 - fpr) quantile of negatives.
pub fn tpr_at_fpr(positives: &[f64], negatives: &[f64], fpr: f64) -> f64 {
    let mut negatives = negatives.to_vec();
    negatives.sort_by(f64::total_cmp);
    let index = (((1.0 - fpr) * negatives.len() as f64).ceil() as usize).clamp(1, negatives.len()) - 1;
    let threshold = negatives[index];
    positives.iter().filter(|p| **p > threshold).count() as f64 / positives.len() as f64
}

fn challenge_rate(rows: &[Row], legit_logins: &[(usize, f64)], positives: &[f64]) -> f64 {
    let mut sorted = positives.to_vec();
    sorted.sort_by(f64::total_cmp);
    // The highest threshold that still catches 99% of the takeovers.
    let threshold = sorted[((0.01 * sorted.len() as f64).floor() as usize).min(sorted.len() - 1)];
    let mut per_user: HashMap<&str, (usize, usize)> = HashMap::new();
    for (i, score) in legit_logins {
        let entry = per_user.entry(rows[*i].user.as_str()).or_default();
        entry.0 += 1;
        if *score >= threshold {
            entry.1 += 1;
        }
    }
    let mut shares: Vec<f64> = per_user
        .values()
        .filter(|(n, _)| *n >= 10)
        .map(|(n, challenged)| *challenged as f64 / *n as f64)
        .collect();
    shares.sort_by(f64::total_cmp);
    match shares.len() {
        0 => 0.0,
        n if n % 2 == 1 => shares[n / 2],
        n => (shares[n / 2 - 1] + shares[n / 2]) / 2.0,
    }
}

/// Runs the whole evaluation and prints the report.
pub fn run(
    corpus: &Path,
    scores_out: Option<&Path>,
    explain: &[usize],
    geo: &Geolocator,
    out: &mut impl Write,
) -> Result<(), EvalError> {
    let rows = read_corpus(corpus)?;
    let started = Instant::now();
    let scores = replay_explaining(&rows, geo, RiskThresholds::default(), explain, out);
    let elapsed = started.elapsed().as_secs_f64();
    if let Some(path) = scores_out {
        let mut file = std::io::BufWriter::new(std::fs::File::create(path)?);
        writeln!(file, "row,score")?;
        for (i, score) in scores.iter().enumerate() {
            writeln!(file, "{i},{score}")?;
        }
        file.flush()?;
    }
    writeln!(
        out,
        "risk-eval: {} events replayed in {:.2} s on one core: {:.0} events/s",
        rows.len(),
        elapsed,
        rows.len() as f64 / elapsed.max(1e-9)
    )?;
    let reports = evaluate(&rows, &scores);
    if reports.is_empty() {
        writeln!(out, "no labels in this corpus: scores only")?;
        return Ok(());
    }
    writeln!(
        out,
        "{:<16} {:>9} {:>8} {:>11} {:>20}",
        "attack type", "takeovers", "AUC", "TPR@1%FPR", "challenge@TPR0.99"
    )?;
    for r in reports {
        let challenge = r.challenge_rate.map_or_else(|| "-".to_owned(), |c| format!("{c:.3}"));
        writeln!(
            out,
            "{:<16} {:>9} {:>8.4} {:>11.3} {:>20}",
            r.attack_type, r.takeovers, r.auc, r.tpr_at_1pct_fpr, challenge
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_with_quotes_and_commas() {
        assert_eq!(split_csv(r#"a,"b, c",,"say ""hi""""#), ["a", "b, c", "", "say \"hi\""]);
    }

    #[test]
    fn metrics_match_their_definitions() {
        assert_eq!(auc(&[3.0, 4.0], &[1.0, 2.0]), 1.0);
        assert_eq!(auc(&[1.0], &[1.0]), 0.5);
        let negatives: Vec<f64> = (0..100).map(f64::from).collect();
        // The 99th percentile of 0..99 is 98: only scores above it count.
        assert_eq!(tpr_at_fpr(&[98.0, 99.0, 150.0, 10.0], &negatives, 0.01), 0.5);
    }

    #[test]
    fn a_corpus_without_labels_still_replays() {
        let corpus = "ts,event,user,session,ip,user_agent,device_id,success\n\
            2026-09-01T00:00:18Z,login,u1,s1,81.2.69.142,\"Mozilla/5.0 (X11; Linux x86_64) Firefox/139.0\",d1,1\n\
            2026-09-01T00:10:18Z,refresh,u1,s1,81.2.69.142,\"Mozilla/5.0 (X11; Linux x86_64) Firefox/139.0\",d1,1\n";
        let rows = parse_corpus(corpus.as_bytes()).unwrap();
        assert_eq!(rows.len(), 2);
        assert!(rows[0].label.is_none());
        let scores = replay(&rows, &Geolocator::empty(), RiskThresholds::default());
        assert_eq!(scores.len(), 2);
        assert!(evaluate(&rows, &scores).is_empty());
    }
}
