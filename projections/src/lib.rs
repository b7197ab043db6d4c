//! Read models of the control plane, each a pure fold of a run's events.
//!
//! Every projection here implements [`Projection`]: `apply` folds one
//! domain event into the model and must be idempotent (an event already
//! folded changes nothing), so live ingestion, rebuilds and replay can all
//! call the same code. Storage, checkpoints and scheduling live in the
//! service (`src/projector/`), never here.
//!
//! Architecture invariant: no I/O, no clock, no randomness. Folding the
//! same events always yields the same model, and so the same bytes.

// A match on one of our enums lists its variants, so a new variant is a
// decision at every match rather than a silent `_`.
#![warn(clippy::wildcard_enum_match_arm)]

pub mod agent_metrics;
pub mod artifacts;
pub mod dashboard;
pub mod metrics;
pub mod run_state;
pub mod run_summary;
pub mod sent_messages;
pub mod traces;

use aggregates::RunEvent;
use serde::de::DeserializeOwned;
use serde::Serialize;

pub use agent_metrics::AgentMetrics;
pub use artifacts::RunArtifacts;
pub use metrics::RunMetrics;
pub use run_state::RunStateView;
pub use run_summary::RunSummary;
pub use sent_messages::SentMessages;
pub use traces::RunTraces;

/// A read model keyed by run, folded from that run's events.
pub trait Projection: Default + Serialize + DeserializeOwned + Send + Sync + 'static {
    /// Stable name: the key of its checkpoint and of its stored documents.
    const NAME: &'static str;

    fn apply(&mut self, event: &RunEvent);

    fn fold<'a>(events: impl IntoIterator<Item = &'a RunEvent>) -> Self {
        let mut model = Self::default();
        for event in events {
            model.apply(event);
        }
        model
    }
}
