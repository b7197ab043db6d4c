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
pub use snapshots::{RunStateSnapshots, Snapshot, SNAPSHOT_EVERY};

use crate::live::LiveHub;
use crate::store::leases::Lease;
use crate::store::read_models::{ModelWrite, ProjectionTable};
use crate::store::{EventStore, StoreError, StoredEvent};
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

/// The name of the lease that says which instance writes a projector.
pub fn lease_name(projector: &str) -> String {
    format!("projector:{projector}")
}

/// The lease on writing `projector`, as `owner` takes it.
pub fn lease(projector: &str, owner: &str, ttl: Duration) -> Lease {
    Lease::new(lease_name(projector), owner, ttl)
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
        let leases: Vec<Lease> = projectors
            .iter()
            .map(|projector| lease(projector.name(), &owner, lease_ttl))
            .collect();
        loop {
            let mut held = Vec::new();
            let mut held_leases = Vec::new();
            for (projector, lease) in projectors.iter().zip(&leases) {
                match lease.try_take(&store).await {
                    Ok(true) => {
                        held.push(Arc::clone(projector));
                        held_leases.push(lease);
                    }
                    Ok(false) => {}
                    Err(error) => {
                        tracing::warn!(lease = %lease.name, %error, "cannot take the projector's lease");
                    }
                }
            }
            if held.is_empty() {
                tokio::time::sleep(lease_ttl / 2).await;
                continue;
            }
            let keepers = held_leases.iter().map(|lease| Box::pin(lease.keep(&store)));
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

/// How long [`follow`] runs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Follow {
    Forever,
    /// Until it finds no event after its checkpoint (a rebuild job).
    UntilCaughtUp,
}

/// Folds the log into `projectors` from their stored checkpoints: the log
/// is read once for all of them, and each commit writes the models and
/// moves the checkpoints of the projectors it folded for, in one
/// transaction.
///
/// A projector that [commits first](Projector::commits_first) (the
/// canonical index, which live feeds wait on) commits every batch it reads.
/// The others fold what was read since their last commit in one go, when
/// it is due: the log went quiet, a full batch is waiting, or the first
/// event they have not folded has waited [`DEFER_FOR`] and four times as
/// long as their last commit took (so that writing takes at most a fifth
/// of their time). A run's documents grow with the run (the run state's
/// graph holds every message), so writing them once per read made busy
/// runs cost the square of their length. Their checkpoints move only when
/// they commit, so a crash in between re-folds from the log.
/// `progress(position, events)` after each read batch is handled.
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
    let (first, rest): (Vec<usize>, Vec<usize>) =
        (0..projectors.len()).partition(|&i| projectors[i].commits_first());
    let mut group = Group {
        store,
        projectors,
        checkpoints,
        cache: &mut cache,
        batch_size,
    };
    // Where the next read starts.
    let mut read_to = group.checkpoints.iter().copied().min().unwrap_or(0);
    // The next batch, read while the previous one committed.
    let mut prefetched: Option<Vec<StoredEvent>> = None;
    // Events read that the projectors in `rest` have not committed yet,
    // and since when the oldest of them waits.
    let mut deferred: Vec<StoredEvent> = Vec::new();
    let mut deferred_since = tokio::time::Instant::now();
    let mut defer_for = DEFER_FOR;
    loop {
        let woken = appended.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let events = match prefetched.take() {
            Some(events) => events,
            None => store.read_all(read_to, batch_size).await?,
        };
        let Some(last) = events.last().map(|e| e.position) else {
            if !deferred.is_empty() {
                // The log is quiet: what was deferred is written now.
                let waiting = std::mem::take(&mut deferred);
                group.commit_read(&rest, &waiting, None).await?;
                continue;
            }
            if how == Follow::UntilCaughtUp {
                return Ok(());
            }
            let idle = tokio::select! {
                _ = woken => false,
                _ = tokio::time::sleep(POLL_INTERVAL) => true,
            };
            if idle && group.reload_checkpoints().await? {
                read_to = group.checkpoints.iter().copied().min().unwrap_or(0);
            }
            continue;
        };
        read_to = last;
        let count = events.len();
        let full = count as i64 >= batch_size;
        if deferred.is_empty() {
            deferred_since = tokio::time::Instant::now();
        }
        let start = deferred.len();
        deferred.extend(events);
        let due = full
            || deferred.len() as i64 >= batch_size
            || deferred_since.elapsed() >= defer_for
            || rest.is_empty();
        if full {
            // Catching up (a rebuild, a backlog): no live reader waits on
            // the first part, so everything commits in one transaction.
            let all: Vec<usize> = (0..projectors.len()).collect();
            prefetched = group.commit_read(&all, &deferred, Some(last)).await?;
        } else {
            if !first.is_empty() {
                let read_next = (!due).then_some(last);
                prefetched = group
                    .commit_read(&first, &deferred[start..], read_next)
                    .await?;
            }
            if due && !rest.is_empty() {
                let writing = tokio::time::Instant::now();
                prefetched = group.commit_read(&rest, &deferred, Some(last)).await?;
                defer_for = DEFER_FOR.max(writing.elapsed() * 4);
            }
        }
        if due {
            deferred.clear();
        }
        progress(last, count);
    }
}

/// How long the projectors that do not commit first leave events they read
/// unfolded at least while the log keeps growing (see [`follow`]).
pub const DEFER_FOR: Duration = Duration::from_millis(100);

/// The projectors [`follow`] folds for, with their checkpoints and models.
struct Group<'a> {
    store: &'a EventStore,
    projectors: &'a [Arc<dyn Projector>],
    checkpoints: Vec<i64>,
    cache: &'a mut ModelCache,
    batch_size: i64,
}

impl Group<'_> {
    /// Folds `events` into the projectors `lane` (each from its own
    /// checkpoint) and commits their writes and checkpoints together.
    /// With `read_next`, reads the log after that position while the
    /// commit runs, and answers what it read (none if nothing).
    async fn commit_read(
        &mut self,
        lane: &[usize],
        events: &[StoredEvent],
        read_next: Option<i64>,
    ) -> Result<Option<Vec<StoredEvent>>, StoreError> {
        let Some(last) = events.last().map(|e| e.position) else {
            return Ok(None);
        };
        // What each projector has not folded yet: one ahead of the others
        // skips what it has, and one past the batch is left alone.
        let unseen: Vec<&[StoredEvent]> = lane
            .iter()
            .map(|&i| &events[events.partition_point(|e| e.position <= self.checkpoints[i])..])
            .collect();
        let mut writes = Vec::new();
        for (&i, unseen) in lane.iter().zip(&unseen) {
            writes.extend(
                self.projectors[i]
                    .project(self.store, unseen, self.cache)
                    .await?,
            );
        }
        let mut batch = self.store.begin_projection().await?;
        batch.write_all(&writes).await?;
        for (&i, unseen) in lane.iter().zip(&unseen) {
            if !unseen.is_empty() {
                batch
                    .advance(self.projectors[i].name(), self.checkpoints[i], last)
                    .await?;
            }
        }
        let next = match read_next {
            // The log after `last` does not depend on this commit: read it
            // meanwhile. An empty read is dropped, to be done again once
            // the wake-up is armed, so that no append slips between the two.
            Some(after) => {
                let (committed, next) =
                    tokio::join!(batch.commit(), self.store.read_all(after, self.batch_size));
                committed?;
                Some(next?).filter(|next| !next.is_empty())
            }
            None => {
                batch.commit().await?;
                None
            }
        };
        for (&i, unseen) in lane.iter().zip(&unseen) {
            if !unseen.is_empty() {
                self.projectors[i].committed(self.store, unseen).await;
                self.checkpoints[i] = last;
            }
        }
        Ok(next)
    }

    /// A rebuild resets checkpoints without appending anything, so an idle
    /// group would never notice at commit time: compares its checkpoints
    /// with the stored ones, takes the stored ones and forgets its models
    /// if any moved. Answers whether one did.
    async fn reload_checkpoints(&mut self) -> Result<bool, StoreError> {
        let stored = self.store.checkpoints().await?;
        let mut moved = false;
        for (projector, checkpoint) in self.projectors.iter().zip(self.checkpoints.iter_mut()) {
            let stored = stored.get(projector.name()).copied().unwrap_or(0);
            if stored != *checkpoint {
                *checkpoint = stored;
                moved = true;
            }
        }
        if moved {
            self.cache.clear();
        }
        Ok(moved)
    }
}
