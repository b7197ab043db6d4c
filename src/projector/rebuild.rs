//! Re-folding one run: its per-run models dropped and folded again from
//! its stream, by the same projectors as live projection.

use super::{all, ModelCache};
use crate::live::LiveHub;
use crate::store::read_models::ProjectionTable;
use crate::store::{EventStore, StoreError};

/// Drops one run's per-run read models and re-folds them from its stream,
/// with the same projectors as live projection. Answers its latest seq.
pub async fn rebuild_run(
    store: &EventStore,
    live: &LiveHub,
    run_id: uuid::Uuid,
) -> Result<u64, StoreError> {
    let projectors: Vec<_> = all(live).into_iter().filter(|p| p.per_run()).collect();
    let documents: Vec<&str> = projectors
        .iter()
        .filter(|p| matches!(p.table(), ProjectionTable::Documents))
        .map(|p| p.name())
        .collect();
    let events = store.read_stream(run_id, 0).await?;
    store.delete_run_models(run_id, &documents).await?;
    let mut writes = Vec::new();
    let mut cache = ModelCache::default();
    for projector in &projectors {
        writes.extend(projector.project(store, &events, &mut cache).await?);
    }
    store.write_models(&writes).await?;
    for projector in &projectors {
        projector.committed(store, &events).await;
    }
    Ok(events
        .iter()
        .filter_map(|e| e.event.canonical())
        .map(|e| e.seq)
        .max()
        .unwrap_or(0))
}
