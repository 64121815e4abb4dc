//! Background housekeeping: the activity log's retention, stale throttle counters, and
//! device proofs too old to be accepted again.
//!
//! Runs on every instance; the deletes are idempotent and bounded (a batch at a time), so
//! several instances pruning at once only share the work.

use std::sync::Arc;
use std::time::Duration as StdDuration;

use chrono::Duration;

use crate::clock::Clock;
use crate::storage::{Store, StoreError};

/// Rows deleted per statement: small enough that a pass never holds a long lock.
const BATCH: i64 = 5_000;
/// Throttle counters untouched this long are forgotten (every rule has reset by then).
const THROTTLE_MEMORY: Duration = Duration::days(2);

#[derive(Debug, Clone)]
pub struct Maintenance {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    /// Events older than this are deleted; `None` keeps them forever.
    activity_retention: Option<Duration>,
    interval: StdDuration,
}

/// What one pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub events: u64,
    pub throttle_counters: u64,
    pub spent_proofs: u64,
    /// WebAuthn ceremonies started and never finished.
    pub passkey_ceremonies: u64,
}

impl Maintenance {
    pub fn new(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        activity_retention: Option<Duration>,
        interval: StdDuration,
    ) -> Self {
        Self {
            store,
            clock,
            activity_retention,
            interval,
        }
    }

    /// One pass: delete what has outlived its retention.
    pub async fn run_once(&self) -> Result<Pruned, StoreError> {
        let now = self.clock.now();
        let mut pruned = Pruned::default();
        if let Some(retention) = self.activity_retention {
            loop {
                let deleted = self.store.prune_activity(now - retention, BATCH).await?;
                pruned.events += deleted;
                if deleted < BATCH as u64 {
                    break;
                }
                // Let requests in between batches.
                tokio::task::yield_now().await;
            }
        }
        pruned.throttle_counters = self.store.prune_throttle(now - THROTTLE_MEMORY).await?;
        pruned.spent_proofs = self.store.prune_spent_proofs(now).await?;
        pruned.passkey_ceremonies = self.store.prune_ceremonies(now).await?;
        Ok(pruned)
    }

    /// Runs a pass now and then every interval, for as long as the server runs. A failed
    /// pass (the database away) is logged and retried next time.
    pub async fn run_forever(self) {
        let mut ticker = tokio::time::interval(self.interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticker.tick().await;
            match self.run_once().await {
                Ok(pruned) if pruned != Pruned::default() => {
                    tracing::info!(
                        events = pruned.events,
                        throttle_counters = pruned.throttle_counters,
                        spent_proofs = pruned.spent_proofs,
                        passkey_ceremonies = pruned.passkey_ceremonies,
                        "pruned old records"
                    );
                }
                Ok(_) => {}
                Err(error) => tracing::warn!(%error, "pruning failed; will retry"),
            }
        }
    }
}
