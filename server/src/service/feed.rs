//! The live activity feed: each new activity event, once, to every subscriber on this
//! instance, whichever instance wrote it.
//!
//! One task per instance reads new rows from the log when the store says some were
//! committed (in-process, or PostgreSQL's announcements from other instances), and on a
//! timer in case an announcement was lost. It hands each row to a bounded broadcast
//! channel. Subscribers that fall behind lose their place in the channel, never the
//! events: they read what they missed from the log ([`ActivityFeed::replay`]), so a slow
//! subscriber neither stalls the others nor makes the server hold more.
//!
//! Each subscriber costs a connection and a periodic check of its caller, so the feed also
//! counts them: at most [`StreamLimits::total`] on the instance and
//! [`StreamLimits::per_user`] for any one user (one admin's runaway tabs or script cannot
//! take every admin's place).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tokio::sync::{broadcast, watch};

use crate::storage::{ActivityRecord, Store, StoreError, Wakeup};

/// Events the channel holds for subscribers that are behind. Shared, so the memory is
/// this many events whatever the number of subscribers.
const CHANNEL_CAPACITY: usize = 1024;
/// Rows read per query.
pub const PAGE: i64 = 500;
/// How often the feed looks for new rows without being told: the bound on the delay when
/// an announcement was lost (a PostgreSQL reconnect, another process on a SQLite file).
const SWEEP: Duration = Duration::from_secs(1);
/// Ids remembered as delivered, so a row both announced and found by a sweep goes out once.
const REMEMBERED: usize = 8192;

/// How many live streams one instance serves (`FIN_MAX_STREAMS`,
/// `FIN_MAX_STREAMS_PER_ADMIN`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StreamLimits {
    /// In all.
    pub total: usize,
    /// For any one user.
    pub per_user: usize,
}

impl Default for StreamLimits {
    /// 1,000 in all is what `make stream-load` checks one instance with; five per admin is
    /// a few tabs (browsers open at most six HTTP/1.1 connections to a host anyway).
    fn default() -> Self {
        Self {
            total: 1000,
            per_user: 5,
        }
    }
}

/// Why a stream was not opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum StreamRefused {
    #[error("this user has as many live streams open as allowed")]
    UserAtLimit,
    #[error("the instance serves as many live streams as allowed")]
    InstanceAtLimit,
}

/// The live streams open on this instance, by user, within [`StreamLimits`].
#[derive(Debug, Clone)]
pub struct StreamCounter {
    limits: StreamLimits,
    open: Arc<Mutex<OpenStreams>>,
}

#[derive(Debug, Default)]
struct OpenStreams {
    total: usize,
    by_user: HashMap<i64, usize>,
}

impl StreamCounter {
    pub fn new(limits: StreamLimits) -> Self {
        Self {
            limits,
            open: Arc::default(),
        }
    }

    /// Counts a new stream for `user_id`, unless that user or the instance is at its limit.
    /// The stream holds the slot for as long as it lives.
    pub fn open(&self, user_id: i64) -> Result<StreamSlot, StreamRefused> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if open.by_user.get(&user_id).is_some_and(|&n| n >= self.limits.per_user) {
            return Err(StreamRefused::UserAtLimit);
        }
        if open.total >= self.limits.total {
            return Err(StreamRefused::InstanceAtLimit);
        }
        open.total += 1;
        *open.by_user.entry(user_id).or_default() += 1;
        Ok(StreamSlot {
            open: self.open.clone(),
            user_id,
        })
    }

    /// Streams open in all, and for `user_id`.
    pub fn count(&self, user_id: i64) -> (usize, usize) {
        let open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        (open.total, open.by_user.get(&user_id).copied().unwrap_or(0))
    }
}

/// One open stream, counted until it is dropped (when its stream ends, however it ends).
#[derive(Debug)]
pub struct StreamSlot {
    open: Arc<Mutex<OpenStreams>>,
    user_id: i64,
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(count) = open.by_user.get_mut(&self.user_id) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.by_user.remove(&self.user_id);
            }
        }
    }
}

#[derive(Debug, Clone)]
pub struct ActivityFeed {
    store: Arc<dyn Store>,
    sender: broadcast::Sender<Arc<Published>>,
    /// Set at shutdown: streams end, so a graceful shutdown does not wait on them forever.
    stop: Arc<watch::Sender<bool>>,
    /// The subscribers that are open, within their limits.
    pub streams: StreamCounter,
}

impl ActivityFeed {
    pub fn new(store: Arc<dyn Store>, limits: StreamLimits) -> Self {
        Self {
            store,
            sender: broadcast::channel(CHANNEL_CAPACITY).0,
            stop: Arc::new(watch::channel(false).0),
            streams: StreamCounter::new(limits),
        }
    }

    /// Ends every subscription (the server is shutting down).
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }

    /// Turns true when subscriptions must end.
    pub fn stopping(&self) -> watch::Receiver<bool> {
        self.stop.subscribe()
    }

    /// Events published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Published>> {
        self.sender.subscribe()
    }

    /// How many subscribers are connected (for /metrics and the load check).
    pub fn subscribers(&self) -> usize {
        self.sender.receiver_count()
    }

    /// Logged events after `after`, oldest first: what a subscriber missed.
    pub async fn replay(&self, after: i64, limit: i64) -> Result<Vec<ActivityRecord>, StoreError> {
        self.store.activity_after(after, limit).await
    }

    /// The newest logged event's id.
    pub async fn newest_id(&self) -> Result<i64, StoreError> {
        self.store.latest_activity_id().await
    }

    /// The newest events, newest first: what a page shows before it goes live.
    pub async fn recent(&self, limit: i64) -> Result<Vec<ActivityRecord>, StoreError> {
        self.store.activity_page(None, None, limit).await
    }

    /// Publishes new rows until the process ends. Store errors are logged and retried at
    /// the next wake-up; the feed itself never gives up.
    pub async fn run(self) {
        let mut wakeups = loop {
            match self.store.activity_wakeups().await {
                Ok(wakeups) => break wakeups,
                Err(e) => {
                    tracing::warn!(error = %e, "live feed cannot listen for activity yet; retrying");
                    tokio::time::sleep(SWEEP * 5).await;
                }
            }
        };
        // Rows already in the log are history, served by replay, not news.
        let start = loop {
            match self.store.latest_activity_id().await {
                Ok(id) => break id,
                Err(e) => {
                    tracing::warn!(error = %e, "live feed cannot read the log yet; retrying");
                    tokio::time::sleep(SWEEP * 5).await;
                }
            }
        };
        let mut delivered = Delivered::after(start, REMEMBERED);
        loop {
            let wakeup = tokio::select! {
                wakeup = wakeups.next() => wakeup,
                () = tokio::time::sleep(SWEEP) => Wakeup::Newer,
            };
            if let Err(e) = self.publish(&wakeup, &mut delivered).await {
                tracing::warn!(error = %e, "live feed could not read new activity; will retry");
            }
        }
    }

    async fn publish(&self, wakeup: &Wakeup, delivered: &mut Delivered) -> Result<(), StoreError> {
        // Announced ids first: PostgreSQL announces in commit order, which can differ from
        // id order, so a row committed late is fetched by its id, not missed behind a
        // newer one.
        if let Wakeup::Ids(ids) = wakeup {
            let fresh: Vec<i64> = ids.iter().copied().filter(|id| !delivered.contains(*id)).collect();
            for row in self.store.activity_by_ids(&fresh).await? {
                self.send(row, delivered);
            }
        }
        loop {
            let rows = self.store.activity_after(delivered.newest(), PAGE).await?;
            let full = rows.len() as i64 == PAGE;
            for row in rows {
                self.send(row, delivered);
            }
            if !full {
                return Ok(());
            }
        }
    }

    fn send(&self, row: ActivityRecord, delivered: &mut Delivered) {
        if delivered.insert(row.id) {
            // No subscriber is not an error: the event is in the log.
            let _ = self.sender.send(Arc::new(Published::new(row)));
        }
    }
}

/// One event as subscribers receive it. The wire form is made once, by the first
/// subscriber that needs it, and shared by all of them.
#[derive(Debug)]
pub struct Published {
    pub record: ActivityRecord,
    encoded: OnceLock<Option<String>>,
}

impl Published {
    pub fn new(record: ActivityRecord) -> Self {
        Self {
            record,
            encoded: OnceLock::new(),
        }
    }

    /// The event encoded by `encode`, which runs once per event.
    pub fn encoded(&self, encode: impl FnOnce(&ActivityRecord) -> Option<String>) -> Option<&str> {
        self.encoded.get_or_init(|| encode(&self.record)).as_deref()
    }
}

/// The ids delivered lately, and the newest one: the feed's memory of what it published,
/// and each subscriber's of what it sent.
#[derive(Debug)]
pub struct Delivered {
    newest: i64,
    /// The largest id forgotten: anything at or below it counts as delivered. A row
    /// would have to commit after 8,192 newer ones to be wrongly skipped.
    forgotten: i64,
    capacity: usize,
    order: VecDeque<i64>,
    set: HashSet<i64>,
}

impl Delivered {
    /// Remembers the last `capacity` ids; everything up to `newest` counts as delivered.
    pub fn after(newest: i64, capacity: usize) -> Self {
        Self {
            newest,
            forgotten: newest,
            capacity,
            order: VecDeque::new(),
            set: HashSet::new(),
        }
    }

    pub fn newest(&self) -> i64 {
        self.newest
    }

    /// Whether `id` went out already (or is older than anything the feed publishes).
    pub fn contains(&self, id: i64) -> bool {
        id <= self.forgotten || self.set.contains(&id)
    }

    /// Records `id`; false when it was delivered before.
    pub fn insert(&mut self, id: i64) -> bool {
        if self.contains(id) {
            return false;
        }
        if self.order.len() >= self.capacity
            && let Some(old) = self.order.pop_front()
        {
            self.set.remove(&old);
            self.forgotten = self.forgotten.max(old);
        }
        self.order.push_back(id);
        self.set.insert(id);
        self.newest = self.newest.max(id);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_capped_per_user_and_in_all_until_they_end() {
        let streams = StreamCounter::new(StreamLimits { total: 3, per_user: 2 });
        let a1 = streams.open(1).unwrap();
        let a2 = streams.open(1).unwrap();
        assert_eq!(streams.open(1).unwrap_err(), StreamRefused::UserAtLimit);
        let b1 = streams.open(2).unwrap();
        assert_eq!(streams.open(3).unwrap_err(), StreamRefused::InstanceAtLimit);
        assert_eq!(streams.count(1), (3, 2));
        drop(a1);
        assert_eq!(streams.count(1), (2, 1));
        let a3 = streams.open(1).unwrap();
        drop((a2, a3, b1));
        assert_eq!(streams.count(1), (0, 0));
        assert!(streams.open.lock().unwrap().by_user.is_empty());
    }

    #[test]
    fn rows_before_the_start_are_history() {
        let mut delivered = Delivered::after(10, REMEMBERED);
        assert!(!delivered.insert(10));
        assert!(!delivered.insert(3));
    }

    #[test]
    fn an_id_goes_out_once_even_when_announced_and_swept() {
        let mut delivered = Delivered::after(10, REMEMBERED);
        assert!(delivered.insert(12));
        assert!(!delivered.insert(12));
        assert_eq!(delivered.newest(), 12);
        // A row committed late with a smaller id still goes out, once.
        assert!(delivered.insert(11));
        assert!(!delivered.insert(11));
        assert_eq!(delivered.newest(), 12);
    }

    #[test]
    fn memory_is_bounded() {
        let mut delivered = Delivered::after(0, REMEMBERED);
        for id in 1..=(REMEMBERED as i64 * 3) {
            assert!(delivered.insert(id));
        }
        assert_eq!(delivered.set.len(), REMEMBERED);
        assert_eq!(delivered.order.len(), REMEMBERED);
        // Forgotten ids are older than everything remembered: still not news.
        assert!(delivered.contains(1));
    }
}
