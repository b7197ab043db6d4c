//! Drives one run through its lifecycle on the runtime, recording each step
//! as a command on the run aggregate:
//!
//! queued → `StartRun` → Initialize, SessionStart as the initiator →
//! `BindSession` → each kickoff message as its sender → `OpenStream` →
//! record every accepted envelope (ordinal = recorded count + 1) → when the
//! session ends, complete / fail / cancel the run.
//!
//! Every step reads the run's state from the log first, so a driver that
//! starts on a half-finished run (after a crash) continues where it ended.
//! The stream never announces the session's end, so the driver also polls
//! `GetSession`, and checks at once after a Commitment.
//!
//! This file holds the driver's loop over the run's status and what every
//! step shares (recording a command, failing the run, retrying a call);
//! the steps are in `run_driver/`: `start.rs` (start, SessionStart,
//! kickoff), `subscription.rs` (follow the stream, re-subscribe),
//! `record.rs` (record a burst of envelopes in one append) and
//! `session_end.rs` (poll the session, record the run's end).

mod record;
mod session_end;
mod start;
mod subscription;

pub use start::{bind_observed, start_observed};

use crate::run_repository::{CommandError, RunRepository};
use crate::runtime::{RuntimeClient, RuntimeError};
use aggregates::{DomainError, RunCommand, RunStatus, Timestamp};
use std::time::Duration;
use uuid::Uuid;

/// Tries at a runtime call that fails for transport reasons.
const RUNTIME_TRIES: u32 = 5;

pub struct RunDriver {
    pub run_id: Uuid,
    pub repo: RunRepository,
    pub runtime: RuntimeClient,
    pub runtime_kind: String,
}

#[derive(Debug, thiserror::Error)]
pub enum DriveError {
    #[error(transparent)]
    Command(#[from] CommandError),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl RunDriver {
    pub async fn run(self) -> Result<(), DriveError> {
        loop {
            let state = self.repo.load(self.run_id).await?;
            let (Some(status), Some(request)) = (state.status, state.request.clone()) else {
                return Ok(());
            };
            match status {
                RunStatus::Queued if state.observed => {
                    self.record(start_observed(&request)).await?;
                }
                RunStatus::Queued => {
                    let at = Timestamp::now();
                    self.record(RunCommand::StartRun { at }).await?;
                }
                RunStatus::Starting if state.observed => {
                    let bind = bind_observed(self.run_id, &request, &self.runtime_kind);
                    self.record(bind).await?;
                }
                RunStatus::Starting => self.bind_session(&request).await?,
                RunStatus::BindingSession => self.send_kickoff(&state, &request).await?,
                RunStatus::Running | RunStatus::Suspended => {
                    self.follow_session(&state).await?;
                    return Ok(());
                }
                RunStatus::Completed | RunStatus::Failed | RunStatus::Cancelled => return Ok(()),
            }
        }
    }

    /// Records a command; a refusal because the run moved on meanwhile
    /// (cancelled through the API, say) is not an error of the driver.
    async fn record(&self, command: RunCommand) -> Result<(), DriveError> {
        match self.repo.execute(self.run_id, command).await {
            Ok(_) | Err(CommandError::Domain(DomainError::InvalidTransition { .. })) => Ok(()),
            Err(error) => Err(error.into()),
        }
    }

    async fn fail(&self, code: &str, message: impl Into<String>) -> Result<(), DriveError> {
        let message = message.into();
        tracing::warn!(run_id = %self.run_id, code, %message, "run failed");
        self.record(RunCommand::FailRun {
            error_code: code.to_string(),
            error_message: message,
            at: Timestamp::now(),
        })
        .await
    }

    async fn fail_with(&self, error: RuntimeError) -> Result<(), DriveError> {
        match error {
            RuntimeError::Unavailable(message) => self.fail("RUNTIME_UNAVAILABLE", message).await,
            RuntimeError::Timeout(message) => self.fail("RUNTIME_TIMEOUT", message).await,
            RuntimeError::Refused { code, message } => self.fail(code.as_str(), message).await,
        }
    }
}

/// A message id derived from the run and a name, stable across restarts.
pub fn derived_message_id(run_id: Uuid, name: &str) -> String {
    Uuid::new_v5(&run_id, name.as_bytes()).to_string()
}

/// The wait after `attempt` failures: doubling from 500 ms, at most 5 s,
/// so a runtime that restarts is found again within seconds.
fn backoff(attempt: u32) -> Duration {
    Duration::from_millis(250u64.saturating_mul(1 << attempt.min(5))).min(Duration::from_secs(5))
}

/// Calls `call` until it succeeds, is refused, or fails for transport
/// reasons [`RUNTIME_TRIES`] times.
pub(super) async fn with_retries<T, F, Fut>(mut call: F) -> Result<T, RuntimeError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, RuntimeError>>,
{
    let mut attempt = 0;
    loop {
        attempt += 1;
        match call().await {
            Err(error) if error.is_transient() && attempt < RUNTIME_TRIES => {
                tokio::time::sleep(backoff(attempt)).await;
            }
            other => return other,
        }
    }
}
