//! `GET /runs/:id/artifacts`: what was produced for the run, with where it
//! is (a URI) or what it is (inline JSON).

use crate::Projection;
use aggregates::{RunEvent, Timestamp};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunArtifacts {
    pub run_id: Option<Uuid>,
    pub artifacts: Vec<Artifact>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Artifact {
    pub id: String,
    pub run_id: Uuid,
    /// `trace`, `json`, `report`, `log` or `bundle`.
    pub kind: String,
    pub label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inline: Option<Value>,
    pub created_at: Timestamp,
}

impl Projection for RunArtifacts {
    const NAME: &'static str = "run_artifacts";

    fn apply(&mut self, event: &RunEvent) {
        match event {
            RunEvent::RunRequested { run_id, .. } => self.run_id = Some(*run_id),
            RunEvent::ArtifactRegistered {
                artifact_id,
                kind,
                label,
                uri,
                inline,
                at,
            } => {
                // Artifact ids are unique per run: a re-delivered event is a no-op.
                if self.artifacts.iter().any(|a| &a.id == artifact_id) {
                    return;
                }
                self.artifacts.push(Artifact {
                    id: artifact_id.clone(),
                    run_id: self.run_id.unwrap_or_default(),
                    kind: kind.clone(),
                    label: label.clone(),
                    uri: uri.clone(),
                    inline: inline.clone(),
                    created_at: *at,
                });
            }
            // Facts without an artifact.
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
            | RunEvent::RunArchived { .. }
            | RunEvent::DecisionReceiptRecorded { .. }
            | RunEvent::RunDeleted { .. }
            | RunEvent::ActionAudited { .. } => {}
        }
    }
}
