//! Indexes canonical events by (run, seq) for `GET /runs/:id/events`,
//! `GET /events`, SSE and replay: each row points at the log position
//! whose `CanonicalEventRecorded` payload holds the event. After each commit it hands the events it
//! indexed to the live feeds of their runs here, and (on PostgreSQL)
//! announces the runs to other instances, whose feeds read them back.

use super::{ModelCache, Projector};
use crate::live::LiveHub;
use crate::store::read_models::{ModelWrite, ProjectionTable};
use crate::store::{EventStore, StoreError, StoredEvent};
use aggregates::CanonicalEvent;
use async_trait::async_trait;
use std::collections::{BTreeMap, BTreeSet};
use uuid::Uuid;

pub struct CanonicalEventIndex {
    pub live: LiveHub,
}

#[async_trait]
impl Projector for CanonicalEventIndex {
    fn name(&self) -> &'static str {
        "canonical_events"
    }

    fn table(&self) -> ProjectionTable {
        ProjectionTable::CanonicalIndex
    }

    async fn project(
        &self,
        _store: &EventStore,
        events: &[StoredEvent],
        _cache: &mut ModelCache,
    ) -> Result<Vec<ModelWrite>, StoreError> {
        // The event's bytes stay in the log, at `position`, where reads
        // take them from: the index holds what it is queried by.
        Ok(events
            .iter()
            .filter_map(|e| Some((e.event.canonical()?, e.position)))
            .map(|(event, position)| ModelWrite::CanonicalEvent {
                run_id: event.run_id,
                seq: i64::try_from(event.seq).unwrap_or(i64::MAX),
                event_type: event.event_type.clone(),
                ts: event.ts.to_string(),
                position,
            })
            .collect())
    }

    fn commits_first(&self) -> bool {
        true
    }

    async fn committed(&self, store: &EventStore, events: &[StoredEvent]) {
        let mut runs: BTreeMap<Uuid, Vec<&CanonicalEvent>> = BTreeMap::new();
        for event in events {
            if let Some(canonical) = event.event.canonical() {
                runs.entry(event.stream_id).or_default().push(canonical);
            }
        }
        // Only runs with subscribers here need the events themselves.
        for (run_id, indexed) in &runs {
            if self.live.is_followed(*run_id) {
                self.live
                    .publish(*run_id, indexed.iter().map(|e| (*e).clone()).collect());
            }
        }
        let announced: BTreeSet<Uuid> = runs.into_keys().collect();
        if announced.is_empty() {
            return;
        }
        // Off the projectors' path: the next batch need not wait for it.
        let store = store.clone();
        tokio::spawn(async move {
            if let Err(error) = store.announce_indexed(&announced).await {
                tracing::warn!(%error, "could not announce indexed runs to other instances");
            }
        });
    }
}
