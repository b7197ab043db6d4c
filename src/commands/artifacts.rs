//! Registering an artifact of a run (a command on the run: it records
//! `artifact.created`).

use super::{Actor, Commands};
use crate::error::AppError;
use crate::queries::visible_summary;
use aggregates::{FieldError, RunCommand, Timestamp};
use projections::artifacts::Artifact;
use serde::Deserialize;
use serde_json::Value;
use uuid::Uuid;

/// The kinds of artifact a run can have.
const KINDS: [&str; 5] = ["trace", "json", "report", "log", "bundle"];

/// An artifact as a caller registers it: a `uri`, `inline` content, or both.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct NewArtifact {
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub uri: Option<String>,
    #[serde(default)]
    pub inline: Option<Value>,
}

impl Commands {
    /// Records the artifact on the run and answers it as recorded.
    pub async fn register_artifact(
        &self,
        actor: &Actor,
        run_id: Uuid,
        artifact: NewArtifact,
    ) -> Result<Artifact, AppError> {
        let mut errors = Vec::new();
        if !KINDS.contains(&artifact.kind.as_str()) {
            errors.push(FieldError::new("kind", format!("must be one of {KINDS:?}")));
        }
        if artifact.label.trim().is_empty() {
            errors.push(FieldError::new("label", "must not be empty"));
        }
        if artifact.uri.is_none() && artifact.inline.is_none() {
            errors.push(FieldError::new(
                "uri",
                "an artifact needs a uri or inline content",
            ));
        }
        if !errors.is_empty() {
            return Err(AppError::validation(errors));
        }
        visible_summary(self.store(), run_id).await?;
        let artifact_id = Uuid::new_v4().to_string();
        let at = Timestamp::now();
        let command = RunCommand::RegisterArtifact {
            artifact_id: artifact_id.clone(),
            kind: artifact.kind.clone(),
            label: artifact.label.clone(),
            uri: artifact.uri.clone(),
            inline: artifact.inline.clone(),
            at,
        };
        self.repo.execute_as(actor, run_id, command).await?;
        Ok(Artifact {
            id: artifact_id,
            run_id,
            kind: artifact.kind,
            label: artifact.label,
            uri: artifact.uri,
            inline: artifact.inline,
            created_at: at,
        })
    }
}
