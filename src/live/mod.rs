//! The live feed of runs for SSE subscribers, one hub per process.
//!
//! For each run that has subscribers, one pump follows the canonical-event
//! index from where it last published: when the index projector commits
//! (here, or on another instance through PostgreSQL NOTIFY), the pump reads
//! the new events once, folds them into the run-state view with the same
//! `apply` as every other fold, and broadcasts the events and then one
//! snapshot of the batch. Subscribers never block the pump: a subscriber
//! that falls behind the bounded channel re-reads from the store.

pub mod cluster;

use crate::store::{EventStore, StoreError};
use aggregates::{CanonicalEvent, RunEvent};
use projections::{Projection, RunStateView};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::{broadcast, Notify};
use uuid::Uuid;

/// Items a subscriber may miss before it must re-read from the store.
const FEED_CAPACITY: usize = 1024;
/// Canonical events read per pump step.
const PUMP_BATCH: i64 = 500;

/// What the pump broadcasts.
#[derive(Debug)]
pub enum FeedItem {
    /// One canonical event, serialized once for every subscriber.
    Event { seq: u64, json: Arc<str> },
    /// The run-state view after the batch of events just sent.
    Snapshot { seq: u64, json: Arc<str> },
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
        });
        feeds.insert(run_id, Arc::clone(&feed));
        tokio::spawn(pump(self.clone(), run_id, Arc::clone(&feed)));
        Subscription {
            receiver,
            _feed: feed,
        }
    }

    /// The canonical index has new events for `run_id`.
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
    loop {
        match publish_new(&hub.store, run_id, &feed, &mut view).await {
            Ok(true) => continue,
            Ok(false) => {}
            Err(error) => tracing::warn!(%run_id, %error, "live feed: read failed"),
        }
        // Idle: wait for the index to move, or notice every subscriber left.
        tokio::select! {
            _ = feed.wake.notified() => {}
            _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => {}
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
        let seq = event.seq;
        view.apply(&RunEvent::CanonicalEventRecorded { event });
        // No subscriber at the moment is fine: the send is for whoever listens.
        let _ = feed.sender.send(Arc::new(FeedItem::Event {
            seq,
            json: doc.into(),
        }));
    }
    let snapshot = serde_json::to_string(view)
        .map_err(|e| StoreError::Corrupt(format!("run state does not serialize: {e}")))?;
    let _ = feed.sender.send(Arc::new(FeedItem::Snapshot {
        seq: view.timeline.latest_seq,
        json: snapshot.into(),
    }));
    Ok(true)
}
