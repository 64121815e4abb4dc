//! Whether the database is answering. Once a request finds it unreachable, later requests
//! are answered 503 at once instead of each waiting out the pool's acquire timeout, and a
//! background probe lets traffic through again as soon as the database answers a ping.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::storage::Store;

/// How often the probe pings a database that is down, and how long one ping may take.
const PROBE_EVERY: Duration = Duration::from_millis(200);
const PROBE_TIMEOUT: Duration = Duration::from_millis(800);

#[derive(Clone)]
pub struct DatabaseGate {
    inner: Arc<Inner>,
}

struct Inner {
    down: AtomicBool,
    store: Arc<dyn Store>,
}

impl DatabaseGate {
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self {
            inner: Arc::new(Inner {
                down: AtomicBool::new(false),
                store,
            }),
        }
    }

    pub fn is_down(&self) -> bool {
        self.inner.down.load(Ordering::Acquire)
    }

    /// A request found the database unreachable: close the gate and probe until it answers.
    /// The probe holds only a weak reference, so it ends with the app.
    pub fn report_down(&self) {
        if self.inner.down.swap(true, Ordering::AcqRel) {
            return;
        }
        tracing::warn!("database unreachable: answering 503 at once until it is back");
        let gate: Weak<Inner> = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            loop {
                let Some(inner) = gate.upgrade() else { return };
                if let Ok(Ok(())) = tokio::time::timeout(PROBE_TIMEOUT, inner.store.ping()).await {
                    inner.down.store(false, Ordering::Release);
                    tracing::info!("database reachable again");
                    return;
                }
                drop(inner);
                tokio::time::sleep(PROBE_EVERY).await;
            }
        });
    }
}
