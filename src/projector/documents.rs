//! A [`Projection`] stored as one JSON document per run in `read_models`.

use super::{ModelCache, Projector};
use crate::store::read_models::{ModelWrite, ProjectionTable};
use crate::store::{EventStore, StoreError, StoredEvent};
use async_trait::async_trait;
use projections::Projection;
use std::collections::BTreeMap;
use std::marker::PhantomData;
use uuid::Uuid;

pub struct DocumentProjector<P>(PhantomData<fn() -> P>);

impl<P> Default for DocumentProjector<P> {
    fn default() -> Self {
        DocumentProjector(PhantomData)
    }
}

#[async_trait]
impl<P: Projection> Projector for DocumentProjector<P> {
    fn name(&self) -> &'static str {
        P::NAME
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
            let mut model = match cache.take::<P>(P::NAME, &key) {
                Some(model) => model,
                None => load_model::<P>(store, run_id).await?,
            };
            for event in &events {
                model.apply(&event.event);
            }
            let doc = serde_json::to_string(&model)
                .map_err(|e| StoreError::Corrupt(format!("{} does not serialize: {e}", P::NAME)))?;
            let position = events.last().map_or(0, |e| e.position);
            writes.push(ModelWrite::Document {
                projection: P::NAME,
                key: key.clone(),
                doc,
                position,
            });
            cache.put(P::NAME, key, model);
        }
        Ok(writes)
    }
}

/// A batch's events grouped by run, each group in log order.
pub(super) fn by_run(events: &[StoredEvent]) -> BTreeMap<Uuid, Vec<&StoredEvent>> {
    let mut groups: BTreeMap<Uuid, Vec<&StoredEvent>> = BTreeMap::new();
    for event in events {
        groups.entry(event.stream_id).or_default().push(event);
    }
    groups
}

/// The stored model of a run, or an empty one.
pub async fn load_model<P: Projection>(store: &EventStore, run_id: Uuid) -> Result<P, StoreError> {
    match store.read_model(P::NAME, run_id).await? {
        Some(doc) => serde_json::from_str(&doc)
            .map_err(|e| StoreError::Corrupt(format!("stored {} does not load: {e}", P::NAME))),
        None => Ok(P::default()),
    }
}
