//! Snapshots of each run's run-state view every [`SNAPSHOT_EVERY`] canonical
//! events, so that the replay state at seq N folds only the events after
//! the last snapshot at or below N (`GET /runs/:id/replay/state`).
//!
//! A read model like any other: disposable, rebuilt from the log. Stored in
//! `read_models` under the key `<run id>@<seq, 20 digits>`, so that the
//! latest snapshot at or below a seq is one range lookup. The running view
//! between snapshots lives in the model cache; after a restart it is the
//! last stored snapshot plus the run's later events from the log.

use super::documents::by_run;
use super::{ModelCache, Projector};
use crate::store::read_models::snapshots::{snapshot_key, SNAPSHOTS};
use crate::store::read_models::{ModelWrite, ProjectionTable};
use crate::store::{EventStore, StoreError, StoredEvent};
use async_trait::async_trait;
use projections::{Projection, RunStateView};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// Canonical events between two snapshots of a run.
pub const SNAPSHOT_EVERY: u64 = 5000;

/// A stored snapshot: the view after the run's stream `version`.
#[derive(Serialize, Deserialize)]
pub struct Snapshot {
    pub version: u64,
    pub view: RunStateView,
}

pub struct RunStateSnapshots;

#[async_trait]
impl Projector for RunStateSnapshots {
    fn name(&self) -> &'static str {
        SNAPSHOTS
    }

    fn table(&self) -> ProjectionTable {
        ProjectionTable::Documents
    }

    async fn project(
        &self,
        store: &EventStore,
        events: &[StoredEvent],
        cache: &mut ModelCache,
    ) -> Result<Vec<ModelWrite>, StoreError> {
        let mut writes = Vec::new();
        for (run_id, events) in by_run(events) {
            let key = run_id.to_string();
            let first_version = events.first().map_or(0, |e| e.version);
            let mut running = match cache.take::<Snapshot>(SNAPSHOTS, &key) {
                Some(running) => running,
                None => restore(store, run_id, first_version).await?,
            };
            for stored in events {
                if stored.version <= running.version {
                    continue;
                }
                running.view.apply(&stored.event);
                running.version = stored.version;
                let seq = running.view.timeline.latest_seq;
                let crossed =
                    stored.event.canonical().is_some() && seq.is_multiple_of(SNAPSHOT_EVERY);
                if crossed && seq > 0 {
                    let doc = serde_json::to_string(&running)
                        .map_err(|e| StoreError::Corrupt(format!("snapshot: {e}")))?;
                    writes.push(ModelWrite::Document {
                        projection: SNAPSHOTS,
                        key: snapshot_key(run_id, seq),
                        doc,
                        position: stored.position,
                    });
                }
            }
            cache.put(SNAPSHOTS, key, running);
        }
        Ok(writes)
    }
}

/// The running view of a run just before stream version `before`: its last
/// stored snapshot, then its later events from the log.
async fn restore(store: &EventStore, run_id: Uuid, before: u64) -> Result<Snapshot, StoreError> {
    let mut running = match store.latest_snapshot(run_id, u64::MAX).await? {
        Some(doc) => serde_json::from_str(&doc)
            .map_err(|e| StoreError::Corrupt(format!("stored snapshot: {e}")))?,
        None => Snapshot {
            version: 0,
            view: RunStateView::default(),
        },
    };
    if running.version + 1 < before {
        for stored in store.read_stream(run_id, running.version).await? {
            if stored.version >= before {
                break;
            }
            running.view.apply(&stored.event);
            running.version = stored.version;
        }
    }
    Ok(running)
}
