//! Cancelling, suspending and resuming a run: asked of the runtime as the
//! run's initiator when the run has a session, then recorded on the run.

use super::{Actor, Commands};
use crate::error::AppError;
use crate::queries::summary_at_least;
use crate::runtime::pb::SessionState;
use aggregates::{decide, RunCommand, RunStatus, Timestamp};
use projections::RunSummary;
use std::time::Duration;
use uuid::Uuid;

/// A lifecycle change a caller can ask for.
#[derive(Debug, Clone, Copy)]
pub enum Change {
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

    fn command(self, reason: Option<String>) -> RunCommand {
        let at = Timestamp::now();
        match self {
            Change::Cancel => RunCommand::CancelRun { reason, at },
            Change::Suspend => RunCommand::SuspendRun { reason, at },
            Change::Resume => RunCommand::ResumeRun { reason, at },
        }
    }
}

/// How long a late change waits for the driver to record the session's
/// own end before answering.
const END_RECORDED_WAIT: Duration = Duration::from_secs(5);
/// How often it looks meanwhile.
const END_RECORDED_POLL: Duration = Duration::from_millis(20);

impl Commands {
    /// Makes `change` to the run and answers the run as it is after it.
    pub async fn change_lifecycle(
        &self,
        actor: &Actor,
        run_id: Uuid,
        change: Change,
        reason: Option<String>,
    ) -> Result<RunSummary, AppError> {
        let state = self.repo.load(run_id).await?;
        let status = state
            .status
            .filter(|_| !state.deleted)
            .ok_or_else(|| AppError::run_not_found(run_id))?;
        // The aggregate's own rule, asked before the runtime is: a change
        // the run would refuse must not reach the session either.
        if decide(&state, &change.command(reason.clone())).is_err() {
            return Err(AppError::InvalidTransition(format!(
                "run is {status}; it cannot become {}",
                change.target()
            )));
        }
        // A run with a session changes on the runtime first; one without
        // (still queued or starting) can only be cancelled, which needs no
        // runtime.
        if let (Some(session_id), Some(initiator)) = (&state.session_id, &state.initiator) {
            let runtime = self.runtime();
            let why = reason.clone().unwrap_or_default();
            let answer = match change {
                Change::Cancel => runtime.cancel_session(initiator, session_id, &why).await,
                Change::Suspend => runtime.suspend_session(initiator, session_id, &why).await,
                Change::Resume => runtime.resume_session(initiator, session_id, &why).await,
            };
            let ack = answer?;
            // The runtime decides how a session ends: one that resolved or
            // expired before this change answers with that state, and the
            // run ends as the session did (the driver records it), not as
            // asked.
            if let Some(ended) = ended_otherwise(change, ack.session_state) {
                return Err(self.already_ended(run_id, ended).await);
            }
        }
        // Stamped now, after the runtime's answer: the change happened then.
        let command = change.command(reason);
        let refused = self.repo.execute_as(actor, run_id, command).await.err();
        let now = self.repo.load(run_id).await?;
        match refused {
            // The driver saw the runtime's change first and recorded it.
            Some(_) if now.status == Some(change.target()) => {}
            Some(error) => return Err(error.into()),
            None => {}
        }
        let seq = now.last_seq;
        summary_at_least(self.store(), run_id, seq).await
    }

    /// 409 with the run's real status, once the driver has recorded the
    /// end the session reached (or the session's state, if not in time).
    async fn already_ended(&self, run_id: Uuid, session: SessionState) -> AppError {
        let waited = tokio::time::timeout(END_RECORDED_WAIT, async {
            loop {
                match self.repo.load(run_id).await {
                    Ok(state) if state.is_terminal() => return state.status,
                    Ok(_) => tokio::time::sleep(END_RECORDED_POLL).await,
                    Err(_) => return None,
                }
            }
        })
        .await;
        let status = match waited {
            Ok(Some(status)) => status.to_string(),
            _ => format!("ending ({})", session.as_str_name()),
        };
        AppError::InvalidTransition(format!(
            "run is {status}: its session had already ended ({}) when the change reached the runtime",
            session.as_str_name()
        ))
    }
}

/// The session's state when the runtime says it ended otherwise than
/// `change` asks (resolved or expired; cancelled, for a suspend or resume).
fn ended_otherwise(change: Change, session_state: i32) -> Option<SessionState> {
    let state = SessionState::try_from(session_state).ok()?;
    match state {
        SessionState::Resolved | SessionState::Expired => Some(state),
        SessionState::Cancelled => (!matches!(change, Change::Cancel)).then_some(state),
        SessionState::Unspecified | SessionState::Open | SessionState::Suspended => None,
    }
}
