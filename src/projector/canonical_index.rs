//! Indexes canonical events by (run, seq) for `GET /runs/:id/events`,
//! `GET /events`, SSE and replay. After each commit it wakes the live feeds
//! of the runs it indexed, here and (on PostgreSQL) on other instances.

use super::{ModelCache, Projector};
use crate::live::LiveHub;
use crate::store::read_models::{ModelWrite, ProjectionTable};
use crate::store::{EventStore, StoreError, StoredEvent};
use async_trait::async_trait;
use std::collections::BTreeSet;
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
        let mut writes = Vec::new();
        for (event, position) in events
            .iter()
            .filter_map(|e| Some((e.event.canonical()?, e.position)))
        {
            let doc = serde_json::to_string(event)
                .map_err(|e| StoreError::Corrupt(format!("canonical event: {e}")))?;
            writes.push(ModelWrite::CanonicalEvent {
                run_id: event.run_id,
                seq: i64::try_from(event.seq).unwrap_or(i64::MAX),
                event_type: event.event_type.clone(),
                ts: event.ts.to_string(),
                doc,
                position,
            });
        }
        Ok(writes)
    }

    async fn committed(&self, store: &EventStore, events: &[StoredEvent]) {
        let runs: BTreeSet<Uuid> = events
            .iter()
            .filter(|e| e.event.canonical().is_some())
            .map(|e| e.stream_id)
            .collect();
        for run_id in &runs {
            self.live.advance(*run_id);
        }
        if let Err(error) = store.announce_indexed(&runs).await {
            tracing::warn!(%error, "could not announce indexed runs to other instances");
        }
    }
}
