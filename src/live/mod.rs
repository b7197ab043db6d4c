//! The live feed of runs for SSE subscribers, one hub per process.
//!
//! For each run that has subscribers, one pump follows the canonical-event
//! index from where it last published. When the index projector commits
//! here, it hands the committed events to the pump ([`LiveHub::publish`]),
//! which publishes them without reading them back; when it commits on
//! another instance (PostgreSQL NOTIFY), or a hand-over leaves a gap, the
//! pump reads the new events from the index. Either way it folds them into
//! the run-state view with the same `apply` as every other fold and
//! broadcasts each event, then one snapshot of the batch, as finished SSE
//! frames that every subscriber writes as they are. Subscribers never block
//! the pump: a subscriber that falls behind the bounded channel re-reads
//! from the store.

pub mod cluster;
mod frame;

pub use frame::frame;

use crate::store::{EventStore, StoreError};
use aggregates::{CanonicalEvent, RunEvent};
use bytes::Bytes;
use projections::{Projection, RunStateView};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, Notify};
use uuid::Uuid;

/// Items a subscriber may miss before it must re-read from the store.
const FEED_CAPACITY: usize = 1024;
/// Canonical events read per pump step.
const PUMP_BATCH: i64 = 500;

/// The SSE event names of the stream (`GET /runs/:id/stream`).
pub const CANONICAL_EVENT: &str = "canonical_event";
pub const SNAPSHOT: &str = "snapshot";

/// What the pump broadcasts.
#[derive(Debug)]
pub enum FeedItem {
    /// One canonical event as its SSE frame, built once for every subscriber.
    Event { seq: u64, frame: Bytes },
    /// The run-state view after the batch of events just sent, as its frame.
    Snapshot { seq: u64, frame: Bytes },
    /// The run was deleted: streams on it end.
    Deleted,
}

#[derive(Clone)]
pub struct LiveHub {
    store: EventStore,
    feeds: Arc<Mutex<HashMap<Uuid, Arc<RunFeed>>>>,
}

struct RunFeed {
    sender: broadcast::Sender<Arc<FeedItem>>,
    wake: Notify,
    /// Events the index committed here, not yet published, in seq order.
    committed: Mutex<Vec<CanonicalEvent>>,
}

impl RunFeed {
    fn committed_is_empty(&self) -> bool {
        self.committed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .is_empty()
    }

    fn take_committed(&self) -> Vec<CanonicalEvent> {
        std::mem::take(
            &mut *self
                .committed
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()),
        )
    }
}

/// A subscriber's end of a run's feed.
pub struct Subscription {
    pub receiver: broadcast::Receiver<Arc<FeedItem>>,
    _feed: Arc<RunFeed>,
}

impl LiveHub {
    pub fn new(store: EventStore) -> Self {
        LiveHub {
            store,
            feeds: Arc::default(),
        }
    }

    fn feeds(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, Arc<RunFeed>>> {
        self.feeds
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers a subscriber on the run's feed, starting its pump if none
    /// runs. Events committed after this call reach the receiver.
    pub fn subscribe(&self, run_id: Uuid) -> Subscription {
        let mut feeds = self.feeds();
        if let Some(feed) = feeds.get(&run_id) {
            return Subscription {
                receiver: feed.sender.subscribe(),
                _feed: Arc::clone(feed),
            };
        }
        let (sender, receiver) = broadcast::channel(FEED_CAPACITY);
        let feed = Arc::new(RunFeed {
            sender,
            wake: Notify::new(),
            committed: Mutex::default(),
        });
        feeds.insert(run_id, Arc::clone(&feed));
        tokio::spawn(pump(self.clone(), run_id, Arc::clone(&feed)));
        Subscription {
            receiver,
            _feed: feed,
        }
    }

    /// Whether the run has a feed (someone subscribed to it here).
    pub fn is_followed(&self, run_id: Uuid) -> bool {
        self.feeds().contains_key(&run_id)
    }

    /// The canonical index committed `events` of `run_id` here (in seq
    /// order): its pump publishes them without reading them back.
    pub fn publish(&self, run_id: Uuid, events: Vec<CanonicalEvent>) {
        if let Some(feed) = self.feeds().get(&run_id) {
            feed.committed
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .extend(events);
            feed.wake.notify_one();
        }
    }

    /// The canonical index has new events for `run_id` (committed by
    /// another instance, or announced again): its pump reads them.
    pub fn advance(&self, run_id: Uuid) {
        if let Some(feed) = self.feeds().get(&run_id) {
            feed.wake.notify_one();
        }
    }

    /// The run was deleted (here): its subscribers get a last event and
    /// their streams end. Streams on other instances notice at their next
    /// heartbeat.
    pub fn deleted(&self, run_id: Uuid) {
        if let Some(feed) = self.feeds().get(&run_id) {
            let _ = feed.sender.send(Arc::new(FeedItem::Deleted));
        }
    }

    /// Every feed looks at the index again (after missed announcements).
    pub fn advance_all(&self) {
        for feed in self.feeds().values() {
            feed.wake.notify_one();
        }
    }

    pub fn subscriber_count(&self) -> usize {
        self.feeds()
            .values()
            .map(|feed| feed.sender.receiver_count())
            .sum()
    }
}

/// Follows one run's canonical index while it has subscribers.
async fn pump(hub: LiveHub, run_id: Uuid, feed: Arc<RunFeed>) {
    let mut view = match initial_view(&hub.store, run_id).await {
        Ok(view) => view,
        Err(error) => {
            tracing::warn!(%run_id, %error, "live feed: cannot load the run");
            RunStateView::default()
        }
    };
    // Reads the index first: whatever was committed before the feed.
    let mut read_index = true;
    loop {
        let handed = feed.take_committed();
        if !handed.is_empty() && !publish_handed(&feed, &mut view, handed) {
            // A gap before the handed events: the index has what is missing.
            read_index = true;
        }
        if read_index {
            match publish_new(&hub.store, run_id, &feed, &mut view).await {
                Ok(true) => continue,
                Ok(false) => read_index = false,
                Err(error) => tracing::warn!(%run_id, %error, "live feed: read failed"),
            }
        }
        if !feed.committed_is_empty() {
            continue;
        }
        // Idle: wait for the index to move, or notice every subscriber left.
        // A wake-up without handed events is an announcement from another
        // instance; a quiet second is a look at the index in case one was
        // missed.
        tokio::select! {
            _ = feed.wake.notified() => read_index = feed.committed_is_empty(),
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => read_index = true,
        }
        // Under the map's lock: `subscribe` cannot add a receiver meanwhile.
        let mut feeds = hub.feeds();
        if feed.sender.receiver_count() == 0 {
            feeds.remove(&run_id);
            return;
        }
    }
}

/// The stored run-state view, caught up with the index.
async fn initial_view(store: &EventStore, run_id: Uuid) -> Result<RunStateView, StoreError> {
    match crate::projector::load_model::<RunStateView>(store, run_id).await? {
        view if view.run.run_id.is_some() => Ok(view),
        // Not projected yet: the same fold over the log's first events.
        _ => {
            let events = store.read_stream(run_id, 0).await?;
            Ok(RunStateView::fold(events.iter().map(|e| &e.event)))
        }
    }
}

/// Publishes handed-over events past the view's `latestSeq`, then a
/// snapshot; `false` if one left a gap after `latestSeq` (nothing after the
/// gap is published: the index read that follows covers it).
fn publish_handed(feed: &RunFeed, view: &mut RunStateView, events: Vec<CanonicalEvent>) -> bool {
    let mut published = false;
    let mut contiguous = true;
    for event in events {
        let latest = view.timeline.latest_seq;
        if event.seq <= latest {
            continue;
        }
        if event.seq != latest + 1 {
            contiguous = false;
            break;
        }
        match serde_json::to_string(&event) {
            Ok(doc) => {
                broadcast_event(feed, view, event, &doc);
                published = true;
            }
            Err(error) => {
                tracing::warn!(%error, "live feed: a canonical event does not serialize");
                contiguous = false;
                break;
            }
        }
    }
    if published {
        broadcast_snapshot(feed, view);
    }
    contiguous
}

/// Folds `event` into the view and sends its frame to every subscriber.
fn broadcast_event(feed: &RunFeed, view: &mut RunStateView, event: CanonicalEvent, doc: &str) {
    let seq = event.seq;
    let frame = frame(CANONICAL_EVENT, Some(seq), doc);
    view.apply(&RunEvent::CanonicalEventRecorded { event });
    // No subscriber at the moment is fine: the send is for whoever listens.
    let _ = feed.sender.send(Arc::new(FeedItem::Event { seq, frame }));
}

/// Sends the view, as it stands after the events just sent.
fn broadcast_snapshot(feed: &RunFeed, view: &RunStateView) {
    match serde_json::to_string(view) {
        Ok(json) => {
            let _ = feed.sender.send(Arc::new(FeedItem::Snapshot {
                seq: view.timeline.latest_seq,
                frame: frame(SNAPSHOT, None, &json),
            }));
        }
        Err(error) => tracing::warn!(%error, "live feed: the run state does not serialize"),
    }
}

/// Publishes index events past the view's `latestSeq`; `true` if it did.
async fn publish_new(
    store: &EventStore,
    run_id: Uuid,
    feed: &RunFeed,
    view: &mut RunStateView,
) -> Result<bool, StoreError> {
    let after = i64::try_from(view.timeline.latest_seq).unwrap_or(i64::MAX);
    let docs = store.canonical_events(run_id, after, PUMP_BATCH).await?;
    if docs.is_empty() {
        return Ok(false);
    }
    for doc in docs {
        let event: CanonicalEvent = serde_json::from_str(&doc)
            .map_err(|e| StoreError::Corrupt(format!("indexed canonical event: {e}")))?;
        broadcast_event(feed, view, event, &doc);
    }
    broadcast_snapshot(feed, view);
    Ok(true)
}
