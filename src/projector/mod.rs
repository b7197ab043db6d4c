//! Projectors: each follows the global log from its own checkpoint and
//! folds events into its read model, committing the model and the moved
//! checkpoint in one transaction (compare-and-set: a batch whose checkpoint
//! moved under it, by a reset or another writer, is rolled back).
//!
//! Among instances sharing a store one holds each projector's lease and
//! writes; the others stand by and take over when its lease expires. The
//! folds themselves are the `projections` crate's; this module only
//! schedules them and stores what they produce: `leases.rs` decides which
//! projectors this instance writes, `follow.rs` is the loop that folds the
//! log into them, `rebuild.rs` re-folds one run; the other files are the
//! projectors.

mod agents;
pub mod audit_log;
mod canonical_index;
mod documents;
mod follow;
mod health;
mod leases;
mod model_cache;
mod rebuild;
mod run_list;
mod snapshots;
pub mod webhook_outbox;

pub use agents::{AgentMetricsProjector, AGENT_METRICS};
pub use canonical_index::CanonicalEventIndex;
pub use documents::{load_model, DocumentProjector};
pub use follow::{follow, Follow, DEFER_FOR, REBUILD_BATCH_SIZE};
pub use health::{ProjectorHealth, Stall};
pub use leases::{lease, lease_name, leased, spawn, BATCH_SIZE};
pub use model_cache::ModelCache;
pub use rebuild::rebuild_run;
pub use run_list::RunListProjector;
pub use snapshots::{RunStateSnapshots, Snapshot, SNAPSHOT_EVERY};

use crate::live::LiveHub;
use crate::store::read_models::{ModelWrite, ProjectionTable};
use crate::store::{EventStore, StoreError, StoredEvent};
use async_trait::async_trait;
use std::sync::Arc;

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
