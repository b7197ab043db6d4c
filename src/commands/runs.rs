//! Starting, cloning, archiving and deleting runs.

use super::{Actor, Commands};
use crate::error::{finding_lines, AppError};
use crate::queries::{visible_summary, wait_for_run_models};
use crate::run_repository::CommandError;
use crate::runtime::payloads::{encode_envelope, encode_payload};
use aggregates::{ExecutionRequest, FieldError, RunCommand, RunState, RunStatus, Timestamp};
use projections::RunSummary;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The answer to a request for a run: `{runId, status, traceId, warnings?}`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RunStarted {
    pub run_id: Uuid,
    pub status: Option<RunStatus>,
    pub trace_id: String,
    /// Unknown payload fields that were dropped, as `path: message` lines.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// False when the request's idempotency key had made the run already.
    #[serde(skip)]
    pub created: bool,
}

/// `POST /runs/:id/clone`'s changes to the stored request.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
#[schema(as = CloneBody)]
pub struct CloneChanges {
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub context: Option<serde_json::Value>,
}

impl Commands {
    /// Validates a request and records it as a new run (or answers the run
    /// its idempotency key already made), then starts driving it.
    pub async fn start_run(
        &self,
        actor: &Actor,
        request: ExecutionRequest,
    ) -> Result<RunStarted, AppError> {
        let (errors, warnings) = self.request_findings(&request);
        if !errors.is_empty() {
            return Err(AppError::validation(errors));
        }
        let key = request.idempotency_key().map(String::from);
        if let Some(key) = &key {
            if let Some(existing) = self.store().idempotent_run(key).await? {
                let state = self.repo.load(existing).await?;
                if !state.deleted {
                    return Ok(made_before(existing, state));
                }
                // The key's run was deleted: the key is free again, and a
                // request repeated now makes a new run rather than
                // answering with a run that no longer exists.
                self.store().release_idempotency_key(key, existing).await?;
            }
        }
        let run_id = Uuid::now_v7();
        let trace_id = Uuid::new_v4().simple().to_string();
        let command = RunCommand::RequestRun {
            run_id,
            request: Box::new(request),
            trace_id: trace_id.clone(),
            observed: false,
            at: Timestamp::now(),
        };
        match self
            .repo
            .execute_with_key(Some(actor), run_id, command, key.as_deref())
            .await
        {
            Ok(_) => {}
            // Another request with the key made its run first.
            Err(CommandError::IdempotencyKeyTaken(existing)) => {
                return Ok(made_before(existing, self.repo.load(existing).await?))
            }
            Err(error) => return Err(error.into()),
        }
        tracing::info!(%run_id, "run requested");
        self.ingestion.drive(run_id);
        Ok(RunStarted {
            run_id,
            status: Some(RunStatus::Queued),
            trace_id,
            warnings: finding_lines(&warnings),
            created: true,
        })
    }

    /// A new run from a run's stored request, without its idempotency key.
    pub async fn clone_run(
        &self,
        actor: &Actor,
        run_id: Uuid,
        changes: CloneChanges,
    ) -> Result<RunStarted, AppError> {
        visible_summary(self.store(), run_id).await?;
        let state = self.repo.load(run_id).await?;
        let Some(mut request) = state.request.map(|r| *r) else {
            return Err(AppError::run_not_found(run_id));
        };
        let execution = request.execution.get_or_insert_with(Default::default);
        execution.idempotency_key = None;
        if let Some(tags) = changes.tags {
            execution.tags = tags;
        }
        if let Some(context) = changes.context {
            request.session.context = Some(context);
            request.session.context_envelope = None;
        }
        self.start_run(actor, request).await
    }

    /// Hides a run from lists unless they include archived runs.
    pub async fn archive_run(&self, actor: &Actor, run_id: Uuid) -> Result<RunSummary, AppError> {
        visible_summary(self.store(), run_id).await?;
        let at = Timestamp::now();
        self.repo
            .execute_as(actor, run_id, RunCommand::ArchiveRun { at })
            .await?;
        wait_for_run_models(self.store()).await?;
        visible_summary(self.store(), run_id).await
    }

    /// Deletes an ended run from every read; its events stay in the log.
    pub async fn delete_run(&self, actor: &Actor, run_id: Uuid) -> Result<(), AppError> {
        visible_summary(self.store(), run_id).await?;
        let at = Timestamp::now();
        self.repo
            .execute_as(actor, run_id, RunCommand::DeleteRun { at })
            .await?;
        self.live.deleted(run_id);
        wait_for_run_models(self.store()).await
    }

    /// What is wrong with a request: its own validation's errors, kickoff
    /// and context payloads that cannot be encoded (errors), and the
    /// unknown fields of their `proto` payloads: warnings (they are
    /// dropped, and kept on `message.sent`), or errors when the service
    /// refuses unknown fields (`STRICT_PAYLOAD_FIELDS`).
    pub fn request_findings(
        &self,
        request: &ExecutionRequest,
    ) -> (Vec<FieldError>, Vec<FieldError>) {
        let mode = &request.session.mode_name;
        let (mut errors, mut warnings) = (request.validate(), Vec::new());
        for (i, message) in request.kickoff.iter().enumerate() {
            match encode_payload(
                mode,
                &message.message_type,
                message.payload.as_ref(),
                message.payload_envelope.as_ref(),
                &format!("kickoff[{i}]"),
            ) {
                Err(error) => errors.push(error),
                Ok(encoded) => match encoded.refuse_dropped() {
                    Err(dropped) if self.strict_payload_fields => errors.extend(dropped),
                    Err(_) => warnings.extend(encoded.warnings()),
                    Ok(()) => {}
                },
            }
        }
        if let Some(envelope) = &request.session.context_envelope {
            if let Err(error) = encode_envelope(envelope, "session.contextEnvelope") {
                errors.push(error);
            }
        }
        (errors, warnings)
    }
}

/// The answer to a repeated idempotency key: the run it already made.
fn made_before(run_id: Uuid, state: RunState) -> RunStarted {
    RunStarted {
        run_id,
        status: state.status,
        trace_id: state.trace_id,
        warnings: Vec::new(),
        created: false,
    }
}
