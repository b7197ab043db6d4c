//! `GET /runs/:id/traces`: the run's trace id, its spans, and the
//! artifacts that hold traces.

use crate::Projection;
use aggregates::RunEvent;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunTraces {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    pub span_count: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_span_id: Option<String>,
    /// Ids of the run's `trace` artifacts.
    pub linked_artifacts: Vec<String>,
    /// The last canonical event folded (the idempotency guard).
    #[serde(default)]
    pub latest_seq: u64,
}

impl Projection for RunTraces {
    const NAME: &'static str = "run_traces";

    fn apply(&mut self, event: &RunEvent) {
        match event {
            RunEvent::RunRequested { trace_id, .. } => self.trace_id = Some(trace_id.clone()),
            RunEvent::ArtifactRegistered {
                artifact_id, kind, ..
            } if kind == aggregates::run::TRACE_ARTIFACT_KIND
                && !self.linked_artifacts.contains(artifact_id) =>
            {
                self.linked_artifacts.push(artifact_id.clone());
            }
            RunEvent::CanonicalEventRecorded { event } if event.seq > self.latest_seq => {
                self.latest_seq = event.seq;
                if let Some(span_id) = event.trace.as_ref().and_then(|t| t.span_id.clone()) {
                    self.span_count += 1;
                    self.last_span_id = Some(span_id);
                }
            }
            // Facts without a trace id or span; other artifacts, or one already
            // linked; a canonical event already folded.
            RunEvent::RunStarted { .. }
            | RunEvent::SessionBound { .. }
            | RunEvent::MessageSent { .. }
            | RunEvent::MessageRefused { .. }
            | RunEvent::SessionStreamOpened { .. }
            | RunEvent::RuntimeEnvelopeRecorded { .. }
            | RunEvent::CanonicalEventRecorded { .. }
            | RunEvent::RunCompleted { .. }
            | RunEvent::RunFailed { .. }
            | RunEvent::RunCancelled { .. }
            | RunEvent::RunSuspended { .. }
            | RunEvent::RunResumed { .. }
            | RunEvent::ArtifactRegistered { .. }
            | RunEvent::RunArchived { .. }
            | RunEvent::DecisionReceiptRecorded { .. }
            | RunEvent::RunDeleted { .. }
            | RunEvent::ActionAudited { .. } => {}
        }
    }
}
