//! The risk engine against the labeled dev corpus (../shared/risk): the targets of the
//! risk issue, checked on every run so a change to the model cannot quietly undo them.
//! Speed is `make bench`'s business; this checks quality only.

use std::path::PathBuf;

use server::domain::risk::RiskThresholds;
use server::risk_eval::{evaluate, read_corpus, replay};

use crate::helpers::{geoip_available, shared_geo};

/// The corpus beside the repository (`../shared/risk`, as `make risk-eval` reads it). `make
/// test` sets `FIN_TEST_REQUIRE_CORPUS`, so there a missing corpus fails the run instead of
/// skipping the test; a plain `cargo test` without it skips, loudly.
fn corpus() -> Option<PathBuf> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/risk/dev-corpus.csv.gz");
    if path.is_file() {
        return Some(path);
    }
    assert!(
        std::env::var_os("FIN_TEST_REQUIRE_CORPUS").is_none(),
        "no dev corpus at {}",
        path.display()
    );
    eprintln!("SKIPPED: no dev corpus at {}", path.display());
    None
}

#[tokio::test]
async fn the_dev_corpus_meets_the_targets() {
    // The replay touches no database: once per test run is enough.
    if std::env::var("FIN_TEST_DB").as_deref() == Ok("postgres") {
        return;
    }
    let Some(path) = corpus() else { return };
    if !geoip_available() {
        return;
    }
    let rows = read_corpus(&path).unwrap();
    let geo = shared_geo();
    let scores = tokio::task::spawn_blocking(move || {
        let scores = replay(&rows, &geo, RiskThresholds::default());
        (rows, scores)
    })
    .await
    .unwrap();
    let reports = evaluate(&scores.0, &scores.1);
    assert_eq!(reports.len(), 6, "{reports:?}");
    for r in &reports {
        let tpr_target = match r.attack_type.as_str() {
            "very_targeted" => 0.75,
            "stolen_refresh" => 0.95,
            _ => 0.90,
        };
        assert!(r.tpr_at_1pct_fpr >= tpr_target, "{r:?}");
        if r.attack_type != "stolen_refresh" {
            assert!(r.auc >= 0.99, "{r:?}");
        }
        if ["naive", "vpn", "targeted"].contains(&r.attack_type.as_str()) {
            assert!(r.challenge_rate.is_some_and(|c| c <= 0.03), "{r:?}");
        }
    }
}
