//! `decide`: dispatches each command to its rule, and the checks the rules
//! share (the run exists, its status may change, its session is bound).

use super::decision::Decision;
use super::{envelopes, lifecycle, messages, records, session, RunState};
use crate::command::RunCommand;
use crate::error::DomainError;
use crate::event::RunEvent;
use crate::status::RunStatus;

/// Decides what a command means for the run: the events to append, in
/// order, or why not. Pure: no clock, no randomness, no I/O.
///
/// Every command but `RequestRun` needs the run to exist; `live(state)?`
/// is each arm's first argument, so that check comes before the rule's own.
pub fn decide(state: &RunState, command: &RunCommand) -> Result<Vec<RunEvent>, DomainError> {
    match command {
        RunCommand::RequestRun {
            run_id,
            request,
            trace_id,
            observed,
            at,
        } => lifecycle::request_run(state, *run_id, request, trace_id, *observed, *at),
        RunCommand::StartRun { at } => lifecycle::start(live(state)?, *at),
        RunCommand::BindSession {
            session_id,
            initiator,
            runtime_kind,
            at,
        } => session::bind(live(state)?, session_id, initiator, runtime_kind, *at),
        RunCommand::RecordOutboundMessage {
            message,
            outcome,
            derived,
            at,
        } => messages::record_outbound(live(state)?, message, outcome, derived, *at),
        RunCommand::OpenStream {
            after_ordinal,
            reconnect,
            at,
        } => session::open_stream(live(state)?, *after_ordinal, *reconnect, *at),
        RunCommand::RecordEnvelope {
            ordinal,
            envelope,
            derived,
            received_at,
        } => envelopes::record(live(state)?, *ordinal, envelope, derived, *received_at),
        RunCommand::CompleteRun {
            session_state,
            at,
            receipt,
        } => lifecycle::complete(live(state)?, session_state, receipt.as_deref(), *at),
        RunCommand::FailRun {
            error_code,
            error_message,
            at,
        } => lifecycle::fail(live(state)?, error_code, error_message, *at),
        RunCommand::CancelRun { reason, at } => lifecycle::cancel(live(state)?, reason, *at),
        RunCommand::SuspendRun { reason, at } => lifecycle::suspend(live(state)?, reason, *at),
        RunCommand::ResumeRun { reason, at } => lifecycle::resume(live(state)?, reason, *at),
        RunCommand::RegisterArtifact {
            artifact_id,
            kind,
            label,
            uri,
            inline,
            at,
        } => records::register_artifact(live(state)?, artifact_id, kind, label, uri, inline, *at),
        RunCommand::ArchiveRun { at } => records::archive(live(state)?, *at),
        RunCommand::DeleteRun { at } => records::delete(live(state)?, *at),
    }
}

/// The run `state` folds to, if it exists: a run never requested, or
/// deleted, answers every command as if it did not exist.
fn live(state: &RunState) -> Result<Live<'_>, DomainError> {
    let status = state
        .status
        .filter(|_| !state.deleted)
        .ok_or(DomainError::RunNotFound)?;
    Ok(Live { state, status })
}

/// A run that exists, with its status: what every command but
/// `RequestRun` is decided against.
#[derive(Clone, Copy)]
pub(super) struct Live<'a> {
    pub(super) state: &'a RunState,
    pub(super) status: RunStatus,
}

impl<'a> Live<'a> {
    /// The events this decision appends, numbered after the run's last.
    pub(super) fn decision(self) -> Decision<'a> {
        Decision::new(self.state)
    }

    /// Refuses a status change the lifecycle does not allow.
    pub(super) fn transition_to(self, to: RunStatus) -> Result<(), DomainError> {
        if self.status.can_transition_to(to) {
            Ok(())
        } else {
            Err(DomainError::InvalidTransition {
                from: self.status,
                to,
            })
        }
    }

    /// Refuses `action` until the run is bound to a runtime session.
    pub(super) fn require_session(self, action: &'static str) -> Result<(), DomainError> {
        if self.state.session_id.is_some() {
            Ok(())
        } else {
            Err(DomainError::SessionNotBound {
                status: self.status,
                action,
            })
        }
    }
}
