//! Word that activity rows were committed, for the live feed.
//!
//! Inside one process a store tells its listeners through a watch channel right after each
//! commit that wrote activity. Across processes, PostgreSQL announces every committed row
//! with `NOTIFY fin_activity, '<schema>:<id>'` (a trigger, migration 0007); SQLite has a single
//! writing process, so the in-process signal is all it needs.

use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool};
use tokio::sync::{mpsc, watch};

use super::StoreError;

/// The PostgreSQL channel the trigger announces on.
pub const CHANNEL: &str = "fin_activity";

/// Most ids taken from PostgreSQL in one wake-up: a burst is served in slices, and a
/// slow listener never builds an unbounded batch.
const MAX_BATCH: usize = 512;

/// Held by a store; cheap to clone.
#[derive(Debug, Clone)]
pub struct ActivitySignal(Arc<watch::Sender<u64>>);

impl Default for ActivitySignal {
    fn default() -> Self {
        Self(Arc::new(watch::channel(0).0))
    }
}

impl ActivitySignal {
    /// Called after a commit that wrote activity.
    pub fn committed(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn subscribe(&self) -> watch::Receiver<u64> {
        self.0.subscribe()
    }
}

/// What woke a listener.
#[derive(Debug, PartialEq, Eq)]
pub enum Wakeup {
    /// Rows with these ids were committed (PostgreSQL names each one).
    Ids(Vec<i64>),
    /// Something was committed here; look past the newest id seen.
    Newer,
}

/// One listener's view of new activity.
pub struct ActivityWakeups {
    local: watch::Receiver<u64>,
    /// Announcements from PostgreSQL, read by a task of their own: a `PgListener` read
    /// must not be cancelled half-way, which a `select!` here would do.
    remote: Option<(mpsc::Receiver<Wakeup>, AbortOnDrop)>,
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl ActivityWakeups {
    pub(super) fn local(signal: &ActivitySignal) -> Self {
        Self {
            local: signal.subscribe(),
            remote: None,
        }
    }

    pub(super) async fn postgres(signal: &ActivitySignal, pool: &PgPool) -> Result<Self, StoreError> {
        // Announcements name the schema of the row: only our own are news.
        let schema: String = sqlx::query_scalar("select current_schema()").fetch_one(pool).await?;
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(CHANNEL).await?;
        // A few batches in flight at most: when the feed is behind, the listener waits,
        // and PostgreSQL queues announcements for it (up to 8 GB by default).
        let (tx, rx) = mpsc::channel(4);
        let task = tokio::spawn(read_announcements(listener, schema, tx));
        Ok(Self {
            local: signal.subscribe(),
            remote: Some((rx, AbortOnDrop(task))),
        })
    }

    /// Waits for the next word of new rows.
    pub async fn next(&mut self) -> Wakeup {
        let Some((remote, _)) = self.remote.as_mut() else {
            return match self.local.changed().await {
                Ok(()) => Wakeup::Newer,
                // The store is gone: nothing will ever be written again.
                Err(_) => std::future::pending().await,
            };
        };
        tokio::select! {
            changed = self.local.changed() => match changed {
                Ok(()) => Wakeup::Newer,
                Err(_) => std::future::pending().await,
            },
            announced = remote.recv() => announced.unwrap_or(Wakeup::Newer),
        }
    }
}

/// Forwards PostgreSQL's announcements in batches. A lost connection is re-made by sqlx;
/// what was announced meanwhile is lost, so the feed is told to look for newer rows (and
/// it also looks on a timer).
async fn read_announcements(mut listener: PgListener, schema: String, tx: mpsc::Sender<Wakeup>) {
    let ours = |payload: &str| {
        payload
            .rsplit_once(':')
            .filter(|(s, _)| *s == schema)
            .and_then(|(_, id)| id.parse::<i64>().ok())
    };
    loop {
        let wakeup = match listener.try_recv().await {
            Ok(Some(first)) => {
                let mut ids: Vec<i64> = ours(first.payload()).into_iter().collect();
                while ids.len() < MAX_BATCH {
                    match listener.next_buffered() {
                        Some(more) => ids.extend(ours(more.payload())),
                        None => break,
                    }
                }
                if ids.is_empty() {
                    // Another deployment's row.
                    continue;
                }
                Wakeup::Ids(ids)
            }
            Ok(None) => {
                tracing::warn!("activity announcements: connection lost; reconnecting");
                Wakeup::Newer
            }
            Err(e) => {
                tracing::warn!(error = %e, "activity announcements interrupted; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
                Wakeup::Newer
            }
        };
        if tx.send(wakeup).await.is_err() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_commit_wakes_every_local_listener_once() {
        let signal = ActivitySignal::default();
        let mut a = ActivityWakeups::local(&signal);
        let mut b = ActivityWakeups::local(&signal);
        signal.committed();
        signal.committed();
        assert_eq!(a.next().await, Wakeup::Newer);
        assert_eq!(b.next().await, Wakeup::Newer);
        // Two commits before anyone looked are one wake-up: the listener reads all new rows.
        let again = tokio::time::timeout(Duration::from_millis(50), a.next()).await;
        assert!(again.is_err(), "no commit since: no wake-up");
    }
}
