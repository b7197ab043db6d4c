//! Projectors: each follows the global log from its own checkpoint and
//! folds events into its read model, committing the model and the moved
//! checkpoint in one transaction (compare-and-set: a batch whose checkpoint
//! moved under it, by a reset or another writer, is rolled back).
//!
//! Among instances sharing a store one holds each projector's lease and
//! writes; the others stand by and take over when its lease expires. The
//! folds themselves are the `projections` crate's; this module only
//! schedules them and stores what they produce.

mod agents;
pub mod audit_log;
mod canonical_index;
mod documents;
mod health;
mod model_cache;
mod run_list;
mod snapshots;
pub mod webhook_outbox;

pub use agents::{AgentMetricsProjector, AGENT_METRICS};
pub use canonical_index::CanonicalEventIndex;
pub use documents::{load_model, DocumentProjector};
pub use health::{ProjectorHealth, Stall};
pub use model_cache::ModelCache;
pub use run_list::RunListProjector;
pub use snapshots::{snapshot_key, RunStateSnapshots, Snapshot, SNAPSHOTS, SNAPSHOT_EVERY};

use crate::live::LiveHub;
use crate::store::read_models::{ModelWrite, ProjectionTable};
use crate::store::{EventStore, StoreError, StoredEvent};
use aggregates::Timestamp;
use async_trait::async_trait;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::JoinHandle;

/// Events read per batch while following the log live.
pub const BATCH_SIZE: i64 = 1000;
/// Events read per batch by a rebuild: larger batches, fewer transactions.
pub const REBUILD_BATCH_SIZE: i64 = 5000;
/// How long an idle projector waits before looking at the log again when no
/// append woke it.
const POLL_INTERVAL: Duration = Duration::from_millis(250);

#[async_trait]
pub trait Projector: Send + Sync + 'static {
    fn name(&self) -> &'static str;

    /// Where it writes, so that a rebuild can drop it.
    fn table(&self) -> ProjectionTable;

    /// Whether its model is per run (rebuilt by a one-run rebuild); a model
    /// across runs (agent metrics) is rebuilt only by a full rebuild.
    fn per_run(&self) -> bool {
        true
    }

    /// The writes that fold `events` into the model. Reads what it needs
    /// from `cache`, else from the store, and leaves the models it folded in
    /// `cache`; writes nothing itself.
    async fn project(
        &self,
        store: &EventStore,
        events: &[StoredEvent],
        cache: &mut ModelCache,
    ) -> Result<Vec<ModelWrite>, StoreError>;

    /// After the batch and the checkpoint are committed (side effects that
    /// must not run for an uncommitted batch, such as waking live feeds).
    async fn committed(&self, _store: &EventStore, _events: &[StoredEvent]) {}

    /// Whether the group commits this projector's writes ahead of the
    /// others', in a transaction of their own: the canonical index, which
    /// live feeds wait on, need not wait for the run documents, whose
    /// writes grow with the run.
    fn commits_first(&self) -> bool {
        false
    }
}

/// Every projector the service runs.
pub fn all(live: &LiveHub) -> Vec<Arc<dyn Projector>> {
    vec![
        Arc::new(CanonicalEventIndex { live: live.clone() }),
        Arc::new(RunListProjector),
        Arc::new(DocumentProjector::<projections::RunSummary>::default()),
        Arc::new(DocumentProjector::<projections::RunStateView>::default()),
        Arc::new(DocumentProjector::<projections::SentMessages>::default()),
        Arc::new(DocumentProjector::<projections::RunMetrics>::default()),
        Arc::new(DocumentProjector::<projections::RunArtifacts>::default()),
        Arc::new(DocumentProjector::<projections::RunTraces>::default()),
        Arc::new(AgentMetricsProjector),
        Arc::new(RunStateSnapshots),
        Arc::new(audit_log::AuditLogProjector),
    ]
}

/// What a serving instance runs: every read model, and the webhook
/// outbox (which is not a read model: `rebuild` leaves it alone).
pub fn served(live: &LiveHub) -> Vec<Arc<dyn Projector>> {
    let mut projectors = all(live);
    projectors.push(Arc::new(webhook_outbox::WebhookOutbox));
    projectors
}

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

/// The lease that says which instance writes a projector.
pub fn lease_name(projector: &str) -> String {
    format!("projector:{projector}")
}

/// Runs `projectors` until the task is aborted: the ones whose leases this
/// instance holds follow the log together (one read and one transaction
/// per batch for all of them: SQLite has one writer, and each extra writer
/// would only wait for it). Leases it lacks are tried again every half
/// lease, so a projector whose holder died is taken over.
pub fn spawn(
    store: EventStore,
    projectors: Vec<Arc<dyn Projector>>,
    owner: String,
    lease_ttl: Duration,
    health: ProjectorHealth,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let ttl_ms = i64::try_from(lease_ttl.as_millis()).unwrap_or(i64::MAX);
        loop {
            let mut held = Vec::new();
            for projector in &projectors {
                let lease = lease_name(projector.name());
                match store
                    .try_lease(&lease, &owner, Timestamp::now().unix_ms(), ttl_ms)
                    .await
                {
                    Ok(true) => held.push(Arc::clone(projector)),
                    Ok(false) => {}
                    Err(error) => {
                        tracing::warn!(%lease, %error, "cannot take the projector's lease")
                    }
                }
            }
            if held.is_empty() {
                tokio::time::sleep(lease_ttl / 2).await;
                continue;
            }
            let leases: Vec<String> = held.iter().map(|p| lease_name(p.name())).collect();
            let keepers = leases
                .iter()
                .map(|lease| Box::pin(keep_lease(&store, lease, &owner, lease_ttl)));
            // With every lease held there is nothing to look for.
            let look_again = async {
                if held.len() < projectors.len() {
                    tokio::time::sleep(lease_ttl / 2).await;
                } else {
                    std::future::pending::<()>().await;
                }
            };
            let progressed = health.clone();
            let mut progress = move |_, _| progressed.progressed();
            tokio::select! {
                result = follow(&store, &held, Follow::Forever, BATCH_SIZE, &mut progress) => {
                    if let Err(error) = result {
                        stalled(&store, &held, &health, error).await;
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                }
                _ = futures::future::select_all(keepers) => {
                    tracing::warn!("lost a projector's lease");
                }
                () = look_again => {}
            }
        }
    })
}

/// Records and logs a batch the projectors could not fold or write: which
/// projectors, the first log position they have not folded, and why.
async fn stalled(
    store: &EventStore,
    held: &[Arc<dyn Projector>],
    health: &ProjectorHealth,
    error: StoreError,
) {
    let names: Vec<String> = held.iter().map(|p| p.name().to_string()).collect();
    let checkpoints = store.checkpoints().await.unwrap_or_default();
    let position = names
        .iter()
        .map(|name| checkpoints.get(name).copied().unwrap_or(0))
        .min()
        .unwrap_or(0)
        + 1;
    tracing::error!(
        projectors = %names.join(","),
        position,
        %error,
        "projectors cannot fold or write the events from this log position; retrying"
    );
    health.failed(names, position, error.to_string());
}

/// Renews a lease every third of its life; returns once it is lost.
pub async fn keep_lease(store: &EventStore, lease: &str, owner: &str, ttl: Duration) {
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    let mut renewed = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(ttl / 3).await;
        match store
            .try_lease(lease, owner, Timestamp::now().unix_ms(), ttl_ms)
            .await
        {
            Ok(true) => renewed = tokio::time::Instant::now(),
            Ok(false) => return,
            Err(error) => {
                tracing::warn!(%lease, %error, "cannot renew the lease");
                if renewed.elapsed() >= ttl {
                    return;
                }
            }
        }
    }
}

/// How long [`follow`] runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Follow {
    Forever,
    /// Until it finds no event after its checkpoint (a rebuild job).
    UntilCaughtUp,
}

/// Folds the log into `projectors` from their stored checkpoints, a batch
/// at a time: the log is read once for all of them, and each batch's
/// writes and moved checkpoints commit in one transaction, or two when a
/// projector [commits first](Projector::commits_first).
/// `progress(position, events)` after each committed batch.
pub async fn follow(
    store: &EventStore,
    projectors: &[Arc<dyn Projector>],
    how: Follow,
    batch_size: i64,
    progress: &mut (dyn FnMut(i64, usize) + Send),
) -> Result<(), StoreError> {
    let appended = store.appended();
    // Valid for this call only: an error ends the call, and with it every
    // model folded from a batch that was not committed.
    let mut cache = ModelCache::default();
    let mut checkpoints = Vec::with_capacity(projectors.len());
    for projector in projectors {
        checkpoints.push(store.ensure_checkpoint(projector.name()).await?);
    }
    // The next batch, read while the previous one committed.
    let mut prefetched: Option<Vec<StoredEvent>> = None;
    // The projectors of each transaction of a batch, by index: those that
    // commit first, then the others.
    let (first, rest): (Vec<usize>, Vec<usize>) =
        (0..projectors.len()).partition(|&i| projectors[i].commits_first());
    let lanes: Vec<Vec<usize>> = [first, rest]
        .into_iter()
        .filter(|lane| !lane.is_empty())
        .collect();
    // A full batch is catching up (a rebuild, a backlog): no live reader
    // waits on its first part, so it commits in one transaction.
    let together: Vec<Vec<usize>> = vec![(0..projectors.len()).collect()];
    loop {
        let woken = appended.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let from = checkpoints.iter().copied().min().unwrap_or(0);
        let events = match prefetched.take() {
            Some(events) => events,
            None => store.read_all(from, batch_size).await?,
        };
        let Some(last) = events.last().map(|e| e.position) else {
            if how == Follow::UntilCaughtUp {
                return Ok(());
            }
            let idle = tokio::select! {
                _ = woken => false,
                _ = tokio::time::sleep(POLL_INTERVAL) => true,
            };
            if idle {
                // A rebuild resets checkpoints without appending anything:
                // an idle projector would never notice at commit time.
                let stored_checkpoints = store.checkpoints().await?;
                for (projector, checkpoint) in projectors.iter().zip(checkpoints.iter_mut()) {
                    let stored = stored_checkpoints
                        .get(projector.name())
                        .copied()
                        .unwrap_or(0);
                    if stored != *checkpoint {
                        cache.clear();
                        *checkpoint = stored;
                    }
                }
            }
            continue;
        };
        // What each projector has not folded yet: a projector ahead of the
        // others skips what it has, and one past the batch is left alone.
        let unseen: Vec<&[StoredEvent]> = checkpoints
            .iter()
            .map(|checkpoint| &events[events.partition_point(|e| e.position <= *checkpoint)..])
            .collect();
        let lanes = if events.len() as i64 >= batch_size {
            &together
        } else {
            &lanes
        };
        for (n, lane) in lanes.iter().enumerate() {
            let mut writes = Vec::new();
            for &i in lane {
                writes.extend(projectors[i].project(store, unseen[i], &mut cache).await?);
            }
            let mut batch = store.begin_projection().await?;
            batch.write_all(&writes).await?;
            for &i in lane {
                if !unseen[i].is_empty() {
                    batch
                        .advance(projectors[i].name(), checkpoints[i], last)
                        .await?;
                }
            }
            if n + 1 < lanes.len() {
                batch.commit().await?;
            } else {
                // The log after `last` does not depend on this commit: read
                // it meanwhile. An empty read is dropped, to be done again
                // once the wake-up above is armed, so that no append slips
                // between the two.
                let (committed, next) =
                    tokio::join!(batch.commit(), store.read_all(last, batch_size));
                committed?;
                prefetched = Some(next?).filter(|next| !next.is_empty());
            }
            for &i in lane {
                if !unseen[i].is_empty() {
                    projectors[i].committed(store, unseen[i]).await;
                    checkpoints[i] = last;
                }
            }
        }
        progress(last, events.len());
    }
}
