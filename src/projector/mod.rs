//! Projectors: each follows the global log from its own checkpoint and
//! folds events into its read model, committing the model and the
//! checkpoint in one transaction (so a crash never applies a batch twice).
//!
//! The folds themselves are the `projections` crate's; this module only
//! schedules them and stores what they produce.

use crate::live::LiveHub;
use crate::store::read_models::ProjectionBatch;
use crate::store::{EventStore, StoreError, StoredEvent};
use async_trait::async_trait;
use projections::Projection;
use std::collections::{BTreeMap, BTreeSet};
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;
use uuid::Uuid;

/// Events read per batch.
const BATCH_SIZE: i64 = 1000;
/// How long an idle projector waits before looking at the log again when no
/// append in this process woke it (appends by other instances).
const POLL_INTERVAL: Duration = Duration::from_millis(250);
/// How often a standby instance tries to take over a projector.
const STANDBY_INTERVAL: Duration = Duration::from_secs(1);

#[async_trait]
pub trait Projector: Send + Sync + 'static {
    fn name(&self) -> &'static str;

    async fn project(
        &self,
        store: &EventStore,
        batch: &mut ProjectionBatch<'static>,
        events: &[StoredEvent],
    ) -> Result<(), StoreError>;

    /// After the batch and the checkpoint are committed (side effects that
    /// must not run for an uncommitted batch, such as waking live feeds).
    async fn committed(&self, _store: &EventStore, _events: &[StoredEvent]) {}
}

/// Stores a [`Projection`] as one JSON document per run.
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

    async fn project(
        &self,
        store: &EventStore,
        batch: &mut ProjectionBatch<'static>,
        events: &[StoredEvent],
    ) -> Result<(), StoreError> {
        let mut by_run: BTreeMap<Uuid, Vec<&StoredEvent>> = BTreeMap::new();
        for event in events {
            by_run.entry(event.stream_id).or_default().push(event);
        }
        for (run_id, events) in by_run {
            let mut model = load_model::<P>(store, run_id).await?;
            for event in &events {
                model.apply(&event.event);
            }
            let doc = serde_json::to_string(&model)
                .map_err(|e| StoreError::Corrupt(format!("{} does not serialize: {e}", P::NAME)))?;
            let position = events.last().map_or(0, |e| e.position);
            batch
                .upsert_read_model(P::NAME, run_id, &doc, position)
                .await?;
        }
        Ok(())
    }
}

/// The stored model of a run, or an empty one.
pub async fn load_model<P: Projection>(store: &EventStore, run_id: Uuid) -> Result<P, StoreError> {
    match store.read_model(P::NAME, run_id).await? {
        Some(doc) => serde_json::from_str(&doc)
            .map_err(|e| StoreError::Corrupt(format!("stored {} does not load: {e}", P::NAME))),
        None => Ok(P::default()),
    }
}

/// Indexes canonical events by (run, seq) for `GET /runs/:id/events`, SSE
/// and replay; after each commit it wakes the live feeds of the runs it
/// indexed, here and (on PostgreSQL) on every other instance.
pub struct CanonicalEventIndex {
    pub live: LiveHub,
}

#[async_trait]
impl Projector for CanonicalEventIndex {
    fn name(&self) -> &'static str {
        "canonical_events"
    }

    async fn project(
        &self,
        _store: &EventStore,
        batch: &mut ProjectionBatch<'static>,
        events: &[StoredEvent],
    ) -> Result<(), StoreError> {
        for event in events.iter().filter_map(|e| e.event.canonical()) {
            let doc = serde_json::to_string(event)
                .map_err(|e| StoreError::Corrupt(format!("canonical event: {e}")))?;
            let seq = i64::try_from(event.seq).unwrap_or(i64::MAX);
            batch
                .insert_canonical_event(
                    event.run_id,
                    seq,
                    &event.event_type,
                    &event.ts.to_string(),
                    &doc,
                )
                .await?;
        }
        Ok(())
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

/// Every projector the service runs.
pub fn all(live: &LiveHub) -> Vec<Arc<dyn Projector>> {
    vec![
        Arc::new(CanonicalEventIndex { live: live.clone() }),
        Arc::new(DocumentProjector::<projections::RunSummary>::default()),
        Arc::new(DocumentProjector::<projections::RunStateView>::default()),
        Arc::new(DocumentProjector::<projections::SentMessages>::default()),
    ]
}

/// Runs `projector` until the task is aborted: catch up from its checkpoint,
/// then follow new appends. Among instances sharing a PostgreSQL store,
/// one at a time projects (an advisory lock); the others stand by and take
/// over when its holder dies.
pub fn spawn(store: EventStore, projector: Arc<dyn Projector>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let role = format!("macp projector {}", projector.name());
        loop {
            let lock = match store.try_exclusive(&role).await {
                Ok(Some(lock)) => lock,
                Ok(None) => {
                    tokio::time::sleep(STANDBY_INTERVAL).await;
                    continue;
                }
                Err(error) => {
                    tracing::warn!(projector = projector.name(), %error, "cannot take the projector's lock");
                    tokio::time::sleep(STANDBY_INTERVAL).await;
                    continue;
                }
            };
            if let Err(error) = follow(&store, projector.as_ref()).await {
                tracing::error!(projector = projector.name(), %error, "projector failed; retrying");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            drop(lock);
        }
    })
}

async fn follow(store: &EventStore, projector: &dyn Projector) -> Result<(), StoreError> {
    let appended = store.appended();
    let mut checkpoint = store.checkpoint(projector.name()).await?;
    loop {
        let woken = appended.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let events = store.read_all(checkpoint, BATCH_SIZE).await?;
        let Some(last) = events.last().map(|e| e.position) else {
            tokio::select! {
                _ = woken => {}
                _ = tokio::time::sleep(POLL_INTERVAL) => {}
            }
            continue;
        };
        let mut batch = store.begin_projection().await?;
        projector.project(store, &mut batch, &events).await?;
        batch.commit(projector.name(), last).await?;
        projector.committed(store, &events).await;
        checkpoint = last;
    }
}
