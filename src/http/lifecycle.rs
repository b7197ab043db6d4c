//! `POST /runs/:id/cancel | suspend | resume`: a lifecycle change asked of
//! the runtime as the run's initiator, then recorded on the run. Answers
//! the Run as it is after the change.

use super::body::{parse_optional_json, run_id};
use super::error::{ApiError, Problem};
use super::runs::summary_at_least;
use super::AppState;
use crate::runtime::pb::SessionState;
use aggregates::{RunCommand, RunStatus, Timestamp};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use projections::RunSummary;
use serde::Deserialize;
use std::time::Duration;

#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct ReasonBody {
    #[serde(default)]
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Copy)]
enum Change {
    Cancel,
    Suspend,
    Resume,
}

impl Change {
    fn target(self) -> RunStatus {
        match self {
            Change::Cancel => RunStatus::Cancelled,
            Change::Suspend => RunStatus::Suspended,
            Change::Resume => RunStatus::Running,
        }
    }

    fn allowed_from(self, status: RunStatus) -> bool {
        match self {
            Change::Resume => status == RunStatus::Suspended,
            _ => status.can_transition_to(self.target()),
        }
    }

    fn command(self, reason: Option<String>) -> RunCommand {
        let at = Timestamp::now();
        match self {
            Change::Cancel => RunCommand::CancelRun { reason, at },
            Change::Suspend => RunCommand::SuspendRun { reason, at },
            Change::Resume => RunCommand::ResumeRun { reason, at },
        }
    }
}

#[utoipa::path(
    post,
    path = "/runs/{id}/cancel",
    tag = "runs",
    params(
        ("id" = String, Path, description = "Run id (lowercase UUID)"),
    ),
    request_body = ReasonBody,
    responses(
        (status = 200, description = "The run", body = serde_json::Value),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
        (status = 404, description = "No such run", body = Problem),
        (status = 409, description = "Invalid state transition", body = Problem),
        (status = 502, description = "The runtime refused or failed", body = Problem),
    )
)]
pub async fn cancel(
    state: State<AppState>,
    id: Path<String>,
    body: Bytes,
) -> Result<Json<RunSummary>, ApiError> {
    change(state, id, body, Change::Cancel).await
}

#[utoipa::path(
    post,
    path = "/runs/{id}/suspend",
    tag = "runs",
    params(
        ("id" = String, Path, description = "Run id (lowercase UUID)"),
    ),
    request_body = ReasonBody,
    responses(
        (status = 200, description = "The run", body = serde_json::Value),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
        (status = 404, description = "No such run", body = Problem),
        (status = 409, description = "Invalid state transition", body = Problem),
        (status = 502, description = "The runtime refused or failed", body = Problem),
    )
)]
pub async fn suspend(
    state: State<AppState>,
    id: Path<String>,
    body: Bytes,
) -> Result<Json<RunSummary>, ApiError> {
    change(state, id, body, Change::Suspend).await
}

#[utoipa::path(
    post,
    path = "/runs/{id}/resume",
    tag = "runs",
    params(
        ("id" = String, Path, description = "Run id (lowercase UUID)"),
    ),
    request_body = ReasonBody,
    responses(
        (status = 200, description = "The run", body = serde_json::Value),
        (status = 400, description = "Bad input: the body names the field", body = Problem),
        (status = 404, description = "No such run", body = Problem),
        (status = 409, description = "Invalid state transition", body = Problem),
        (status = 502, description = "The runtime refused or failed", body = Problem),
    )
)]
pub async fn resume(
    state: State<AppState>,
    id: Path<String>,
    body: Bytes,
) -> Result<Json<RunSummary>, ApiError> {
    change(state, id, body, Change::Resume).await
}

async fn change(
    State(app): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
    change: Change,
) -> Result<Json<RunSummary>, ApiError> {
    let run_id = run_id(&id)?;
    let ReasonBody { reason } = parse_optional_json(&body)?;
    Ok(Json(apply_change(&app, run_id, change, reason).await?))
}

/// Cancels a run (what `POST /runs/:id/cancel` does), for batch use.
pub async fn cancel_run(
    app: &AppState,
    run_id: uuid::Uuid,
    reason: Option<String>,
) -> Result<RunSummary, ApiError> {
    apply_change(app, run_id, Change::Cancel, reason).await
}

async fn apply_change(
    app: &AppState,
    run_id: uuid::Uuid,
    change: Change,
    reason: Option<String>,
) -> Result<RunSummary, ApiError> {
    let state = app.repo.load(run_id).await?;
    let status = state
        .status
        .filter(|_| !state.deleted)
        .ok_or_else(|| ApiError::run_not_found(run_id))?;
    if !change.allowed_from(status) {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "INVALID_STATE_TRANSITION",
            format!("run is {status}; it cannot become {}", change.target()),
        ));
    }
    // A run with a session changes on the runtime first; one without (still
    // queued or starting) can only be cancelled, which needs no runtime.
    if let (Some(session_id), Some(initiator)) = (&state.session_id, &state.initiator) {
        let runtime = app.ingestion.runtime();
        let why = reason.clone().unwrap_or_default();
        let answer = match change {
            Change::Cancel => runtime.cancel_session(initiator, session_id, &why).await,
            Change::Suspend => runtime.suspend_session(initiator, session_id, &why).await,
            Change::Resume => runtime.resume_session(initiator, session_id, &why).await,
        };
        let ack = answer.map_err(ApiError::runtime_refusal)?;
        // The runtime decides how a session ends: one that resolved or
        // expired before this change answers with that state, and the run
        // ends as the session did (the driver records it), not as asked.
        if let Some(ended) = ended_otherwise(change, ack.session_state) {
            return Err(already_ended(app, run_id, ended).await);
        }
    }
    let seq = match app.repo.execute(run_id, change.command(reason)).await {
        Ok(_) => app.repo.load(run_id).await?.last_seq,
        // The driver saw the runtime's change first and recorded it.
        Err(_) if app.repo.load(run_id).await?.status == Some(change.target()) => {
            app.repo.load(run_id).await?.last_seq
        }
        Err(error) => return Err(error.into()),
    };
    summary_at_least(app, run_id, seq).await
}

/// The session's state when the runtime says it ended otherwise than
/// `change` asks (resolved or expired; cancelled, for a suspend or resume).
fn ended_otherwise(change: Change, session_state: i32) -> Option<SessionState> {
    let state = SessionState::try_from(session_state).ok()?;
    match state {
        SessionState::Resolved | SessionState::Expired => Some(state),
        SessionState::Cancelled if !matches!(change, Change::Cancel) => Some(state),
        _ => None,
    }
}

/// How long a late change waits for the driver to record the session's
/// own end before answering.
const END_RECORDED_WAIT: Duration = Duration::from_secs(5);

/// 409 with the run's real status, once the driver has recorded the end
/// the session reached (or the session's state, if it has not in time).
async fn already_ended(app: &AppState, run_id: uuid::Uuid, session: SessionState) -> ApiError {
    let waited = tokio::time::timeout(END_RECORDED_WAIT, async {
        loop {
            match app.repo.load(run_id).await {
                Ok(state) if state.status.is_some_and(RunStatus::is_terminal) => {
                    return state.status
                }
                Ok(_) => tokio::time::sleep(Duration::from_millis(20)).await,
                Err(_) => return None,
            }
        }
    })
    .await;
    let status = match waited {
        Ok(Some(status)) => status.to_string(),
        _ => format!("ending ({})", session.as_str_name()),
    };
    ApiError::new(
        StatusCode::CONFLICT,
        "INVALID_STATE_TRANSITION",
        format!(
            "run is {status}: its session had already ended ({}) when the change reached the runtime",
            session.as_str_name()
        ),
    )
}
